"""The long run of the property tests: many random expressions against the oracles, and the
parser against arbitrary text. Prints how many were checked and every failure found.

    python benchmarks/fuzz_oracle.py        # 20,000 expressions, 5,000 screens, 1,000,000 texts
    python benchmarks/fuzz_oracle.py --expressions 500 --screens 200 --texts 10000   # a look

An expression fails when gradcli's verdict is neither agree nor precision_loss, when
autograd's gradient differs from an independent 50-digit finite difference (mpmath) by more
than 1e-7 relative, or when the node-by-node reference differs from SymPy's exact numbers in
the first 25 digits. A screen (an expression with no care for domains, at four awkward points,
in float64 and float32) fails when the batch check's screen calls a row agree or undefined and
the exact judge does not. A text fails when parsing it raises anything but a ParseError.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import mpmath  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import gradcli  # noqa: E402
from gradcli.engines.exact import adjoint  # noqa: E402
from gradcli.errors import GradcliError  # noqa: E402
from gradcli.language.parser import parse  # noqa: E402
from gradcli.results.models import Status  # noqa: E402
from tests.properties import (  # noqa: E402
    cases,
    finite_difference,
    screen_disagreements,
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
            fd = float(finite_difference(expr, point, name))
            if not math.isclose(g, fd, rel_tol=1e-7, abs_tol=1e-9 * max(1.0, abs(r.value))):
                problems.append(f"d/d{name}: autograd {g!r}, finite difference {fd!r}")
        # The node-by-node reference must give SymPy's exact numbers too (to 25 digits).
        value, gradient = adjoint.exact(expr, point, "float64")
        verdicts = [("value", value, r.check.value)]
        verdicts += [(f"d/d{n}", gradient[n], r.check.gradient[n]) for n in gradient]
        for what, ours, verdict in verdicts:
            if verdict is None or ours.value is None or verdict.exact is None:
                continue
            with mpmath.workdps(50):
                theirs = mpmath.mpf(verdict.exact_text)
                off = abs(ours.value - theirs) > mpmath.mpf(10) ** -25 * max(abs(theirs), 1e-30)
            if off:
                problems.append(f"{what}: node by node {ours.text}, SymPy {verdict.exact_text}")
        if problems:
            failures.append((text, point, problems))

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
    parser.add_argument("--screens", type=int, default=5_000)
    parser.add_argument("--texts", type=int, default=1_000_000)
    args = parser.parse_args()
    for name, run, n in (
        ("expressions", oracle_run, args.expressions),
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
