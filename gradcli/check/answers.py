"""Is a hand-derived derivative right? SymPy's proof first (their difference simplifies to 0,
within a time budget); then exact evaluation at points, where a proven difference is a
counterexample.

Both sides are built from our trees (never from text); number literals are the exact binary
values torch would use, the same in both. The points are small integers and halves (where
traps sit: 0, -1) and seeded random decimals; a point where the function or its derivative is
undefined is skipped (``log(x)`` at -1), one where only the answer is undefined is a
counterexample (``2*x**2/x`` for the derivative of ``x**2``, at 0).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

from ..engines import symbolic
from ..engines.exact import real
from ..engines.exact.real import FINITE
from ..language.nodes import Expr
from ..limits import SIMPLIFY_SECONDS
from ..results.answer import AGREES, CORRECT, UNDECIDED, WRONG, AnswerResult, Sample
from . import reference
from .budget import CheckTimeout, time_limit
from .judge import text_of

_SPECIAL = (0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0)


def points(names: Sequence[str], count: int, seed: int) -> list[dict[str, float]]:
    """Special values first (every combination, for up to 3 variables), then random decimals
    in [-5, 5] with up to 3 digits after the point."""
    rng = random.Random(seed)
    special: list[dict[str, float]] = []
    if len(names) <= 3:
        for combo in itertools.product(
            _SPECIAL[:5] if len(names) > 1 else _SPECIAL, repeat=len(names)
        ):
            special.append(dict(zip(names, combo, strict=True)))
    rng.shuffle(special)
    chosen = special[: count // 2]
    while len(chosen) < count:
        chosen.append({n: round(rng.uniform(-5, 5), rng.choice((1, 2, 3))) for n in names})
    return chosen


def check_answer(
    expr: Expr, answer: Expr, wrt: str, count: int, seed: int, timeout: float | None
) -> AnswerResult:
    """The verdict on ``answer`` as the derivative of ``expr`` with respect to ``wrt``."""
    # (here, not at the top: it loads SymPy)
    import sympy as sp

    f_sym = symbolic.build(expr)
    g_sym = symbolic.build(answer)
    # (literals as the exact binary numbers torch uses: the same in both)
    f = f_sym.expr.xreplace(f_sym.exact_subs)
    g = g_sym.expr.xreplace(g_sym.exact_subs)
    x = f_sym.symbols[wrt]
    d = sp.diff(f, x)
    shown = f_sym.display(sp.diff(f_sym.expr, x))
    proof = ""
    try:
        with time_limit(SIMPLIFY_SECONDS):
            if sp.simplify(d - g) == 0:
                proof = "SymPy simplifies the derivative minus the answer to 0"
    except CheckTimeout:
        pass
    names = list(expr.variables)
    samples: list[Sample] = []
    skipped = 0
    try:
        with time_limit(timeout):
            for point in points(names, count, seed):
                # the node-by-node reference: proven values, kinks and domains as gradcli's
                # check finds them, on the trees as written (SymPy would cancel 2*x**2/x)
                ref = reference.grad_reference(expr, point, "float64", None, None, False)
                true = ref.gradient[wrt]
                if ref.undefined or wrt in ref.nondifferentiable or true.kind not in FINITE:
                    skipped += 1
                    continue
                mine = {n: point[n] for n in answer.variables}
                got = reference.grad_reference(answer, mine, "float64", None, None, False)
                given = got.value
                defined = not got.undefined and given.kind in FINITE
                equal = defined and real.compare(true, given) in (0, None)
                samples.append(
                    Sample(
                        point,
                        float(true),
                        float(given) if defined else None,
                        text_of(true),
                        text_of(given)
                        if defined
                        else f"undefined: {got.undefined or text_of(given)}",
                        equal,
                    )
                )
                if not equal:
                    return AnswerResult(
                        expr.source,
                        wrt,
                        answer.source,
                        shown,
                        WRONG,
                        "the two differ at this point, exactly",
                        tuple(samples),
                        skipped,
                    )
    except CheckTimeout:
        pass
    if proof:
        return AnswerResult(
            expr.source, wrt, answer.source, shown, CORRECT, proof, tuple(samples), skipped
        )
    if samples:
        return AnswerResult(
            expr.source,
            wrt,
            answer.source,
            shown,
            AGREES,
            f"equal at all {len(samples)} points tried, exactly; SymPy could not prove the "
            "two equal in general",
            tuple(samples),
            skipped,
        )
    return AnswerResult(
        expr.source,
        wrt,
        answer.source,
        shown,
        UNDECIDED,
        "no point tried lies where the derivative is defined, and SymPy found no proof",
        tuple(samples),
        skipped,
    )
