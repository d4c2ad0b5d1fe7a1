"""TAB completion that knows the expression's variables, answered without importing Typer.

The shell scripts in ``completions/`` are Typer's own (``gradcli --show-completion SHELL``
prints the same); they call ``gradcli`` with ``_GRADCLI_COMPLETE=complete_bash`` (or zsh, fish)
and the words typed so far. This module answers that call from a table of commands and options
generated from the Typer app (``_completion_spec.py``), so a TAB press costs a Python start-up
and gradcli's own parser, not Typer, Rich, torch or SymPy.

Besides commands, options and fixed choices (``--format <TAB>``), it offers the value options of
the expression's variables: after ``gradcli grad "x**2*y"``, ``--<TAB>`` offers ``--x`` and
``--y`` (those not given yet). The expression is parsed, never evaluated; one that does not
parse simply adds no candidates.

Regenerate the spec and the scripts with ``python -m gradcli._dev.completion_spec --write``.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from ..errors import GradcliError
from ..language.parser import parse, parse_list
from ._completion_spec import SPEC

ENV = "_GRADCLI_COMPLETE"
SHELLS = {"bash": "gradcli.bash", "zsh": "_gradcli", "fish": "gradcli.fish"}
#: commands whose free arguments are an expression and variable values
EXPRESSION_COMMANDS = ("grad", "graph", "steps", "jacobian", "hessian")


def split_words(text: str) -> list[str]:
    """Split like a POSIX shell, keeping an unfinished quoted word (as Click does)."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    out: list[str] = []
    try:
        for token in lexer:
            out.append(token)
    except ValueError:
        out.append(lexer.token)
    return out


def completion_args(shell: str, environ: Mapping[str, str]) -> tuple[list[str], str]:
    """The words before the cursor (without the program name) and the word being typed."""
    if shell == "bash":
        words = split_words(environ.get("COMP_WORDS", ""))
        text = environ.get("COMP_CWORD", "0") or "0"
        # (a cursor that is no word's index, as no shell sends it: complete after the last word)
        cword = int(text) if text.isascii() and text.isdigit() and len(text) < 9 else len(words)
        cword = min(cword, len(words))
        return words[1:cword], words[cword] if cword < len(words) else ""
    line = environ.get("_TYPER_COMPLETE_ARGS", "")
    words = split_words(line)[1:]
    if words and not line.endswith(" "):
        return words[:-1], words[-1]
    return words, ""


def candidates(
    spec: Mapping[str, Any], args: Sequence[str], incomplete: str
) -> list[tuple[str, str]]:
    """(value, help) pairs for the word being typed."""
    commands: Mapping[str, Any] = spec["commands"]
    command = next((a for a in args if not a.startswith("-")), None)
    if command is None or command not in commands:
        if incomplete.startswith("-"):
            return _prefixed(spec["options"], incomplete, args)
        return [(name, c["help"]) for name, c in commands.items() if name.startswith(incomplete)]
    options: Mapping[str, Any] = commands[command]["options"]
    rest = list(args[args.index(command) + 1 :])
    if "commands" in commands[command]:  # (a group's own commands: gradcli server start)
        return candidates(commands[command], rest, incomplete)
    if rest and rest[-1] in options and options[rest[-1]]["value"]:
        choices = options[rest[-1]]["choices"] or []
        return [(c, "") for c in choices if c.startswith(incomplete)]
    if not incomplete.startswith("-"):
        return []
    found = []  # the variables' value options first: they are what is missing
    if command in EXPRESSION_COMMANDS:
        given, expression = _free_arguments(rest, options)
        for name in _variables(expression, many=command == "jacobian"):
            option = f"--{name}"
            if name not in given and option.startswith(incomplete) and option not in options:
                found.append((option, f"value of the variable {name}"))
    return found + _prefixed(options, incomplete, rest)


def _prefixed(
    options: Mapping[str, Any], incomplete: str, used: Sequence[str]
) -> list[tuple[str, str]]:
    return [
        (name, o["help"])
        for name, o in options.items()
        if name.startswith(incomplete) and name not in used
    ]


_ASSIGNMENT = re.compile(r"([A-Za-z][A-Za-z0-9_]*)=(?!=)")


def _free_arguments(rest: Sequence[str], options: Mapping[str, Any]) -> tuple[set[str], str]:
    """The variable names already given a value, and the expression (if typed yet)."""
    given: set[str] = set()
    expression = ""
    i = 0
    while i < len(rest):
        word = rest[i]
        if word in options:
            i += 2 if options[word]["value"] else 1
            continue
        if word.startswith("--") and word[2:3].isalpha():
            name = word[2:].split("=", 1)[0]
            given.add(name)
            i += 1 if "=" in word else 2
            continue
        m = _ASSIGNMENT.match(word)
        if m:
            given.add(m.group(1))
        elif not expression:
            expression = word
        i += 1
    return given, expression


def _variables(expression: str, many: bool) -> list[str]:
    """The expression's variables; none when it does not parse (quietly: TAB must not print
    errors on the terminal)."""
    if not expression:
        return []

    try:
        trees = parse_list(expression) if many else [parse(expression)]
    except GradcliError:
        return []
    names: dict[str, None] = {}
    for tree in trees:
        names.update(dict.fromkeys(tree.variables))
    return list(names)


def format_reply(
    shell: str, items: Sequence[tuple[str, str]], environ: Mapping[str, str]
) -> tuple[str, int]:
    """What the shell script expects on stdout, and the exit status (Typer's protocol)."""
    if shell == "bash":
        return "\n".join(value for value, _ in items), 0
    if shell == "zsh":

        def esc(s: str) -> str:
            return (
                s.replace('"', '""')
                .replace("'", "'\\''")  # (the reply is eval'd inside '...': close, \', reopen)
                .replace("$", "\\$")
                .replace("`", "\\`")
                .replace(":", r"\\:")
            )

        lines = [f'"{esc(v)}":"{esc(h)}"' if h else f'"{esc(v)}"' for v, h in items]
        return (f"_arguments '*: :(({chr(10).join(lines)}))'" if lines else "_files"), 0
    action = environ.get("_TYPER_COMPLETE_FISH_ACTION", "")
    if action == "is-args":
        return "", 0 if items else 1
    return "\n".join(f"{v}\t{_one_line(h)}" if h else v for v, h in items), 0


def _one_line(text: str) -> str:
    return re.sub(r"\s", " ", text)


def respond(environ: Mapping[str, str] = os.environ, out: TextIO = sys.stdout) -> int:
    """Answer one completion request from a shell script; the exit status for the process."""

    shell = environ.get(ENV, "").removeprefix("complete_")
    if shell not in SHELLS:
        return 1
    try:
        args, incomplete = completion_args(shell, environ)
        text, status = format_reply(shell, candidates(SPEC, args, incomplete), environ)
    except Exception:  # (whatever the shell sent: a completion answers nothing, never a traceback)
        return 0
    if text:
        out.write(text)
    return status
