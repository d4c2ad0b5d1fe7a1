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
from typing import Any

from ..engines import symbolic
from ..engines.exact import nodewise, real
from ..engines.exact.real import FINITE, Real
from ..language.nodes import Expr
from ..limits import PRECISION_CAP, SIMPLIFY_SECONDS, START_BITS
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


def _exact(subs: dict[Any, Any]) -> dict[Any, Any]:
    """Placeholders as exact mathematics: decimal literals as rationals."""
    # (here, not at the top: it loads SymPy)
    import sympy as sp

    return {k: sp.Rational(str(v)) if isinstance(v, sp.Float) else v for k, v in subs.items()}


def _same(
    expr: Expr,
    point: dict[str, float],
    wrt: str,
    answer: Expr,
    mine: dict[str, float],
    true: Real,
    given: Real,
) -> bool | str | tuple[Real, Real]:
    """True when the two values agree to the highest precision (or are equal exactly), else
    the two values at the precision that tells them apart: the references settle each number
    to about 33 digits, and a difference such as exp(-50) hides beyond that."""
    bits = START_BITS
    while True:
        with real.working_precision(bits):  # (the difference at the values' precision)
            order = real.compare(true, given)
        if order not in (0, None):
            return true, given
        if order == 0:
            return True
        if bits >= PRECISION_CAP:
            return "cap"  # (equal to the cap's 4,900 digits: not proven equal)
        bits = min(PRECISION_CAP, bits * 4)
        true = reference.from_nodewise(
            expr, nodewise.evaluate(expr, point, "float64", None, bits)
        ).gradient.get(wrt, real.rational(0))
        given = reference.from_nodewise(
            answer, nodewise.evaluate(answer, mine, "float64", None, bits)
        ).value


def _difference(true: Real, given: Real) -> str:
    with real.working_precision(PRECISION_CAP):
        return text_of(real.add(given, real.neg(true)))


def check_answer(
    expr: Expr, answer: Expr, wrt: str, count: int, seed: int, timeout: float | None
) -> AnswerResult:
    """The verdict on ``answer`` as the derivative of ``expr`` with respect to ``wrt``."""
    # (here, not at the top: it loads SymPy)
    import sympy as sp

    shown = ""
    proof = ""
    try:
        with time_limit(SIMPLIFY_SECONDS):
            f_sym = symbolic.build(expr)
            g_sym = symbolic.build(answer)
            x = f_sym.symbols.get(wrt) or sp.Symbol(wrt, real=True)
            shown = f_sym.display(sp.diff(f_sym.expr, x))
            # as mathematics: pi and e themselves, decimal literals as the decimals written
            # (0.1 is 1/10), the same in both
            f = f_sym.expr.xreplace(_exact(f_sym.display_subs))
            g = g_sym.expr.xreplace(_exact(g_sym.display_subs))
            if sp.simplify(sp.diff(f, x) - g) == 0:
                proof = "SymPy simplifies the derivative minus the answer to 0"
    except CheckTimeout:
        pass
    names = list(dict.fromkeys([*expr.variables, wrt, *answer.variables]))
    unsettled = 0
    samples: list[Sample] = []
    skipped = 0
    try:
        with time_limit(timeout):
            for point in points(names, count, seed):
                # the node-by-node reference: proven values, kinks and domains as gradcli's
                # check finds them, on the trees as written (SymPy would cancel 2*x**2/x)
                own = {n: point[n] for n in expr.variables}
                ref = reference.grad_reference(expr, own, "float64", None, None, False)
                true = ref.gradient.get(wrt, real.rational(0))  # (0: f does not use it)
                if ref.undefined or wrt in ref.nondifferentiable or true.kind not in FINITE:
                    skipped += 1
                    continue
                mine = {n: point[n] for n in answer.variables}
                got = reference.grad_reference(answer, mine, "float64", None, None, False)
                given = got.value
                defined = not got.undefined and given.kind in FINITE
                equal = False
                if defined:
                    same = _same(expr, own, wrt, answer, mine, true, given)
                    if same is True or same == "cap":
                        equal = True
                        unsettled += same == "cap"
                    elif proof:
                        # (proven equal as mathematics: a difference here comes from pi, e or
                        # 0.1 rounded to binary, the same rounding torch makes)
                        equal = True
                    elif isinstance(same, tuple):
                        true, given = same  # (at the precision that told them apart)
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
                        _difference(true, given) if defined and not equal else "",
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
            f"equal at all {len(samples)} points tried"
            + (
                f" (at {unsettled} of them to 4,900 digits, not exactly)"
                if unsettled
                else ", exactly"
            )
            + "; SymPy could not prove the two equal in general",
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
