"""How the command line ends: every outcome becomes one message on stderr (never a
traceback) and an exit code (``errors.ExitCode``, documented in the README)."""

from __future__ import annotations

import errno
import os
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from ..errors import ExitCode, GradcliError, Terminated

#: what a failed write to stdout says (a full disk, a quota, an I/O error)
WRITE_FAILURES = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG, errno.EROFS, errno.EBADF}

#: the API's parameter names, as the command line's options spell them (for error messages)
FLAGS = {
    "dtype": "--dtype",
    "timeout": "--timeout",
    "order": "--order",
    "wrt": "--wrt",
    "vjp": "--vjp",
    "max_symbolic": "--max-symbolic",
    "check": "--check",
    "torch_view": "--torch",
    "const": "--const",
    "optimizer": "--optimizer",
    "compare": "--compare",
    "lr": "--lr",
    "steps": "--steps",
    "every": "--every",
    "tol": "--tol",
    "loss_tol": "--loss-tol",
    "momentum": "--momentum",
    "betas": "--beta1/--beta2",
    "alpha": "--alpha",
    "eps": "--eps",
    "weight_decay": "--weight-decay",
    "data": "--data",
    "batch_size": "--batch-size",
    "seed": "--seed",
    "no_zero_grad": "--no-zero-grad",
    "answer": "--answer",
}


def _use_colour(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


def _tty(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _stderr(label: str, message: str, colour: str) -> None:
    lines = message.split("\n")
    if _tty(sys.stderr):  # a terminal would break words and numbers at its edge: wrap first
        width = _stderr_width()
        first = f"gradcli: {label}: {lines[0]}"
        wrapped = _wrapped(first, width)
        wrapped[0] = wrapped[0].removeprefix(f"gradcli: {label}: ")
        lines = (
            wrapped
            + [  # (an expression and its caret stay as they are)
                part
                for line in lines[1:]
                for part in (_wrapped(line, width) if line.startswith("hint: ") else [line])
            ]
        )
    head = f"\x1b[{colour}m{label}:\x1b[0m" if _use_colour(sys.stderr) else f"{label}:"
    body = "\n".join(lines)
    sys.stderr.write(f"gradcli: {head} {body}\n")


def _stderr_width() -> int:
    """The columns of stderr's terminal (stdout may be a file): $COLUMNS, else the terminal's."""
    given = os.environ.get("COLUMNS", "")
    if given.isdigit() and int(given) > 0:
        return int(given)
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        return 80


def _wrapped(line: str, width: int) -> list[str]:
    """``line`` in lines of at most ``width`` columns, broken between words only (a number,
    a name or a path is never split), continued with an indent."""
    return textwrap.wrap(
        line,
        width=max(width, 20),
        subsequent_indent="  ",
        break_long_words=False,
        break_on_hyphens=False,
        drop_whitespace=True,
    ) or [line]


def say(message: str) -> None:
    """One line of information on stderr (a batch run's summary), wrapped on a terminal."""
    text = f"gradcli: {message}"
    if _tty(sys.stderr):
        text = "\n".join(_wrapped(text, _stderr_width()))
    sys.stderr.write(text + "\n")


def warn(message: str) -> None:
    """One warning line on stderr."""
    _stderr("warning", message, "33")


def error(message: str) -> None:
    _stderr("error", message, "31")


def _quiet_stdout() -> None:
    """The reader went away (``| head``): keep Python's final flush of stdout from failing."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


_told = [False]  # whether the interruption was reported already


def interruption_untold(code: int) -> int:
    """Typer turns an interrupt that arrives outside a command's own reporting (while the
    command's modules load) into a bare exit code 130: say it, and give SIGTERM's and
    SIGHUP's own codes."""
    if code != ExitCode.INTERRUPTED or _told[0]:
        return code
    return _interrupted(Terminated.received or KeyboardInterrupt())


def _interrupted(exc: BaseException) -> int:
    _told[0] = True
    if isinstance(exc, Terminated):
        sys.stderr.write(f"gradcli: stopped by {exc.name}\n")
        return 128 + exc.signum
    # (on a terminal, after the ^C the terminal echoed, on a line of its own)
    sys.stderr.write(
        ("\n" if _use_colour(sys.stderr) or _tty(sys.stderr) else "") + "gradcli: interrupted\n"
    )
    return ExitCode.INTERRUPTED


def exit_code_of(exc: BaseException, debug: bool) -> int:
    """The message (on stderr) and the exit code for anything that ended a run early. With
    ``debug``, an internal error is raised again for its traceback."""
    if isinstance(exc, GradcliError):
        error(exc.report(FLAGS))
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt) or type(exc).__name__ == "Abort":  # (Click's Ctrl-C)
        return _interrupted(exc)
    stop = _stop_inside(exc)
    if stop is not None:
        return _interrupted(stop)
    if isinstance(exc, BrokenPipeError) or (
        isinstance(exc, OSError) and (exc.errno == errno.EPIPE or "Broken pipe" in str(exc))
    ):  # (also from native writers)
        _quiet_stdout()
        return ExitCode.BROKEN_PIPE
    if type(exc).__name__ == "NoArgsIsHelpError":  # bare "gradcli": the help is the answer
        sys.stdout.write(getattr(exc, "format_message", str)() + "\n")
        return ExitCode.OK
    # Typer's Click (vendored in recent Typer) raises its own classes; recognise them by shape
    # so that any Typer version works: usage errors have format_message().
    if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
        command = getattr(getattr(exc, "ctx", None), "command_path", "gradcli")
        error(f"{exc.format_message()}\nhint: see '{command} --help'")
        return ExitCode.USAGE
    if isinstance(exc, OSError) and exc.errno in WRITE_FAILURES:  # stdout: a full disk
        error(f"cannot write the output: {exc.strerror or exc}")
        return ExitCode.OUTPUT_FAILED
    if debug:
        raise exc
    if isinstance(exc, OSError):
        error(f"{exc.strerror or exc}")
        return ExitCode.USAGE
    _stderr(
        "internal error",
        f"{type(exc).__name__}: {exc} (rerun with --debug for the traceback, and please report it)",
        "31",
    )
    return ExitCode.INTERNAL


def _stop_inside(exc: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or stop signal that ``exc`` wraps, if any. Python 3.11 turns anything raised
    while a class is being made (a dataclass's fields, as a module loads) into a RuntimeError
    caused by it: a signal that lands there is still a signal, not an internal error. So is a
    failure in the clean-up after a stop (raised while handling it: a pipe to the check's
    helper, which the same signal ended, is broken by then)."""
    seen: set[int] = set()
    waiting = [exc.__cause__, exc.__context__]
    while waiting:
        cause = waiting.pop()
        if cause is None or id(cause) in seen:
            continue
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        waiting += [cause.__cause__, cause.__context__]
    return None


@contextmanager
def reporting(debug: bool = False) -> Iterator[None]:
    """Inside a command: what goes wrong becomes one message and an exit code."""
    try:
        yield
    except typer.Exit:
        raise
    except Exception as exc:
        raise typer.Exit(exit_code_of(exc, debug)) from None
    except KeyboardInterrupt as exc:
        raise typer.Exit(exit_code_of(exc, debug)) from None


def finish(code: int) -> NoReturn:
    """Exit with ``code``. A reader that closed the pipe (``gradcli ... | head -c1``) must not
    cause a second error when Python flushes stdout at exit."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        _quiet_stdout()
        code = ExitCode.BROKEN_PIPE if code == 0 else code
    except OSError as e:  # (help text or a result into a full disk: /dev/full)
        _quiet_stdout()
        error(f"cannot write the output: {e.strerror or e}")
        code = ExitCode.OUTPUT_FAILED
    sys.exit(code)


__all__ = ["FLAGS", "exit_code_of", "finish", "interruption_untold", "reporting", "say", "warn"]
