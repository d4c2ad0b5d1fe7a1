"""``python -m gradcli`` and the ``gradcli`` command.

A TAB completion request is answered here without importing the command-line framework, so it
stays fast; everything else goes to :mod:`gradcli.cli`.
"""

import os
import sys


def run() -> None:
    if os.environ.get("_GRADCLI_COMPLETE", "").startswith("complete_"):
        from .completion import respond

        sys.exit(respond())
    from .cli import main

    main()


if __name__ == "__main__":
    run()
