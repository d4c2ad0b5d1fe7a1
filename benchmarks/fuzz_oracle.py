"""The long run of the property tests: many random expressions against the oracles, and the
parser against arbitrary text. Prints how many were checked and every failure found.

    python benchmarks/fuzz_oracle.py                       # 20,000 expressions, 1,000,000 texts
    python benchmarks/fuzz_oracle.py --expressions 500 --texts 10000     # a quick look

An expression fails when gradcli's verdict is neither agree nor precision_loss, or when
autograd's gradient differs from an independent 50-digit finite difference (mpmath) by more
than 1e-7 relative. A text fails when parsing it raises anything but a ParseError.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import gradcli  # noqa: E402
from gradcli.errors import GradcliError  # noqa: E402
from gradcli.models import Status  # noqa: E402
from gradcli.parser import parse  # noqa: E402
from tests.properties import cases, finite_difference  # noqa: E402


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
        if problems:
            failures.append((text, point, problems))

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
    parser.add_argument("--texts", type=int, default=1_000_000)
    args = parser.parse_args()
    for name, run, n in (
        ("expressions", oracle_run, args.expressions),
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
