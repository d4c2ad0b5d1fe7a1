"""``python -m gradcli`` and the ``gradcli`` command.

A TAB completion request is answered here without importing the command-line framework, so it
stays fast. A call that a warm server can take goes to it (:mod:`gradcli.server.client`, which
imports almost nothing); everything else goes to :mod:`gradcli.cli.app`.
"""

from __future__ import annotations

import errno
import gc
import os
import sys

TYPE_CHECKING = False  # (typing.TYPE_CHECKING, without importing typing: see gradcli/__init__)
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType, ModuleType
    from typing import Any, NoReturn

#: told the exit code just before the process ends (the warm server's child reports it)
on_exit: Callable[[int], None] | None = None


def leave(code: int) -> NoReturn:
    """End the process now with ``code`` (everything is written: see run)."""
    if on_exit is not None:
        on_exit(code)
    os._exit(code)


class _HoldSignalsDuringTorchImport:
    """Ctrl-C (or SIGTERM, SIGHUP) while torch is being imported would raise inside torch's own
    import, where its C++ bindings can abort the process instead of unwinding. While torch
    loads, such a signal is only noted; it takes effect as soon as the import is done."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        """(The import system's finder protocol.)"""
        if name != "torch":
            return None
        # (here, not at the top: completion does not need it)
        import importlib.util

        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def held(module: ModuleType) -> None:
            # (here, not at the top: a call the warm server takes does not need it)
            from .errors import held_signals

            with held_signals():
                exec_module(module)

        loader.exec_module = held
        return spec


def _stop(signum: int, frame: FrameType | None) -> None:
    # (here, not at the top: a call the warm server takes does not need them)
    import signal

    # (here, not at the top: as signal)
    from .errors import Terminated

    Terminated.received = Terminated(signum, signal.Signals(signum).name)
    raise Terminated.received


def run() -> None:
    if os.environ.get("_GRADCLI_COMPLETE", "").startswith("complete_"):
        # (here, not at the top: it loads the parser, which --help does not need)
        from .cli.completion import respond

        sys.exit(respond())
    if on_exit is None:  # (not already in the warm server's child)
        # (here, not at the top: a call the server takes needs nothing else)
        from .server.client import forward

        try:
            code = forward(sys.argv)
        except KeyboardInterrupt as stop:  # (Ctrl-C before a child took the call)
            _leave_early(stop)
        if code is not None:
            leave(code)
    # (here, not at the top: a call the warm server takes does not need it)
    import signal

    # (here, not at the top: as signal; loaded before the handlers below, which use it: a
    # signal that came while it was half imported could not be reported)
    from . import errors  # noqa: F401

    _closed_streams()
    # A call builds its tree, torch's graph and the exact reference once and keeps them to the
    # end; with torch's and SymPy's million objects already in memory, the collector's full
    # passes over them cost a third of a large expression's time, to free nothing (measured:
    # parsing 90,000 nodes 1.3 s with them, 0.6 s without). Collections become rare, not
    # impossible: a long batch run still frees its cycles. (The command line only: a library
    # leaves its host's collector alone.)
    gc.set_threshold(200_000, 30, 30)
    # SIGTERM and SIGHUP end a run as Ctrl-C does: the clean-up runs, one line, 143 or 129.
    # (The command line only: the library leaves a host program's signals alone.)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:  # (not when told to ignore it: nohup)
            signal.signal(sig, _stop)
    if "torch" not in sys.modules:
        sys.meta_path.insert(0, _HoldSignalsDuringTorchImport())
    try:
        # (here, not at the top: it loads Typer, which completion does not need)
        from .cli.app import main
    except KeyboardInterrupt as stop:  # while starting, before a command can report it
        _leave_early(stop)

    try:
        main()
    except KeyboardInterrupt as stop:  # (between the commands' own handling)
        _leave_early(stop)
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        if "torch" not in sys.modules and "sympy" not in sys.modules and code < 128:
            raise
        # (after a signal, too: an interrupt the interpreter saw may make it end by SIGINT
        # itself on the way out, instead of with the documented exit code)
        # Everything is written and every file is closed (main flushed stdout; output files
        # were renamed in place). Tearing down torch, Polars and SymPy at interpreter exit
        # takes about 0.3 s more (measured), for nothing: leave at once.
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (BrokenPipeError, ValueError):
            pass
        leave(code)


class _Closed:
    """Stands for a standard stream the shell closed (``>&-``): writing to it fails as a write
    to a closed descriptor does, so the run ends with exit 74 and says why."""

    closed = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.buffer = self

    def close(self) -> None:
        pass

    def write(self, data: object) -> int:
        raise OSError(errno.EBADF, f"{self.name} is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError(errno.EBADF, f"{self.name} is closed")


def _closed_streams() -> None:
    if sys.stderr is None:  # (2>&-: messages have nowhere to go; the exit code still tells)
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
    if sys.stdout is None:
        sys.stdout = _Closed("stdout")


def _leave_early(stop: KeyboardInterrupt) -> None:
    # (here, not at the top: a call the warm server takes does not need it)
    from .errors import ExitCode, Terminated

    if isinstance(stop, Terminated):
        sys.stderr.write(f"gradcli: stopped by {stop.name}\n")
        leave(128 + stop.signum)
    sys.stderr.write(("\n" if sys.stderr.isatty() else "") + "gradcli: interrupted\n")
    leave(ExitCode.INTERRUPTED)


if __name__ == "__main__":
    run()
