"""Gradients at many points: files, stdin and grids, streamed in chunks.

Rows are read, computed and written one chunk at a time (65,536 rows), so memory stays bounded
however long the input, and the first results appear before the input ends. Each chunk is one
autograd pass over column tensors. Reading and writing use Polars (its CSV reader and writer
are native code, and it writes floats as the shortest text that reads back as the same
float64); torch computes.

The check: every checked row gets the exact verdict of ``gradcli grad`` (a few ms a row:
SymPy at 30 digits). By default 25 random rows of the first chunk are checked, and up to 100
rows whose value or gradient is not finite; ``check="all"`` checks every row.
"""

from __future__ import annotations

import io
import math
import random
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from .errors import InputError, UsageError, safe_text
from .models import Status, worst
from .nodes import Expr
from .values import MAX_GRID, flat

CHUNK_ROWS = 1 << 16  #: rows per chunk: measured faster than one huge tensor, and bounded
READ_BYTES = 8 << 20  #: bytes read from a stream at a time
FORMATS = ("csv", "tsv", "jsonl", "parquet")
DEFAULT_SAMPLE = 25  #: random rows checked by default (from the first chunk)
MAX_NONFINITE_CHECKS = 100  #: rows that are not finite checked in all, at most


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

    @property
    def status(self) -> Status:
        return worst([Status(s) for s in self.statuses]) if self.statuses else Status.UNCHECKED

    def describe(self) -> str:
        parts = [f"{self.rows:,} row{'s' * (self.rows != 1)}"]
        if self.check_mode:
            verdicts = ", ".join(f"{n:,} {s}" for s, n in sorted(self.statuses.items()))
            parts.append(
                f"checked {self.checked:,} ({self.check_mode})"
                + (f": {verdicts}" if verdicts else "")
            )
        else:
            parts.append("not checked")
        if self.skipped:
            parts.append(f"{self.skipped:,} bad row{'s' * (self.skipped != 1)} skipped")
        if self.abandoned:
            parts.append(f"the symbolic check {self.abandoned}")
        if self.nulled:
            parts.append(f"{self.nulled:,} bad row{'s' * (self.nulled != 1)} written as null")
        return "; ".join(parts)


# ---- the computation -----------------------------------------------------------------------


def _exact_points(
    sym: Any, derivatives: Mapping[str, Any], points: list[dict[str, float]], dtype: str
) -> list[tuple[Any, dict[str, Any]]]:
    """The exact value and derivatives at each point (SymPy, 30 digits)."""
    from . import symbolic

    return [
        (
            symbolic.evaluate(sym, sym.expr, p, dtype),
            {n: symbolic.evaluate(sym, d, p, dtype) for n, d in derivatives.items()},
        )
        for p in points
    ]


_WORKER: tuple[Any, Any, str] | None = None  # in the helper process: (sym, derivatives, dtype)


def _worker_init(source: str, dtype: str) -> None:
    global _WORKER
    from . import symbolic
    from .deadline import CheckTimeout, time_limit
    from .parser import parse

    expr = parse(source)
    try:
        with time_limit(None):  # no clock here: each request has its own budget
            sym = symbolic.build(expr, dtype)
            _WORKER = (sym, {n: sym.derivative(n) for n in expr.variables}, dtype)
    except CheckTimeout as stop:
        _WORKER = None
        globals()["_WORKER_WHY"] = stop.why


def _worker_exact(
    points: list[dict[str, float]], seconds: float | None
) -> list[tuple[Any, dict[str, Any]]] | str:
    """Exact values for ``points``, or why there are none (a sentence's end)."""
    from .deadline import CheckTimeout, time_limit

    if _WORKER is None:
        return str(globals().get("_WORKER_WHY", "was abandoned"))
    sym, derivatives, dtype = _WORKER
    try:
        with time_limit(seconds):
            return _exact_points(sym, derivatives, points, dtype)
    except CheckTimeout as stop:
        return stop.why


class Checker:
    """The exact check of single rows.

    The symbolic side (importing SymPy, differentiating, evaluating the sampled rows at 30
    digits) runs in a helper process started at once, so on a 2-core machine it overlaps with
    importing torch and computing the chunk instead of adding to it. Where processes cannot be
    forked it runs here.
    """

    def __init__(self, expr: Expr, dtype: str, mode: str, timeout: float | None = 5.0) -> None:
        import multiprocessing

        self.expr, self.dtype, self.mode, self.timeout = expr, dtype, mode, timeout
        self.abandoned: str | None = None  #: why the exact side gave up, if it did
        self.sample = DEFAULT_SAMPLE if mode == "sample" else 0
        self.nonfinite_budget = MAX_NONFINITE_CHECKS
        self.rng = random.Random(20261123)
        self.pool: Any = None
        self.local: tuple[Any, Any] | None = None
        if "fork" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("fork")
            self.pool = context.Pool(1, initializer=_worker_init, initargs=(expr.source, dtype))

    def exact(self, points: list[dict[str, float]]) -> Callable[[], list[Any] | str]:
        """Start the exact evaluation of ``points``; the returned function waits for the
        results, or says why there are none (the time limit, too deep for SymPy)."""
        import multiprocessing

        from .deadline import CheckTimeout, time_limit

        if not points or self.abandoned:
            why = self.abandoned
            return lambda: why if why else []
        # The budget grows with the number of rows (--check all sends whole chunks).
        budget = None if not self.timeout else self.timeout * max(1.0, len(points) / 25)
        if self.pool is not None:
            pending = self.pool.apply_async(_worker_exact, (points, budget))

            def wait() -> list[Any] | str:
                try:  # the first request also waits for SymPy's import in the helper
                    got: list[Any] | str = pending.get(None if budget is None else budget + 60)
                    return got
                except multiprocessing.TimeoutError:
                    return "did not finish in time"

            return wait
        try:
            with time_limit(budget):
                if self.local is None:
                    from . import symbolic

                    sym = symbolic.build(self.expr, self.dtype)
                    self.local = (sym, {n: sym.derivative(n) for n in self.expr.variables})
                sym, derivatives = self.local
                done: list[Any] | str = _exact_points(sym, derivatives, points, self.dtype)
        except CheckTimeout as stop:
            done = stop.why
        return lambda: done

    def sample_rows(self, n: int) -> list[int]:
        """Rows to check whatever their results: every row with ``all``, else the random
        sample, drawn from the first chunk."""
        if self.mode == "all":
            return list(range(n))
        picked = sorted(self.rng.sample(range(n), min(self.sample, n)))
        self.sample = 0
        return picked

    def nonfinite_rows(
        self, value: np.ndarray, grads: Mapping[str, np.ndarray], already: set[int]
    ) -> list[int]:
        """Rows whose value or gradient is not finite, while the budget for them lasts."""
        finite = np.isfinite(value)
        for g in grads.values():
            finite &= np.isfinite(g)
        rows = [i for i in np.flatnonzero(~finite).tolist() if i not in already]
        rows = rows[: self.nonfinite_budget]
        self.nonfinite_budget -= len(rows)
        return rows

    def verdict(self, point: dict[str, float], exact: tuple[Any, dict[str, Any]]) -> Status:
        """Torch's numbers at one row against the exact ones."""
        from . import check as checking
        from . import evaluate

        computed = evaluate.autograd(self.expr, point, self.dtype)
        gradient = {name: flat(g)[0] for name, g in computed.gradient.items()}
        verdicts = checking.judge(
            self.expr,
            {name: (name, x) for name, x in point.items()},
            self.dtype,
            flat(computed.value)[0],
            gradient,
            computed.node_values,
            exact[0],
            exact[1],
            lambda: evaluate.noisy_spread(self.expr, point, self.dtype),
        )
        return verdicts.status

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()


def compute(
    expr: Expr,
    columns: Mapping[str, np.ndarray],
    dtype: str,
    checker: Checker | None,
    summary: Summary,
    bad: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Value, gradient columns and (when checking) the status column for one chunk; rows
    marked ``bad`` (unreadable input written as nulls) are not checked."""
    from .evaluate import batch_gradients

    def point(i: int) -> dict[str, float]:
        return {name: float(col[i]) for name, col in columns.items()}

    n = len(next(iter(columns.values()))) if columns else 1
    early: list[int] = []
    if checker is not None:  # start the exact side before torch works on the chunk
        early = [i for i in checker.sample_rows(n) if bad is None or not bad[i]]
        early_exact = checker.exact([point(i) for i in early])
    value, grads = batch_gradients(expr, columns, dtype)
    out: dict[str, np.ndarray] = {"value": value}
    for name in expr.variables:
        out[f"d_{name}"] = grads[name]
    if checker is not None:
        status = np.full(len(value), Status.UNCHECKED.value, dtype=object)
        late = [
            i for i in checker.nonfinite_rows(value, grads, set(early)) if bad is None or not bad[i]
        ]
        late_exact = checker.exact([point(i) for i in late])
        for rows, results in ((early, early_exact()), (late, late_exact())):
            if isinstance(results, str):  # the exact side gave up on these rows
                checker.abandoned = results
                summary.abandoned = results
                for i in rows:
                    status[i] = Status.TIMEOUT.value
                    summary.statuses[Status.TIMEOUT.value] += 1
                continue
            for i, exact in zip(rows, results, strict=True):
                verdict = checker.verdict(point(i), exact).value
                status[i] = verdict
                summary.statuses[verdict] += 1
                summary.checked += 1
        if bad is not None:
            status[bad] = None
        out["status"] = status
    summary.rows += len(value)
    return out


def grad_batch(
    expression: str,
    columns: Mapping[str, Any],
    *,
    dtype: str = "float64",
    check: str | None = "sample",
    timeout: float | None = 5.0,
) -> dict[str, np.ndarray]:
    """Value and gradient at many points: ``columns`` maps each variable to an array (NumPy,
    torch, or any sequence of numbers). Returns ``value``, ``d_<name>`` for each variable and,
    unless ``check`` is None, ``status`` (a verdict for each checked row, ``unchecked`` for the
    others; ``check="all"`` checks every row, ``"sample"`` 25 random rows of the first 65,536
    and up to 100 rows whose result is not finite).
    """
    from .parser import parse
    from .shapes import infer_shapes
    from .values import match_variables

    expr = parse(expression)
    infer_shapes(expr, {})
    arrays = {}
    for name, col in columns.items():
        data = col.detach().cpu().numpy() if hasattr(col, "detach") else col
        arrays[name] = np.asarray(data, dtype=np.float64).reshape(-1)
    match_variables(expr.variables, {n: 0.0 for n in arrays})
    lengths = {len(a) for a in arrays.values()}
    if len(lengths) > 1:
        raise InputError(f"the columns have different lengths: {sorted(lengths)}")
    for name, a in arrays.items():
        if not np.isfinite(a).all():
            raise InputError(
                f"column {name} has a value that is not finite "
                f"(row {int(np.flatnonzero(~np.isfinite(a))[0])})"
            )
    checker = Checker(expr, dtype, check, timeout) if check else None
    summary = Summary()
    n = lengths.pop() if lengths else 1
    parts: list[dict[str, np.ndarray]] = []
    try:
        for start in range(0, n, CHUNK_ROWS):
            chunk = {k: v[start : start + CHUNK_ROWS] for k, v in arrays.items()}
            parts.append(compute(expr, chunk, dtype, checker, summary))
    finally:
        if checker is not None:
            checker.close()
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


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


# ---- reading -----------------------------------------------------------------------------------


def input_format(path: str, given: str | None) -> str:
    if given:
        return given
    if path == "-":
        return "csv"
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    fmt = {
        "csv": "csv",
        "tsv": "tsv",
        "tab": "tsv",
        "jsonl": "jsonl",
        "ndjson": "jsonl",
        "parquet": "parquet",
    }.get(suffix)
    if fmt is None:
        raise UsageError(
            f"cannot tell the format of {safe_text(path)!r} from its extension",
            hint="add --input-format csv|tsv|jsonl|parquet",
        )
    return fmt


def _open(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")
    except OSError as e:
        raise UsageError(f"cannot read {safe_text(path)!r}: {e.strerror}") from None


def _text_blocks(stream: IO[bytes]) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines and the 1-based line number of each block's first line."""
    rest = b""
    line = 1
    while True:
        data = stream.read(READ_BYTES)
        if not data:
            if rest.strip():
                yield rest, line
            return
        data = rest + data
        cut = data.rfind(b"\n")
        if cut < 0:
            rest = data
            continue
        block, rest = data[: cut + 1], data[cut + 1 :]
        yield block, line
        line += block.count(b"\n")


def read_chunks(
    path: str, fmt: str, variables: list[str], on_bad_row: str, summary: Summary
) -> Iterator[Any]:
    """Polars DataFrames of at most CHUNK_ROWS rows, variable columns as float64 (after the
    bad-row policy), other columns as they came."""
    import polars as pl

    if fmt == "parquet":
        try:
            frame = pl.read_parquet(_open(path) if path == "-" else path)
        except Exception as e:  # polars raises several kinds for a broken file
            raise UsageError(f"cannot read Parquet from {safe_text(path)!r}: {e}") from None
        for start in range(0, frame.height, CHUNK_ROWS):
            yield _clean(
                frame.slice(start, CHUNK_ROWS), variables, on_bad_row, start + 1, summary, fmt
            )
        return
    stream = _open(path)
    header = b""
    for block, line in _text_blocks(stream):
        if fmt in ("csv", "tsv") and not header:
            first, _, block = block.partition(b"\n")
            header = first + b"\n"
            line += 1
            if not block.strip():
                continue
        try:
            if fmt == "jsonl":
                frame = pl.read_ndjson(io.BytesIO(block), infer_schema_length=None)
            else:
                frame = _read_csv_block(header + block, "," if fmt == "csv" else "\t", variables)
        except Exception as e:
            raise InputError(
                f"cannot read the {fmt.upper()} input near line {line}: {str(e).splitlines()[0]}"
            ) from None
        for start in range(0, frame.height, CHUNK_ROWS):
            yield _clean(
                frame.slice(start, CHUNK_ROWS), variables, on_bad_row, line + start, summary, fmt
            )


def _read_csv_block(data: bytes, separator: str, variables: list[str]) -> Any:
    """One block of CSV: the variable columns parsed as float64 natively (the fast path); if
    a field is not a number, everything as text, so the bad field can be named."""
    import polars as pl

    header = data[: data.find(b"\n")].decode("utf-8", "replace").split(separator)
    floats = {name: pl.Float64 for name in variables if name in header}
    try:
        return pl.read_csv(
            io.BytesIO(data), separator=separator, infer_schema=False, schema_overrides=floats
        )
    except pl.exceptions.ComputeError:
        return pl.read_csv(io.BytesIO(data), separator=separator, infer_schema=False)


def _clean(
    frame: Any, variables: list[str], on_bad_row: str, first_line: int, summary: Summary, fmt: str
) -> Any:
    """Variable columns as float64; a missing, non-numeric or non-finite field is an error
    naming its line, or (by policy) the row is skipped or written with nulls."""
    import polars as pl

    missing = [v for v in variables if v not in frame.columns]
    if missing:
        raise InputError(
            f"the input has no column {', '.join(missing)}",
            hint=f"its columns are: {', '.join(frame.columns)}",
        )
    bad = np.zeros(frame.height, dtype=bool)
    casted = {}
    first_wrong: tuple[int, str] | None = None  # (row, variable) of the earliest bad field
    for name in variables:
        raw = frame[name]
        numbers = raw.cast(pl.Float64, strict=False) if raw.dtype != pl.Float64 else raw
        values = numbers.to_numpy().astype(np.float64, copy=False)
        wrong = ~np.isfinite(values)  # null (missing or not a number), nan or inf
        if wrong.any():
            row = int(np.flatnonzero(wrong)[0])
            if first_wrong is None or row < first_wrong[0]:
                first_wrong = (row, name)
        bad |= wrong
        casted[name] = values
    if first_wrong is not None and on_bad_row == "error":
        row, name = first_wrong
        field_text = frame[name][row]
        what = (
            "is missing"
            if field_text is None or str(field_text).strip() == ""
            else f"is not a finite number: {safe_text(str(field_text))!r}"
        )
        unit = "line" if fmt != "parquet" else "row"
        raise InputError(
            f"{unit} {first_line + row}: field {name} {what}",
            hint="fix the row, or pass --on-bad-row skip or --on-bad-row null",
        )
    recast = [n for n in variables if frame[n].dtype != pl.Float64]
    if recast:  # (the common case, numbers parsed natively, needs no copy)
        frame = frame.with_columns([pl.Series(n, casted[n]) for n in recast])
    if bad.any():
        if on_bad_row == "skip":
            summary.skipped += int(bad.sum())
            frame = frame.filter(pl.Series(~bad))
        else:
            summary.nulled += int(bad.sum())
            frame = frame.with_columns(pl.Series("__bad__", bad))
    return frame


# ---- the whole run -----------------------------------------------------------------------------


def run(
    expr: Expr,
    chunks: Iterator[Any],
    write: Callable[[Any], None],
    dtype: str,
    check: str | None,
    summary: Summary,
    progress: Callable[[int], None] | None = None,
    timeout: float | None = 5.0,
) -> None:
    """Compute every chunk and hand the result frame (input columns, value, d_*, status) to
    ``write``."""
    import polars as pl

    checker = Checker(expr, dtype, check, timeout) if check else None
    if checker is not None:
        summary.check_mode = (
            "every row"
            if check == "all"
            else f"{DEFAULT_SAMPLE} random rows of the first {CHUNK_ROWS:,}, and up to "
            f"{MAX_NONFINITE_CHECKS} rows whose result is not finite"
        )
    try:
        reserved = {"value", "status", *(f"d_{v}" for v in expr.variables)}
        for frame in chunks:
            clash = reserved & set(frame.columns)
            if clash:
                raise InputError(
                    f"the input already has a column named {sorted(clash)[0]}",
                    hint="rename it: gradcli adds value, d_<variable> and status",
                )
            bad = frame["__bad__"].to_numpy() if "__bad__" in frame.columns else None
            if bad is not None:
                frame = frame.drop("__bad__")
            columns = {
                v: frame[v].to_numpy().astype(np.float64, copy=False) for v in expr.variables
            }
            if bad is not None:  # compute on a harmless stand-in, then null the row's results
                columns = {k: np.where(bad, 1.0, c) for k, c in columns.items()}
            result = compute(expr, columns, dtype, checker, summary, bad) if frame.height else {}
            extra = []
            for key, col in result.items():
                if key == "status":
                    extra.append(pl.Series(key, col.tolist(), dtype=pl.String))
                    continue
                # Not a finite float64 (undefined, overflow) and unreadable rows: null, not NaN.
                missing = ~np.isfinite(col) if bad is None else (~np.isfinite(col)) | bad
                series = pl.Series(key, col)
                extra.append(
                    series.scatter(np.flatnonzero(missing), None) if missing.any() else series
                )
            frame = frame.hstack(extra) if extra else frame  # eager: cheaper than with_columns
            if bad is not None:
                frame = frame.with_columns(
                    [
                        pl.when(pl.Series(bad)).then(None).otherwise(pl.col(c)).alias(c)
                        for c in expr.variables
                    ]
                )
            write(frame)
            if progress is not None:
                progress(frame.height)
    finally:
        if checker is not None:
            checker.close()


class Writer:
    """Writes result frames to stdout or a file, in one format; a file is written under a
    temporary name and renamed at the end, so a failure leaves no half-written file."""

    def __init__(self, path: str | None, fmt: str) -> None:
        import os
        import tempfile

        self.fmt = fmt
        self.path = path
        self.first = True
        self.frames: list[Any] = []  # Parquet is written once, at the end
        if path is None or path == "-":
            self.path = None
            self.sink: IO[bytes] = sys.stdout.buffer
            self.tmp = None
        else:
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise UsageError(f"cannot write {safe_text(path)!r}: no such directory")
            if not os.access(folder, os.W_OK):
                raise UsageError(f"cannot write {safe_text(path)!r}: the directory is not writable")
            fd, self.tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=folder)
            self.sink = os.fdopen(fd, "wb")

    def write(self, frame: Any) -> None:
        if self.fmt == "parquet":
            self.frames.append(frame)
            return
        if self.fmt == "jsonl":
            frame.write_ndjson(self.sink)
        else:
            frame.write_csv(
                self.sink, include_header=self.first, separator="," if self.fmt == "csv" else "\t"
            )
        self.first = False
        if self.path is None:
            self.sink.flush()

    def close(self, ok: bool) -> None:
        import os

        import polars as pl

        try:
            if ok and self.fmt == "parquet" and self.frames:
                pl.concat(self.frames, how="vertical_relaxed").write_parquet(self.sink)
            self.sink.flush()
        finally:
            if self.tmp is not None:
                self.sink.close()
                if ok:
                    os.replace(self.tmp, str(self.path))
                else:
                    os.unlink(self.tmp)


__all__ = [
    "FORMATS",
    "Summary",
    "Writer",
    "grad_batch",
    "grid_columns",
    "input_format",
    "read_chunks",
    "run",
]
