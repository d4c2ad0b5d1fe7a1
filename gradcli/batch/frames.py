"""Tables in, the same kind of table out: what lets ``grad_batch`` run per partition under Dask
(``map_partitions``), Ray Data (``map_batches``) or any engine that hands a function one
Polars DataFrame, pandas DataFrame or Arrow table at a time.

The result is the input, every column kept in its order (and a pandas frame's index), with
``value``, ``d_<variable>`` for each variable (float64; null where the result is not finite:
undefined or overflow, which ``status`` says) and, when checked, ``status`` (text). Its columns
depend only on the expression, the input's columns and the check mode, never on the data, so an
empty input gives the empty result with the same schema without computing anything: that is
the ``meta`` Dask asks for.

Nothing here is global: a call reads its arguments and returns a new table. The libraries are
imported only for the kind of table given (a pandas user needs no Polars here, and no Arrow).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import InputError

#: table kinds, by the top-level module and the class name of the object
KINDS = {
    ("polars", "DataFrame"): "polars",
    ("pandas", "DataFrame"): "pandas",
    ("pyarrow", "Table"): "arrow",
}


def kind_of(table: object) -> str | None:
    """``"polars"``, ``"pandas"`` or ``"arrow"`` for a table of one of those kinds (found
    without importing any of them), None for anything else."""
    cls = type(table)
    return KINDS.get((cls.__module__.split(".")[0], cls.__name__))


def result_names(variables: tuple[str, ...], checked: bool) -> list[str]:
    """The columns ``grad_batch`` adds, in order."""
    return ["value", *(f"d_{v}" for v in variables), *(["status"] if checked else [])]


def columns_of(table: Any, kind: str) -> list[str]:
    return [str(c) for c in (table.column_names if kind == "arrow" else table.columns)]


def variable_columns(
    table: Any, kind: str, variables: tuple[str, ...], checked: bool
) -> dict[str, Any]:
    """The variables' columns of ``table``, as the table holds them (the caller makes them
    float64 by the strict rule). Every variable must be a column; other columns pass through;
    a column named like a result is refused, as on the command line."""
    names = columns_of(table, kind)
    if kind == "pandas" and any(not isinstance(c, str) for c in table.columns):
        raise InputError(
            "the DataFrame's column names must be text",
            hint="rename them, e.g. df.columns = [str(c) for c in df.columns]",
        )
    clash = sorted(set(result_names(variables, checked)) & set(names))
    if clash:
        raise InputError(
            f"the table already has a column named {clash[0]}",
            hint="rename it: grad_batch adds value, d_<variable> and status",
        )
    missing = [v for v in variables if v not in names]
    if missing:
        raise InputError(
            f"the table has no column {missing[0]} (the expression uses "
            f"{', '.join(variables)}; the table has {', '.join(names) or 'no columns'})",
            hint="name a column after each variable (names are case-sensitive)",
        )
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise InputError(f"the table has two columns named {twice}")
    out: dict[str, Any] = {}
    for v in variables:
        column = table.column(v) if kind == "arrow" else table[v]
        if not len(column) and not _numeric(column, kind):
            # (an empty table, such as Dask's meta, is refused for what a full one would be)
            raise InputError(
                f"column {v} is of type {column.type if kind == 'arrow' else column.dtype}, "
                "not numbers",
                hint="every cell must be a finite number",
            )
        if kind == "pandas" and isinstance(column.dtype, np.dtype) and column.dtype.kind == "f":
            pass  # (NaN is pandas' missing value there, and a float: reported as not finite)
        elif (
            column.null_count
            if kind == "arrow"
            else (column.null_count() if kind == "polars" else column.isna().sum())
        ):
            row = _first_null(column, kind)
            raise InputError(
                f"column {v}, row {row}: the cell is empty (null)",
                hint="every cell must be a finite number; drop or fill the empty rows first",
            )
        out[v] = column.to_numpy() if kind != "arrow" else column.to_numpy(zero_copy_only=False)
    return out


def _numeric(column: Any, kind: str) -> bool:
    """Whether the column's type holds numbers (not text, not booleans)."""
    if kind == "polars":
        return bool(column.dtype.is_numeric())
    if kind == "pandas":
        # (here, not at the top: only for a pandas table)
        from pandas.api import types

        return bool(types.is_numeric_dtype(column.dtype)) and not types.is_bool_dtype(column.dtype)
    # (here, not at the top: only for an Arrow table)
    import pyarrow as pa

    values = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    return bool(pa.types.is_integer(values) or pa.types.is_floating(values))


def _first_null(column: Any, kind: str) -> int:
    if kind == "arrow":
        return int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
    if kind == "polars":
        return int(np.flatnonzero(column.is_null().to_numpy())[0])
    return int(np.flatnonzero(column.isna().to_numpy())[0])


def joined(table: Any, kind: str, results: Mapping[str, np.ndarray]) -> Any:
    """``table`` with the result columns after its own: float64 with nulls where not finite
    (NaN in pandas, its missing value for floats), ``status`` as text."""
    if kind == "polars":
        # (here, not at the top: only for a Polars table)
        import polars as pl

        extra = []
        for name, col in results.items():
            if name == "status":
                extra.append(pl.Series(name, col.tolist(), dtype=pl.String))
                continue
            series = pl.Series(name, col, dtype=pl.Float64)
            missing = ~np.isfinite(col)
            extra.append(series.scatter(np.flatnonzero(missing), None) if missing.any() else series)
        return table.hstack(extra)
    if kind == "pandas":
        # (here, not at the top: only for a pandas table)
        import pandas as pd

        out = table.copy(deep=False)  # (by position: an index may repeat labels)
        for name, col in results.items():
            if name == "status":
                out[name] = pd.array(col.tolist(), dtype="string")
            else:
                out[name] = np.where(np.isfinite(col), col, np.nan).astype(np.float64)
        return out
    # (here, not at the top: only for an Arrow table)
    import pyarrow as pa

    for name, col in results.items():
        if name == "status":
            table = table.append_column(name, pa.array(col.tolist(), type=pa.string()))
        else:
            table = table.append_column(
                name, pa.array(col, type=pa.float64(), mask=~np.isfinite(col))
            )
    return table


__all__ = ["KINDS", "columns_of", "joined", "kind_of", "result_names", "variable_columns"]
