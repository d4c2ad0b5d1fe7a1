"""``grad_batch`` per partition: the same kind of table out as in, the schema before any
computing, nothing global; and a real Dask cluster (two worker processes) over a Parquet
dataset of several files, equal row for row to the run on one machine."""

from __future__ import annotations

import functools
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from dask import distributed

import gradcli
from gradcli.errors import GradcliError

EXPRESSION = "x**2*y + log(x) + sin(x*y)"  # log: a row at x = 0 is undefined


def _frame(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.1, 3, rows)
    x[::97] = 0.0
    return pl.DataFrame(
        {"id": np.arange(rows) + seed * 1_000_000, "x": x, "y": rng.uniform(-1, 1, rows)}
    )


def test_each_kind_of_table_comes_back_as_itself() -> None:
    df = _frame(500, 1)
    out = gradcli.grad_batch(EXPRESSION, df)
    assert isinstance(out, pl.DataFrame)
    assert out.columns == ["id", "x", "y", "value", "d_x", "d_y", "status"]
    assert out["id"].to_list() == df["id"].to_list()  # the input's columns pass through
    undefined = out["status"] == "undefined"
    assert undefined.to_list() == (df["x"] == 0).to_list()
    assert out.filter(undefined)["value"].null_count() == int(undefined.sum())
    assert set(out.filter(~undefined)["status"].to_list()) == {"agree"}
    x, y = df["x"].to_numpy(), df["y"].to_numpy()
    ok = x != 0
    expected = 2 * x[ok] * y[ok] + 1 / x[ok] + y[ok] * np.cos(x[ok] * y[ok])
    np.testing.assert_allclose(out["d_x"].to_numpy()[ok], expected, rtol=1e-12)

    frame = df.to_pandas()
    frame.index = pd.Index(np.arange(500)[::-1] * 2)  # an index of its own, kept
    got = gradcli.grad_batch(EXPRESSION, frame)
    assert isinstance(got, pd.DataFrame)
    assert list(got.index) == list(frame.index)
    assert got["status"].dtype == "string"
    np.testing.assert_array_equal(got["d_x"].to_numpy(), out["d_x"].to_numpy(allow_copy=True))

    table = gradcli.grad_batch(EXPRESSION, df.to_arrow())
    assert isinstance(table, pa.Table)
    assert table.column_names == out.columns
    assert table.column("value").null_count == int(undefined.sum())


def test_the_schema_is_known_before_computing() -> None:
    for table in (_frame(3, 2), _frame(3, 2).to_pandas(), _frame(3, 2).to_arrow()):
        empty = table[:0] if not isinstance(table, pd.DataFrame) else table.iloc[:0]
        meta = gradcli.grad_batch(EXPRESSION, empty)
        full = gradcli.grad_batch(EXPRESSION, table)
        if isinstance(meta, pd.DataFrame):
            assert len(meta) == 0
            assert meta.dtypes.to_dict() == full.dtypes.to_dict()
        elif isinstance(meta, pa.Table):
            assert meta.num_rows == 0
            assert meta.schema == full.schema
        else:
            assert meta.height == 0
            assert meta.schema == full.schema
    assert gradcli.grad_batch(EXPRESSION, _frame(3, 2)[:0], check=None).columns == [
        "id",
        "x",
        "y",
        "value",
        "d_x",
        "d_y",
    ]


def test_tables_follow_the_strict_rule() -> None:
    df = _frame(4, 3)
    with pytest.raises(GradcliError, match="already has a column named value"):
        gradcli.grad_batch("x*y", df.with_columns(value=pl.lit(1.0)))
    with pytest.raises(GradcliError, match="no column z"):
        gradcli.grad_batch("x*z", df)
    with pytest.raises(GradcliError, match="column x, row 2: the cell is empty"):
        gradcli.grad_batch("x*y", df.with_columns(x=pl.Series([1.0, 2.0, None, 4.0])))
    with pytest.raises(GradcliError, match="column x, row 0: text '1' is not a number"):
        gradcli.grad_batch("x*y", df.with_columns(x=pl.Series(["1", "a", "2", "3"])))
    with pytest.raises(GradcliError, match="not a finite number"):
        gradcli.grad_batch("x*y", df.to_pandas().assign(y=[1.0, np.inf, 0.0, 1.0]))
    # an expression without variables is the same in every row, and checked
    out = gradcli.grad_batch("2*pi", df)
    assert out["value"].to_list() == [2 * np.pi] * 4
    assert out["status"].to_list() == ["agree"] * 4


def test_the_function_and_its_arguments_pickle() -> None:
    job = functools.partial(gradcli.grad_batch, EXPRESSION, check="all")
    again = pickle.loads(pickle.dumps(job))
    df = _frame(50, 4)
    assert again(df).equals(job(df))


@pytest.fixture
def environment_kept() -> Iterator[None]:
    """Dask's nanny sets OMP_NUM_THREADS, MALLOC_TRIM_THRESHOLD_ and others in this process's
    environment before it spawns a worker (``os.environ.update``): put it back, so that later
    tests (the warm server's, which compares environments) see the environment they had."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_a_dask_cluster_of_two_processes_equals_one_machine(
    tmp_path: Path, environment_kept: None
) -> None:
    folder = tmp_path / "points"
    folder.mkdir()
    parts = [_frame(rows, seed) for seed, rows in enumerate((40_000, 25_000, 70_001, 3), 1)]
    for k, part in enumerate(parts):
        part.write_parquet(folder / f"part-{k}.parquet")
    whole = pl.concat(parts).to_pandas()
    alone = gradcli.grad_batch(EXPRESSION, whole)

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        ddf = dd.read_parquet(str(folder))
        assert ddf.npartitions >= 2
        job = functools.partial(gradcli.grad_batch, EXPRESSION)
        result = ddf.map_partitions(job, meta=gradcli.grad_batch(EXPRESSION, ddf._meta))
        got = result.compute()
        workers = client.run(lambda: __import__("os").getpid())
    assert len(set(workers.values())) == 2  # two processes did the work
    got = got.sort_values("id").reset_index(drop=True)
    alone = alone.sort_values("id").reset_index(drop=True)
    assert list(got.columns) == list(alone.columns)
    assert len(got) == len(alone) == sum(p.height for p in parts)
    for column in ("id", "x", "y", "value", "d_x", "d_y"):
        np.testing.assert_array_equal(got[column].to_numpy(), alone[column].to_numpy())
    differ = got[got["status"] != alone["status"]]
    assert differ.empty, (differ.head(), alone[got["status"] != alone["status"]].head())
    assert (got["status"] == "undefined").sum() == sum(int((p["x"] == 0).sum()) for p in parts)


def test_tables_say_what_is_wrong_the_same_way() -> None:
    df = _frame(3, 5)
    frame = df.to_pandas()
    with pytest.raises(GradcliError, match="column x, row 1: nan is not a finite number"):
        gradcli.grad_batch("x*y", frame.assign(x=[1.0, np.nan, 2.0]))
    with pytest.raises(GradcliError, match="column x, row 1: the cell is empty"):
        gradcli.grad_batch("x*y", frame.assign(x=pd.array([1.0, None, 2.0], dtype="Float64")))
    # an empty table is refused for what a full one would be (Dask's meta fails early)
    text = pl.DataFrame({"x": pl.Series([], dtype=pl.String), "y": pl.Series([], dtype=pl.Float64)})
    for empty in (text, text.to_pandas(), text.to_arrow()):
        with pytest.raises(GradcliError, match=r"column x is of type .*, not numbers"):
            gradcli.grad_batch("x*y", empty)
    with pytest.raises(GradcliError, match="not LazyFrame"):
        gradcli.grad_batch("x*y", df.lazy())
