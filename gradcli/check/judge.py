"""The one judge: the verdict of one number computed by torch, against its proven exact value.

``grad``, ``--order``, ``--vjp``, every cell of ``jacobian`` and ``hessian``, ``steps``, every
batch row the screen could not settle, and the API all come here. The verdicts are decided in
this order:

1. the exact value is not a finite real number (not real, a pole, +-inf, 0/0) -> ``undefined``;
   also at a domain edge where the value is finite but the slope infinite (``sqrt`` at 0,
   ``asin`` at 1): the derivative has no finite value;
2. a non-smooth operation sits exactly on its kink *in exact arithmetic* and the derivative
   does not exist there -> ``nondifferentiable`` (the note says what torch used);
3. torch's number is inf or NaN while the exact value is finite -> ``overflow``; or, where
   torch's rounding pushed an operand out of a function's domain that the exact operand is
   inside, ``precision_loss``;
4. the exact value could not be settled at the precision cap -> ``inconclusive``;
5. compare with the tolerance (``tolerance.py``), every point of the exact ball considered:
   ``agree``; or ``precision_loss`` when rounding explains the difference (torch rounded an
   operand onto a kink the exact operand misses, or nudging every intermediate by a few ulps
   moves torch's number as far as it is off); else ``mismatch``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from ..engines.exact import real
from ..engines.exact.balls import arb
from ..engines.exact.real import FINITE, Kind, Real
from ..language.nodes import Expr
from ..language.ops import OPS
from ..limits import PRECISION_CAP
from ..results import Check, Status, Verdict, worst
from .tolerance import FLOAT_MAX, TOLERANCES, allowance

DIGITS = 30  #: significant digits shown of every exact value

# ---- what the reference proved, as text ---------------------------------------------------------


def kind_of(x: Real) -> str:
    """The ``exact_kind`` of JSON."""
    if x.kind is Kind.EXACT:
        return "zero" if x.q == 0 else "number"
    if x.kind is Kind.BALL:
        return "unresolved" if x.b.contains(0) else "number"
    return {
        Kind.POS_INF: "inf",
        Kind.NEG_INF: "-inf",
        Kind.INF: "pole",
        Kind.HUGE: "huge",
        Kind.NOT_REAL: "not_real",
        Kind.UNDEFINED: "undefined",
        Kind.UNKNOWN: "unresolved",
    }[x.kind]


def text_of(x: Real) -> str:
    """The exact value to 30 significant digits, or what it is instead."""
    k = x.kind
    if k is Kind.EXACT:
        if x.q == 0:
            return "0"
        if x.q.q == 1 and abs(x.q.p) < 10**DIGITS:
            return str(x.q.p)
        with real.working_precision(4 * DIGITS + 64):
            return _digits(arb(x.q), DIGITS)
    if k is Kind.BALL:
        b = x.b
        if b.contains(0):
            bound = _float_text(float(abs(b).upper()))
            return f"0 (|x| < {bound}: not separated from 0 at {PRECISION_CAP:,} bits)"
        digits = min(DIGITS, max(1, int(b.rel_accuracy_bits() * math.log10(2))))
        return _digits(b, digits)
    if k is Kind.POS_INF:
        return "inf"
    if k is Kind.NEG_INF:
        return "-inf"
    if k is Kind.INF:
        return "±inf"
    if k is Kind.HUGE:
        return "> 1.79769e+308" if x.side > 0 else "< -1.79769e+308"
    if k is Kind.NOT_REAL:
        return "not real"
    if k is Kind.UNDEFINED:
        return "undefined"
    return "not decided"


def _digits(b: Any, n: int) -> str:
    """The ball's midpoint to ``n`` significant digits, written as mpmath's ``nstr`` writes
    numbers: fixed notation for exponents from -4 to 16, scientific beyond, no trailing
    zeros."""
    # (the exponent apart: exp(-1e20) is about 7.7e-43429448190325182766, beyond Decimal)
    mantissa, _, power = str(b.str(n, radius=False)).lower().partition("e")
    sign, digits, exp = Decimal(mantissa).as_tuple()
    assert isinstance(exp, int)
    exp += int(power or 0)
    leading = len(digits) + exp - 1  # the power of ten of the first digit
    text = "".join(map(str, digits)).rstrip("0") or "0"
    minus = "-" if sign else ""
    if -4 <= leading < 17:
        point = leading + 1
        if point <= 0:
            return f"{minus}0.{'0' * -point}{text}"
        if point >= len(text):
            return f"{minus}{text}{'0' * (point - len(text))}.0"
        return f"{minus}{text[:point]}.{text[point:]}"
    return f"{minus}{text[0]}.{text[1:] or '0'}e{leading:+d}"


def _float_text(x: float) -> str:
    return f"{x:.3g}"


def rounded(x: Real, dtype: str) -> float | None:
    """The exact value as a float of ``dtype`` (nearest to the ball's midpoint), or None where
    it is no finite number of that dtype."""
    if x.kind not in (Kind.EXACT, Kind.BALL):
        return None
    value = float(x)
    if not math.isfinite(value) or abs(value) > FLOAT_MAX[dtype]:
        return None
    if dtype == "float32":
        return float(np.float32(value))
    return value


# ---- comparing -----------------------------------------------------------------------------------


def _neighbours(t: float, dtype: str) -> tuple[float, float]:
    if dtype == "float32":
        f = np.float32(t)
        with np.errstate(over="ignore"):  # (past the largest float32: inf, as it should be)
            return float(np.nextafter(f, np.float32(-np.inf))), float(
                np.nextafter(f, np.float32(np.inf))
            )
    return math.nextafter(t, -math.inf), math.nextafter(t, math.inf)


def decide(t: float, exact: Real, dtype: str, allowance: float) -> bool | None:
    """True when torch's ``t`` is within the tolerance of every number the exact value may be
    (or is its correct rounding); False when it is outside for all; None when the ball is too
    wide to tell."""
    tol = TOLERANCES[dtype]
    with real.working_precision(256 if exact.kind is Kind.EXACT else _bits_of(exact) + 64):
        r = exact.arb()
        tt = arb(t)
        # t is the correctly rounded value of every point of the ball: strictly inside the
        # interval halfway to t's neighbours
        low, high = _neighbours(t, dtype)
        inside = math.isfinite(low) and math.isfinite(high)
        if inside and (r > (arb(low) + tt) / 2) and (r < (arb(high) + tt) / 2):
            return True
        excess = abs(tt - r) - (tol.rel * abs(r) + arb(allowance))
        if excess <= 0:
            return True
        if excess > 0:
            return False
        return None


def _bits_of(x: Real) -> int:
    if x.kind is Kind.BALL:
        return max(128, int(x.b.mid().man_exp()[0].bit_length()) + 64)
    return 128


@dataclass(frozen=True)
class Evidence:
    """What may explain a torch number that fails the tolerance."""

    spread: Callable[[], float] = lambda: 0.0  #: how far rounding noise moves torch's number
    cause: str = ""  #: a rounding cause found in the graph (torch's operand on a kink, ...)
    convention: str = ""  #: a kink torch met where the derivative exists (its convention)


def judge(
    t: float,
    exact: Real,
    dtype: str,
    what: str,
    allowance: float | Callable[[], float] = 0.0,
    evidence: Evidence = Evidence(),
    torch_left: str = "",
) -> Verdict:
    """The verdict of one number (steps 1, 3, 4 and 5 of the module's order; kinks are
    :func:`nondifferentiable`). ``torch_left``: where torch's forward pass left the finite
    numbers while the exact one did not (a sentence), if it did."""
    shown = rounded(exact, dtype)
    text, kind = text_of(exact), kind_of(exact)
    if exact.kind not in FINITE and exact.kind is not Kind.UNKNOWN:
        why = f": {exact.why}" if exact.why else ""
        return Verdict(Status.UNDEFINED, t, None, text, f"the exact {what} is {text}{why}", kind)
    if not math.isfinite(t):
        if exact.kind is Kind.UNKNOWN:
            return Verdict(
                Status.INCONCLUSIVE,
                t,
                None,
                text,
                f"torch's {what} is {t}, and the exact one could not be decided ({exact.why})",
                kind,
            )
        if torch_left.startswith("domain:"):
            return Verdict(
                Status.PRECISION_LOSS,
                t,
                shown,
                text,
                f"{torch_left.removeprefix('domain:')}; torch's {what} is {t}",
                kind,
            )
        beyond = f" (beyond {dtype}'s range)" if shown is None else ""
        said = (
            f"{torch_left}; torch's {what} is {t}, but the exact one is finite{beyond}"
            if torch_left
            else f"{dtype} gave {t} but the exact {what} is finite{beyond}"
        )
        return Verdict(Status.OVERFLOW, t, shown, text, said, kind)
    if exact.kind is Kind.UNKNOWN:
        return Verdict(Status.INCONCLUSIVE, t, None, text, f"the exact {what} {exact.why}", kind)
    if exact.kind is Kind.HUGE:
        return Verdict(
            Status.MISMATCH if math.isfinite(t) else Status.OVERFLOW,
            t,
            None,
            text,
            f"the exact {what} is beyond float64's range, torch's is {t:.6g}",
            kind,
        )
    # the absolute term is worked out only where the relative one does not settle it
    verdict = decide(t, exact, dtype, 0.0)
    if verdict is not True and allowance:
        verdict = decide(t, exact, dtype, allowance() if callable(allowance) else allowance)
    if verdict is True:
        return Verdict(Status.AGREE, t, shown, text, "", kind)
    if verdict is None:
        return Verdict(
            Status.INCONCLUSIVE,
            t,
            shown,
            text,
            f"the exact {what} is not known closely enough to judge torch's {t:.6g}",
            kind,
        )
    err, rel = _error(t, exact)
    off = f"torch's {what} is off by {err:.6g} (relative {rel})"
    if evidence.cause:
        return Verdict(Status.PRECISION_LOSS, t, shown, text, f"{off}: {evidence.cause}", kind)
    if evidence.convention:
        return Verdict(Status.MISMATCH, t, shown, text, f"{off}: {evidence.convention}", kind)
    if evidence.spread() * 4 >= err:
        return Verdict(
            Status.PRECISION_LOSS,
            t,
            shown,
            text,
            f"{off}: {dtype} rounding lost the digits; the exact value is stable",
            kind,
        )
    return Verdict(Status.MISMATCH, t, shown, text, f"{off} and rounding does not explain it", kind)


def _error(t: float, exact: Real) -> tuple[float, str]:
    with real.working_precision(128):
        r = exact.arb()
        err = abs(arb(t) - r)
        e = float(err.mid()) if err.is_finite() else math.inf
        if exact.is_zero:
            return e, "inf"
        rel = float((err / abs(r)).mid()) if not r.contains(0) else math.inf
    return e, f"{rel:.2g}"


def nondifferentiable(t: float, exact: Real, dtype: str, note: str) -> Verdict:
    return Verdict(
        Status.NONDIFFERENTIABLE,
        t,
        rounded(exact, dtype) if exact.kind in (Kind.EXACT, Kind.BALL) else None,
        text_of(exact) if exact.kind in (Kind.EXACT, Kind.BALL) else "no derivative",
        note,
        "undefined" if exact.kind not in (Kind.EXACT, Kind.BALL) else kind_of(exact),
    )


def undefined_everywhere(t: float, why: str) -> Verdict:
    return Verdict(
        Status.UNDEFINED,
        t,
        None,
        "undefined",
        f"the function itself is undefined here: {why}",
        "undefined",
    )


# ---- a whole point ------------------------------------------------------------------------------


@dataclass
class PointReference:
    """The exact side of one point: what :mod:`gradcli.check.reference` proved."""

    value: Real
    gradient: dict[str, Real]  #: by element label
    scale: MutableMapping[str, float]  #: the magnitude of each derivative's terms
    undefined: str = ""  #: why the function is undefined at the point ("" where it is defined)
    nondifferentiable: dict[str, str] = field(default_factory=dict)  #: label -> why
    conventions: dict[str, str] = field(default_factory=dict)  #: label -> torch at a kink
    node_values: Sequence[Any] | None = None  #: every node's exact value (node by node)
    notes: list[str] = field(default_factory=list)
    method: str = "symbolic"
    shown: dict[str, str] = field(default_factory=dict)  #: SymPy's derivatives, as text
    #: the same derivatives as SymPy expressions, and how they are written (for shorter forms)
    formulas: dict[str, Any] = field(default_factory=dict)
    display: Callable[[Any], str] | None = None


class _FloatPredicates:
    """The op table's kink predicates on torch's floats."""

    @staticmethod
    def zero(u: Any) -> Any:
        return np.asarray(u) == 0

    @staticmethod
    def equal(u: Any, v: Any) -> Any:
        return np.asarray(u) == np.asarray(v)

    @staticmethod
    def all_zero(*us: Any) -> Any:
        return np.logical_and.reduce(np.broadcast_arrays(*(np.asarray(u) == 0 for u in us)))


FLOATS = _FloatPredicates()


def _exact_at_kink(kink: Any, operands: Sequence[Any]) -> bool:
    # (here, not at the top: it loads NumPy)
    from ..engines.exact.functions import X

    try:
        if all(isinstance(o, Real) for o in operands):
            return bool(kink.at(X, *operands))
        parts = np.broadcast_arrays(*[np.asarray(o, dtype=object) for o in operands])
        return any(bool(kink.at(X, *(p[i] for p in parts))) for i in np.ndindex(parts[0].shape))
    except real.Undecided:
        return True


def torch_causes(
    expr: Expr, torch_nodes: Sequence[np.ndarray], exact_nodes: Sequence[Any] | None
) -> tuple[str, str]:
    """Where torch's own rounding went astray, found by comparing its node values with the
    exact ones: (a kink torch reached that the exact operands miss, where torch's forward pass
    left the finite numbers while the exact one did not). Empty strings where nothing is
    found."""
    kink_cause, left = "", ""
    if exact_nodes is None:
        return kink_cause, left
    # Most nodes need no look: only a non-smooth operation (its kink) or a value that is not
    # finite (where torch left the numbers) can be a cause. Found in one pass over all the
    # nodes' values when they are scalars, as they are in a large expression.
    scalar = all(np.ndim(v) == 0 for v in torch_nodes)
    finite = (
        np.isfinite(np.fromiter((float(v) for v in torch_nodes), float, len(torch_nodes)))
        if scalar
        else None
    )
    for i, node in enumerate(expr.nodes):
        if node.kind != "op":
            continue
        op = OPS[node.op]
        if finite is not None and finite[i] and op.kink is None:
            continue
        operands = [torch_nodes[a] for a in node.args]
        if not kink_cause and op.kink is not None:
            on_kink = bool(np.any(op.kink.at(FLOATS, *operands)))
            if on_kink and not _exact_at_kink(op.kink, [exact_nodes[a] for a in node.args]):
                args = ", ".join(_short(o) for o in operands)
                kink_cause = (
                    f"torch's operand of {node.op} at column {node.start + 1} rounded to "
                    f"{args}, its kink, which the exact operand is not on"
                )
        if left or np.isfinite(torch_nodes[i]).all():
            continue
        if not all(np.isfinite(o).all() for o in operands):
            continue  # (not where it left: its operands already had)
        if not all(x.kind in FINITE for x in _flat(exact_nodes[i])):
            continue  # (the exact value is no finite number either: no rounding to blame)
        args = ", ".join(_short(o) for o in operands)
        where = f"{node.op} at column {node.start + 1}"
        under = _underflowed(expr, node.args, torch_nodes, exact_nodes)
        if under:  # the operation is not to blame: its operand lost its value first
            left = f"{under}, so {where} has no finite {torch_nodes[i].dtype} value"
        elif np.isnan(torch_nodes[i]).any():
            left = (
                f"domain:torch's operand of {where} ({args}) rounded outside its real "
                "domain, which the exact operand is inside"
            )
        else:
            left = f"{where} overflows {torch_nodes[i].dtype} at {args}"
    return kink_cause, left


def _underflowed(
    expr: Expr, args: Sequence[int], torch_nodes: Sequence[np.ndarray], exact_nodes: Sequence[Any]
) -> str:
    """An operand torch rounded to 0 though its exact value is not 0 (``sigmoid(-800)``, about
    1e-348, is below float64's smallest number): a sentence naming it, or ''."""
    for a in args:
        operand = expr.nodes[a]
        torch_value = np.asarray(torch_nodes[a])
        if operand.kind != "op" or torch_value.ndim or float(torch_value) != 0.0:
            continue
        exact = exact_nodes[a]
        nonzero = isinstance(exact, Real) and (
            (exact.kind is Kind.EXACT and not exact.is_zero)
            or (exact.kind is Kind.BALL and not exact.b.contains(0))
        )
        if nonzero:
            dtype = torch_value.dtype
            return (
                f"{operand.op} at column {operand.start + 1} underflows to 0 in {dtype} "
                f"(its exact value is {_float_text_of(exact)})"
            )
    return ""


def _float_text_of(x: Real) -> str:
    text = text_of(x)
    mantissa, _, exponent = text.partition("e")
    return f"about {mantissa[:6]}e{exponent}" if exponent else text


def _flat(v: Any) -> list[Real]:
    return [v] if isinstance(v, Real) else list(np.asarray(v, dtype=object).flat)


def _short(o: Any) -> str:
    arr = np.asarray(o)
    if arr.ndim == 0:
        return f"{float(arr):.6g}"
    return "its operands"


def judge_point(
    expr: Expr,
    dtype: str,
    value: float,
    gradient: Mapping[str, float],
    elements: Mapping[str, tuple[str, float]],
    ref: PointReference,
    torch_nodes: Sequence[np.ndarray],
    spread: Callable[[], tuple[float, dict[str, float]]],
) -> Check:
    """The verdicts of a value and its gradient at one point, and the overall status.

    ``gradient`` and the reference are keyed by element label (``x``, ``x[0]``, ``W[1,0]``);
    ``elements`` maps each label to its variable and its value.
    """
    spreads: list[tuple[float, dict[str, float]]] = []

    def spread_of(label: str | None) -> float:
        if not spreads:
            spreads.append(spread())
        v, g = spreads[0]
        return v if label is None else g.get(label, 0.0)

    kink_cause, left = torch_causes(expr, torch_nodes, ref.node_values)
    if ref.undefined:
        shown = judge(value, ref.value, dtype, "value", torch_left=left)
        value_verdict = Verdict(
            Status.UNDEFINED,
            value,
            None,
            shown.exact_text if shown.status is Status.UNDEFINED else "undefined",
            f"the function itself is undefined here: {ref.undefined}",
            shown.exact_kind if shown.status is Status.UNDEFINED else "undefined",
        )
        return _check(
            value_verdict,
            {label: undefined_everywhere(t, ref.undefined) for label, t in gradient.items()},
            ref,
        )
    value_verdict = judge(
        value,
        ref.value,
        dtype,
        "value",
        evidence=Evidence(lambda: spread_of(None), kink_cause),
        torch_left=left,
    )
    f = float(ref.value) if ref.value.kind in (Kind.EXACT, Kind.BALL) else value
    grads: dict[str, Verdict] = {}
    for label, t in gradient.items():
        exact = ref.gradient[label]
        why = ref.nondifferentiable.get(label)
        if why is not None and exact.kind in (*FINITE, Kind.UNKNOWN, Kind.UNDEFINED):
            # (at a kink SymPy's formula may hold a DiracDelta: no value, and no singularity)
            grads[label] = nondifferentiable(t, exact, dtype, why)
            continue
        if why is not None:
            # (an infinite or non-real derivative at a kink: undefined says more)
            grads[label] = judge(t, exact, dtype, f"d/d{label}")
            continue
        _, x = elements[label]
        grads[label] = judge(
            t,
            exact,
            dtype,
            f"d/d{label}",
            lambda x=x, n=label: allowance(dtype, f, x, ref.scale.get(n)),  # type: ignore[misc]
            Evidence(
                lambda n=label: spread_of(n),  # type: ignore[misc]
                kink_cause,
                ref.conventions.get(label, ""),
            ),
            torch_left=left,
        )
    return _check(value_verdict, grads, ref)


def _check(value: Verdict, grads: dict[str, Verdict], ref: PointReference) -> Check:
    statuses = [value.status, *(v.status for v in grads.values())]
    notes: list[str] = []
    for v in [value, *grads.values()]:
        if v.note and v.status is not Status.AGREE and v.note not in notes:
            notes.append(v.note)
    for note in ref.notes:
        if note not in notes:
            notes.append(note)
    return Check(worst(statuses), value, grads, tuple(notes), ref.method)


def timed_out(value: float, gradient: Mapping[str, float], why: str) -> Check:
    """The check of a result whose exact side was abandoned (``why`` ends the sentence
    "the exact check ...")."""
    note = f"the exact check {why}; torch's numbers are shown unchecked" + (
        " (raise the limit with --timeout)" if "within" in why else ""
    )
    return _unchecked(Status.TIMEOUT, value, gradient, note)


def _unchecked(status: Status, value: float, gradient: Mapping[str, float], note: str) -> Check:
    """torch's numbers with no exact value beside them, every one with ``status``."""
    unknown = "not computed"
    return Check(
        status,
        Verdict(status, value, None, unknown, note, "not_computed"),
        {
            name: Verdict(status, g, None, unknown, note, "not_computed")
            for name, g in gradient.items()
        },
        (note,),
    )


def not_provable(value: float, gradient: Mapping[str, float], why: str, order: str) -> Check:
    """The check of a higher derivative of an expression too large for SymPy's derivative
    (``why``, from :func:`~gradcli.check.reference.symbolic_allowed`): the node-by-node
    reference has no derivatives of order 2 and up, so nothing proves torch's numbers, and the
    verdict says so at once (``inconclusive``, exit code 4) rather than after the time limit."""
    return _unchecked(Status.INCONCLUSIVE, value, gradient, not_provable_note(why, order))


def not_provable_note(why: str, order: str) -> str:
    """What :func:`not_provable` says."""
    return f"{why}: derivatives of order {order} are not checked; torch's numbers are shown"


__all__ = [
    "DIGITS",
    "FLOATS",
    "Evidence",
    "PointReference",
    "decide",
    "judge",
    "judge_point",
    "kind_of",
    "nondifferentiable",
    "not_provable",
    "not_provable_note",
    "rounded",
    "text_of",
    "timed_out",
    "torch_causes",
]
