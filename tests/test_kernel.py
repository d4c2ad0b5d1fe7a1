"""The compiled screen (``gradcli/batch/kernel.py``): the NumPy screen traced into straight-line
code for one row and compiled. It must be as sound as the screen it is traced from (never a row
called ``agree`` or ``undefined`` that the exact judge would not), settle as many rows, fall back
to NumPy's screen wherever it cannot be had, and change no output of a run."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings

from gradcli.batch import check as batchcheck
from gradcli.batch import kernel
from gradcli.check.tolerance import TOLERANCES
from gradcli.engines.exact import nodewise, real
from gradcli.engines.exact.real import Kind
from gradcli.language.parser import parse
from gradcli.results import Status

from .conftest import load_jsonl, run_cli
from .properties import screen, screen_disagreements, wild_cases


def _scalar_cases() -> list[tuple[str, dict[str, float]]]:
    """Every corpus case a batch row can be: scalar variables, no vector operation."""
    cases = []
    for name in ("oracle_public.jsonl", "stress_public.jsonl", "special_public.jsonl"):
        for case in load_jsonl(name):
            point = case["point"]
            if not point or not all(isinstance(v, int | float) for v in point.values()):
                continue
            expr = parse(case["expr"])
            if any(n.kind == "op" and n.op in ("matmul", "dot") for n in expr.nodes):
                continue
            cases.append((case["expr"], {k: float(v) for k, v in point.items()}))
    return cases


CASES = _scalar_cases()


def _rows(point: dict[str, float]) -> dict[str, np.ndarray]:
    """The corpus point and rows around it: nudged by a few units in the last place, by a
    thousandth, and of the other sign."""
    columns = {}
    for name, x in point.items():
        near = [x, math.nextafter(x, math.inf), math.nextafter(x, -math.inf)]
        columns[name] = np.array([*near, x * (1 + 1e-3), x * (1 - 1e-3), -x, x + 0.5])
    return columns


def test_the_corpus_has_batch_rows_to_compile() -> None:
    assert len(CASES) >= 60


@pytest.mark.parametrize(("text", "point"), CASES, ids=[c[0][:40] for c in CASES])
def test_the_compiled_screen_is_sound_and_as_sharp_as_numpys(
    text: str, point: dict[str, float]
) -> None:
    expr = parse(text)
    screener = kernel.Screener(expr, "float64", compile_now=True)
    assert screener.kernel is not None, screener.why
    columns = _rows(point)
    compiled = screener.kernel.run(columns, None)
    if compiled is None:  # an underflow or overflow: NumPy's screen takes care (tested below)
        compiled = screener.chunk(columns)
    numpy = batchcheck.screen_chunk(expr, columns, "float64")
    # As sharp: every row NumPy's screen settles, the compiled one settles too, and both call
    # the same rows undefined.
    assert np.array_equal(compiled.undefined, numpy.undefined), text
    assert np.array_equal(compiled.value_slack >= 0, numpy.value_slack >= 0), text
    # Sound: where it settles the corpus point's value, every number within its slack of its
    # reference is within the tolerance of the exact value (the gradients' tolerance has a
    # floor the judge knows: they are judged against the exact judge below).
    if compiled.value_slack[0] < 0:
        return
    exact = nodewise.final(expr, point, "float64").value
    assert exact.kind in (Kind.EXACT, Kind.BALL), (text, exact)
    with real.working_precision(256):
        truth, width = float(exact), float(exact.arb().rad()) if exact.kind is Kind.BALL else 0.0
    v, slack = Fraction(compiled.value[0]), Fraction(compiled.value_slack[0])
    allowed = Fraction(TOLERANCES["float64"].rel) * abs(Fraction(truth)) + 2 * Fraction(width)
    assert abs(v - Fraction(truth)) + slack <= allowed * (1 + Fraction(1, 2**40)), (text, point)


@settings(max_examples=25, deadline=None, derandomize=True, database=None)
@given(wild_cases())
def test_the_compiled_screen_never_settles_a_row_the_exact_judge_would_not(
    case: tuple[str, list[dict[str, float]]],
) -> None:
    text, points = case
    assert screen_disagreements(text, points, compiled=True) == []
    assert screen_disagreements(text, points, "float32", compiled=True) == []


def test_it_settles_the_rows_numpys_screen_settles_on_many_rows() -> None:
    text = "sin(x**2)*exp(-y)/(1+x*y**2) + log(1+x**2) + atan2(y, x) + relu(x - y)"
    rng = np.random.default_rng(20261203)
    columns = {"x": rng.normal(size=20_000) * 3, "y": rng.normal(size=20_000)}
    columns["x"][:100] = 0.0  # a kink of atan2 and of relu, and exact zeros
    columns["y"][50:150] = columns["x"][50:150]
    statuses = screen(text, {k: list(v) for k, v in columns.items()}, compiled=True)
    numpys = screen(text, {k: list(v) for k, v in columns.items()})
    assert statuses == numpys
    assert statuses.count(Status.AGREE) > 19_000


def test_an_underflow_or_overflow_is_left_to_numpys_careful_screen() -> None:
    expr = parse("x*x + exp(y)")
    built = kernel.Kernel(expr, "float64")
    tiny = {"x": np.array([1e-200, 2.0]), "y": np.array([0.5, 0.5])}
    huge = {"x": np.array([1.0, 2.0]), "y": np.array([800.0, 0.5])}
    plain = {"x": np.array([1.0, 2.0]), "y": np.array([0.5, 0.5])}
    if built.careful:  # (a machine whose flags cannot be read: always careful)
        assert built.run(tiny, None) is not None
    else:
        assert built.run(tiny, None) is None and built.run(huge, None) is None
    assert built.run(plain, None) is not None
    screener = kernel.Screener(expr, "float64", compile_now=True)
    for columns in (tiny, huge, plain):
        got, want = screener.chunk(columns), batchcheck.screen_chunk(expr, columns, "float64")
        assert np.array_equal(got.value_slack >= 0, want.value_slack >= 0)
        assert np.array_equal(got.undefined, want.undefined)
    # The careful kernel itself (the one machines without readable flags use) counts them.
    careful = kernel.Kernel(expr, "float64", careful=True).run(tiny, None)
    assert careful is not None and careful.value_slack[0] >= 0  # 1e-400 is 0 within tolerance


def test_without_numba_or_when_turned_off_numpys_screen_does_the_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRADCLI_SCREEN", "numpy")
    screener = kernel.Screener(parse("x*y"), "float64")
    assert screener.kernel is None and "GRADCLI_SCREEN" in screener.why
    got = screener.chunk({"x": np.array([2.0]), "y": np.array([3.0])})
    assert got.value[0] == 6.0 and got.value_slack[0] >= 0


def test_what_the_trace_cannot_follow_falls_back() -> None:
    # A trace that meets a branch on a row's number ends with TraceError, never a wrong kernel.
    t = kernel.Trace()
    x = t.input()
    with pytest.raises(kernel.TraceError):
        bool(x > 0)
    with pytest.raises(kernel.TraceError):
        float(x)
    with pytest.raises(kernel.TraceError):
        np.add.reduce(x)
    with pytest.raises(kernel.TraceError):
        np.sort(x)


def test_the_generated_source_holds_no_text_of_the_expression(tmp_path: Path) -> None:
    text = "sekrit_name * 3 + exp(other_one)"
    source = kernel.source(kernel.trace_screen(parse(text), "float64", False))
    assert "sekrit" not in source and "other_one" not in source
    assert "import os" not in source and "__" not in source.split('"""')[2]


def test_kernels_are_kept_and_a_changed_file_is_written_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    text = kernel.source(kernel.trace_screen(parse("x*0.25 + 7"), "float64", False))
    kernel._load.cache_clear()
    first = kernel._load(text)
    files = list((tmp_path / "gradcli" / "kernels").glob("screen_*.py"))
    assert len(files) == 1 and files[0].read_text() == text
    files[0].write_text(text.replace("0.25", "0.5"))  # tampered with, or half written
    kernel._load.cache_clear()
    again = kernel._load(text)
    assert files[0].read_text() == text
    out = [np.empty(1) for _ in range(4)] + [np.empty(1, bool)]
    for compiled in (first, again):
        compiled(1, np.array([4.0]), *out)
        assert out[0][0] == 8.0


def test_a_cache_that_cannot_be_written_compiles_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    kernel._load.cache_clear()
    compiled = kernel.Kernel(parse("x*x"), "float64")
    got = compiled.run({"x": np.array([3.0])}, None)
    assert got is not None and got.value[0] == 9.0


def test_a_private_kernel_folder_is_removed_when_the_run_ends(tmp_path: Path) -> None:
    # (an unwritable cache gives each run a temporary folder: it must not pile up in /tmp)
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "XDG_CACHE_HOME": str(blocked), "TMPDIR": str(temporary)}
    env["GRADCLI_SCREEN"] = "compiled"
    for command in (["--x", "0:1:5"], ["--input", "-"]):  # in this process; in the helper
        done = subprocess.run(
            [sys.executable, "-m", "gradcli", "grad", "x*x", *command, "--format", "csv"],
            input="x\n1\n2\n",
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert not list(temporary.glob("gradcli-kernel-*")), command


def _run(tmp: Path, mode: str, data: Path, *extra: str) -> tuple[str, str, int]:
    out = tmp / f"out-{mode}.csv"
    env: dict[str, Any] = {"GRADCLI_SCREEN": mode, "XDG_CACHE_HOME": str(tmp / "cache")}
    result = run_cli(
        "grad",
        "sin(x**2)*exp(-y)/(1+x*y**2) + log(1+x**2) + sqrt(abs(x - y)) + step(y)",
        "--input",
        str(data),
        "--output",
        str(out),
        *extra,
        env=env,
        timeout=300,
    )
    return out.read_text(), result.stderr, result.returncode


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_run_writes_the_same_with_either_screen(tmp_path: Path, dtype: str) -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=300_000) * 3, rng.normal(size=300_000)
    x[:50], y[:50] = 0.0, 0.0  # kinks
    y[50:100] = x[50:100]  # on sqrt(abs(x - y))'s edge
    small, large = (1e-170, 800.0) if dtype == "float64" else (1e-30, 100.0)
    x[100:110] = small  # x**2 underflows
    x[110:120], y[110:120] = 1.0, -large  # exp(-y) overflows
    data = tmp_path / "points.csv"
    lines = ["x,y", *(f"{a!r},{b!r}" for a, b in zip(x.tolist(), y.tolist(), strict=True))]
    data.write_text("\n".join(lines) + "\n")
    numpy = _run(tmp_path, "numpy", data, "--dtype", dtype)
    compiled = _run(tmp_path, "compiled", data, "--dtype", dtype)  # (short: by its size, NumPy)
    assert numpy[2] == compiled[2]
    assert numpy[1] == compiled[1]
    assert numpy[0] == compiled[0]
    assert os.listdir(tmp_path / "cache" / "gradcli" / "kernels")  # (it was compiled)


def test_a_short_run_is_screened_by_numpy_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradcli.limits import COMPILE_FROM_ROWS

    monkeypatch.delenv("GRADCLI_SCREEN", raising=False)
    assert kernel.worth_compiling(None)  # (a stream: its length is not known)
    assert kernel.worth_compiling(COMPILE_FROM_ROWS)
    assert not kernel.worth_compiling(COMPILE_FROM_ROWS - 1)
    short = kernel.Screener(parse("x*y"), "float64", compile_now=True, rows=1000)
    assert short.kernel is None and "1,000 rows is too short" in short.why
    monkeypatch.setenv("GRADCLI_SCREEN", "compiled")
    assert kernel.worth_compiling(1)
    forced = kernel.Screener(parse("x*y"), "float64", compile_now=True, rows=1000)
    assert forced.kernel is not None


def test_the_rows_a_run_will_have_are_known_before_it_reads_them(tmp_path: Path) -> None:
    from gradcli.batch.command import SAMPLE_BYTES, Request, _expected_rows

    lines = 40_000  # (more than one sample's worth: the size tells the rest)
    path = tmp_path / "points.csv"
    path.write_text(
        "x,y\n" + "".join(f"{1 + i % 1000 * 0.001:.6f},{i % 7}.5\n" for i in range(lines))
    )
    assert path.stat().st_size > SAMPLE_BYTES
    guess = _expected_rows(Request("x*y", {}, str(path)))
    assert guess is not None and abs(guess - lines) < lines * 0.05
    small = tmp_path / "small.csv"
    small.write_text("x,y\n1,2\n3,4\n")
    assert _expected_rows(Request("x*y", {}, str(small))) == 3  # (the header too: about)
    wide = tmp_path / "wide.csv"  # (a first line longer than the sample: not known)
    wide.write_text(",".join(f"c{i}" for i in range(SAMPLE_BYTES // 4)) + "\n1\n")
    assert _expected_rows(Request("x*y", {}, str(wide))) is None
    table = tmp_path / "points.parquet"
    pl.DataFrame({"x": np.arange(1234.0), "y": np.ones(1234)}).write_parquet(table)
    assert _expected_rows(Request("x*y", {}, str(table))) == 1234
    assert _expected_rows(Request("x*y", {"x": "0:1:30", "y": "1:2:40"})) == 1200
    assert _expected_rows(Request("x*y", {}, "-")) is None  # stdin is never read twice
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # (nor is a pipe: not opened at all, so this does not wait for a writer)
    assert _expected_rows(Request("x*y", {}, str(fifo))) is None
    assert _expected_rows(Request("x*y", {}, str(tmp_path / "missing.csv"))) is None
