"""A time limit for the symbolic check.

SymPy has expressions that take unbounded time (a derivative that grows exponentially, the sine
of a number with a billion digits). The check runs under a wall-clock limit; when it expires,
:class:`CheckTimeout` is raised into the running Python code and the result is reported as
``timeout`` with torch's numbers still shown.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class CheckTimeout(BaseException):
    """The symbolic work was abandoned: the time limit expired, or the expression is nested
    deeper than SymPy's recursive algorithms can go. A BaseException, so that no
    ``except Exception`` in SymPy swallows it. ``str(e)`` says why, as a sentence's end."""

    def __init__(self, why: str = "did not finish in time") -> None:
        super().__init__(why)
        self.why = why


#: Python recursion allowed during symbolic work: SymPy differentiates recursively, and a
#: chain of 150 nested functions already exceeds the default limit of 1,000 (tested safe with
#: the 200-level nesting limit).
SYMBOLIC_RECURSION_LIMIT = 8000


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Symbolic work under a budget: raise :class:`CheckTimeout` in this block after
    ``seconds`` (None or 0: no limit), or when it recurses deeper than
    :data:`SYMBOLIC_RECURSION_LIMIT`.

    The time limit uses SIGALRM, so it works in the main thread of a Unix process; elsewhere
    the block runs without one.
    """
    previous_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous_limit, SYMBOLIC_RECURSION_LIMIT))
    try:
        with _alarm(seconds):
            yield
    except RecursionError:
        raise CheckTimeout("was abandoned: the expression is nested too deeply for SymPy") from None
    finally:
        sys.setrecursionlimit(previous_limit)


@contextmanager
def _alarm(seconds: float | None) -> Iterator[None]:
    usable = (
        seconds
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise CheckTimeout(f"did not finish within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, float(seconds or 0))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
