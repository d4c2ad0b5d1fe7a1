"""The command line: the commands and their options, declared for Typer.

Each command hands its parsed options to :mod:`gradcli.cli.commands`, which does the work
(options -> the API -> a renderer -> an exit code). Only Typer (with Click) and the option
declarations load here, so ``gradcli --help`` and ``--version`` stay fast; TAB completion does
not even load this module.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Annotated, Any, NoReturn

import typer

from .. import __version__
from . import options as o
from .argv import SHELLS, completion_shell, protect
from .report import exit_code_of, finish, interruption_untold

ENV = "_GRADCLI_COMPLETE"  #: the variable that asks for TAB completion (see completion.py)


class _Group(typer.core.TyperGroup):
    """The command group, reading an expression that starts with '-' as one (see argv)."""

    def main(self, args: Sequence[str] | None = None, *rest: Any, **options: Any) -> Any:
        given = sys.argv[1:] if args is None else args
        return super().main(protect(completion_shell(given), self), *rest, **options)


class _Command(typer.core.TyperCommand):
    """A command whose free arguments show their metavar alone in --help (Typer would add
    ``<list[str]>``, the Python type, which says nothing to a user)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if type(param) is typer.core.TyperArgument:
                param.__class__ = _FreeArguments


class _FreeArguments(typer.core.TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return None


app = typer.Typer(
    cls=_Group,
    name="gradcli",
    help="Gradients of math expressions with PyTorch autograd, checked exactly with SymPy.",
    no_args_is_help=True,
    add_completion=False,  # (ours below: the shell named is the one given)
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gradcli {__version__}")
        raise typer.Exit()


def _shell(value: str) -> str:
    if value not in SHELLS:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(SHELLS)}")
    return value


def _show_completion(value: str | None) -> None:
    if value is not None:
        # (here, not at the top: Typer's script writer, which nothing else needs)
        from typer._completion_shared import get_completion_script

        shell = _shell(value)
        typer.echo(get_completion_script(prog_name="gradcli", complete_var=ENV, shell=shell))
        raise typer.Exit()


def _install_completion(value: str | None) -> None:
    if value is not None:
        # (here, not at the top: Typer's installers, which nothing else needs)
        from typer import _completion_shared as shared

        shell = _shell(value)
        install = {"bash": shared.install_bash, "zsh": shared.install_zsh}.get(
            shell, shared.install_fish
        )
        path = install(prog_name="gradcli", complete_var=ENV, shell=shell)
        typer.echo(f"{shell} completion installed in {path}; it works in a new shell")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    show_completion: Annotated[
        str | None,
        typer.Option(
            "--show-completion",
            metavar="[SHELL]",
            callback=_show_completion,
            is_eager=True,
            help="Print the TAB completion script for SHELL (bash, zsh or fish; default: "
            "$SHELL's).",
        ),
    ] = None,
    install_completion: Annotated[
        str | None,
        typer.Option(
            "--install-completion",
            metavar="[SHELL]",
            callback=_install_completion,
            is_eager=True,
            help="Install TAB completion for SHELL (bash, zsh or fish; default: $SHELL's).",
        ),
    ] = None,
) -> None:
    """Gradients of math expressions with PyTorch autograd, checked exactly with SymPy."""


def _commands() -> ModuleType:
    """The module that does each command's work."""
    # (here, not at the top: it loads the API, the language and the renderers' modules, which
    # --help and --version do not need: 40% of their start-up, measured)
    from . import commands

    return commands


@app.command(cls=_Command, context_settings=o.FREE_ARGS)
def grad(
    ctx: typer.Context,
    args: o.ExprAndValues = None,
    json_out: o.Json = False,
    plain: o.Plain = False,
    dtype: o.DTypeOpt = o.DType.float64,
    no_check: o.NoCheck = False,
    timeout: o.Timeout = 5.0,
    vjp: o.Vjp = None,
    max_symbolic: o.MaxSymbolic = 10_000,
    order: o.Order = 1,
    wrt: o.Wrt = None,
    show_graph: o.ShowGraph = False,
    simplify: o.Simplify = False,
    const: o.Const = None,
    as_code: o.Code = False,
    file: o.File = None,
    input_path: o.Input = None,
    input_format: o.InputFormat = None,
    output: o.Output = None,
    out_format: o.OutFormat = None,
    on_bad_row: o.OnBadRow = o.BadRow.error,
    check_mode: o.CheckMode = "all",
    debug: o.Debug = False,
) -> None:
    """Value and gradient at a point, with SymPy's derivatives and an exact cross-check; or at
    many points (--input FILE, or grids such as --x 0:1:11) as CSV, TSV, JSON Lines or Parquet.

    Example: gradcli grad "x**2*y" --x 2 --y 3
    """
    _commands().grad(**locals())  # the parameters, as Typer parsed them


@app.command(cls=_Command, context_settings=o.FREE_ARGS)
def graph(
    ctx: typer.Context,
    args: o.ExprAndValues = None,
    fmt: o.GraphFormatOpt = None,
    output: o.GraphOutput = None,
    torch_view: o.TorchView = False,
    const: o.Const = None,
    as_code: o.Code = False,
    dtype: o.DTypeOpt = o.DType.float64,
    file: o.File = None,
    debug: o.Debug = False,
) -> None:
    """The computation graph, with every node's value and gradient when values are given.

    Example: gradcli graph "sin(x**2)" --x 4
    """
    _commands().graph(**locals())  # the parameters, as Typer parsed them


@app.command(cls=_Command, context_settings=o.FREE_ARGS)
def steps(
    ctx: typer.Context,
    args: o.ExprAndValues = None,
    wrt: o.WrtNames = None,
    json_out: o.Json = False,
    latex: o.Latex = False,
    dtype: o.DTypeOpt = o.DType.float64,
    timeout: o.Timeout = 5.0,
    file: o.File = None,
    debug: o.Debug = False,
) -> None:
    """The chain rule: the backward pass edge by edge (with values) and the derivation rule by
    rule, each checked against autograd and SymPy.

    Example: gradcli steps "sin(x**2)" --x 4
    """
    _commands().steps(**locals())  # the parameters, as Typer parsed them


@app.command(cls=_Command, context_settings=o.FREE_ARGS)
def jacobian(
    ctx: typer.Context,
    args: o.ExprAndValues = None,
    json_out: o.Json = False,
    plain: o.MatrixPlain = False,
    as_code: o.Code = False,
    dtype: o.DTypeOpt = o.DType.float64,
    no_check: o.NoCheck = False,
    timeout: o.Timeout = 5.0,
    file: o.File = None,
    debug: o.Debug = False,
) -> None:
    """The Jacobian: one row per output element, one column per variable element. Several
    outputs are separated by commas.

    Example: gradcli jacobian "x*y, x+y" --x 2 --y 3
    """
    _commands().matrix(
        ctx, args, file, "jacobian", json_out, plain, as_code, dtype, no_check, timeout, debug
    )


@app.command(cls=_Command, context_settings=o.FREE_ARGS)
def hessian(
    ctx: typer.Context,
    args: o.ExprAndValues = None,
    json_out: o.Json = False,
    plain: o.MatrixPlain = False,
    as_code: o.Code = False,
    dtype: o.DTypeOpt = o.DType.float64,
    no_check: o.NoCheck = False,
    timeout: o.Timeout = 5.0,
    file: o.File = None,
    debug: o.Debug = False,
) -> None:
    """The Hessian of a scalar expression, with its symmetry, its eigenvalues and, where the
    gradient is zero, whether the point is a minimum, a maximum or a saddle.

    Example: gradcli hessian "x**2 - y**2" --x 0 --y 0
    """
    _commands().matrix(
        ctx, args, file, "hessian", json_out, plain, as_code, dtype, no_check, timeout, debug
    )


@app.command(cls=_Command, context_settings=o.FREE_ARGS)
def descend(
    ctx: typer.Context,
    args: o.ExprAndValues = None,
    optimizer: o.OptimizerOpt = o.Optimizer.sgd,
    lr: o.Lr = 0.01,
    steps: o.Steps = 100,
    every: o.Every = None,
    tol: o.Tol = None,
    loss_tol: o.LossTol = None,
    momentum: o.Momentum = None,
    beta1: o.Beta1 = None,
    beta2: o.Beta2 = None,
    alpha: o.Alpha = None,
    eps: o.Eps = None,
    weight_decay: o.WeightDecay = 0.0,
    const: o.Const = None,
    data: o.Data = None,
    batch_size: o.BatchSize = None,
    seed: o.Seed = 0,
    compare: o.Compare = None,
    no_zero_grad: o.NoZeroGrad = False,
    json_out: o.Json = False,
    output: o.DescendOutput = None,
    plot: o.Plot = False,
    no_live: o.NoLive = False,
    as_code: o.Code = False,
    dtype: o.DTypeOpt = o.DType.float64,
    no_check: o.NoCheck = False,
    timeout: o.Timeout = 5.0,
    file: o.File = None,
    debug: o.Debug = False,
) -> None:
    """Gradient descent with a torch.optim optimizer from the values given: the steps, the
    final point with its exact check, and on a terminal the loss curve while it runs.

    Example: gradcli descend "(w-3)**2" --w 0 --lr 0.1 --steps 50
    """
    _commands().descend(**locals())  # the parameters, as Typer parsed them


@app.command(name="check", cls=_Command, context_settings=o.FREE_ARGS)
def check_answer(
    ctx: typer.Context,
    args: o.ExprAndValues = None,
    wrt: o.WrtAnswer = None,
    answer: o.Answer = None,
    points: o.Points = 20,
    seed: o.Seed = 0,
    json_out: o.Json = False,
    timeout: o.Timeout = 5.0,
    file: o.File = None,
    debug: o.Debug = False,
) -> None:
    """Is a hand-derived derivative right? SymPy's proof, then exact values at points; a wrong
    answer gets a counterexample and exit code 1.

    Example: gradcli check "x**2*y" --wrt x --answer "2*x*y"
    """
    _commands().check_answer(**locals())  # the parameters, as Typer parsed them


@functools.cache
def click_command() -> Any:
    """The app as Click's command (built once: the warm server builds it before it forks)."""
    return typer.main.get_command(app)


@app.command()
def repl(json_out: o.Json = False, debug: o.Debug = False) -> None:
    """An interactive session: set values (x = 2), then run commands against them
    (grad x**2*y, graph, steps, hessian, jacobian, descend, check); :help lists the rest.

    Example: gradcli repl
    """
    # (here, not at the top: the session, which the other commands do not need)
    from . import repl as session

    raise typer.Exit(session.run(json_out))


server_app = typer.Typer(
    name="server",
    help="The warm server: calls are served in milliseconds by a process that has torch and "
    "SymPy imported (GRADCLI_SERVER=auto starts one on first use; =off runs without).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(server_app)


def _servers() -> ModuleType:
    # (here, not at the top: only the server commands need it)
    from . import servers

    return servers


@server_app.command("start")
def server_start(
    idle_timeout: o.IdleTimeout = None, json_out: o.Json = False, debug: o.Debug = False
) -> None:
    """Start this installation's server in the background (or keep the one running).

    Example: gradcli server start --idle-timeout 3600
    """
    raise typer.Exit(_servers().start(idle_timeout, False, json_out, debug))


@server_app.command("restart")
def server_restart(
    idle_timeout: o.IdleTimeout = None, json_out: o.Json = False, debug: o.Debug = False
) -> None:
    """Stop the server and start a fresh one.

    Example: gradcli server restart
    """
    raise typer.Exit(_servers().start(idle_timeout, True, json_out, debug))


@server_app.command("stop")
def server_stop(json_out: o.Json = False, debug: o.Debug = False) -> None:
    """Stop the server (calls it is running finish).

    Example: gradcli server stop
    """
    raise typer.Exit(_servers().stop(json_out, debug))


@server_app.command("status")
def server_status(json_out: o.Json = False, debug: o.Debug = False) -> None:
    """Whether a server runs, and what it holds; exit code 1 if none runs.

    Example: gradcli server status --json
    """
    raise typer.Exit(_servers().status(json_out, debug))


def warm() -> None:
    """Build once what every call builds the same way: Click's command and each option's
    converter (Typer builds those on first use; the warm server calls this before it forks)."""
    stack = [click_command()]
    while stack:
        command = stack.pop()
        stack.extend(getattr(command, "commands", {}).values())
        for param in command.params:
            build = getattr(param, "get_runtime_param", None)
            if build is not None:
                with contextlib.suppress(Exception):
                    build()


def main(argv: list[str] | None = None) -> NoReturn:
    """Entry point: run the app and turn every outcome into one message and an exit code
    (inside a command :func:`~gradcli.cli.report.reporting` does; this adds what happens around
    the commands: Click's usage errors, Ctrl-C while starting, a closed stdout)."""
    command = click_command()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        rv = command.main(args=argv, prog_name="gradcli", standalone_mode=False)
        code = interruption_untold(rv if isinstance(rv, int) else 0)
    except (Exception, KeyboardInterrupt) as exc:
        code = exit_code_of(exc, debug)
    except SystemExit as done:
        # Click ends with exit 1 when the reader closed the pipe (--help | true); here that
        # is 141, as for every output
        cause = done.__context__
        if not (isinstance(cause, OSError) and cause.errno == errno.EPIPE):
            raise
        code = exit_code_of(cause, debug)
    finish(code)
