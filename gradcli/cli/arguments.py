"""The free arguments of a command: the expression (from the arguments or a file) and the text
of each variable's value, in every spelling the command line accepts."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence

import typer

from ..errors import UsageError, safe_text
from ..files import standard_input
from ..language.values import check_name
from ..limits import MAX_LENGTH

_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_ASSIGNMENT = re.compile(r"([A-Za-z][A-Za-z0-9_]*)=(?!=)(.*)", re.DOTALL)
_OPTION = re.compile(r"--([^=]*)(?:=(.*))?", re.DOTALL)


def expression_and_values(
    ctx: typer.Context, args: list[str] | None, file: str | None
) -> tuple[str, dict[str, str]]:
    """The expression (from the arguments or --file) and the raw value texts."""
    free = [*(args or []), *ctx.args]
    if file is not None:
        free.insert(0, read_expression(file))
    return split_arguments(free, option_names(ctx), ctx.command_path, _elsewhere(ctx))


def _elsewhere(ctx: typer.Context) -> dict[str, list[str]]:
    """Every option of the other commands: spelling -> the commands that have it."""
    group = ctx.find_root().command
    found: dict[str, list[str]] = {}
    for name, command in sorted(getattr(group, "commands", {}).items()):
        if command is ctx.command:
            continue
        for param in command.params:
            for spelling in getattr(param, "opts", ()):
                if spelling.startswith("--"):
                    found.setdefault(spelling, []).append(name)
    return found


def option_names(ctx: typer.Context) -> set[str]:
    """The command's own option spellings, e.g. ``--plain``, ``-o``."""
    return {o for p in ctx.command.params for o in getattr(p, "opts", ()) if o.startswith("-")}


def read_expression(path: str) -> str:
    """The expression text of a file or stdin, without its final newline.

    Reads a bounded amount, so a huge file meets the length limit instead of filling memory.
    """
    try:
        if path == "-":
            data = standard_input().read(4 * MAX_LENGTH + 8)
        else:
            with open(path, "rb") as f:
                data = f.read(4 * MAX_LENGTH + 8)
    except OSError as e:
        raise UsageError(
            f"cannot read the expression file {safe_text(path)!r}: {e.strerror}"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"the expression file is not UTF-8 text (byte {e.start + 1})") from None
    return text[:-1] if text.endswith("\n") else text


def split_arguments(
    args: Sequence[str],
    reserved: Iterable[str] = (),
    command: str = "gradcli grad",
    elsewhere: Mapping[str, list[str]] | None = None,
) -> tuple[str, dict[str, str]]:
    """Find the expression and the ``name -> value text`` pairs among the free arguments.

    Accepted spellings: ``--x 2``, ``--x=2`` and ``x=2``; exactly one other argument is the
    expression. An expression may start with ``-`` (``-x**2``, ``---x``): only ``--`` followed
    by a letter is read as a value option.
    """
    own_options = set(reserved)
    values: dict[str, str] = {}
    expressions: list[str] = []
    mistyped: list[str] = []  # --NAME at the end, without a value
    i = 0
    while i < len(args):
        arg = args[i]
        # --NAME is an option when NAME starts with a letter; "---x" is an expression.
        option = _OPTION.fullmatch(arg) if arg[2:3].isalpha() and arg.startswith("--") else None
        assignment = _ASSIGNMENT.fullmatch(arg)
        if option:
            name, value = option.group(1), option.group(2)
            if f"--{name}" in own_options:
                raise UsageError(
                    f"--{name} came after '--', where nothing is read as an option",
                    hint="put gradcli's options before '--'",
                )
            if not name.isascii():
                raise UsageError(
                    f"variable names are ASCII letters, digits and '_': --{safe_text(name)}",
                    hint="rename the variable, e.g. alpha for α",
                )
            if not _IDENT.fullmatch(name):
                raise UsageError(
                    f"no such option: --{safe_text(name)}",
                    hint="variable values are written --x 2, --x=2 or x=2; "
                    f"see '{command} --help' for the options",
                )
            if value is None:
                if i + 1 >= len(args):
                    mistyped.append(name)
                    break
                value = args[i + 1]
                i += 1
            _add(values, name, value)
        elif assignment:
            _add(values, assignment.group(1), assignment.group(2))
        else:
            expressions.append(arg)
        i += 1
    _mistyped_options([*values, *mistyped], expressions, own_options, command, elsewhere or {})
    if len(expressions) == 1:  # a variable named like an option: --order 2 is the option
        clash = sorted(
            name
            for name in set(_IDENT.findall(expressions[0]))
            if f"--{name}" in own_options and name not in values
        )
        if clash:
            raise UsageError(
                f"{clash[0]} is a variable of the expression and also an option of "
                f"'{command}' (--{clash[0]})",
                hint=f"give the variable's value as {clash[0]}=2",
            )
    if mistyped:
        name = mistyped[0]
        raise UsageError(f"--{name} needs a value", hint=f"write --{name} 2")
    if not expressions:
        raise UsageError(
            "missing expression", hint='for example: gradcli grad "x**2*y" --x 2 --y 3'
        )
    if len(expressions) > 1:
        shown = ", ".join(f"'{safe_text(e)}'" for e in expressions[:4])
        raise UsageError(
            f"expected one expression, got {len(expressions)}: {shown}",
            hint="quote the expression as one argument, and give values as --x 2 or x=2",
        )
    return expressions[0], values


def _mistyped_options(
    names: Sequence[str],
    expressions: Sequence[str],
    options: Iterable[str],
    command: str,
    elsewhere: Mapping[str, list[str]],
) -> None:
    """A value name that is not in the expression but is close to one of the command's options
    (``--orde 2``, ``--jsn``), or a short word like ``-j`` beside the expression, is a
    mistyped option: say which one was meant."""
    longs = sorted(o[2:] for o in options if o.startswith("--"))
    used = {w for e in expressions for w in _IDENT.findall(e)}
    for name in names:
        if name in used:
            continue
        others = elsewhere.get(f"--{name}")
        if others:
            owners = " and ".join(
                [", ".join(others[:-1]), others[-1]] if len(others) > 1 else others
            )
            raise UsageError(
                f"'{command}' has no option --{name}, and the expression has no variable {name}",
                hint=f"--{name} is an option of gradcli {owners}",
            )
        close = difflib.get_close_matches(name, longs, n=1, cutoff=0.75)
        if close:
            raise UsageError(
                f"--{name} is not an option of '{command}', and the expression has no "
                f"variable {name}",
                hint=f"did you mean --{close[0]}?",
            )
    for word in expressions:
        if word in options:  # (-o after '--': an option where nothing is read as one)
            raise UsageError(
                f"{safe_text(word)} came after '--', where nothing is read as an option",
                hint="put gradcli's options before '--'",
            )
    if len(expressions) > 1:
        for word in expressions:
            letters = word[1:]
            if word.startswith("-") and not word.startswith("--") and letters.isalpha():
                meant = [o for o in longs if o == letters]  # -json for --json
                if not meant and len(letters) <= 2:  # -j for --json
                    meant = [o for o in longs if o.startswith(letters)]
                if meant:
                    raise UsageError(
                        f"{safe_text(word)} is not an option of '{command}'",
                        hint="did you mean " + " or ".join(f"--{o}" for o in meant[:3]) + "?",
                    )


def _add(values: dict[str, str], name: str, value: str) -> None:
    check_name(name)
    if name in values:
        raise UsageError(f"{name} is given more than once")
    values[name] = value
