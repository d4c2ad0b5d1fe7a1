"""The exact reference of a point, started ahead in a forked process while this one imports
torch and runs autograd.

The reference needs the expression and the point, not torch's numbers. On the command line,
which owns its process, it is computed in a child forked before torch is imported: on two
cores, FLINT's and SymPy's import and the exact work run beside torch's import and autograd,
and the result comes back pickled through a pipe (a ball exactly, but for its radius, which
FLINT may round up by a unit of its 30-bit mantissa: the ball still holds the exact value).
Everywhere else (a library call, which never forks its host's process; the warm server, where
torch is loaded already; a platform without ``fork``) the same work runs in this process when
its result is asked for.

The time limit means what it means without a child: the check gets ``seconds`` from the moment
its result is asked for. The child holds its clock (:func:`budget.hold_clock`) until the parent
sends it the time it asked, so that a head start is only ever a gain, also on a busy machine
where the child waits for the processor while the parent imports torch. A child that fails (an
error, a result that cannot be pickled, a crash) reports nothing itself: the work is done again
here, in the time that is left, where it fails as it always does. A child that does not answer
within the limit and a grace is killed, and the check reported as timed out. Ctrl-C, SIGTERM
and SIGHUP are the parent's to handle: it ends the child (:meth:`Pending.close`); on Linux the
child also dies with the parent.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import select
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar, overload

from ..engines.overlay import Overlay
from .budget import CheckTimeout, hold_clock, release_clock

T = TypeVar("T")

#: seconds a child is given past its own time limit before it is killed
GRACE = 5.0

_STOPS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
_allowed = False


def allow(yes: bool = True) -> None:
    """Let the exact work of a point run in a forked child (for a process gradcli owns)."""
    global _allowed
    _allowed = yes


def _worth_forking() -> bool:
    """A child helps while torch's import is still to come, and forking is safe only in a
    process with no other Python thread (a lock held by one stays held in the child)."""
    return (
        _allowed
        and "torch" not in sys.modules
        and hasattr(os, "fork")
        and threading.active_count() == 1
    )


class Pending(Generic[T]):
    """``work(seconds)``, started now in a child when that helps, else run by :meth:`result`
    (``seconds``: its time limit, None for none)."""

    def __init__(self, work: Callable[[float | None], T], seconds: float | None) -> None:
        self.work = work
        self.seconds = seconds  #: the work's own time limit (None: none)
        self.pid = 0
        self.fd = -1  #: the child's answers
        self.ask = -1  #: to the child: the time its result was asked for
        self.buffer = b""
        self.later: list[Any] = []  #: the parts the child sent after its answer, in order
        self.announced = 0  #: how many parts its answer said would follow
        self.here: T | None = None  #: the work done again here, when a part did not come
        if _worth_forking():
            self._fork()

    @property
    def forked(self) -> bool:
        return self.pid != 0

    def _fork(self) -> None:
        read, write = os.pipe()
        ask_read, ask_write = os.pipe()
        parent = os.getpid()
        # Forked with the stopping signals held back, so that none reaches the child before it
        # has set its own handling, nor the parent before it knows its child (to end it); here
        # they arrive once the fork is done.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
        try:
            pid = os.fork()
        except OSError:  # (no memory or no process left for a child: the work runs here)
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
            for fd in (read, write, ask_read, ask_write):
                os.close(fd)
            return
        if pid == 0:
            os.close(ask_write)
            _child(read, write, ask_read, parent, self.work, self.seconds)  # (never returns)
        os.close(write)
        os.close(ask_read)
        self.pid, self.fd, self.ask = pid, read, ask_write
        try:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        except BaseException:  # (Ctrl-C held back until now: the caller never gets this object)
            self.close()
            raise

    def result(self) -> T:
        """The work's result (raises :class:`CheckTimeout` when its time ran out)."""
        if not self.forked:
            return self.work(self.seconds)
        asked = time.monotonic()
        with contextlib.suppress(OSError):  # (a child that has died: read as one below)
            os.write(self.ask, struct.pack("<d", asked))
        end = None if self.seconds is None else asked + self.seconds + GRACE
        try:
            data = self._message(end)
        except TimeoutError:
            self.close()
            raise CheckTimeout(f"did not finish within {self.seconds:g} s") from None
        global _receiving
        _receiving = self
        answer: tuple[str, Any] = ("failed", "")  # (the child died)
        try:
            if data is not None:
                answer = pickle.loads(data)
        except Exception:  # (half an answer: the child died)
            pass
        finally:
            _receiving = None
        kind, payload = answer
        if not self.announced:  # (nothing more will come: collect the child now)
            self.close()
        if kind == "failed":  # (an error is raised here, and reported, as it always is)
            self.close()
            left = None if self.seconds is None else self.seconds - (time.monotonic() - asked)
            return self.work(None if left is None else max(left, 1e-3))
        if kind == "timeout":
            raise CheckTimeout(payload)
        result: T = payload
        return result

    def part(self, index: int) -> Any:
        """The ``index``-th part the child works out after its answer (see :class:`OnRequest`),
        waited for as long as it takes, as that work would take here. A part that does not
        come (the child died, or failed to work it out) is worked out here: the whole work is
        done again, and the part taken from its result."""
        while len(self.later) <= index:
            data = self._message(None) if self.fd >= 0 else None
            kind, payload = ("failed", "") if data is None else pickle.loads(data)
            if kind != "done":
                self.close()
                return self._part_here(index)
            self.later.append(payload)
            if len(self.later) == self.announced:
                self.close()
        return self.later[index]

    def _part_here(self, index: int) -> Any:
        global _serving
        if self.here is None:
            try:
                self.here = self.work(self.seconds)
            except CheckTimeout:  # (done in time there, not here: nothing left to judge by)
                raise RuntimeError(
                    "the exact check's helper process ended, and its work did not finish "
                    "again here in time"
                ) from None
        # The parts of a result are its OnRequest mappings in the order pickling meets them,
        # the same here as in the child.
        _serving = []
        try:
            pickle.dumps(self.here, protocol=pickle.HIGHEST_PROTOCOL)
            return _serving[index]()
        finally:
            _serving = None

    def _message(self, end: float | None) -> bytes | None:
        """The child's next message (None when it ended first); TimeoutError past ``end``."""
        while True:
            if len(self.buffer) >= _HEADER:
                size = int.from_bytes(self.buffer[:_HEADER], "little")
                if len(self.buffer) >= _HEADER + size:
                    data = self.buffer[_HEADER : _HEADER + size]
                    self.buffer = self.buffer[_HEADER + size :]
                    return data
            if end is not None:
                left = end - time.monotonic()
                if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                    raise TimeoutError
            got = os.read(self.fd, 1 << 20)
            if not got:
                return None
            self.buffer += got

    def close(self) -> None:
        """End the child if it is still at work, and collect it (idempotent)."""
        for fd in (self.fd, self.ask):
            if fd >= 0:
                os.close(fd)
        self.fd = self.ask = -1
        if self.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = 0


_HEADER = 8  #: bytes of a message's length, before it
_receiving: Pending[Any] | None = None  #: in the parent: whose answer is being unpickled
_serving: list[Callable[[], Any]] | None = None  #: while a result is pickled: its parts, in order


class OnRequest(Overlay):
    """A mapping worked out only when it is first read (the judge's scales, a second reverse
    pass over the tree, which most points never need). Across to the parent it stays so: the
    child sends it after its answer, and the parent waits for it only if it is read. Entries
    may be set over it."""

    def __init__(
        self, base: Mapping[str, float] | None, source: tuple[Pending[Any], int] | None = None
    ) -> None:
        super().__init__()
        self._base, self._source = base, source

    def _load(self) -> Mapping[str, float]:
        if self._base is None:
            assert self._source is not None
            pending, index = self._source
            self._base = pending.part(index)
        return self._base

    def __reduce__(self) -> tuple[Any, ...]:
        if _serving is None:  # (pickled anywhere else: as the plain mapping)
            return (dict, ({**self._load(), **self._set},))
        _serving.append(lambda: dict(self._load()))
        return (_on_request, (len(_serving) - 1, dict(self._set)))


def _on_request(index: int, entries: dict[str, float]) -> OnRequest:
    assert _receiving is not None
    _receiving.announced = max(_receiving.announced, index + 1)
    out = OnRequest(None, (_receiving, index))
    out._set.update(entries)
    return out


class ItemByItem(Sequence[Any]):
    """A list that crosses to another process item by item: each item is unpickled there
    when it is first read (the judge reads few of a large expression's node values; all
    90,000 of them took 0.4 s to unpickle, measured)."""

    def __init__(self, items: Iterable[Any] = (), packed: list[bytes] | None = None) -> None:
        self._items: list[Any] = list(items) if packed is None else [_PACKED] * len(packed)
        self._packed = packed

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, i: int) -> Any: ...

    @overload
    def __getitem__(self, i: slice) -> list[Any]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        item = self._items[i]
        if item is _PACKED:
            assert self._packed is not None
            item = self._items[i] = pickle.loads(self._packed[i])
        return item

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _unpacked,
            ([pickle.dumps(self[k], pickle.HIGHEST_PROTOCOL) for k in range(len(self))],),
        )


_PACKED = object()  #: an item of an ItemByItem still to unpickle


def _unpacked(packed: list[bytes]) -> ItemByItem:
    return ItemByItem(packed=packed)


def _child(
    read: int,
    write: int,
    ask: int,
    parent: int,
    work: Callable[[float | None], object],
    seconds: float | None,
) -> None:
    """In the child: do the work, its clock held until the parent's ask time comes through
    ``ask``; send (kind, payload) pickled, then the parts left for later (:class:`OnRequest`),
    and leave at once (no clean-up of the parent's objects, no flush of its buffers: nothing
    is written twice)."""
    global _serving
    code = 0
    try:
        os.close(read)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for sig in (signal.SIGTERM, signal.SIGHUP):  # (not the parent's handlers; nohup kept)
            if signal.getsignal(sig) is not signal.SIG_IGN:
                signal.signal(sig, signal.SIG_DFL)
        _die_with_parent(parent)
        hold_clock()
        threading.Thread(target=_released_by, args=(ask,), daemon=True).start()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)
        kind: str
        try:
            kind, payload = "done", work(seconds)
        except CheckTimeout as stop:
            kind, payload = "timeout", stop.why
        except BaseException as e:  # (any at all: the parent does the work again, and reports)
            kind, payload = "failed", type(e).__name__
        _serving = []
        try:
            data = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # (something in the result cannot cross: done again there)
            data, _serving = pickle.dumps(("failed", type(e).__name__)), []
        with os.fdopen(write, "wb") as out:
            _send(out, data)
            for later in _serving:
                try:
                    data = pickle.dumps(("done", later()), protocol=pickle.HIGHEST_PROTOCOL)
                except BaseException as e:  # (reported by the parent, if it needs the part)
                    data = pickle.dumps(("failed", type(e).__name__))
                _send(out, data)
    except BaseException:  # (a child never unwinds into the parent's code)
        code = 1
    finally:
        os._exit(code)


def _released_by(ask: int) -> None:
    """In the child: release the clock at the time the parent sends (or now, if it sends
    nothing: it closed the pipe, and ends the child anyway)."""
    got = b""
    with contextlib.suppress(OSError):
        while len(got) < 8:
            more = os.read(ask, 8 - len(got))
            if not more:
                break
            got += more
    release_clock(struct.unpack("<d", got)[0] if len(got) == 8 else time.monotonic())


def _send(out: Any, data: bytes) -> None:
    out.write(len(data).to_bytes(_HEADER, "little") + data)
    out.flush()


def _die_with_parent(parent: int) -> None:
    """Linux: the child gets SIGKILL when the parent dies, however it dies."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # (the parent died before that took effect)
        os._exit(1)
