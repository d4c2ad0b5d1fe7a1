"""Batch gradients: gradcli against the hand-written baselines, whole processes, same input.

    pip install -e ".[bench]"
    python benchmarks/batch.py                 # 1,000,000 rows (the goals' size)
    python benchmarks/batch.py --rows 10000000 --stream   # steady state and memory
    python benchmarks/batch.py --load 1        # with another busy process on the machine

The baselines are ``shared/bench/baseline_batch.py`` (pandas and polars versions of what a
skilled user writes by hand: the same function, float64 autograd in 64K-row chunks, CSV in and
out). Every command is a whole process, start-up included, run --repeat times; the table shows
medians and the ratio to the pandas baseline. ``--stream`` also measures gradcli reading stdin
and writing stdout (with and without the check), its peak memory, and its steady-state rows
per second: the rows between a tenth of the input and all of it, over the time between.
Beside them runs a reference point without autograd or any check: Polars alone, computing the
formula and its hand-derived gradient in its own multi-threaded engine, streaming CSV file to
file ("floor"). Steady states are also printed as ratios to it: what the check costs on top of
the work that any tool reading and writing these rows has to do.
``--stages`` first times each stage of gradcli's batch path alone, one after the other in one
process, chunk by chunk as a run streams them (read, parse, torch's import, the compiled screen's
compile or cache load, torch's forward and backward, the check's screen, comparing, formatting
the result columns, writing CSV): where the time goes. (A real run overlaps them: the reader,
the screen and the writer work beside torch.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT.parent / "shared" / "bench" / "baseline_batch.py"
EXPRESSION = "sin(x**2)*exp(-y)/(1+x*y**2) + log(1+x**2)"

# Run one command and report its peak resident memory: the children's ru_maxrss of a wrapper
# that runs nothing else.
PEAK = (
    "import resource, subprocess, sys\n"
    "stdin = open(sys.argv[1], 'rb') if sys.argv[1] != '-' else None\n"
    "r = subprocess.run(sys.argv[2:], stdin=stdin, stdout=subprocess.DEVNULL)\n"
    "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)

# The floor: Polars' own engine, no autograd, no check, the gradient derived by hand.
FLOOR = """
import sys, polars as pl
x, y = pl.col("x"), pl.col("y")
s, c, e, den = (x**2).sin(), (x**2).cos(), (-y).exp(), 1 + x * y**2
value = s * e / den + (1 + x**2).log()
d_x = 2 * x * c * e / den - s * e * y**2 / den**2 + 2 * x / (1 + x**2)
d_y = -s * e / den - 2 * s * e * x * y / den**2
pl.scan_csv(sys.argv[1]).with_columns(
    value=value, d_x=d_x, d_y=d_y, status=pl.lit("agree")
).sink_csv(sys.argv[2])
"""


def timed(command: list[str], stdin: str = "-") -> tuple[float, float, int]:
    """Wall seconds, peak MiB and exit code of one run."""
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", PEAK, stdin, *command], capture_output=True, text=True, check=True
    ).stdout.split()
    return time.perf_counter() - start, int(out[1]) / 1024, int(out[0])


STAGES = """
import sys, time
clock = time.perf_counter
from gradcli.batch import check, formats, run
from gradcli.language.parser import parse

path, out, expression = sys.argv[1:4]
spent = dict.fromkeys(
    ["read", "parse", "torch import", "screen: compile or load", "torch forward+backward",
     "screen (check)", "compare and judge (check)", "format", "write CSV"], 0.0)
start = clock()
expr = parse(expression)
spent["parse"] = clock() - start
start = clock()
import torch  # noqa: F401
from gradcli.engines.autograd import batch_gradients
spent["torch import"] = clock() - start
start = clock()
from gradcli.batch.kernel import Screener
screener = Screener(expr, "float64", compile_now=True)  # (as a run has it, once it is ready)
spent["screen: compile or load"] = clock() - start
kind = "compiled" if screener.kernel is not None else f"NumPy ({screener.why})"
screen = check.Screen(expr, "float64", 5.0, False)
writer = formats.Writer(out, "csv", [path])
chunks = formats.read_chunks(path, "csv", list(expr.variables), "error", formats._Counts())
rows = 0
while True:
    start = clock()
    frame = next(chunks, None)
    if frame is None:
        break
    chunk = run._prepare(expr, frame)
    spent["read"] += clock() - start
    start = clock()
    chunk.value, chunk.grads = batch_gradients(expr, chunk.columns, "float64")
    spent["torch forward+backward"] += clock() - start
    start = clock()
    ref = screener.chunk(chunk.columns)
    spent["screen (check)"] += clock() - start
    start = clock()
    codes, doubtful = screen.compare(ref, chunk.value, chunk.grads, chunk.bad)
    # (the rows the screen left: exactly, the numbers torch gave them)
    screen.judge(chunk.columns, chunk.value, chunk.grads, doubtful, codes)
    notable = bool((codes != check.CODE[check.Status.AGREE]).any())
    spent["compare and judge (check)"] += clock() - start
    start = clock()
    result = run._with_results(expr, chunk)
    spent["format"] += clock() - start
    start = clock()
    writer.write(result, lambda: run.status_series(codes, None), notable)
    spent["write CSV"] += clock() - start
    rows += len(chunk.value)
start = clock()
writer.close(True)
spent["write CSV"] += clock() - start
screen.close()
work = sum(v for k, v in spent.items() if k not in ("torch import", "screen: compile or load"))
print(f"{rows:,} rows, each stage alone (one process, one stage at a time); screen: {kind}")
print(f"{'stage':<26}{'seconds':>9}{'of the work':>13}{'M rows/s':>10}")
for name, seconds in spent.items():
    once = name in ("parse", "torch import", "screen: compile or load")
    share = "" if once else f"{seconds / work:>12.0%}"
    timed = seconds and not once
    speed = f"{rows / seconds / 1e6:>10.1f}" if timed else ""
    print(f"{name:<26}{seconds:>9.3f}{share:>13}{speed}")
print(f"{'all but the start':<26}{work:>9.3f}{'':>13}{rows / work / 1e6:>10.1f}")
"""


def stages(points: Path, work: Path) -> None:
    """Each stage of the batch path alone, in a fresh process (see the module's docstring)."""
    subprocess.run(
        [sys.executable, "-c", STAGES, str(points), str(work / "stages.csv"), EXPRESSION],
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--stages", action="store_true", help="first, where the time goes, stage by stage"
    )
    parser.add_argument(
        "--load",
        type=int,
        default=0,
        metavar="N",
        help="keep N other processes busy (a loop each) the whole time: other work running",
    )
    parser.add_argument(
        "--stream",
        action="store_true",
        help="also gradcli stdin -> stdout, for rows/s and peak memory",
    )
    args = parser.parse_args()
    if not BASELINE.exists():
        sys.exit(f"baseline not found: {BASELINE}")
    work = Path(tempfile.mkdtemp(prefix="gradcli-bench-"))
    points = work / "points.csv"
    subprocess.run(
        [sys.executable, str(BASELINE), "--make", str(args.rows), str(points)], check=True
    )
    if args.stages:
        stages(points, work)
    gradcli = [sys.executable, "-m", "gradcli", "grad", EXPRESSION]
    commands = {
        "baseline pandas": [
            sys.executable,
            str(BASELINE),
            "--io",
            "pandas",
            str(points),
            str(work / "pandas.csv"),
        ],
        "baseline polars": [
            sys.executable,
            str(BASELINE),
            "--io",
            "polars",
            str(points),
            str(work / "polars.csv"),
        ],
        "floor: polars alone, no check": [
            sys.executable,
            "-c",
            FLOOR,
            str(points),
            str(work / "floor.csv"),
        ],
        "gradcli": [*gradcli, "--input", str(points), "--output", str(work / "gradcli.csv")],
        "gradcli --no-check": [
            *gradcli,
            "--input",
            str(points),
            "--output",
            str(work / "nocheck.csv"),
            "--no-check",
        ],
    }
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.load)]
    try:
        report(args, commands, points, gradcli, work)
    finally:
        for process in busy:
            process.kill()
    for f in work.iterdir():
        f.unlink()
    os.rmdir(work)


def report(
    args: argparse.Namespace,
    commands: dict[str, list[str]],
    points: Path,
    gradcli: list[str],
    work: Path,
) -> None:
    """Run every command --repeat times (interleaved) and print the tables."""
    if args.load:
        print(f"with {args.load} other busy process{'es' * (args.load > 1)} running")
    results: dict[str, list[tuple[float, float, int]]] = {k: [] for k in commands}
    for _ in range(args.repeat):  # interleaved, so drift hits every command alike
        for name, command in commands.items():
            results[name].append(timed(command))
            if results[name][-1][2] != 0:  # a failed run's time means nothing
                sys.exit(
                    f"{name} failed (exit {results[name][-1][2]}): {' '.join(command)}\n"
                    'hint: the baselines need pandas: pip install -e ".[bench]"'
                )
    tenth = work / "tenth.csv"
    if args.stream:
        with open(points) as full, open(tenth, "w") as part:
            for i, line in enumerate(full):
                if i > args.rows // 10:
                    break
                part.write(line)
        for name, extra in (("", []), (" --no-check", ["--no-check"])):
            for label, source in ((f"stdin->stdout{name}", points), (f"(a tenth){name}", tenth)):
                results[f"gradcli {label}"] = [
                    timed([*gradcli, "--input", "-", *extra], stdin=str(source))
                    for _ in range(args.repeat)
                ]
        for label, source in (("floor (file->file)", points), ("floor (a tenth)", tenth)):
            results[label] = [
                timed([sys.executable, "-c", FLOOR, str(source), str(work / "floor.csv")])
                for _ in range(args.repeat)
            ]
    base = statistics.median(r[0] for r in results["baseline pandas"])
    print(f"{args.rows:,} rows, {args.repeat} runs each, median wall time (start-up included)")
    print(f"{'command':<32}{'seconds':>9}{'rows/s':>14}{'peak MiB':>10}{'vs pandas':>11}")
    for name, runs in results.items():
        wall = statistics.median(r[0] for r in runs)
        peak = max(r[1] for r in runs)
        codes = {r[2] for r in runs}
        flag = "" if codes == {0} else f"  exit {sorted(codes)}"
        rows = args.rows // 10 if "tenth" in name else args.rows
        print(
            f"{name:<32}{wall:>9.2f}{rows / wall:>14,.0f}{peak:>10.0f}{base / wall:>10.2f}x{flag}"
        )
    for name in ("gradcli", "gradcli --no-check"):
        ratio = statistics.median(r[0] for r in results["baseline polars"]) / statistics.median(
            r[0] for r in results[name]
        )
        print(f"{name} vs polars baseline: {ratio:.2f}x (above 1 is faster)")
    if args.stream:  # start-up and the first chunks cancel out: the rows/s of the stream itself
        pairs = {
            "gradcli": ("gradcli stdin->stdout", "gradcli (a tenth)"),
            "gradcli --no-check": (
                "gradcli stdin->stdout --no-check",
                "gradcli (a tenth) --no-check",
            ),
            "floor (polars alone, no check)": ("floor (file->file)", "floor (a tenth)"),
        }
        steady = {}
        for name, (whole, tenth_name) in pairs.items():
            full = statistics.median(r[0] for r in results[whole])
            part = statistics.median(r[0] for r in results[tenth_name])
            steady[name] = (args.rows - args.rows // 10) / max(full - part, 1e-9)
        floor = steady["floor (polars alone, no check)"]
        for name, speed in steady.items():
            print(f"{name} steady state: {speed:,.0f} rows/s ({speed / floor:.2f}x the floor)")


if __name__ == "__main__":
    main()
