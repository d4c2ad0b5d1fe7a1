"""``python -m gradcli`` and the ``gradcli`` command.

A TAB completion request is answered here without importing the command-line framework, so it
stays fast; everything else goes to :mod:`gradcli.cli.app`.
"""

import os
import signal
import sys
from types import FrameType

from .errors import ExitCode, Terminated


def _stop(signum: int, frame: FrameType | None) -> None:
    Terminated.received = Terminated(signum, signal.Signals(signum).name)
    raise Terminated.received


def run() -> None:
    if os.environ.get("_GRADCLI_COMPLETE", "").startswith("complete_"):
        # (here, not at the top: it loads the parser, which --help does not need)
        from .cli.completion import respond

        sys.exit(respond())
    # SIGTERM and SIGHUP end a run as Ctrl-C does: the clean-up runs, one line, 143 or 129.
    # (The command line only: the library leaves a host program's signals alone.)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is signal.SIG_DFL:  # (not when told to ignore it: nohup)
            signal.signal(sig, _stop)
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
        if "torch" not in sys.modules and "sympy" not in sys.modules:
            raise
        # Everything is written and every file is closed (main flushed stdout; output files
        # were renamed in place). Tearing down torch, Polars and SymPy at interpreter exit
        # takes about 0.3 s more (measured), for nothing: leave at once.
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (BrokenPipeError, ValueError):
            pass
        os._exit(code)


def _leave_early(stop: KeyboardInterrupt) -> None:
    if isinstance(stop, Terminated):
        sys.stderr.write(f"gradcli: stopped by {stop.name}\n")
        os._exit(128 + stop.signum)
    sys.stderr.write("\ngradcli: interrupted\n")
    os._exit(ExitCode.INTERRUPTED)


if __name__ == "__main__":
    run()
