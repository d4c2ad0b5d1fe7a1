"""The long run of the property tests: many random expressions against the oracles, special
points made on purpose, the batch screen against the exact judge, and the parser against
arbitrary text. Prints how many were checked and every failure found.

    python benchmarks/fuzz_oracle.py        # 20,000 expressions and special points, 5,000 screens
    python benchmarks/fuzz_oracle.py --expressions 500 --specials 500 --screens 200 --texts 10000

An expression fails when gradcli's verdict is neither agree nor precision_loss, when autograd's
gradient differs from a finite difference of exact values (step 2**-60, 256 bits) by more than
1e-7 relative, or when the node-by-node reference and SymPy's derivative, both in proven
arithmetic, contradict each other. A special point (an inner node shifted to an exact zero, or
made a pole) fails on an internal error, when ``grad`` and a one-row batch disagree, or when an
exact zero torch computes exactly does not agree. A screen fails when the batch screen calls a
row agree or undefined and the exact judge does not. A text fails when parsing it raises
anything but a ParseError.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import gradcli  # noqa: E402
from gradcli.errors import GradcliError  # noqa: E402
from gradcli.language.parser import parse  # noqa: E402
from gradcli.results import Status  # noqa: E402
from tests.properties import (  # noqa: E402
    cases,
    finite_difference,
    references_disagree,
    screen_disagreements,
    special_cases,
    wild_cases,
)


def oracle_run(n: int) -> tuple[int, list[object]]:
    failures: list[object] = []
    count = 0

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(cases(max_leaves=16))
    def run(case: tuple[str, dict[str, float]]) -> None:
        nonlocal count
        count += 1
        text, point = case
        r = gradcli.grad(text, point, timeout=30)
        problems = []
        if r.check.status not in (Status.AGREE, Status.PRECISION_LOSS):
            problems.append(f"verdict {r.check.status.value}: {r.check.notes[:1]}")
        expr = parse(text)
        for name, g in r.gradient.items():
            fd = finite_difference(expr, point, name)
            if fd is None or not math.isclose(
                g, fd, rel_tol=1e-7, abs_tol=1e-9 * max(1.0, abs(r.value))
            ):
                problems.append(f"d/d{name}: autograd {g!r}, finite difference {fd!r}")
        # The two exact references must not contradict each other.
        problems += references_disagree(text, point)
        if problems:
            failures.append((text, point, problems))

    run()
    return count, failures


def special_run(n: int) -> tuple[int, list[object]]:
    failures: list[object] = []
    count = 0

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(special_cases(max_leaves=10))
    def run(case: tuple[str, dict[str, float]]) -> None:
        nonlocal count
        count += 1
        text, point = case
        try:
            r = gradcli.grad(text, point, timeout=30)
            row = gradcli.grad_batch(text, {k: np.array([v]) for k, v in point.items()}, timeout=30)
        except Exception as e:  # (an error from an expression the parser accepts is a bug)
            failures.append((text, point, repr(e)))
            return
        if row["status"][0] != r.check.status.value:
            failures.append((text, point, f"grad {r.check.status.value}, batch {row['status'][0]}"))
        value = r.check.value
        zero = value is not None and value.exact_kind == "zero" and r.value == 0
        if zero and value is not None and value.status is not Status.AGREE:
            failures.append((text, point, f"an exact zero is {value.status.value}"))

    run()
    return count, failures


def screen_run(n: int) -> tuple[int, list[object]]:
    failures: list[object] = []
    count = 0

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(wild_cases(max_leaves=12))
    def run(case: tuple[str, list[dict[str, float]]]) -> None:
        nonlocal count
        count += 1
        text, points = case
        for dtype in ("float64", "float32"):
            wrong = screen_disagreements(text, points, dtype)
            if wrong:
                failures.append((text, dtype, wrong))

    run()
    return count, failures


def parser_run(n: int) -> tuple[int, list[object]]:
    failures: list[object] = []
    count = 0
    alphabet = st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Z", "Cc"])

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        st.one_of(
            st.text(alphabet, max_size=60),
            st.text(st.sampled_from(list("xy12.e+-*/^()@, _sinlog")), max_size=60),
        )
    )
    def run(text: str) -> None:
        nonlocal count
        count += 1
        try:
            parse(text)
        except GradcliError:
            pass
        except Exception as e:  # anything else is a bug
            failures.append((text, repr(e)))

    run()
    return count, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--expressions", type=int, default=20_000)
    parser.add_argument("--specials", type=int, default=20_000)
    parser.add_argument("--screens", type=int, default=5_000)
    parser.add_argument("--texts", type=int, default=1_000_000)
    args = parser.parse_args()
    for name, run, n in (
        ("expressions", oracle_run, args.expressions),
        ("special points", special_run, args.specials),
        ("screens", screen_run, args.screens),
        ("texts", parser_run, args.texts),
    ):
        start = time.perf_counter()
        count, failures = run(n)
        print(
            f"{name}: {count:,} checked in {time.perf_counter() - start:.0f} s, "
            f"{len(failures)} failure{'s' * (len(failures) != 1)}"
        )
        for failure in failures[:20]:
            print("  ", failure)


if __name__ == "__main__":
    main()
