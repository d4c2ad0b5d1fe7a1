"""The command line as Click should see it: an expression that starts with ``-`` kept whole.

Click reads any argument that starts with ``-`` as short options, so ``"-sin(x)"`` became
``-i n(x)`` (``--input``) and ``"-x*foo"`` ``-f oo``. Before Click parses, every argument that
starts with a single ``-`` and is not exactly one of the command's own short options is moved
after a ``--``, where Click leaves it alone; a value that starts with ``-`` is joined to its
variable (``--x -2`` as ``--x=-2``). The command then finds the expression among the free
arguments as before (:func:`gradcli.cli.arguments.split_arguments`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

SHELLS = ("bash", "zsh", "fish")  #: the shells TAB completion has scripts for
COMPLETION_OPTIONS = ("--show-completion", "--install-completion")


def _own_options(command: Any) -> tuple[set[str], set[str]]:
    """The command's option spellings: all of them, and those that take a value."""
    spellings: set[str] = {"--help"}  # (Click adds it when parsing, not to the params)
    valued: set[str] = set()
    for param in getattr(command, "params", ()):
        names = [*getattr(param, "opts", ()), *getattr(param, "secondary_opts", ())]
        if getattr(param, "param_type_name", "") != "option":
            continue
        spellings.update(names)
        if not getattr(param, "is_flag", False) and not getattr(param, "count", False):
            valued.update(names)
    return spellings, valued


def protect(argv: Sequence[str], group: Any) -> list[str]:
    """``argv`` with the arguments Click would misread moved after ``--`` (see above)."""
    args = list(argv)
    commands = getattr(group, "commands", {})
    start = next((i for i, a in enumerate(args) if a in commands), None)
    if start is None:
        return args
    spellings, valued = _own_options(commands[args[start]])
    kept: list[str] = args[: start + 1]
    moved: list[str] = []
    i = start + 1
    while i < len(args):
        arg = args[i]
        following = args[i + 1] if i + 1 < len(args) else None
        if arg == "--":  # the user's own: everything after it is free already
            kept += args[i:]
            break
        if arg in valued and following is not None:  # an option and its value, as they are
            kept += [arg, following]
            i += 2
            continue
        if arg.startswith("--") and arg[2:3].isalpha() and "=" not in arg and arg not in spellings:
            # a variable: --x VALUE; a value that starts with '-' goes with its name
            if following is not None and following.startswith("-") and following != "-":
                kept.append(f"{arg}={following}")
                i += 2
                continue
        elif (
            arg.startswith("-") and not arg.startswith("--") and arg != "-" and arg not in spellings
        ):
            moved.append(arg)  # an expression (or a stray word): never short options
            i += 1
            continue
        kept.append(arg)
        i += 1
    if not moved:
        return kept
    if "--" in kept[start + 1 :]:
        at = kept.index("--", start + 1) + 1
        return kept[:at] + moved + kept[at:]
    return [*kept, "--", *moved]


def completion_shell(args: Sequence[str]) -> list[str]:
    """``--show-completion`` and ``--install-completion`` take the shell's name (``zsh``,
    ``--show-completion=zsh``); given alone, they mean the shell in ``$SHELL``."""
    out = list(args)
    for i, arg in enumerate(out):
        if arg in COMPLETION_OPTIONS and (i + 1 == len(out) or out[i + 1].startswith("-")):
            login = os.path.basename(os.environ.get("SHELL", ""))
            out.insert(i + 1, login if login in SHELLS else "bash")
            break
    return out
