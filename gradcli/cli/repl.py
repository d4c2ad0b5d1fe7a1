"""``gradcli repl``: an interactive session. ``x = 2`` sets a value; ``grad x**2*y``, ``graph``,
``steps``, ``hessian``, ``jacobian``, ``descend`` and ``check`` run the command of that name
with the values of the variables the expression uses (options after the expression, as on the
command line), through the same code as the commands, so the output is theirs.

On a terminal it reads with prompt_toolkit (history kept between sessions, TAB completion of
commands, functions, options and the current variables, pasted blocks of several lines run
line by line); from a pipe it reads lines as they come, and ends with the exit code of the last
line that failed (0 if none did). torch and SymPy load in the background while the first line
is typed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import ExitCode, GradcliError, UsageError
from ..language.ops import CONSTANTS, FUNCTIONS
from ..language.parser import parse
from ..language.values import check_name, parse_value
from .report import error, exit_code_of, say

#: the options that choose the output's form: :json and :code replace them
OUTPUT_MODES = ("--json", "--code", "--plain")
COMMANDS = ("grad", "graph", "steps", "hessian", "jacobian", "descend", "check")
#: commands that write a PyTorch script (--code)
CODED = ("grad", "graph", "jacobian", "hessian", "descend")
#: commands that take no point (check samples its own)
POINTLESS = ("check",)
#: the session's own commands: name -> (how it is written, what it does); kept within 60
#: columns, the narrowest terminal the help is meant for
COLON = {
    ":help": (":help", "this help"),
    ":vars": (":vars", "the variables and their values"),
    ":json": (":json [CMD]", "the last command (or CMD) as JSON"),
    ":code": (":code [CMD]", "the last command (or CMD) as torch code"),
    ":del": (":del [NAME]", "remove a variable (without NAME: all)"),
    ":quit": (":quit", "leave (Ctrl-D too)"),
}
HELP = """\
Set values, then run commands against them:
  x = 2           a number, [1, 2] or [[1, 2], [3, 4]]
  grad x**2*y     value, gradient and exact check; likewise
                  graph, steps, hessian, jacobian, descend,
                  check, with options after the expression:
  w = 0
  descend (w-3)**2 --lr 0.1 --steps 20
Session commands:
""" + "\n".join(f"  {usage:<14}  {text}" for usage, text in COLON.values())

_ASSIGN = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*=(?!=)\s*(.*?)\s*$", re.DOTALL)
#: where options begin: the first word that starts with -- and a letter, or -o and a path
#: (``x -o`` alone is x minus o)
_OPTIONS = re.compile(r"(?:^|\s)(--[A-Za-z]|-o\s+[^\s-])")
_GIVEN = re.compile(r"(?:--)?([A-Za-z][A-Za-z0-9_]*)(?:=|$)")


class Session:
    """The variables, the last command, and how to run one line."""

    def __init__(self, json_mode: bool = False) -> None:
        self.values: dict[str, str] = {}
        self.last: list[str] | None = None
        self.json_mode = json_mode
        self.failed = 0  #: the exit code of the last line that failed

    # -- one line -----------------------------------------------------------------------------

    def run_line(self, line: str) -> bool:
        """Run one line; False when the session should end."""
        text = line.strip()
        if not text or text.startswith("#"):
            return True
        if text.startswith(":"):
            return self._colon(text)
        head = text.split(None, 1)[0]
        assignment = _ASSIGN.fullmatch(text)
        if assignment:
            self._assign(*assignment.groups())
            return True
        if head in COMMANDS:
            self._command(head, text[len(head) :].strip())
            return True
        if head in ("exit", "quit"):
            return False
        if head == "del":
            return self._colon(":" + text)
        self._fail(
            f"'{text[:40]}' is neither an assignment (x = 2) nor a command "
            f"({', '.join(COMMANDS)})\nhint: :help lists what the session takes"
        )
        return True

    def _fail(self, message: str, code: int = ExitCode.USAGE) -> None:
        error(message)
        self.failed = code

    def _assign(self, name: str, value: str) -> None:
        try:
            if name in COMMANDS:
                raise UsageError(f"'{name}' is a command of the session, not a variable name")
            check_name(name)
            if not value:
                raise UsageError(f"no value after '{name} ='", hint="x = 2, or x = [1, 2]")
            parse_value(value, name)
        except GradcliError as e:
            self.failed = exit_code_of(e, False)
            return
        self.values[name] = value

    def _colon(self, text: str) -> bool:
        word, _, rest = text.partition(" ")
        rest = rest.strip()
        if word in (":quit", ":q", ":exit"):
            return False
        if word == ":help":
            sys.stdout.write(HELP + "\n")
        elif word == ":vars":
            shown = [f"{k} = {v}" for k, v in self.values.items()]
            sys.stdout.write("\n".join(shown) + "\n" if shown else "(no variables yet: x = 2)\n")
        elif word == ":del":
            for name in rest.split() or list(self.values):
                if self.values.pop(name, None) is None:
                    self._fail(f"there is no variable {name!r}")
        elif word in (":json", ":code"):
            flag = "--json" if word == ":json" else "--code"
            if rest:
                head = rest.split(None, 1)[0]
                if head not in COMMANDS:
                    self._fail(f"{word} takes a command ({', '.join(COMMANDS)}), not {head!r}")
                    return True
                self._command(head, rest[len(head) :].strip(), extra=[flag])
            elif self.last is None:
                self._fail(f"nothing to show yet: run a command first (or {word} grad x**2)")
            elif flag == "--code" and self.last[0] not in CODED:
                self._fail(f":code is for {', '.join(CODED)}; {self.last[0]} has no script")
            else:
                self._run([*self.last, flag])
        else:
            self._fail(f"unknown session command {word!r}\nhint: :help lists them")
        return True

    def _command(self, name: str, rest: str, extra: Iterable[str] = ()) -> None:
        found = _OPTIONS.search(rest)
        expression = (rest[: found.start()] if found else rest).strip()
        try:
            options = shlex.split(rest[found.start() :]) if found else []
        except ValueError as e:
            self._fail(f"the options after the expression do not split: {e}")
            return
        if "-" in options:
            self._fail(
                "in the session, standard input is the session's own: '-' cannot be read",
                code=ExitCode.USAGE,
            )
            return
        argv = [name, expression] if expression else [name]
        if name not in POINTLESS:
            given = {m.group(1) for o in options if (m := _GIVEN.match(o))}
            # (as name=value: a variable may share its name with an option, --order, --lr)
            argv += [
                f"{v}={self.values[v]}"
                for v in _used(expression)
                if v in self.values and v not in given
            ]
        argv += options
        if self.json_mode and "--json" not in argv:
            argv.append("--json")
        self.last = [a for a in argv if a not in OUTPUT_MODES]
        self._run([*argv, *extra])

    def _run(self, argv: list[str]) -> None:
        # (here, not at the top: it loads Typer's app, which the prompt does not need first)
        from .app import main

        try:
            main(argv)
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 0
            if code:
                self.failed = code
        with contextlib.suppress(Exception):
            sys.stdout.flush()


def _used(expression: str) -> tuple[str, ...]:
    """The variables an expression uses, or several separated by commas (jacobian's outputs);
    those of the parts that parse (the command says what is wrong with the rest)."""
    found: dict[str, None] = {}
    for part in _outputs(expression):
        try:
            found.update(dict.fromkeys(parse(part).variables))
        except GradcliError:
            continue
    return tuple(found)


def _outputs(expression: str) -> list[str]:
    """``expression`` split at the commas outside brackets (one part when it has none)."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(expression):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(expression[start:i])
            start = i + 1
    return [*parts, expression[start:]]


# -- reading lines --------------------------------------------------------------------------------


def _history_path() -> str | None:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    folder = os.path.join(base, "gradcli")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return os.path.join(folder, "repl_history")


def _words(session: Session) -> Any:
    """prompt_toolkit's completer: commands first, then functions, constants, the variables
    and the command's options."""
    # (here, not at the top: prompt_toolkit, for a terminal only)
    from prompt_toolkit.completion import Completer, Completion

    # (here, not at the top: Typer's app, which imports this module's commands)
    from .app import click_command

    options: dict[str, list[str]] = {}
    for name, command in click_command().commands.items():
        options[name] = sorted(
            o for p in command.params for o in getattr(p, "opts", ()) if o.startswith("--")
        )

    class Words(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Iterator[Any]:
            before = document.text_before_cursor
            word = re.search(r"[:\-\w]*$", before).group(0)  # type: ignore[union-attr]
            head = before.split(None, 1)[0] if before.split() else ""
            if before.strip() == word:  # (the first word)
                pool = [*COMMANDS, *COLON, *session.values]
            elif word.startswith("-"):
                pool = options.get(head, [])
            else:
                pool = [*session.values, *sorted(FUNCTIONS), *sorted(CONSTANTS)]
            for candidate in pool:
                if candidate.startswith(word) and candidate != word:
                    yield Completion(candidate, start_position=-len(word))

    return Words()


def _interactive(session: Session) -> None:
    # (here, not at the top: prompt_toolkit, for a terminal only)
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory  # (prompt_toolkit)
    from prompt_toolkit.history import FileHistory, InMemoryHistory  # (prompt_toolkit)

    path = _history_path()
    if path:
        with contextlib.suppress(OSError):  # (the history is the user's own: 0600)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
            os.chmod(path, 0o600)
    history = FileHistory(path) if path else InMemoryHistory()

    def toolbar() -> str:
        shown = ", ".join(f"{k} = {v}" for k, v in session.values.items())
        tail = "   :help  Ctrl-D leaves"
        room = shutil.get_terminal_size().columns - len(tail) - 1
        shown = shown or "no variables yet: x = 2"
        if len(shown) > room:  # (cut with an ellipsis, keeping the help at the end)
            shown = shown[: max(room - 1, 0)] + "…"
        return f" {shown}{tail}"

    prompt: Any = PromptSession(
        history=history,
        completer=_words(session),
        complete_while_typing=False,
        auto_suggest=AutoSuggestFromHistory(),
        bottom_toolbar=toolbar,
    )
    say("x = 2 sets a value, grad x**2 runs a command; :help lists the rest")
    while True:
        try:
            text = prompt.prompt("gradcli> ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            return
        for line in text.splitlines() or [""]:  # (a pasted block: line by line)
            if not session.run_line(line):
                return


def _warm_up() -> None:
    """Import torch, SymPy and the commands while the first line is typed."""
    with contextlib.suppress(Exception):
        # (here, not at the top: these are the slow imports the thread exists for)
        import flint  # noqa: F401
        import sympy  # noqa: F401
        import torch  # noqa: F401

        from . import commands  # noqa: F401  # (torch's and SymPy's users)


def run(json_mode: bool) -> int:
    """The session; its exit code."""
    session = Session(json_mode)
    if sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty():
        threading.Thread(target=_warm_up, daemon=True).start()
        _interactive(session)
        return ExitCode.OK
    for line in sys.stdin if sys.stdin is not None else ():
        if not session.run_line(line):
            break
    return session.failed
