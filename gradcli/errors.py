"""Exit codes and the errors gradcli reports to its users.

Every error a user can cause is a :class:`GradcliError`. It carries its exit code and, when the
problem sits in the expression, the source text and the column span so that the message can draw
a caret under it. Nothing here imports torch, SymPy, Typer or Rich: any module may import it.
"""

from __future__ import annotations

import enum
import os
import signal
import threading
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


class ExitCode(enum.IntEnum):
    """The process exit codes, documented in the README."""

    OK = 0  #: the check agreed, or the point is non-differentiable (with a warning)
    CHECK_FAILED = 1  #: mismatch or precision loss; the results are still printed
    USAGE = 2  #: usage, parse or input error; nothing was computed
    UNDEFINED = 3  #: undefined at the point, or no finite float64 answer (overflow)
    CHECK_TIMEOUT = 4  #: the check did not finish: --timeout, or a number not settled at the cap
    DIVERGED = 5  #: descend: the loss or a parameter diverged, or the steps oscillate
    INTERNAL = 70  #: a bug in gradcli (EX_SOFTWARE); please report it
    OUTPUT_FAILED = 74  #: the output could not be written (EX_IOERR): disk full, ...
    BROKEN_PIPE = 141  #: stdout was closed by the reader (128 + SIGPIPE)
    INTERRUPTED = 130  #: Ctrl-C (128 + SIGINT)
    HANGUP = 129  #: the terminal went away (128 + SIGHUP)
    TERMINATED = 143  #: asked to stop (128 + SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the command line's main thread like Ctrl-C, so that the same
    clean-up runs (no partial output file is left) and the run ends with one line."""

    #: the last one raised in this process (a framework may turn it into a bare exit code)
    received: Terminated | None = None

    def __init__(self, signum: int, name: str) -> None:
        super().__init__(name)
        self.signum, self.name = signum, name


#: the signals that stop a run: Ctrl-C, SIGTERM, SIGHUP
STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextmanager
def held_signals() -> Iterator[list[signal.Signals]]:
    """Work that must not be cut in the middle (removing a temporary file, putting an output
    in place, importing torch's bindings): a stop signal that arrives meanwhile is only noted,
    and takes effect, as it would have, as soon as the work is done. In the main thread only
    (where Python runs signal handlers); elsewhere the work just runs. Yields the signals noted
    so far (so that work about to be kept, an output put in place, can see a stop coming)."""
    noted: list[signal.Signals] = []
    if threading.current_thread() is not threading.main_thread():
        yield noted
        return
    before = {s: signal.getsignal(s) for s in STOPS}
    for s in STOPS:
        if before[s] not in (signal.SIG_IGN, None):
            signal.signal(s, lambda n, f: noted.append(signal.Signals(n)))
    try:
        yield noted
    finally:
        for s, handler in before.items():
            if handler is not None:
                signal.signal(s, handler)
    if noted:  # now, as it would have been
        handler = before[noted[0]]
        if callable(handler):
            handler(noted[0], None)
        elif handler == signal.SIG_DFL:
            os.kill(os.getpid(), noted[0])


class GradcliError(Exception):
    """An error caused by the user's input; reported as one message, never a traceback."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(
        self, message: str, *, hint: str | None = None, params: tuple[str, ...] = ()
    ) -> None:
        # A message that names parameters writes them {like_this}: Python's name in the API,
        # the option's spelling on the command line (see report).
        self.template, self.hint_template, self.params = message, hint, params
        self.message = _spelled(message, params, None)
        self.hint = _spelled(hint, params, None) if hint is not None else None
        super().__init__(self.message)

    def report(self, flags: dict[str, str] | None = None) -> str:
        """The full text shown on stderr (without the leading ``error:``); with ``flags``,
        parameters are spelled as the command line's options (``order`` as ``--order``)."""
        lines = [_spelled(self.template, self.params, flags)]
        if self.hint_template:
            lines.append(f"hint: {_spelled(self.hint_template, self.params, flags)}")
        return "\n".join(lines)


def _spelled(text: str, params: tuple[str, ...], flags: dict[str, str] | None) -> str:
    if not params:
        return text
    names = {p: (flags or {}).get(p, p) for p in params}
    return text.format(**names)


class UsageError(GradcliError):
    """Wrong command-line usage: missing expression, bad option, unknown or missing variable."""


class InputError(GradcliError):
    """A value given for a variable is not acceptable (not a finite number, bad name, ...)."""


class OutputError(GradcliError):
    """The output could not be written (disk full, quota, I/O error); no partial file is left
    under the destination's name."""

    exit_code = ExitCode.OUTPUT_FAILED


class SymbolicError(GradcliError):
    """SymPy cannot write the expression (``min`` of a constant pole, for one): what needs
    SymPy's derivative (``steps``, ``hessian``, ``--order``) cannot be checked; ``grad`` falls
    back to the node-by-node reference."""

    exit_code = ExitCode.CHECK_TIMEOUT


class MissingDependencyError(GradcliError):
    """A library gradcli depends on is not installed (an incomplete installation)."""


class TimeLimitError(GradcliError):
    """Work did not finish within the time limit (symbolic work, or torch's derivatives of a
    high order, whose cost is foreseen step by step)."""

    exit_code = ExitCode.CHECK_TIMEOUT


class ParseError(GradcliError):
    """The expression text is not in gradcli's language. ``start``/``end`` are 0-based offsets."""

    def __init__(
        self,
        message: str,
        source: str,
        start: int,
        end: int | None = None,
        *,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.source = source
        self.start = max(0, min(start, len(source)))
        self.end = max(self.start + 1, end if end is not None else self.start + 1)

    @property
    def column(self) -> int:
        """1-based column of the first character of the problem."""
        return self.start + 1

    def report(self, flags: dict[str, str] | None = None) -> str:
        head = f"column {self.column}: {self.message}"
        lines = [head, *caret_lines(self.source, self.start, self.end)]
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


class LimitError(ParseError):
    """The expression is over one of the documented size limits."""


class ShapeError(ParseError):
    """Operands of an operator have shapes that do not fit together."""


def escape_char(ch: str) -> str:
    """A printable, ASCII-only spelling of one character (itself when it is printable ASCII)."""
    if " " <= ch <= "~":
        return ch
    code = ord(ch)
    if ch in "\t\n\r":
        return {"\t": "\\t", "\n": "\\n", "\r": "\\r"}[ch]
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


#: characters of one piece of user text that a message echoes (a field, a name, a path)
ECHO_LIMIT = 80


def safe_text(text: str, limit: int = ECHO_LIMIT) -> str:
    """User text made safe to print: no control characters, no non-ASCII, nothing interpreted,
    and at most ``limit`` characters of it (a 400 MB field makes a short message, not 2 GB)."""
    if len(text) > limit:
        head = "".join(escape_char(ch) for ch in text[:limit])
        return f"{head}... ({len(text):,} characters)"
    return "".join(escape_char(ch) for ch in text)


def shown_list(items: Sequence[str], limit: int = 10) -> str:
    """Names for a message, comma-separated, at most ``limit`` of them (then how many more)."""
    shown = ", ".join(safe_text(str(item)) for item in items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit:,} more"


_CONTROL_NAMES = {
    "\0": "NUL",
    "\t": "TAB",
    "\n": "LINE FEED",
    "\r": "CARRIAGE RETURN",
    "\x1b": "ESCAPE",
    "\x7f": "DELETE",
}


def char_name(ch: str) -> str:
    """A human description of a character, e.g. ``'\\u2212' (MINUS SIGN)``."""
    name = _CONTROL_NAMES.get(ch) or unicodedata.name(ch, "")
    shown = escape_char(ch)
    return f"'{shown}' ({name})" if name else f"'{shown}'"


_WINDOW = 60  # characters of context shown around an error in long input


def caret_lines(source: str, start: int, end: int) -> list[str]:
    """Two lines: the (escaped, windowed) source and a caret line under ``start:end``."""
    lo = max(0, start - _WINDOW // 2)
    hi = min(len(source), max(end, start + 1) + _WINDOW // 2)
    pieces = [escape_char(ch) for ch in source[lo:hi]]
    prefix = "..." if lo > 0 else ""
    suffix = "..." if hi < len(source) else ""
    before = len(prefix) + sum(len(p) for p in pieces[: start - lo])
    width = sum(len(p) for p in pieces[start - lo : max(end, start + 1) - lo]) or 1
    width = min(width, _WINDOW)
    return [f"  {prefix}{''.join(pieces)}{suffix}", "  " + " " * before + "^" * width]
