"""Single calls of gradcli, whole processes, against the floor of importing its libraries.

    python benchmarks/calls.py              # 5 rounds
    python benchmarks/calls.py --repeat 9
    python benchmarks/calls.py --against ../old-checkout   # also that version, same rounds

Each round runs every command once, in turn, the floor (``python -c "import torch, sympy,
typer, rich"``) first, so a drift in the machine's speed hits all of them alike. The table shows
each command's median wall time and the median of its per-round ratio to the floor (for the
fast paths, to ``python -c pass``). Nearly all of a single ``grad`` is importing torch and
SymPy; what the ratio shows is the work gradcli adds, and how large expressions scale. With
``--against DIR`` every gradcli command also runs from the checkout in DIR (another version of
gradcli, through ``PYTHONPATH``) in the same rounds, and a last column gives this version's time
over that one's.
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

PY = sys.executable
FLOOR = [PY, "-c", "import torch, sympy, typer, rich"]
NOTHING = [PY, "-c", "pass"]
GRADCLI = [PY, "-m", "gradcli"]


def _nested(depth: int) -> str:
    """``depth`` nested functions, sin, tanh, cos and sigmoid in turn, around x."""
    names = ("sin", "tanh", "cos", "sigmoid")
    opening = "".join(f"{names[k % 4]}(" for k in range(depth - 1, -1, -1))
    return opening + "x" + ")" * depth


def inputs(folder: Path) -> dict[str, Path]:
    """The large expressions, written to files (they are read with --file)."""
    files = {
        "sum": " + ".join(f"sin({k}*x)*y**{k % 3}" for k in range(1, 10_001)),
        "chain": "+".join(["x"] * 50_000),  # 99,999 nodes
        "deep": "sin(" * 1_000 + "x" + ")" * 1_000,
        "deeper": _nested(10_000),
    }
    paths = {}
    for name, text in files.items():
        paths[name] = folder / f"{name}.txt"
        paths[name].write_text(text)
    return paths


def other(command: list[str], checkout: Path | None) -> list[str] | None:
    """``command`` run from another checkout of gradcli, or None without one."""
    if checkout is None:
        return None
    start = command.index(PY)
    return [*command[:start], "env", f"PYTHONPATH={checkout.resolve()}", *command[start:]]


def commands(paths: dict[str, Path]) -> list[tuple[str, list[str], list[str]]]:
    """(label, command, baseline) for every row of the table."""
    completion_env = ["env", "_GRADCLI_COMPLETE=complete_bash", "COMP_CWORD=3"]
    return [
        ("gradcli --help", [*GRADCLI, "--help"], NOTHING),
        ("gradcli --version", [*GRADCLI, "--version"], NOTHING),
        (
            "one TAB completion (grad 'x**2*y' --<TAB>)",
            [*completion_env, "COMP_WORDS=gradcli grad x**2*y --", *GRADCLI],
            NOTHING,
        ),
        ('grad "x**2*y" --x 2 --y 3', [*GRADCLI, "grad", "x**2*y", "--x", "2", "--y", "3"], FLOOR),
        (
            'hessian "x**2*y" --x 2 --y 3',
            [*GRADCLI, "hessian", "x**2*y", "--x", "2", "--y", "3"],
            FLOOR,
        ),
        (
            "grad: sum of 10,000 terms sin(k*x)*y**(k%3)",
            [*GRADCLI, "grad", "--file", str(paths["sum"]), "--x", "0.5", "--y", "2", "--plain"],
            FLOOR,
        ),
        (
            "grad: x+x+...+x, 99,999 nodes",
            [*GRADCLI, "grad", "--file", str(paths["chain"]), "--x", "0.5", "--plain"],
            FLOOR,
        ),
        (
            "grad: 1,000 nested sin",
            [*GRADCLI, "grad", "--file", str(paths["deep"]), "--x", "0.5", "--plain"],
            FLOOR,
        ),
        (
            "grad: 10,000 nested sin/tanh/cos/sigmoid",
            [*GRADCLI, "grad", "--file", str(paths["deeper"]), "--x", "0.5", "--plain"],
            FLOOR,
        ),
    ]


def run(command: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: a precision_loss verdict is still a result
        sys.exit(f"failed ({done.returncode}): {' '.join(command)}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--against", type=Path, help="another gradcli checkout to compare with")
    args = parser.parse_args()
    if args.against is not None and not (args.against / "gradcli" / "__main__.py").exists():
        sys.exit(f"not a gradcli checkout: {args.against}")
    with tempfile.TemporaryDirectory() as tmp:
        rows = commands(inputs(Path(tmp)))
        runs = [list(b) for b in {tuple(b) for _, _, b in rows}]
        for _, command, _ in rows:
            runs += [c for c in (command, other(command, args.against)) if c is not None]
        for command in runs:
            run(command)  # warm the page cache
        times: dict[tuple[str, ...], list[float]] = {}
        for _ in range(args.repeat):
            for command in runs:
                times.setdefault(tuple(command), []).append(run(command))

    def ratio(a: list[str], b: list[str]) -> float:
        return statistics.median(
            x / y for x, y in zip(times[tuple(a)], times[tuple(b)], strict=True)
        )

    print(f"median of {args.repeat} rounds, whole processes, {os.cpu_count()} cores\n")
    extra = " vs --against |" if args.against else ""
    print(f"| {'command':<46} | seconds | ratio | to    |{extra}")
    print(f"|{'-' * 48}|---------|-------|-------|{'--------------|' if extra else ''}")
    for label, base in (("import torch, sympy, typer, rich", FLOOR), ("python -c pass", NOTHING)):
        print(f"| {label:<46} | {statistics.median(times[tuple(base)]):7.3f} |       |       |")
    for label, command, base in rows:
        to = "floor" if base is FLOOR else "pass"
        line = f"| {label:<46} | {statistics.median(times[tuple(command)]):7.3f} |"
        line += f" {ratio(command, base):5.2f} | {to:<5} |"
        then = other(command, args.against)
        if then is not None:
            line += f" {ratio(command, then):12.2f} |"
        print(line)


if __name__ == "__main__":
    main()
