"""Batch work: every format in and out, stdin and stdout, grids, bad rows, undefined rows, the
round trip of floats, and a stream longer than one chunk."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from gradcli.api import grad_batch
from gradcli.batch.run import CHUNK_ROWS
from gradcli.cli.app import app
from gradcli.errors import GradcliError

runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "80"})


def invoke(*args: str, stdin: str | bytes | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), input=stdin)


def csv_rows(text: str) -> list[dict[str, str]]:
    lines = text.strip().splitlines()
    head = lines[0].split(",")
    return [dict(zip(head, line.split(","), strict=True)) for line in lines[1:]]


def test_api_grad_batch() -> None:
    import gradcli

    assert gradcli.grad_batch is grad_batch
    out = grad_batch("x**2*y", {"x": [1.0, 2.0, 3.0], "y": np.array([4.0, 5.0, 6.0])})
    assert out["value"].tolist() == [4.0, 20.0, 54.0]
    assert out["d_x"].tolist() == [8.0, 20.0, 36.0]
    assert out["d_y"].tolist() == [1.0, 4.0, 9.0]
    assert out["status"].tolist() == ["agree"] * 3
    out = grad_batch("sum(x)*2", {"x": [1.0, 2.0]}, check=None)  # sum of a scalar, per row
    assert out["d_x"].tolist() == [2.0, 2.0] and "status" not in out
    with pytest.raises(GradcliError, match="column x has 1 value but column y has 2"):
        grad_batch("x*y", {"x": [1.0], "y": [1.0, 2.0]})
    out = grad_batch("x*y", {"x": [1.0, 2.0, 3.0], "y": 2})  # a plain number repeats
    assert out["d_y"].tolist() == [1.0, 2.0, 3.0] and out["value"].tolist() == [2.0, 4.0, 6.0]
    out = grad_batch("x*y", {"x": [], "y": np.array([])})  # no rows: empty results
    assert {k: len(v) for k, v in out.items()} == {"value": 0, "d_x": 0, "d_y": 0, "status": 0}


@pytest.mark.parametrize(
    ("expression", "columns", "options", "message"),
    [
        (123, {"x": [1.0]}, {}, "expression must be a string, not int"),
        ("x", None, {}, "columns must be a table .* not NoneType"),
        ("x", [{"x": 1.0}], {}, "columns must be a table .* not list"),
        ("x", pl.Series("x", [1.0]), {}, "a table .* or a mapping .* not Series"),
        ("x", {1: [1.0]}, {}, "column names must be strings"),
        ("x", {"x": (v for v in [1.0])}, {}, "column x must be an array of numbers, not generator"),
        ("x", {"x": "1,2"}, {}, "not str"),
        ("x", {"x": ["1", "2"]}, {}, "row 0: text '1' is not a number"),
        ("x", {"x": [1.0, True]}, {}, "row 1: a boolean is not a number"),
        ("x", {"x": np.array([True])}, {}, "row 0: a boolean is not a number"),
        ("x", {"x": [1.0, None]}, {}, "row 1: None is not a number"),
        ("x", {"x": [1j]}, {}, "row 0: a complex is not a number"),
        ("x", {"x": [[1.0], [2.0]]}, {}, r"one-dimensional .* not shape \(2, 1\)"),
        ("x", {"x": [[1.0], [2.0, 3.0]]}, {}, "not an array of numbers"),
        ("x", {"x": [10**400]}, {}, "row 0: the number is too large for float64"),
        ("x", {"x": np.array([1e300], dtype=np.longdouble) ** 2}, {}, "too large for float64"),
        ("x", {"x": [1.0, math.nan]}, {}, "row 1: nan is not a finite number"),
        ("x", {"x": [1.0], "y": [1.0]}, {}, "value given for y"),
        ("x*y", {"x": [1.0]}, {}, "no value for y"),
        ("x", {"x": [1.0]}, {"check": "bogus"}, "check 'bogus' is not a check mode"),
        ("x", {"x": [1.0]}, {"check": True}, "check must be 'all', 'sample:N' or None"),
        ("x", {"x": [1.0]}, {"dtype": "float16"}, "dtype must be one of"),
        ("x", {"x": [1.0]}, {"timeout": "5"}, "timeout must be a number of seconds"),
    ],
)
def test_api_grad_batch_refuses_what_is_not_a_column(
    expression: object, columns: object, options: dict[str, object], message: str
) -> None:
    """Every wrong argument is a GradcliError naming what is wrong, never a raw TypeError."""
    with pytest.raises(GradcliError, match=message):
        grad_batch(expression, columns, **options)  # type: ignore[arg-type]


def test_csv_file_in_and_out(tmp_path: Path) -> None:
    src = tmp_path / "points.csv"
    src.write_text("x,y,label\n1,2,a\n0.5,-3,b\n")
    dst = tmp_path / "grads.csv"
    r = invoke("grad", "x**2*y", "--input", str(src), "--output", str(dst))
    assert r.exit_code == 0 and r.stdout == ""
    rows = csv_rows(dst.read_text())
    assert rows[0] == {
        "x": "1.0",
        "y": "2.0",
        "label": "a",
        "value": "2.0",
        "d_x": "4.0",
        "d_y": "1.0",
    }  # no status column: every row agrees
    assert rows[1]["label"] == "b" and float(rows[1]["d_x"]) == -3.0
    assert (
        "gradcli: 2 rows; checked 2 (every row, in float64 with error bounds): 2 agree" in r.stderr
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grads.csv", "points.csv"]


def test_stdin_to_stdout_tsv_and_jsonl() -> None:
    r = invoke(
        "grad",
        "x*y",
        "--input",
        "-",
        "--input-format",
        "tsv",
        "--format",
        "jsonl",
        stdin="x\ty\n2\t3\n",
    )
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {
        "x": 2.0,
        "y": 3.0,
        "value": 6.0,
        "d_x": 3.0,
        "d_y": 2.0,
    }
    r = invoke(
        "grad",
        "x*y",
        "--input",
        "-",
        "--input-format",
        "jsonl",
        "--format",
        "tsv",
        stdin='{"x": 2, "y": 3}\n{"x": 1, "y": 1}\n',
    )
    assert r.stdout.splitlines()[:2] == [
        "x\ty\tvalue\td_x\td_y",
        "2.0\t3.0\t6.0\t3.0\t2.0",
    ]


def test_parquet_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    pl.DataFrame({"x": [0.1, 0.2], "w": [3.0, 4.0]}).write_parquet(src)
    dst = tmp_path / "out.parquet"
    r = invoke("grad", "w*sin(x)", "--input", str(src), "--output", str(dst))
    assert r.exit_code == 0
    back = pl.read_parquet(dst)
    assert back["d_w"].to_list() == [math.sin(0.1), math.sin(0.2)]
    assert back.columns == ["x", "w", "value", "d_w", "d_x"]  # expression's order


def _parquet_rows(path: Path, n: int) -> np.ndarray:
    x = np.random.default_rng(3).uniform(-2, 2, n)
    # small row groups, so that chunks and row groups do not line up
    pl.DataFrame({"x": x, "tag": np.arange(n)}).write_parquet(path, row_group_size=40_000)
    return x


@pytest.mark.parametrize("streamed", [True, False])
def test_parquet_input_is_read_chunk_by_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    """Several chunks of a Parquet file, decoded as they are needed (with a Polars that has
    no streamed collection: a slice at a time), give every row once, in order."""
    from gradcli.batch import formats

    n = 2 * CHUNK_ROWS + 123
    x = _parquet_rows(tmp_path / "in.parquet", n)
    if not streamed:
        monkeypatch.delattr(pl.LazyFrame, "collect_batches", raising=False)
    sizes = [
        c.height
        for c in formats.read_chunks(
            str(tmp_path / "in.parquet"), "parquet", ["x"], "error", formats._Counts()
        )
    ]
    assert sum(sizes) == n and max(sizes) <= CHUNK_ROWS and len(sizes) >= 3
    dst = tmp_path / "out.parquet"
    r = invoke("grad", "x**2", "--input", str(tmp_path / "in.parquet"), "--output", str(dst))
    assert r.exit_code == 0, r.output
    back = pl.read_parquet(dst)
    assert back["tag"].to_list() == list(range(n))
    assert np.array_equal(back["d_x"].to_numpy(), 2 * x)


def test_parquet_from_stdin_and_a_bad_row_far_in(tmp_path: Path) -> None:
    """Parquet on stdin is copied to a temporary file (its footer is at the end) and removed;
    a bad row in a later chunk is named by its row number."""
    n = CHUNK_ROWS + 50
    x = np.linspace(0.5, 1.5, n)
    x[CHUNK_ROWS + 7] = np.nan
    src = tmp_path / "in.parquet"
    pl.DataFrame({"x": x}).write_parquet(src)
    r = invoke(
        "grad",
        "x**2",
        "--input",
        "-",
        "--input-format",
        "parquet",
        "--format",
        "csv",
        stdin=src.read_bytes(),
    )
    assert r.exit_code == 2
    assert f"row {CHUNK_ROWS + 8}: field x" in r.output


def test_floats_round_trip_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    x = rng.uniform(-10, 10, 1000)
    src = tmp_path / "p.csv"
    pl.DataFrame({"x": x}).write_csv(src)
    r = invoke("grad", "exp(x/7)*x", "--input", str(src), "--no-check")
    back = pl.read_csv(io.StringIO(r.stdout))
    expected = grad_batch("exp(x/7)*x", {"x": x}, check=None)
    assert np.array_equal(back["x"].to_numpy(), x)
    assert np.array_equal(back["value"].to_numpy(), expected["value"])
    assert np.array_equal(back["d_x"].to_numpy(), expected["d_x"])


def test_grids() -> None:
    r = invoke("grad", "x*y", "--x", "0:1:3", "--y", "0:1:2", "--format", "csv")
    rows = csv_rows(r.stdout)
    assert [(row["x"], row["y"]) for row in rows] == [
        ("0.0", "0.0"),
        ("0.0", "1.0"),
        ("0.5", "0.0"),
        ("0.5", "1.0"),
        ("1.0", "0.0"),
        ("1.0", "1.0"),
    ]
    assert [row["d_x"] for row in rows] == [row["y"] for row in rows]
    r = invoke("grad", "sin(x)", "--x", "0:6.28:100", "--format", "csv", "--no-check")
    assert len(r.stdout.splitlines()) == 101
    r = invoke("grad", "x*y", "--x", "0:1:3", "--y", "2", "--no-check")  # a number repeats
    assert [row["d_x"] for row in csv_rows(r.stdout)] == ["2.0"] * 3


def test_bad_rows() -> None:
    data = "x,y\n1,2\n3,oops\n,4\n5,6\n"
    r = invoke("grad", "x*y", "--input", "-", stdin=data)
    assert r.exit_code == 2
    assert "line 3: field y is not a finite number: 'oops'" in r.stderr
    r = invoke("grad", "x*y", "--input", "-", "--on-bad-row", "skip", stdin=data)
    assert [row["x"] for row in csv_rows(r.stdout)] == ["1.0", "5.0"]
    assert "2 bad rows skipped" in r.stderr
    r = invoke("grad", "x*y", "--input", "-", "--on-bad-row", "null", stdin=data)
    rows = csv_rows(r.stdout)
    assert len(rows) == 4  # nothing silently dropped
    # the row's readable input stays; what could not be read and the results are null
    assert rows[1] == {"x": "3.0", "y": "", "value": "", "d_x": "", "d_y": ""}
    assert rows[2] == {"x": "", "y": "4.0", "value": "", "d_x": "", "d_y": ""}
    assert "2 bad rows written as null" in r.stderr
    r = invoke("grad", "x*z", "--input", "-", stdin=data)
    assert r.exit_code == 2 and "the input has no column z" in r.stderr


@pytest.mark.parametrize(
    ("fmt", "data", "message", "before"),
    [
        ("csv", "x,x,y\n1,2,3\n", "two columns named 'x' (columns 1 and 2)", 0),
        ("tsv", 'y\tx\t"x"\n1\t2\t3\n', "two columns named 'x' (columns 2 and 3)", 0),
        ("csv", "a,b\n", "the input has no column x, y", 0),  # no rows: the header still counts
        ("csv", "", "the CSV input is empty: it has no header line", 0),
        ("csv", "  \n1,2\n", "line 1 of the CSV input is blank", 0),
        ("jsonl", '{"x": 1, "y": 2}\n{"x": 1, "y": 2\n', "line 2 is not valid JSON", 1),
        (
            "jsonl",
            '{"x": 1, "y": 2}\n\n{"x": 1e400, "y": 2}\n',
            "line 3: field x is too large for float64: '1e400'",
            1,
        ),
        ("csv", "x,y\n1,2\n-1e400,2\n", "line 3: field x is too large for float64: '-1e400'", 1),
        ("csv", "x,y\n1,2\ninf,2\n", "line 3: field x is not a finite number: 'inf'", 1),
        ("jsonl", '{"x": 1, "y": 2}\n{"x": NaN, "y": 2}\n', "line 2: NaN is not JSON", 1),
        ("jsonl", '{"x": 1, "y": 2}\n[1, 2]\n', "line 2 is a JSON list, not an object", 1),
        (
            "jsonl",
            '{"x": 1, "y": 2}\n\n{"x": 3, "y": "oops"}\n',
            'line 3: field y is not a number: "oops" (JSON text)',
            1,
        ),
        (
            "jsonl",
            '{"x": 1, "y": 2}\n{"x": 3, "y": true}\n',
            "line 2: field y is not a number: true (JSON boolean)",
            1,
        ),
        ("jsonl", '{"x": 1, "y": "2"}\n', 'line 1: field y is not a number: "2" (JSON text)', 0),
        (
            "jsonl",
            '{"x": 1, "y": 0}\n{"x": 1, "y": 1e-400}\n',
            "line 2: field y is too small for float64",
            1,
        ),
    ],
)
def test_input_that_cannot_be_a_table_is_refused_in_our_words(
    fmt: str, data: str, message: str, before: int
) -> None:
    """Duplicate or missing columns, an empty or headless file, and a broken JSON line get
    one message saying which line or column and why (never the reader library's words, never
    exit 0 with nothing read). The rows before a bad line come out, and none after it."""
    r = invoke("grad", "x*y", "--input", "-", "--input-format", fmt, stdin=data)
    assert r.exit_code == 2, r.stderr
    assert message in r.stderr
    assert len(csv_rows(r.stdout)) == before if before else r.stdout == ""
    assert "Error" not in r.stderr and "character 5 (" not in r.stderr


def test_a_number_too_large_for_float64_is_a_bad_row_like_any_other() -> None:
    """1e400 follows --on-bad-row in JSON Lines as in CSV (it once ended every JSONL run)."""
    for fmt, data in (
        ("jsonl", '{"x": 2, "y": 1}\n{"x": 1e400, "y": 1}\n{"x": 3, "y": 1}\n'),
        ("csv", "x,y\n2,1\n1e400,1\n3,1\n"),
    ):
        args = ["grad", "x*y", "-i", "-", "--input-format", fmt]
        r = invoke(*args, "--on-bad-row", "skip", stdin=data)
        assert r.exit_code == 0, r.stderr
        assert [row["value"] for row in csv_rows(r.stdout)] == ["2.0", "3.0"]
        r = invoke(*args, "--on-bad-row", "null", stdin=data)
        assert r.exit_code == 0, r.stderr
        assert [row["value"] for row in csv_rows(r.stdout)] == ["2.0", "", "3.0"]


def test_mixed_json_lines_get_a_verdict_per_cell() -> None:
    """Lines whose kinds differ (a number here, a boolean or a list there) are read cell by
    cell: the bad ones are skipped or nulled by the policy, on their own lines."""
    data = '{"x": 1, "y": 2, "k": "a"}\n{"x": 3, "y": [1]}\n\n{"x": 2, "y": false, "k": 5}\n'
    data += '{"x": 2, "y": 3}\n'
    args = ["grad", "x*y", "-i", "-", "--input-format", "jsonl", "--format", "jsonl"]
    r = invoke(*args, "--on-bad-row", "null", stdin=data)
    assert r.exit_code == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["value"] for row in rows] == [2.0, None, None, 6.0]
    assert "2 bad rows written as null" in r.stderr
    r = invoke(*args, "--on-bad-row", "skip", stdin=data)
    assert r.exit_code == 0 and "2 bad rows skipped" in r.stderr


def test_a_header_with_the_columns_and_no_rows_is_zero_rows(tmp_path: Path) -> None:
    """No rows still make a table: the output's header (CSV, TSV) or schema (Parquet), so that
    it reads back; a header alone, or every row skipped."""
    r = invoke("grad", "x*y", "--input", "-", stdin="x,y,note\n")
    assert r.exit_code == 0 and "0 rows" in r.stderr
    assert r.stdout == "x,y,note,value,d_x,d_y\n"
    r = invoke("grad", "x*y", "-i", "-", "--on-bad-row", "skip", stdin="x,y\nq,1\n")
    assert r.exit_code == 0 and r.stdout == "x,y,value,d_x,d_y\n"
    empty = tmp_path / "empty.parquet"
    pl.DataFrame(schema={"x": pl.Float64, "y": pl.Float64}).write_parquet(empty)
    out = tmp_path / "out.parquet"
    r = invoke("grad", "x*y", "-i", str(empty), "-o", str(out))
    assert r.exit_code == 0, r.stderr
    assert pl.read_parquet(out).columns == ["x", "y", "value", "d_x", "d_y"]
    r = invoke("grad", "x*y", "--input", "-", stdin="\ufeffx,y\n1,2\n")  # a byte-order mark
    assert r.exit_code == 0 and csv_rows(r.stdout)[0]["value"] == "2.0"


def test_undefined_rows_are_null_with_their_verdict() -> None:
    r = invoke("grad", "log(x)", "--input", "-", stdin="x\n1\n-1\n0\n")
    assert r.exit_code == 3  # the worst verdict
    rows = csv_rows(r.stdout)
    assert [(row["value"], row["status"]) for row in rows] == [
        ("0.0", "agree"),
        ("", "undefined"),
        ("", "undefined"),
    ]


def test_stream_longer_than_one_chunk() -> None:
    n = CHUNK_ROWS * 2 + 17
    data = "x\n" + "\n".join(str(i / n) for i in range(n)) + "\n"
    r = invoke("grad", "x**2", "--input", "-", "--no-check", stdin=data)
    assert r.exit_code == 0
    lines = r.stdout.splitlines()
    assert lines[0] == "x,value,d_x" and len(lines) == n + 1
    last = lines[-1].split(",")
    assert float(last[2]) == 2 * float(last[0])
    assert f"gradcli: {n:,} rows; not checked" in r.stderr


def test_output_destination_is_checked_first() -> None:
    r = invoke("grad", "x", "--input", "-", "--output", "/no/such/dir/out.csv", stdin="x\n1\n")
    assert r.exit_code == 2 and "no such directory" in r.stderr
    r = invoke("grad", "x", "--x", "2", "--output", "out.csv")
    assert r.exit_code == 2 and "--output goes with batch work" in r.stderr


def test_abandoned_check_marks_rows_timeout() -> None:
    # 12,000 terms: not even one pass of the exact reference fits in 10 ms a row
    big = " + ".join(f"sin({k}*x)" for k in range(1, 12_001))
    r = invoke(
        "grad", big, "--input", "-", "--check", "sample", "--timeout", "0.01", stdin="x\n0.5\n0.6\n"
    )
    assert r.exit_code == 4
    assert [row["status"] for row in csv_rows(r.stdout)] == ["timeout", "timeout"]


def test_batch_needs_a_variable() -> None:
    r = invoke("grad", "2*pi", "--format", "csv")
    assert r.exit_code == 2 and "batch work needs a variable to vary" in r.stderr


def test_every_row_is_checked_and_doubtful_rows_exactly() -> None:
    # 1 - cos(x) cancels at x = 1e-7: float64 keeps 2 digits, and the bound says it may: the
    # exact judge says so.
    r = invoke("grad", "(1-cos(x))/x**2", "--input", "-", stdin="x\n1\n1e-7\n0.5\n")
    assert r.exit_code == 1
    assert [row["status"] for row in csv_rows(r.stdout)] == ["agree", "precision_loss", "agree"]
    assert "checked 3 (every row, in float64 with error bounds): 2 agree, 1 precision_loss" in (
        r.stderr
    )
    # tanh(x)*x - log(cosh(x)) at x = 10: the gradient's terms cancel to 8e-8, beyond what the
    # bound settles; the exact judge does, and agrees.
    r = invoke("grad", "tanh(x)*x - log(cosh(x))", "--input", "-", stdin="x\n0.5\n10\n")
    assert r.exit_code == 0
    assert "checked 2 (every row, in float64 with error bounds): 2 agree" in r.stderr


def test_kinks_get_their_exact_verdict() -> None:
    r = invoke("grad", "abs(x)+relu(x-1)", "--x", "-1:1:3")  # kinks at 0 and at 1
    statuses = [row["status"] for row in csv_rows(r.stdout)]
    assert statuses == ["agree", "nondifferentiable", "nondifferentiable"]
    assert r.exit_code == 0


def test_doubtful_rows_past_the_budget_stay_unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradcli.batch import run

    monkeypatch.setattr(run, "MAX_EXACT_ROWS", 2)
    r = invoke("grad", "abs(x)", "--input", "-", stdin="x\n0\n0\n0\n1\n0\n")
    statuses = [row["status"] for row in csv_rows(r.stdout)]
    assert statuses == ["nondifferentiable"] * 2 + ["unchecked", "agree", "unchecked"]
    assert "2 doubtful rows past the first 2 left unchecked" in r.stderr


def test_the_exact_judge_judges_the_numbers_the_batch_wrote(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # torch over a whole column may round differently from torch at one point, so a doubtful
    # row's verdict must be about the batch's own numbers, not about a fresh computation.
    from gradcli.batch.check import row_verdict
    from gradcli.engines import autograd
    from gradcli.language.parser import parse
    from gradcli.results import Status

    square = parse("x**2")
    assert row_verdict(square, {"x": 3.0}, "float64", 30, (9.0, {"x": 6.0})) is Status.AGREE
    assert row_verdict(square, {"x": 3.0}, "float64", 30, (9.5, {"x": 6.0})) is Status.MISMATCH
    assert row_verdict(square, {"x": 3.0}, "float64", 30) is Status.AGREE

    # at x = 10 this gradient cancels beyond what the bounds settle: the row goes to the exact
    # judge (which agrees with torch's true numbers); here torch's batch value is made wrong
    real = autograd.batch_gradients

    def off(*args, **kwargs):  # type: ignore[no-untyped-def]
        value, grads = real(*args, **kwargs)
        return value * 1.001, grads

    monkeypatch.setattr(autograd, "batch_gradients", off)
    text = "tanh(x)*x - log(cosh(x))"
    for mode in ("all", "sample:2"):
        out = grad_batch(text, {"x": [0.5, 10.0]}, check=mode)
        assert out["status"].tolist() == ["mismatch", "mismatch"], mode


def test_lines_are_numbered_right_in_every_block_of_a_long_input() -> None:
    # 400,000 rows of CRLF text are read in several blocks, each starting with the header
    rows = ["x", *["0.125"] * 400_000]
    rows[300_000] = "abc"  # line 300,001
    data = ("\r\n".join(rows) + "\r\n").encode()
    r = invoke("grad", "x**2", "--input", "-", stdin=data)
    assert r.exit_code == 2
    assert "line 300001: field x is not a finite number: 'abc'" in r.stderr
    r = invoke("grad", "x**2", "--input", "-", "--on-bad-row", "null", stdin=data)
    lines = r.stdout.splitlines()
    assert len(lines) == 400_001 and lines[0] == "x,value,d_x"
    assert lines[300_000] == ",," and set(lines[1:300_000]) == {"0.125,0.015625,0.25"}


def test_a_long_header_makes_no_sliver_chunks(tmp_path: Path) -> None:
    # every block after the first starts with the header; reads are still sized by the
    # lines alone, so each later block is one chunk, not one and a sliver
    from gradcli.batch import formats

    path = tmp_path / "in.csv"
    rows = "".join(f"0.{i:06d},{i % 1000},\n" for i in range(400_000))
    path.write_text("x,y," + "n" * 100_000 + "\n" + rows)
    chunks = formats.read_chunks(str(path), "csv", ["x", "y"], "error", formats._Counts())
    heights = [c.height for c in chunks]
    assert sum(heights) == 400_000 and max(heights) <= CHUNK_ROWS
    # (the first read has a fixed size, and the second is sized by the first block, header
    # and all; from the third on, each block is one chunk)
    assert min(heights[4:-1]) > CHUNK_ROWS // 2, heights


def test_a_header_name_past_the_csv_field_limit_is_a_clear_error() -> None:
    r = invoke("grad", "x", "--input", "-", stdin="x," + "n" * 200_000 + "\n1,2\n")
    assert r.exit_code == 2 and "cannot read the CSV header (line 1)" in r.stderr
    assert "internal error" not in r.stderr


def test_sample_mode() -> None:
    data = "x\n" + "\n".join(str(i + 1) for i in range(50)) + "\n"
    r = invoke("grad", "x**2", "--input", "-", "--check", "sample:3", stdin=data)
    assert r.exit_code == 0
    assert "checked 3 (3 random rows of the first 65,536 exactly" in r.stderr
    assert "status" not in r.stdout.splitlines()[0]  # the sampled rows agree
    r = invoke("grad", "log(x)", "--input", "-", "--check", "sample:1", stdin="x\n2\n-1\n3\n")
    statuses = [row["status"] for row in csv_rows(r.stdout)]
    assert statuses[1] == "undefined" and set(statuses) <= {"undefined", "agree", "unchecked"}
    r = invoke("grad", "x", "--x", "0:1:2", "--check", "sample:0")
    assert r.exit_code == 2 and "--check 'sample:0' is not a check mode" in r.stderr


def _late_trouble() -> str:
    """A stream whose first chunk agrees everywhere and whose last row is undefined."""
    return "x\n" + "1.5\n" * CHUNK_ROWS + "2\n-1\n"


def test_status_column_added_late_to_a_file(tmp_path: Path) -> None:
    for fmt in ("csv", "tsv", "parquet", "jsonl"):
        dst = tmp_path / f"out.{fmt}"
        r = invoke("grad", "log(x)", "--input", "-", "--output", str(dst), stdin=_late_trouble())
        assert r.exit_code == 3, fmt
        if fmt == "parquet":
            back = pl.read_parquet(dst)
        elif fmt == "jsonl":
            back = pl.read_ndjson(dst, infer_schema_length=None)
        else:
            back = pl.read_csv(dst, separator="," if fmt == "csv" else "\t")
        assert back.height == CHUNK_ROWS + 2, fmt
        status = back["status"].to_list()
        if fmt == "jsonl":  # rows before the first trouble carry no key, wherever chunks end
            assert status[0] is None and status[-2:] == [None, "undefined"]
        else:
            assert status[0] == "agree" and status[-2:] == ["agree", "undefined"], fmt
        assert back["value"][0] == math.log(1.5)


def test_status_too_late_for_a_csv_stream_is_reported() -> None:
    r = invoke("grad", "log(x)", "--input", "-", stdin=_late_trouble())
    assert r.exit_code == 3
    assert r.stdout.splitlines()[0] == "x,value,d_x"
    assert f"but later rows did not: row {CHUNK_ROWS + 2} undefined" in r.stderr


def test_parquet_to_stdout() -> None:
    r = runner.invoke(app, ["grad", "x*2", "--x", "0:1:3", "--format", "parquet"])
    assert r.exit_code == 0
    back = pl.read_parquet(io.BytesIO(r.stdout_bytes))
    assert back["d_x"].to_list() == [2.0, 2.0, 2.0]


def test_disk_full_leaves_no_file_under_the_final_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from gradcli.batch import formats as batchio

    real = batchio.Writer._write
    calls = []

    def fails_second_time(self: batchio.Writer, frame: object) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, frame)

    monkeypatch.setattr(batchio.Writer, "_write", fails_second_time)
    data = "x\n" + "0.5\n" * (CHUNK_ROWS + 10)
    dst = tmp_path / "out.csv"
    r = invoke("grad", "x**2", "--input", "-", "--output", str(dst), stdin=data)
    assert r.exit_code == 74
    assert f"cannot write {dst}: No space left on device" in r.stderr
    assert "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary


def test_failure_while_finishing_parquet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gradcli.batch import formats as batchio

    def full(self: batchio.Writer) -> None:
        raise pl.exceptions.ComputeError(
            "parquet: File out of specification: underlying IO error: "
            "No space left on device (os error 28)"
        )

    monkeypatch.setattr(batchio.Writer, "_finish_parquet", full)
    dst = tmp_path / "out.parquet"
    r = invoke("grad", "x", "--x", "0:1:3", "--output", str(dst))
    assert r.exit_code == 74
    assert r.stderr.rstrip().endswith("No space left on device")  # (Polars' number dropped)
    assert list(tmp_path.iterdir()) == []


def test_full_stdout_is_a_clear_error() -> None:
    import subprocess
    import sys

    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "gradcli", "grad", "x", "--x", "0:1:5", "--no-check"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 74, proc.stderr
    assert "cannot write stdout: No space left on device" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_ctrl_c_during_a_batch_run(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group (gradcli, its reader thread, its helper
    process): one line, exit 130, no traceback from anyone, and no output file."""
    import os
    import signal
    import subprocess
    import sys
    import time

    dst = tmp_path / "out.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradcli", "grad", "sin(x)*y", "--input", "-", "-o", str(dst)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdin is not None
    proc.stdin.write(b"x,y\n" + b"0.5,2\n" * 200_000)  # then the input stays open, waiting
    proc.stdin.flush()
    time.sleep(4)  # torch loaded, the first chunks done
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.decode().strip() == "gradcli: interrupted"
    assert list(tmp_path.iterdir()) == []


def test_a_slow_stream_gets_its_results_as_rows_arrive() -> None:
    """Rows that trickle in through a pipe are computed when the input pauses, not once 8 MiB
    have gathered or the input has ended."""
    import select
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "gradcli", "grad", "x**2", "--input", "-", "--no-check"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(b"x\n3\n")
        proc.stdin.flush()  # and the input stays open
        ready = select.select([proc.stdout], [], [], 60)[0]
        assert ready, "no output while the input was still open"
        assert proc.stdout.readline() == b"x,value,d_x\n"
        assert proc.stdout.readline() == b"3.0,9.0,6.0\n"
        proc.stdin.write(b"4\n")
        proc.stdin.close()
        assert proc.stdout.read() == b"4.0,16.0,8.0\n"
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()


def test_a_sampled_stream_reports_only_rows_worth_a_word() -> None:
    # sample:1 checks one random row of the first chunk (it agrees) and every row that is not
    # finite: the late undefined row is listed, agreeing rows never are.
    data = "x\n" + "1.5\n" * CHUNK_ROWS + "2\n-1\n"
    r = invoke("grad", "log(x)", "--input", "-", "--check", "sample:1", stdin=data)
    assert r.exit_code == 3
    assert f"but later rows did not: row {CHUNK_ROWS + 2} undefined\n" in r.stderr


def test_a_table_wider_than_the_limit_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wide inputs cost the reader memory and time far beyond their size (3,000,000 columns
    took 5 GB): past MAX_COLUMNS the run stops at the header with the count."""
    from gradcli.batch import formats
    from gradcli.limits import MAX_COLUMNS

    header = ",".join(f"c{i}" for i in range(MAX_COLUMNS)) + ",x\n"
    r = invoke("grad", "x", "--input", "-", stdin=header + "1," * MAX_COLUMNS + "2\n")
    assert r.exit_code == 2
    assert f"the input has {MAX_COLUMNS + 1:,} columns; the limit is {MAX_COLUMNS:,}" in r.stderr
    monkeypatch.setattr(formats, "MAX_COLUMNS", 3)
    r = invoke(
        "grad", "x", "--input", "-", "--input-format", "jsonl", stdin='{"x":1,"a":2,"b":3,"c":4}\n'
    )
    assert r.exit_code == 2 and "the input has 4 columns; the limit is 3" in r.stderr
    wide = tmp_path / "wide.parquet"
    pl.DataFrame({"x": [1.0], "a": [1], "b": [1], "c": [1]}).write_parquet(wide)
    r = invoke("grad", "x", "--input", str(wide))
    assert r.exit_code == 2 and "the input has 4 columns; the limit is 3" in r.stderr
    r = invoke("grad", "x", "--input", "-", stdin="x,a,b\n1,2,3\n")  # at the limit: read
    assert r.exit_code == 0 and csv_rows(r.stdout)[0]["d_x"] == "1.0"


def test_a_column_that_changes_kind_between_chunks_is_written_to_parquet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """JSON Lines are typed block by block: a passed-through column that is text in one block
    and numbers or nulls in another takes the type that holds them all (it was an internal
    error after all the work)."""
    from gradcli.batch import formats

    monkeypatch.setattr(formats, "READ_BYTES", 64)  # (a block of a few lines)
    lines = [f'{{"x": {i}, "k": "a"}}' for i in range(5)] + [
        f'{{"x": {i}, "k": 5}}' for i in range(5)
    ]
    lines += [f'{{"x": {i}, "k": null}}' for i in range(5)]
    out = tmp_path / "out.parquet"
    r = invoke(
        "grad",
        "2*x",
        "-i",
        "-",
        "--input-format",
        "jsonl",
        "-o",
        str(out),
        stdin="\n".join(lines) + "\n",
    )
    assert r.exit_code == 0, r.stderr
    frame = pl.read_parquet(out)
    assert frame["k"].to_list() == ["a"] * 5 + ["5"] * 5 + [None] * 5
    assert frame["d_x"].to_list() == [2.0] * 15


class _Recording:
    """A writer that records what it is given and fails at one write."""

    def __init__(self, fail_at: int, error: BaseException) -> None:
        self.written: list[int] = []
        self.fail_at, self.error = fail_at, error

    def write(self, frame: int, status: object, notable: bool, plain: bool = True) -> None:
        if len(self.written) == self.fail_at:
            raise self.error
        self.written.append(frame)


def test_results_written_behind_the_work_keep_their_order() -> None:
    from gradcli.batch.run import _WriteBehind

    writer = _Recording(fail_at=-1, error=OSError())
    behind = _WriteBehind(writer)  # type: ignore[arg-type]
    for i in range(50):
        behind.write(i, None, False)
    behind.finish()
    behind.stop()
    assert writer.written == list(range(50))
    assert not behind.thread.is_alive()


@pytest.mark.parametrize("error", [BrokenPipeError(32, "Broken pipe"), OSError(28, "disk full")])
def test_a_failed_write_behind_the_work_is_raised_where_the_work_is(error: OSError) -> None:
    from gradcli.batch.run import _WriteBehind

    writer = _Recording(fail_at=3, error=error)
    behind = _WriteBehind(writer)  # type: ignore[arg-type]
    with pytest.raises(type(error)) as raised:
        for i in range(100):  # (raised at a later write, or at the end at the latest)
            behind.write(i, None, False)
        behind.finish()
    behind.stop()
    assert raised.value is error
    assert writer.written == [0, 1, 2]  # nothing after the failed write is written
