"""The batch command: points from a file, stdin or grids, results streamed out chunk by chunk.

The command line hands over the texts it was given (the expression, each variable's value or
grid, the files, the formats); everything about them is checked here before any work starts.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from ..language.parser import parse
from ..language.shapes import infer_shapes
from ..language.values import (
    float32_hint,
    float32_trouble,
    literals_within,
    match_variables,
    outside_float32,
    parse_grid,
    parse_number,
)
from . import check as batchcheck
from . import run as batch


@dataclass(frozen=True)
class Request:
    """What a batch run was asked to do, as the command line's texts."""

    expression: str
    values: dict[str, str]  #: variable -> its value or grid text (``0:1:11``)
    input_path: str | None = None
    input_format: str | None = None
    output: str | None = None
    out_format: str | None = None
    on_bad_row: str = "error"
    check: str | None = "all"
    dtype: str = "float64"
    timeout: float | None = 5.0


def run_batch(
    request: Request, progress: Callable[[int], None] | None, stdout_is_terminal: bool
) -> tuple[int, str, str]:
    """Run it: (exit code, the summary line, a late message or "")."""
    expr = parse(request.expression)
    infer_shapes(expr, {})
    literals_within(expr, request.dtype)
    output = request.output
    fmt = batch.output_format(output, request.out_format)
    if fmt == "parquet" and (output is None or output == "-") and stdout_is_terminal:
        raise UsageError("Parquet is binary: write it to a file with --output, or pipe it")
    if request.check is not None:
        batchcheck.parse_mode(request.check)  # a wrong mode is an error before any work
    # the destination is checked before any work (and is not the input)
    writer = batch.Writer(output, fmt, [request.input_path or ""])
    summary = batch.Summary()
    ok = False
    try:
        chunks = _chunks(expr, request, summary)
        batch.run(
            expr,
            chunks,
            writer,
            request.dtype,
            request.check,
            summary,
            progress,
            request.timeout,
            _expected_rows(request),
        )
        ok = True
    finally:
        writer.close(ok)
    return int(summary.status.exit_code), summary.describe(), writer.late_message() or ""


def _chunks(expr: Any, request: Request, summary: batch.Summary) -> Iterator[Any]:
    grids = {k: g for k, v in request.values.items() if (g := parse_grid(v, k)) is not None}
    if request.dtype == "float32":
        _within_float32(grids, {k: v for k, v in request.values.items() if k not in grids})
    if request.input_path is not None:
        if grids:
            raise UsageError("give the points either with --input or as grids, not both")
        fixed = {k: parse_number(v, k) for k, v in request.values.items()}
        variables = [v for v in expr.variables if v not in fixed]
        chunks = batch.read_chunks(
            request.input_path,
            batch.input_format(request.input_path, request.input_format),
            variables,
            request.on_bad_row,
            summary,
            request.dtype,
        )
        return _with_constants(chunks, fixed) if fixed else chunks
    values: dict[str, Any] = {
        k: grids[k] if k in grids else parse_number(v, k) for k, v in request.values.items()
    }
    match_variables(expr.variables, {k: 0.0 for k in values})
    if not values:
        raise UsageError(
            "batch work needs a variable to vary",
            hint="give it as a grid (--x 0:1:11) or in an --input file",
        )
    return _frames(batch.grid_columns(values), batch.CHUNK_ROWS)


#: bytes of a text input read to tell the length of its lines
SAMPLE_BYTES = 1 << 16


def _expected_rows(request: Request) -> int | None:
    """About how many rows the run has, when that can be known before reading the input: a
    grid's points; a Parquet file's row count (its footer); a regular text file's size over
    the length of its first lines. None for a stream (stdin, a pipe), which is never read
    twice."""
    path = request.input_path
    if path is None:
        grids = [g for k, v in request.values.items() if (g := parse_grid(v, k)) is not None]
        return math.prod(g[2] for g in grids) if grids else 1
    try:
        if path == "-" or not stat.S_ISREG(os.stat(path).st_mode):
            return None
        if batch.input_format(path, request.input_format) == "parquet":
            # (here, not at the top: it loads Polars)
            import polars as pl

            return int(pl.scan_parquet(path).select(pl.len()).collect().item())
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            sample = f.read(SAMPLE_BYTES)
    except Exception:  # (the reader reports what is wrong with the input, in its words)
        return None
    lines = sample.count(b"\n")
    if len(sample) >= size:
        return lines
    return size * lines // len(sample) if lines else None  # (lines longer than the sample)


def _within_float32(grids: dict[str, tuple[float, float, int]], values: dict[str, str]) -> None:
    """Every point of the grids, and every single value, is a number float32 holds as it is
    (torch would compute 1e39 as inf, 1e-50 as 0): else a usage error, before any work."""
    # (here, not at the top: it loads NumPy)
    import numpy as np

    for name, text in values.items():
        x = parse_number(text, name)
        trouble = float32_trouble(x)
        if trouble is not None:
            raise UsageError(
                f"the value of {name}, {x:.8g}, {trouble}", hint=float32_hint("--dtype float64")
            )
    for name, grid in grids.items():
        points = np.linspace(*grid)
        beyond, vanished = outside_float32(points)
        wrong = beyond | vanished
        if wrong.any():
            x = float(points[int(wrong.argmax())])
            raise UsageError(
                f"the grid of {name} has the point {x:.8g}, which {float32_trouble(x)}",
                hint=float32_hint("--dtype float64"),
            )


def _frames(columns: dict[str, Any], size: int) -> Iterator[Any]:
    # (here, not at the top: it loads Polars)
    import polars as pl

    frame = pl.DataFrame(columns)
    for start in range(0, frame.height, size):
        yield frame.slice(start, size)


def _with_constants(chunks: Iterator[Any], fixed: dict[str, float]) -> Iterator[Any]:
    """The input's chunks with the variables given one value (``--x 1``) as columns; a column
    of the input by the same name is an error, never overwritten."""
    # (here, not at the top: it loads Polars)
    import polars as pl

    for frame in chunks:
        clash = [k for k in fixed if k in frame.columns]
        if clash:
            raise UsageError(
                f"{clash[0]} is a column of the input and has a value (--{clash[0]}) too: give "
                "it one or the other",
                hint=f"drop --{clash[0]} to use the column, or rename the column",
            )
        yield frame.with_columns([pl.lit(v, dtype=pl.Float64).alias(k) for k, v in fixed.items()])


__all__ = ["Request", "run_batch"]
