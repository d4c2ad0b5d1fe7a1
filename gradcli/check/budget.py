"""A time limit for the exact check.

SymPy has expressions that take unbounded time (a derivative that grows exponentially), and the
exact reference raises its precision until numbers are settled. That work runs under a
wall-clock limit; when it expires, :class:`CheckTimeout` is raised into the running Python code
and the result is reported as ``timeout`` (or with what was settled by then), torch's numbers
still shown.

The limit is the calling thread's own: a watchdog thread raises the exception in that thread
alone (``PyThreadState_SetAsyncExc``), so it works from any thread and touches no process-wide
signal or timer that a host program may be using. Like a signal, it arrives between two Python
bytecodes, not inside one long call into C; and not while a module is being imported (SymPy
imports parts of itself as it works), which would leave the module half imported.

A process may hold its clock (:func:`hold_clock`): its limits then start only when the clock is
released, at the time :func:`release_clock` is given. A child that starts the check ahead of
its parent's asking for it holds its clock so: its limits count from the moment the parent
asks, as they would in the parent itself, however long it had to wait for the processor.
"""

from __future__ import annotations

import ctypes
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar


class CheckTimeout(BaseException):
    """The exact work was abandoned: the time limit expired, or the expression is nested
    deeper than SymPy's recursive algorithms can go. A BaseException, so that no
    ``except Exception`` in SymPy swallows it. ``str(e)`` says why, as a sentence's end."""

    def __init__(self, why: str = "did not finish in time") -> None:
        super().__init__(why)
        self.why = why


class _Expired(CheckTimeout):
    """Raised by the watchdog (no arguments: an async exception is raised by its class)."""

    seconds = 0.0

    def __init__(self) -> None:
        super().__init__(f"did not finish within {self.seconds:g} s")


#: Python recursion allowed during symbolic work: SymPy differentiates recursively, and a
#: chain of 150 nested functions already exceeds the default limit of 1,000. SymPy's derivative
#: is only tried up to 100 levels (``SYMBOLIC_HEIGHT``); deeper text that still reaches SymPy
#: (``gradcli check``'s proof) ends in a RecursionError, reported as a note (tested with a
#: 30,000-deep chain).
SYMBOLIC_RECURSION_LIMIT = 8000

_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)


class _Clock:
    """The process's clock for time limits: held (limits wait) or running since a time."""

    held = False
    released_at = 0.0  #: (time.monotonic) when limits set while it was held started


def hold_clock() -> None:
    """Hold the time limits of this process: those set from now on start counting only when
    :func:`release_clock` is called (for a forked child working ahead of its parent)."""
    _Clock.held = True


def release_clock(at: float) -> None:
    """Start the held limits, as if set at ``at`` (a ``time.monotonic()`` reading, which on
    the platforms that fork is the same clock in every process) or when they were set, if
    later."""
    _Clock.released_at = at
    _Clock.held = False


#: seconds after a swallowed expiry before it is raised again
_REFIRE = 0.005

#: seconds between a watchdog's looks at a held clock
_HELD_POLL = 0.02


class Deadline:
    """When the current block must end (:meth:`left` for the seconds that remain); while the
    clock is held, not yet known."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds or None
        self.start = time.monotonic()

    def left(self) -> float | None:
        """Seconds left (None: no limit; all of them while the clock is held)."""
        if self.seconds is None or _Clock.held:
            return self.seconds
        end = max(self.start, _Clock.released_at) + self.seconds
        return max(0.0, end - time.monotonic())


@contextmanager
def time_limit(seconds: float | None) -> Iterator[Deadline]:
    """Exact work under a budget: raise :class:`CheckTimeout` in this block after ``seconds``
    (None or 0: no limit), or when it recurses deeper than :data:`SYMBOLIC_RECURSION_LIMIT`.
    Nested limits each keep their own clock; the innermost expiry wins."""
    deadline = Deadline(seconds)
    previous_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous_limit, SYMBOLIC_RECURSION_LIMIT))
    thread = threading.get_ident()
    lock = threading.RLock()  # (the unraisable hook may fire from inside _leave's lock)
    inside, fired = [True], [False]
    expired_class = type("Expired", (_Expired,), {"seconds": seconds or 0.0})

    def fire() -> None:
        with lock:
            if inside[0]:
                fired[0] = True
                _set_async_exc(thread, expired_class)

    timer = None
    if deadline.seconds is not None:
        _Swallowed.watch(expired_class, fire)
        timer = _Watchdog(deadline, fire)
        timer.start()
    try:
        yield deadline
    except RecursionError:
        raise CheckTimeout("was abandoned: the expression is nested too deeply for SymPy") from None
    finally:
        _leave(lock, inside, fired, timer, previous_limit, expired_class)
        _Swallowed.forget(expired_class)


class _Swallowed:
    """An expiry that lands in code whose exceptions Python ignores (a ``__del__``, a weakref
    or garbage-collector callback: "Exception ignored in ...") would be lost, and the limited
    work run on without a limit. Python hands such exceptions to ``sys.unraisablehook``: while
    any limit may fire, ours is installed; it raises the expiry again, a moment later, and
    passes every other exception to the hook it replaced, which is put back when the last
    limit ends."""

    live: ClassVar[dict[type[BaseException], Callable[[], None]]] = {}
    previous: ClassVar[Callable[[Any], object] | None] = None
    lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def watch(cls, expired: type[BaseException], fire: Callable[[], None]) -> None:
        with cls.lock:
            if sys.unraisablehook != cls.hook:
                cls.previous = sys.unraisablehook
                sys.unraisablehook = cls.hook
            cls.live[expired] = fire

    @classmethod
    def forget(cls, expired: type[BaseException]) -> None:
        with cls.lock:
            cls.live.pop(expired, None)
            if not cls.live and sys.unraisablehook == cls.hook and cls.previous is not None:
                sys.unraisablehook = cls.previous
                cls.previous = None

    @classmethod
    def hook(cls, unraisable: Any) -> None:
        fire = cls.live.get(type(unraisable.exc_value))
        if fire is not None:
            # A limit still running: its expiry again, from another thread a moment later
            # (raised from here it would land in this hook, and be ignored again); if that one
            # is swallowed too, it comes back here.
            again = threading.Timer(_REFIRE, fire)
            again.daemon = True
            again.start()
        elif isinstance(unraisable.exc_value, _Expired):
            pass  # (a limit that has ended: nothing left to stop)
        else:
            (cls.previous or sys.__unraisablehook__)(unraisable)


class _Watchdog(threading.Thread):
    """Calls ``fire`` when ``deadline`` has passed, unless cancelled first; while the clock is
    held, it looks again every :data:`_HELD_POLL` seconds."""

    def __init__(self, deadline: Deadline, fire: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.deadline, self.fire = deadline, fire
        self.cancelled = threading.Event()

    def cancel(self) -> None:
        self.cancelled.set()

    def run(self) -> None:
        while _Clock.held:
            if self.cancelled.wait(_HELD_POLL):
                return
        if self.cancelled.wait(self.deadline.left()):
            return
        # Not while a module is being imported: an exception there would leave it half
        # imported for good (SymPy imports more of itself as it works).
        end = time.monotonic() + IMPORT_GRACE
        while _importing() and time.monotonic() < end:
            if self.cancelled.wait(_HELD_POLL):
                return
        self.fire()


#: seconds an expired limit waits for an import in progress to finish
IMPORT_GRACE = 10.0


def _importing() -> bool:
    """Whether a module is being imported (in any thread)."""
    for module in list(sys.modules.values()):
        spec = getattr(module, "__dict__", {}).get("__spec__")
        if getattr(spec, "_initializing", False):
            return True
    return False


def _leave(
    lock: threading.RLock,
    inside: list[bool],
    fired: list[bool],
    timer: _Watchdog | None,
    previous_limit: int,
    expired_class: type[BaseException],
) -> None:
    """End a limited block. The watchdog may have fired just as the block ended, its exception
    not delivered yet: it is taken here, where it is expected, so that it cannot surface in the
    caller. (Not by clearing it with ``PyThreadState_SetAsyncExc(id, NULL)``: on Python 3.11
    that leaves the interpreter's pending-work flag set for good, which slows every bytecode
    and makes code run under a profiler or tracer, coverage included, spin forever.)"""
    while True:
        try:
            with lock:
                inside[0] = False
            if timer is not None:
                timer.cancel()
            sys.setrecursionlimit(previous_limit)
            if fired[0]:
                for _ in range(1000):  # a pending asynchronous exception arrives in this loop
                    pass
            return
        except expired_class:
            fired[0] = False  # delivered: the block ended anyway


__all__ = ["CheckTimeout", "Deadline", "hold_clock", "release_clock", "time_limit"]
