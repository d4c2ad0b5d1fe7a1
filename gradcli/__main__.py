"""``python -m gradcli`` and the ``gradcli`` command.

A TAB completion request is answered here without importing the command-line framework, so it
stays fast; everything else goes to :mod:`gradcli.cli.app`.
"""

import os
import sys


def run() -> None:
    if os.environ.get("_GRADCLI_COMPLETE", "").startswith("complete_"):
        # (here, not at the top: it loads the parser, which --help does not need)
        from .cli.completion import respond

        sys.exit(respond())
    # (here, not at the top: it loads Typer, which completion does not need)
    from .cli.app import main

    try:
        main()
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


if __name__ == "__main__":
    run()
