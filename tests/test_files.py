"""Output files and the process's edges: nothing destroyed, nothing lost, one line and a
documented exit code for every way a run can end early (whole processes, as a shell runs them)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from gradcli.errors import ECHO_LIMIT, UsageError, safe_text, shown_list
from gradcli.files import OutputFile

POINTS = "x,y\n1,2\n3,4\n"


def gradcli(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    kw.setdefault("stdout", subprocess.PIPE)
    return subprocess.run(
        [sys.executable, "-m", "gradcli", *args],
        stderr=subprocess.PIPE,
        text=True,
        timeout=120,
        **kw,  # type: ignore[call-overload]
    )


@pytest.fixture
def points(tmp_path: Path) -> Path:
    path = tmp_path / "in.csv"
    path.write_text(POINTS)
    return path


def test_a_fifo_is_written_in_place_not_replaced(tmp_path: Path, points: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
    r = gradcli("grad", "x*y", "--input", str(points), "--output", str(fifo))
    out, _ = reader.communicate(timeout=60)
    assert r.returncode == 0, r.stderr
    assert out.splitlines()[0] == "x,y,value,d_x,d_y"
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still the FIFO
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "pipe"]


def test_a_device_behind_a_symlink_stays_a_device(tmp_path: Path, points: Path) -> None:
    link = tmp_path / "null.csv"
    link.symlink_to("/dev/null")
    for args in (
        ["grad", "x*y", "--input", str(points), "--output", str(link)],
        ["graph", "sin(x)", "--x", "1", "-o", str(link), "--format", "tree"],
    ):
        r = gradcli(*args)
        assert r.returncode == 0, r.stderr
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
        assert link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "null.csv"]


@pytest.mark.parametrize(
    "args",
    [
        ["grad", "x*y", "--input", "IN", "--output", "/dev/full"],
        ["grad", "x**2", "--x", "0:1:3", "--output", "/dev/full", "--format", "jsonl"],
        ["graph", "sin(x)", "--x", "1", "-o", "/dev/full", "--format", "json"],
    ],
)
def test_a_full_device_is_an_output_error(args: list[str], points: Path) -> None:
    r = gradcli(*[str(points) if a == "IN" else a for a in args])
    assert r.returncode == 74, r.stderr
    assert r.stderr.strip().endswith("cannot write /dev/full: No space left on device")


@pytest.mark.parametrize(
    "args",
    [
        ["grad", "x*y", "--x", "1", "--y", "2"],
        ["grad", "x*y", "--x", "1", "--y", "2", "--json"],
        ["graph", "sin(x)", "--x", "1", "--format", "json"],
        ["--help"],
        ["--version"],
        ["grad", "--help"],
    ],
)
def test_stdout_on_a_full_disk_is_exit_74(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        r = gradcli(*args, stdout=full)
    assert r.returncode == 74, r.stderr
    assert r.stderr == "gradcli: error: cannot write the output: No space left on device\n"


def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(
    tmp_path: Path, points: Path
) -> None:
    new = tmp_path / "new.csv"
    r = gradcli(
        "grad",
        "x*y",
        "--input",
        str(points),
        "--output",
        str(new),
        preexec_fn=lambda: os.umask(0o027),
    )
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(new.stat().st_mode) == 0o640
    new.chmod(0o604)
    r = gradcli("grad", "x*y", "--input", str(points), "--output", str(new))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(new.stat().st_mode) == 0o604


def test_a_symlinked_output_replaces_its_target_and_keeps_the_link(
    tmp_path: Path, points: Path
) -> None:
    (tmp_path / "data").mkdir()
    target = tmp_path / "data" / "out.csv"
    target.write_text("old\n")
    link = tmp_path / "out.csv"
    link.symlink_to(target)
    r = gradcli("grad", "x*y", "--input", str(points), "--output", str(link))
    assert r.returncode == 0, r.stderr
    assert link.is_symlink()
    assert target.read_text().startswith("x,y,value,d_x,d_y\n")
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["out.csv"]


@pytest.mark.parametrize("through_a_link", [False, True])
def test_the_input_is_never_the_output(tmp_path: Path, points: Path, through_a_link: bool) -> None:
    source = points
    if through_a_link:
        source = tmp_path / "alias.csv"
        source.symlink_to(points)
    r = gradcli(
        "grad", "x*y", "--input", str(source), "--output", str(points), "--on-bad-row", "skip"
    )
    assert r.returncode == 2
    assert "it is also the input" in r.stderr
    assert points.read_text() == POINTS


def test_a_directory_output_fails_before_any_work(tmp_path: Path, points: Path) -> None:
    (tmp_path / "results").mkdir()
    for args in (
        ["grad", "x*y", "--input", str(points), "--output", str(tmp_path / "results")],
        ["graph", "sin(x)", "--x", "1", "-o", str(tmp_path / "results")],
    ):
        r = gradcli(*args)
        assert r.returncode == 2
        assert "it is a directory" in r.stderr
        assert "rows" not in r.stderr  # (no summary: nothing ran)


@pytest.mark.parametrize(
    ("sig", "code", "line"),
    [
        (signal.SIGTERM, 143, "gradcli: stopped by SIGTERM"),
        (signal.SIGHUP, 129, "gradcli: stopped by SIGHUP"),
        (signal.SIGINT, 130, "gradcli: interrupted"),
    ],
)
def test_a_signal_mid_batch_cleans_up(tmp_path: Path, sig: int, code: int, line: str) -> None:
    big = tmp_path / "big.csv"
    with big.open("w") as f:
        f.write("x,y\n")
        f.writelines(f"{i * 1e-6},{i % 7}\n" for i in range(1_500_000))
    out = tmp_path / "out.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradcli", "grad", "sin(x)*y", "--input", str(big), "-o", str(out)],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a group of its own: the signal reaches its helpers too
    )
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(".out.csv.") for p in tmp_path.iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None, "the run never started"
        time.sleep(0.02)
    os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    assert err.strip() == line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]


def test_a_signal_at_any_moment_of_a_parquet_run_leaves_no_file_behind(tmp_path: Path) -> None:
    """From the start to the end of a run, the clean-up of the Parquet spool and of the
    temporary output included: either the run is stopped (143, one line, nothing left but
    the input, or, for a stop after the output was put in place, the output whole) or it had
    finished (0, the output whole). Never a part of the output."""
    work, spool = tmp_path / "work", tmp_path / "spool"
    work.mkdir()
    spool.mkdir()
    big = work / "in.csv"
    with big.open("w") as f:
        f.write("x,y\n")
        f.writelines(f"{i * 1e-5},{i % 7}\n" for i in range(300_000))
    out = work / "out.parquet"
    command = [sys.executable, "-m", "gradcli", "grad", "sin(x)*y", "-i", str(big), "-o", str(out)]
    env = {**os.environ, "TMPDIR": str(spool)}
    started = time.monotonic()
    assert subprocess.run(command, env=env, capture_output=True).returncode == 0
    whole = time.monotonic() - started
    out.unlink()
    for k in range(8):
        proc = subprocess.Popen(
            command, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        time.sleep(whole * (0.55 + 0.07 * k))  # (from mid-run to past the end)
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        said = f"at {0.55 + 0.07 * k:.2f} of {whole:.1f} s: exit {proc.returncode}, {err!r}"
        assert list(spool.iterdir()) == [], said
        if proc.returncode == 0:
            assert out.stat().st_size > 0 and "300,000 rows" in err, said
        else:
            assert proc.returncode == 143 and err.strip() == "gradcli: stopped by SIGTERM", said
        if out.exists():  # (whole: a stop after the rename cannot take it back)
            assert pl.read_parquet(out).height == 300_000, said
            out.unlink()
        assert sorted(p.name for p in work.iterdir()) == ["in.csv"], said


BIG = "+".join(f"sin({k}*x)" for k in range(390))  # its graph as JSON: about 1.6 MB


@pytest.mark.parametrize(
    "args",
    [
        ["graph", BIG, "--x", "1", "--format", "json"],
        ["graph", BIG, "--x", "1", "--format", "dot"],
        ["graph", BIG, "--x", "1"],
        ["--help"],
        ["grad", "--help"],
        ["--version"],
        ["grad", "x*y", "--x", "1", "--y", "2"],
    ],
)
def test_a_reader_that_leaves_early_gives_141(args: list[str]) -> None:
    """``| head -c1``: the output was not all delivered, so the run does not say 0 (a large
    write that came back short used to be taken as done), nor 1 (what Rich and Click say)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradcli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    if BIG in args:
        assert proc.stdout.read(1)
    proc.stdout.close()  # (a small output: gone before the write, which would fit the pipe)
    assert proc.wait(timeout=120) == 141
    assert proc.stderr.read() == b""


def test_a_closed_stdin_is_a_clear_error() -> None:
    for args in (["grad", "x*y", "--input", "-"], ["grad", "-f", "-", "--x", "1"]):
        r = gradcli(*args, stdin=subprocess.DEVNULL, preexec_fn=lambda: os.close(0))
        assert r.returncode == 2, r.stderr
        assert r.stderr.startswith("gradcli: error: standard input is closed")


def test_echoed_text_and_listed_names_are_capped(tmp_path: Path) -> None:
    field = "\0" * 5_000_000
    bad = tmp_path / "bad.csv"
    bad.write_text(f"x\n1\n{field}\n")
    r = gradcli("grad", "x", "--input", str(bad))
    assert r.returncode == 2
    assert "line 3: field x is not a finite number" in r.stderr
    assert len(r.stderr) < 1000
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"c{i}" for i in range(20_000)) + "\n" + ",".join(["1"] * 20_000))
    r = gradcli("grad", "x", "--input", str(wide))
    assert r.returncode == 2
    assert "and 19,990 more" in r.stderr
    assert len(r.stderr) < 1000


def test_safe_text_and_shown_list_bound_what_they_echo() -> None:
    long = "ab\x1b" * 1000
    shown = safe_text(long)
    assert shown.startswith("ab\\x1bab")
    assert shown.endswith("... (3,000 characters)")
    assert len(shown) < 4 * ECHO_LIMIT + 30
    assert shown_list([f"v{i}" for i in range(50_000)]).endswith("v9 and 49,990 more")


def test_output_file_refuses_what_it_cannot_write_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such directory"):
        OutputFile(str(tmp_path / "missing" / "out.csv"))
    with pytest.raises(UsageError, match="it is a directory"):
        OutputFile(str(tmp_path))
    out = OutputFile(str(tmp_path / "fine.csv"))
    out.write_all(b"done\n")
    assert (tmp_path / "fine.csv").read_bytes() == b"done\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fine.csv"]


@pytest.mark.parametrize("ending", ["\r", "\r\n", "\n"])
def test_every_line_ending_is_read(tmp_path: Path, ending: str) -> None:
    path = tmp_path / "points.csv"
    path.write_bytes(ending.join(["x,y", "1,2", "3,4", ""]).encode())
    r = gradcli("grad", "x*y", "--input", str(path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "x,y,value,d_x,d_y",
        "1.0,2.0,2.0,2.0,1.0",
        "3.0,4.0,12.0,4.0,3.0",
    ]
    assert "2 rows" in r.stderr


@pytest.mark.parametrize(
    ("line", "said"),
    [('{"x": true}', "true (JSON boolean)"), ('{"x": "1"}', '"1" (JSON text)')],
)
def test_typed_input_takes_numbers_only(line: str, said: str) -> None:
    r = gradcli("grad", "x", "--input", "-", "--input-format", "jsonl", input=line + "\n")
    assert r.returncode == 2
    assert f"line 1: field x is not a number: {said}" in r.stderr


def test_numbers_are_ascii_everywhere() -> None:
    import gradcli as api

    r = gradcli("grad", "x", "--x", "\uff12")
    assert r.returncode == 2
    assert "value for x is not a number: '\\uff12'" in r.stderr
    with pytest.raises(api.GradcliError, match="not a number"):
        api.grad("x", {"x": "\uff12"})


@pytest.mark.parametrize(
    "option",
    [
        ["--check", "bogus"],
        ["--check", "sample:3"],
        ["--on-bad-row", "skip"],
        ["--input-format", "tsv"],
    ],
)
def test_batch_options_without_batch_work_are_errors(option: list[str]) -> None:
    r = gradcli("grad", "x", "--x", "1", *option)
    assert r.returncode == 2
    assert "goes with batch work" in r.stderr


@pytest.mark.parametrize(
    "option",
    [["--json"], ["--plain"], ["--vjp", "1"], ["--order", "2"], ["--graph"], ["--simplify"]],
)
def test_point_options_with_batch_work_are_errors(option: list[str]) -> None:
    """The mirror of the above: what only one point has is not silently dropped."""
    from typer.testing import CliRunner

    from gradcli.cli.app import app

    r = CliRunner().invoke(app, ["grad", "x*y", "--x", "0:1:3", "--y", "1", *option])
    assert r.exit_code == 2 and r.stdout == ""
    assert f"{option[0]} goes with one point, not batch work" in r.stderr


@pytest.mark.parametrize("cword", ["abc", "-5", "99999999999999999999", "\uff11", ""])
def test_completion_answers_a_hostile_cursor_without_a_traceback(cword: str) -> None:
    env = {
        **os.environ,
        "_GRADCLI_COMPLETE": "complete_bash",
        "COMP_WORDS": "gradcli grad x --",
        "COMP_CWORD": cword,
    }
    r = gradcli(env=env)
    assert r.returncode == 0
    assert r.stderr == ""


def test_text_columns_reach_a_terminal_escaped() -> None:
    from gradcli.batch.formats import _escaped

    frame = pl.DataFrame({"x": [1.0], "name": ["a\x1b[31mred\x07"], "b\x1b[2J": ["c"]})
    assert _escaped(frame)["name"].to_list() == ["a\\x1b[31mred\\x07"]
    assert _escaped(frame)["x"].to_list() == [1.0]
    assert _escaped(frame).columns == ["x", "name", "b\\x1b[2J"]  # (names too)


def test_the_time_limit_bounds_torchs_high_order_derivatives() -> None:
    import gradcli as api

    started = time.monotonic()
    with pytest.raises(api.GradcliError, match=r"would not finish within 0\.2 s") as info:
        api.grad("sin(x)*exp(x)/(1+x**2)", {"x": 1.0}, order=10, timeout=0.2)
    assert info.value.exit_code == 4
    assert time.monotonic() - started < 30  # (unbounded, this takes about 30 s here)
    low = api.grad("sin(x)*exp(x)/(1+x**2)", {"x": 1.0}, order=3, timeout=5)
    assert low.check.status.value == "agree"


def test_a_batch_cell_that_rounds_to_zero_is_refused_as_a_single_value_is() -> None:
    r = gradcli("grad", "x", "--input", "-", input="x\n1\n1e-400\n")
    assert r.returncode == 2
    assert "line 3: field x is too small for float64 (it rounds to 0): '1e-400'" in r.stderr
    single = gradcli("grad", "x", "--x", "1e-400")
    assert single.returncode == 2 and "too small for float64" in single.stderr
    r = gradcli("grad", "x", "--input", "-", input="x\n0e-400\n1e-310\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1:] == ["0.0,0.0,1.0", "1e-310,1e-310,1.0"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_at_any_moment_of_the_start_gives_one_line(sig: int) -> None:
    # through the start, torch's import included: the signal is noted while torch loads
    # and takes effect after, never inside torch's bindings (which could abort the process)
    code, line = (
        (130, "gradcli: interrupted")
        if sig == signal.SIGINT
        else (143, "gradcli: stopped by SIGTERM")
    )
    for k in range(10):
        proc = subprocess.Popen(
            [sys.executable, "-m", "gradcli", "grad", "x*y", "--x", "1", "--y", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        time.sleep(0.15 + 0.25 * k)
        os.killpg(proc.pid, sig)
        out, err = proc.communicate(timeout=60)
        if proc.returncode == 0:  # (it had finished: a late signal has nothing to stop)
            assert err == "" and out
            continue
        assert proc.returncode == code, err
        assert err.strip() == line


def test_a_signal_while_a_class_is_made_is_a_signal_not_an_internal_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # a module that loads makes its dataclasses; Python 3.11 wraps what a field's __set_name__
    # raises (here the stop signal's exception) in a RuntimeError
    from gradcli.cli.report import exit_code_of
    from gradcli.errors import Terminated

    class Field:
        def __set_name__(self, owner: type, name: str) -> None:
            raise Terminated(signal.SIGTERM, "SIGTERM")

    with pytest.raises(BaseException) as caught:
        type("Made", (), {"field": Field()})
    assert exit_code_of(caught.value, debug=False) == 143
    assert capsys.readouterr().err == "gradcli: stopped by SIGTERM\n"


def test_dev_stdout_is_written_through_never_replaced(tmp_path: Path, points: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text("precious\n")
    with log.open("a") as appended:
        r = gradcli(
            "grad", "x*y", "--input", str(points), "--output", "/dev/stdout", stdout=appended
        )
    assert r.returncode == 0, r.stderr
    assert log.read_text().splitlines()[:2] == ["precious", "x,y,value,d_x,d_y"]
    r = gradcli("graph", "sin(x)", "--x", "1", "-o", "/dev/stdout", "--format", "json")  # a pipe
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("{")


def test_closed_standard_streams(points: Path, tmp_path: Path) -> None:
    def closed(fd: int) -> Callable[[], None]:
        return lambda: os.close(fd)

    out = tmp_path / "o.csv"
    r = gradcli("grad", "x*y", "--input", str(points), "-o", str(out), preexec_fn=closed(2))
    assert r.returncode == 0 and out.exists()
    r = gradcli("grad", "log(x)", "--x", "-1", preexec_fn=closed(2))
    assert r.returncode == 3  # the verdict's code, with nowhere to say it
    for args in (["grad", "x*y", "--x", "1", "--y", "2"], ["grad", "x*y", "--input", str(points)]):
        r = gradcli(*args, preexec_fn=closed(1))
        assert r.returncode == 74, r.stderr
        assert "stdout is closed" in r.stderr and "Traceback" not in r.stderr


def test_an_output_name_ending_in_a_slash_is_refused(points: Path, tmp_path: Path) -> None:
    r = gradcli("grad", "x*y", "--input", str(points), "-o", str(tmp_path / "foo.csv") + "/")
    assert r.returncode == 2
    assert list(tmp_path.iterdir()) == [points]


def test_a_broken_pipe_in_the_clean_up_after_a_stop_is_the_stop(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A stop signal sent to the whole group ends the check's helper too; the clean-up after
    the stop then finds its pipe broken. That is still the stop (143), not a closed stdout
    (141): once, in CI, it was."""
    from gradcli.cli.report import exit_code_of
    from gradcli.errors import Terminated

    try:
        try:
            raise Terminated(signal.SIGTERM, "SIGTERM")
        finally:
            raise BrokenPipeError(32, "Broken pipe")
    except BrokenPipeError as e:
        assert exit_code_of(e, debug=False) == 143
    assert capsys.readouterr().err == "gradcli: stopped by SIGTERM\n"
    # (without a stop it is the reader leaving, 141: test_a_reader_that_leaves_early_gives_141)
