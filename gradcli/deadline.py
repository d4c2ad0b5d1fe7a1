"""A time limit for the symbolic check.

SymPy has expressions that take unbounded time (a derivative that grows exponentially, the sine
of a number with a billion digits). The check runs under a wall-clock limit; when it expires,
:class:`CheckTimeout` is raised into the running Python code and the result is reported as
``timeout`` with torch's numbers still shown.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class CheckTimeout(BaseException):
    """The time limit expired. A BaseException, so that no ``except Exception`` in SymPy
    swallows it."""


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`CheckTimeout` in this block after ``seconds`` (None or 0: no limit).

    Uses SIGALRM, so it works in the main thread of a Unix process; elsewhere the block runs
    without a limit.
    """
    usable = (
        seconds
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise CheckTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, float(seconds or 0))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
