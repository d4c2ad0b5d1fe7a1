"""Gradients at many points: files, stdin and grids, streamed in chunks.

Rows are read, computed, checked and written one chunk at a time (65,536 rows), so memory
stays bounded however long the input, and the first results appear before the input ends.
Each chunk is one autograd pass over column tensors (torch, one thread). A reader thread parses
ahead, and the check's screen (:mod:`gradcli.batch.check`: NumPy, with error bounds) is
computed for each chunk as soon as it is read, in a helper process, while torch loads and works;
a writer thread formats and writes each chunk's results while the next one is computed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import math
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from ..errors import InputError
from ..language.nodes import Expr
from ..limits import MAX_EXACT_ROWS, MAX_GRID
from ..results import Status, worst
from . import check as batchcheck
from . import formats
from .check import CODE, STATUSES
from .formats import CHUNK_ROWS, FORMATS, Writer, input_format, output_format, read_chunks


@dataclass
class Summary:
    """What a batch run did, for the message at the end and the exit code."""

    rows: int = 0
    skipped: int = 0
    nulled: int = 0
    checked: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    check_mode: str = ""
    abandoned: str = ""  #: why the exact check gave up, if it did
    over_budget: int = 0  #: doubtful rows left unchecked (past the exact budget)
    exact_budget: int = MAX_EXACT_ROWS  #: doubtful rows judged exactly, at most

    @property
    def status(self) -> Status:
        return worst([Status(s) for s in self.statuses]) if self.statuses else Status.UNCHECKED

    def describe(self) -> str:
        parts = [f"{self.rows:,} row{'s' * (self.rows != 1)}"]
        if self.check_mode:
            verdicts = ", ".join(f"{n:,} {s}" for s, n in sorted(self.statuses.items()))
            how = self.check_mode
            parts.append(
                f"checked {self.checked:,} ({how})" + (f": {verdicts}" if verdicts else "")
            )
        else:
            parts.append("not checked")
        if self.over_budget:
            parts.append(
                f"{self.over_budget:,} doubtful row{'s' * (self.over_budget != 1)} past the "
                f"first {self.exact_budget:,} left unchecked"
            )
        if self.skipped:
            parts.append(f"{self.skipped:,} bad row{'s' * (self.skipped != 1)} skipped")
        if self.abandoned:
            parts.append(f"the symbolic check {self.abandoned}")
        if self.nulled:
            parts.append(f"{self.nulled:,} bad row{'s' * (self.nulled != 1)} written as null")
        return "; ".join(parts)


# ---- one chunk ---------------------------------------------------------------------------------

#: chunks read (and screened) ahead of torch, while it loads and computes; each in flight holds
#: its columns and a slot of memory shared with the check's helper. Measured over 10,000,000
#: two-variable rows: 4 streams as fast as 12 and peaks 45 MB lower (396 MiB, not 441); at
#: 1,000,000 rows from a file 4 was as fast too, though fewer chunks are read while torch loads
READ_AHEAD = 4


@dataclass
class Chunk:
    """One chunk on its way through: the input frame and columns, the pending screen, and
    (once torch has run) the results."""

    frame: Any
    columns: dict[str, np.ndarray]
    bad: np.ndarray | None
    screened: Callable[[], batchcheck.ScreenedChunk] | None = None
    value: np.ndarray = field(default_factory=lambda: np.empty(0))
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    sampled: list[tuple[list[int], Callable[[], Any]]] = field(default_factory=list)


class Checking:
    """The check of a run, in the mode asked for (see ``batchcheck``)."""

    def __init__(
        self,
        expr: Expr,
        dtype: str,
        mode: str,
        timeout: float | None,
        summary: Summary,
        process: bool = False,
        exact_rows: int | None = MAX_EXACT_ROWS,
        expected_rows: int | None = None,
    ) -> None:
        self.mode, rows = batchcheck.parse_mode(mode)
        self.expr, self.dtype, self.summary = expr, dtype, summary
        self.screen: batchcheck.Screen | None = None
        self.sampler: batchcheck.Sampler | None = None
        if self.mode == "all":
            self.screen = batchcheck.Screen(
                expr, dtype, timeout, process, READ_AHEAD, exact_rows, expected_rows
            )
            summary.exact_budget = exact_rows or 0
        else:
            self.sampler = batchcheck.Sampler(expr, dtype, rows, timeout)
        summary.check_mode = batchcheck.describe_mode(self.mode, rows, CHUNK_ROWS)

    def ahead(self, chunk: Chunk) -> None:
        """Start what needs only the inputs (the screen), as soon as a chunk is read."""
        if self.screen is not None:
            chunk.screened = self.screen.submit(chunk.columns)

    def start(self, chunk: Chunk) -> None:
        """Start what needs torch's results (sampling: the rows that are not finite)."""
        if self.sampler is None:
            return
        n = len(chunk.value)
        rows = [i for i in self.sampler.sample_rows(n) if chunk.bad is None or not chunk.bad[i]]
        if rows:
            chunk.sampled.append((rows, self._exact(chunk, rows)))
        late = [
            i
            for i in self.sampler.nonfinite_rows(chunk.value, chunk.grads, set(rows))
            if chunk.bad is None or not chunk.bad[i]
        ]
        chunk.sampled.append((late, self._exact(chunk, late)))

    def _exact(self, chunk: Chunk, rows: list[int]) -> Callable[[], list[Status]]:
        assert self.sampler is not None
        points = [_point(chunk, i) for i in rows]
        return self.sampler.exact(
            points, [batchcheck.written(chunk.value, chunk.grads, i) for i in rows]
        )

    def finish(self, chunk: Chunk) -> tuple[np.ndarray, bool]:
        """Status codes of ``chunk``, and whether any is notable (not agree, or, sampling, not
        unchecked either)."""
        summary = self.summary
        if self.screen is not None and chunk.screened is not None:
            ref = chunk.screened()
            codes, doubtful = self.screen.compare(ref, chunk.value, chunk.grads, chunk.bad)
            self.screen.judge(chunk.columns, chunk.value, chunk.grads, doubtful, codes)
            summary.over_budget = self.screen.over_budget
            checked = codes != CODE[Status.UNCHECKED]
            if chunk.bad is not None:
                checked &= ~chunk.bad
            counts = np.bincount(codes[checked], minlength=len(STATUSES))
            for code, count in enumerate(counts.tolist()):
                if count:
                    summary.statuses[STATUSES[code].value] += count
            summary.checked += int(checked.sum())
            relevant = codes if chunk.bad is None else codes[~chunk.bad]
            return codes, bool((relevant != CODE[Status.AGREE]).any())
        assert self.sampler is not None
        codes = np.full(len(chunk.value), CODE[Status.UNCHECKED], dtype=np.uint8)
        notable = False
        for rows, results in ((r, wait()) for r, wait in chunk.sampled):
            for i, verdict in zip(rows, results, strict=True):
                codes[i] = CODE[verdict]
                summary.statuses[verdict.value] += 1
                summary.checked += 1
                notable = notable or verdict is not Status.AGREE
        return codes, notable

    @property
    def fill(self) -> str:
        """The status of a row nothing was learnt about."""
        return Status.AGREE.value if self.mode == "all" else Status.UNCHECKED.value

    def close(self) -> None:
        if self.screen is not None:
            self.screen.close()
        if self.sampler is not None:
            self.sampler.close()


def _point(chunk: Chunk, i: int) -> dict[str, float]:
    return {name: float(col[i]) for name, col in chunk.columns.items()}


_NAMES = np.array([s.value for s in STATUSES], dtype=object)


def status_series(codes: np.ndarray, bad: np.ndarray | None) -> Any:
    # (here, not at the top: it loads Polars)
    import polars as pl

    status = pl.Series("status", _NAMES[codes], dtype=pl.String)
    if bad is not None and bad.any():
        # (nulls set afterwards: Polars cannot make text of an object array that starts with
        # None, as a chunk whose first row was written as null would be)
        status = status.scatter(np.flatnonzero(bad), None)
    return status


# ---- the whole run -----------------------------------------------------------------------------


def run(
    expr: Expr,
    chunks: Iterator[Any],
    writer: Writer,
    dtype: str,
    check: str | None,
    summary: Summary,
    progress: Callable[[int], None] | None = None,
    timeout: float | None = 5.0,
    expected_rows: int | None = None,
) -> None:
    """Compute, check and write every chunk: the input columns, ``value``, ``d_<name>``, and
    ``status`` when some row is not ``agree``.

    A reader thread parses the input ahead (Polars releases the GIL) and hands each chunk's
    columns to the check's helper process, forked before torch is imported; so reading,
    importing torch and the check's screen all overlap. A writer thread writes the results
    behind the main thread (:class:`_WriteBehind`). ``expected_rows``: about how many rows the
    input has, when that is known before reading it (a short run's screen is not compiled).
    """
    _hold_freed_memory()
    checking = (
        Checking(expr, dtype, check, timeout, summary, True, MAX_EXACT_ROWS, expected_rows)
        if check
        else None
    )
    if checking is not None:
        writer.fill = checking.fill
    import polars  # noqa: F401 - here, not on the reader thread, where torch's import would stall it

    if checking is not None and checking.sampler is not None:
        chunks = _first_chunk_whole(chunks)
    reader = _ReadAhead(expr, chunks, checking)
    behind = _WriteBehind(writer)
    try:
        from ..engines.autograd import batch_gradients  # imports torch, while the reader works

        try:
            for chunk in reader:
                chunk.value, chunk.grads = batch_gradients(expr, chunk.columns, dtype)
                frame = _with_results(expr, chunk)
                if checking is None:
                    behind.write(frame, None, False)
                else:
                    checking.start(chunk)
                    codes, notable = checking.finish(chunk)
                    plain = not notable and not (
                        (codes != CODE[Status(checking.fill)]).any()
                        or (chunk.bad is not None and chunk.bad.any())
                    )
                    status = partial(status_series, codes, chunk.bad)
                    behind.write(frame, status, notable, plain)
                summary.rows += frame.height
                if progress is not None:
                    progress(frame.height)
        except InputError:
            # (every row before the bad one is written before the error: on stdout, how many
            # come out does not depend on how far the writer had got)
            behind.finish()
            raise
        if not summary.rows and reader.empty is not None:
            # no row (a header alone, or every row skipped): the output still has its columns,
            # so that it reads back as a table (CSV and TSV: the header; Parquet: the schema)
            chunk = Chunk(reader.empty, {v: np.empty(0) for v in expr.variables}, None)
            chunk.value = np.empty(0)
            chunk.grads = {v: np.empty(0) for v in expr.variables}
            behind.write(_with_results(expr, chunk), None, False)
        behind.finish()
    finally:
        behind.stop()
        reader.stop()
        if checking is not None:
            checking.close()


#: glibc's mallopt parameters: the free memory kept at the heap's top, and the size from which
#: a block gets its own mapping
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
HELD = 64 << 20  #: bytes of freed memory the process keeps for reuse (both parameters)


def _hold_freed_memory() -> None:
    """Let the C allocator keep freed memory instead of handing it back to the system.

    A run allocates and frees the same chunk-sized arrays over and over (NumPy's temporaries,
    torch's tensors). By default glibc maps each block of 128 KiB or more afresh and trims the
    heap whenever its top is free, so the same memory is faulted in again and again: 420,000
    page faults over 10,000,000 rows, measured. Holding up to 64 MiB: 115,000, and 0.7 s less
    of a 6 s run. The settings are inherited by the check's helper process; where the C library
    has no ``mallopt`` (not glibc), nothing changes. (The command line's batch path only: a
    library call leaves its host process's allocator alone.)
    """

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_TRIM_THRESHOLD, HELD)
    mallopt(_M_MMAP_THRESHOLD, HELD)


def _first_chunk_whole(chunks: Iterator[Any]) -> Iterator[Any]:
    """The first CHUNK_ROWS rows as one chunk (all of them, when there are fewer), however the
    reads fell: ``--check sample`` draws its rows from the first chunk, so that which rows it
    checks does not depend on where a pipe paused or on how long the lines are."""
    # (here, not at the top: it loads Polars)
    import polars as pl

    size = formats.CHUNK_ROWS
    gathered: list[Any] = []
    rows = 0
    try:
        for frame in chunks:
            gathered.append(frame)
            rows += frame.height
            if rows >= size:
                break
    except InputError:
        yield from gathered  # (the rows before a bad one come out, as they would have)
        raise
    if gathered:
        first = pl.concat(gathered, how="diagonal_relaxed") if len(gathered) > 1 else gathered[0]
        if "__bad__" in first.columns:  # (the chunks without a bad row had no such column)
            first = first.with_columns(pl.col("__bad__").fill_null(False))
        yield first.slice(0, size)
        if first.height > size:
            yield first.slice(size)
    yield from chunks


class _ReadAhead:
    """Chunks from ``chunks``, read on a thread up to :data:`READ_AHEAD` chunks ahead; an
    error while reading is raised where the chunk would have been."""

    _DONE = object()

    def __init__(self, expr: Expr, chunks: Iterator[Any], checking: Checking | None) -> None:

        self.expr, self.chunks, self.checking = expr, chunks, checking
        #: the first frame with no rows (its columns are the output's, should no row come)
        self.empty: Any = None
        self.queue: queue.Queue[Any] = queue.Queue(READ_AHEAD)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._read, name="gradcli-read", daemon=True)
        self.thread.start()

    def _read(self) -> None:

        try:
            for frame in self.chunks:
                chunk = _prepare(self.expr, frame)
                if chunk is None:
                    if self.empty is None:
                        self.empty = frame.drop("__bad__", strict=False)
                    continue
                if self.checking is not None:
                    self.checking.ahead(chunk)
                if not _put_while(self.queue, chunk, lambda: not self.stopping.is_set()):
                    return
        except BaseException as e:  # handed to the main thread, which raises it
            self.queue.put(e)
            return
        self.queue.put(self._DONE)

    def __iter__(self) -> Iterator[Chunk]:
        while True:
            item = self.queue.get()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=1)  # a reader waiting on a slow pipe is a daemon: let it be


def _put_while(into: queue.Queue[Any], item: Any, going: Callable[[], bool]) -> bool:
    """Put ``item`` into a bounded queue, waiting while it is full for as long as ``going()``
    says (asked every 0.1 s); whether it was put."""
    while going():
        try:
            into.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


#: chunks computed and waiting to be written: enough to ride out a slow write, few enough
#: that a stop loses little work (each holds one chunk's result frame)
WRITE_BEHIND = 2


class _WriteBehind:
    """Writes the result frames on a thread of its own, in order, while the main thread
    computes the next chunk (Polars formats and writes without the GIL).

    Measured over 10,000,000 rows on stdin: writing took 1.6 s of the main thread's 3.1 s.
    A failed write (a closed pipe, a full disk) is raised on the main thread, at its next
    write or at :meth:`finish`, as the exception it was.
    """

    _DONE = object()

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.queue: queue.Queue[Any] = queue.Queue(WRITE_BEHIND)
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._write, name="gradcli-write", daemon=True)
        self.thread.start()

    def _write(self) -> None:
        while True:
            item = self.queue.get()
            if item is self._DONE or self.stopping.is_set():
                return
            try:
                self.writer.write(*item)
            except BaseException as e:  # handed to the main thread, which raises it
                self.error = e
                return

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def _put(self, item: Any) -> None:
        def writing() -> bool:
            self._raise()
            return self.thread.is_alive()

        _put_while(self.queue, item, writing)

    def write(
        self, frame: Any, status: Callable[[], Any] | None, notable: bool, plain: bool = True
    ) -> None:
        """Queue ``frame`` (see :meth:`Writer.write`)."""
        self._put((frame, status, notable, plain))

    def finish(self) -> None:
        """Wait until every frame is written; raise what a write raised."""
        self._put(self._DONE)
        self.thread.join()
        self._raise()

    def stop(self) -> None:
        """After a failure or a stop: drop what is queued and let the thread end (a write
        under way completes, so the writer is never closed in the middle of one)."""
        self.stopping.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self.queue.get_nowait()
        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(self._DONE)
        self.thread.join(timeout=1)  # (a write stuck on a pipe nobody reads: let it be)


def _prepare(expr: Expr, frame: Any) -> Chunk | None:
    """The chunk of one input frame: its variable columns as float64 arrays."""
    reserved = {"value", "status", *(f"d_{v}" for v in expr.variables)}
    clash = reserved & set(frame.columns)
    if clash:
        raise InputError(
            f"the input already has a column named {sorted(clash)[0]}",
            hint="rename it: gradcli adds value, d_<variable> and status",
        )
    bad = frame["__bad__"].to_numpy() if "__bad__" in frame.columns else None
    if bad is not None:
        frame = frame.drop("__bad__")
    if not frame.height:
        return None
    columns = {v: frame[v].to_numpy().astype(np.float64, copy=False) for v in expr.variables}
    if bad is not None:  # compute on a harmless stand-in, then null the row's results
        columns = {k: np.where(bad, 1.0, c) for k, c in columns.items()}
    return Chunk(frame, columns, bad)


def _with_results(expr: Expr, chunk: Chunk) -> Any:
    """The chunk's frame with ``value`` and ``d_<name>`` columns: not finite (undefined,
    overflow) and unreadable rows as null, not NaN."""
    # (here, not at the top: it loads Polars)
    import polars as pl

    frame, bad = chunk.frame, chunk.bad
    extra = []
    results = {"value": chunk.value, **{f"d_{n}": chunk.grads[n] for n in expr.variables}}
    for key, col in results.items():
        missing = ~np.isfinite(col) if bad is None else (~np.isfinite(col)) | bad
        series = pl.Series(key, col)
        extra.append(series.scatter(np.flatnonzero(missing), None) if missing.any() else series)
    frame = frame.hstack(extra)  # eager: cheaper than with_columns
    if bad is not None:  # the fields that could not be read are null; the others stay
        frame = frame.with_columns(
            [pl.col(c).fill_nan(None).alias(c) for c in expr.variables if frame[c].is_nan().any()]
        )
    return frame


# ---- the Python API ----------------------------------------------------------------------------


def batch_arrays(
    expr: Expr,
    arrays: Mapping[str, np.ndarray],
    rows: int,
    dtype: str,
    check: str | None,
    timeout: float | None,
    exact_rows: int | None = None,
) -> dict[str, np.ndarray]:
    """``value``, ``d_<name>`` and (when checked) ``status`` for ``rows`` points whose columns
    the caller has checked: one float64 array of that length per variable, all finite. Every
    doubtful row is judged exactly unless ``exact_rows`` caps them (the others stay
    ``unchecked``): without a cap, a row's verdict does not depend on the rows beside it, so a
    table split into partitions gets the verdicts it gets whole."""
    # (here, not at the top: it loads NumPy)
    from ..engines.autograd import batch_gradients

    summary = Summary()
    checking = (
        Checking(expr, dtype, check, timeout, summary, exact_rows=exact_rows, expected_rows=rows)
        if check
        else None
    )
    keys = ["value", *(f"d_{name}" for name in expr.variables)]
    out: dict[str, list[np.ndarray]] = {k: [np.empty(0)] for k in keys}
    if checking is not None:
        out["status"] = [np.empty(0, dtype=_NAMES.dtype)]
    try:
        for start in range(0, rows, CHUNK_ROWS):
            chunk_columns = {k: v[start : start + CHUNK_ROWS] for k, v in arrays.items()}
            value, grads = batch_gradients(expr, chunk_columns, dtype)
            out["value"].append(value)
            for name in expr.variables:
                out[f"d_{name}"].append(grads[name])
            if checking is not None:
                chunk = Chunk(None, chunk_columns, None, value=value, grads=grads)
                checking.ahead(chunk)
                checking.start(chunk)
                codes, _ = checking.finish(chunk)
                out["status"].append(_NAMES[codes])
    finally:
        if checking is not None:
            checking.close()
    return {k: np.concatenate(parts) for k, parts in out.items()}


# ---- grids -------------------------------------------------------------------------------------


def grid_columns(values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The Cartesian product of the grids (first variable slowest); plain numbers repeat.

    A grid is ``(start, stop, count)``: ``count`` evenly spaced points from start to stop
    inclusive, as numpy.linspace gives them.
    """
    axes = {
        k: np.linspace(*v) if isinstance(v, tuple) else np.array([float(v)])
        for k, v in values.items()
    }
    total = math.prod(len(a) for a in axes.values())
    if total > MAX_GRID:
        raise InputError(f"the grid has {total:,} points; the limit is {MAX_GRID:,}")
    mesh = np.meshgrid(*axes.values(), indexing="ij")
    return {k: m.reshape(-1) for k, m in zip(axes, mesh, strict=True)}


__all__ = [
    "CHUNK_ROWS",
    "FORMATS",
    "Summary",
    "Writer",
    "batch_arrays",
    "grid_columns",
    "input_format",
    "output_format",
    "read_chunks",
    "run",
]
