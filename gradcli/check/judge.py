"""Judge torch's numbers against the exact ones: the tolerance rule and the verdicts.

For float64 the rule per gradient component ``i`` is::

    |t - r| <= 1e-9 * |r| + 1e-13 * |f| / max(1, |x_i|)

with ``t`` torch's number, ``r`` the exact one, ``f`` the exact value of the function; the value
itself is compared with the relative term alone. A number that equals the exact value rounded
to the dtype always agrees. The verdicts are decided in this order:

1. the exact number is complex, infinite or undefined -> ``undefined``;
2. a non-smooth operation sits exactly on its kink -> ``nondifferentiable``;
3. torch's number is inf/NaN while the exact one is finite -> ``overflow`` (``undefined`` when
   torch's NaN came from an operand outside a function's real domain);
4. compare: ``agree``; or ``precision_loss`` when nudging every intermediate result by a few
   ulps moves torch's number about as far as it is off (rounding ate the digits); otherwise
   ``mismatch`` (a wrong derivative: a bug).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import mpmath
import numpy as np

from ..engines.exact.numbers import DIGITS, Exact, round_to
from ..language.nodes import Expr
from ..language.ops import OPS
from ..results.models import Check, Status, Verdict, worst


@dataclass(frozen=True)
class Tolerance:
    rel: float
    abs: float


TOLERANCES = {"float64": Tolerance(1e-9, 1e-13), "float32": Tolerance(1e-4, 1e-6)}
FLOAT_MAX = {"float64": 1.7976931348623157e308, "float32": 3.4028234663852886e38}

Spread = Callable[[], tuple[float, dict[str, float]]]


@dataclass(frozen=True)
class Kink:
    """A non-smooth operation evaluated exactly at its kink."""

    node: int
    note: str


def find_kinks(expr: Expr, node_values: Sequence[np.ndarray]) -> list[Kink]:
    """Every node whose operation is not differentiable at (some element of) its operands."""
    kinks = []
    for i, node in enumerate(expr.nodes):
        if node.kind != "op":
            continue
        op = OPS[node.op]
        if op.kink is None:
            continue
        operands = np.broadcast_arrays(*(node_values[a] for a in node.args))
        for index in np.ndindex(operands[0].shape):
            elements = [float(o[index]) for o in operands]
            if op.kink(*elements):
                args = ", ".join(_short(e) for e in elements)
                kinks.append(
                    Kink(
                        i,
                        f"{op.name} at column {node.start + 1} is evaluated at its "
                        f"kink ({args}), where it is not differentiable; "
                        f"{op.kink_note}",
                    )
                )
                break
    return kinks


def nonfinite_origin(expr: Expr, node_values: Sequence[np.ndarray]) -> tuple[str, bool] | None:
    """Where torch's forward pass first left the finite numbers: (description, is_domain).

    ``is_domain`` is true when a NaN came from finite operands (sqrt(-1), log(-1), 0/0).
    """
    for node, v in zip(expr.nodes, node_values, strict=True):
        if node.kind != "op" or np.isfinite(v).all():
            continue
        if all(np.isfinite(node_values[a]).all() for a in node.args):
            scalars = all(node_values[a].ndim == 0 for a in node.args)
            args = (
                ", ".join(_short(float(node_values[a])) for a in node.args)
                if scalars
                else "its operands"
            )
            where = f"{node.op} at column {node.start + 1} ({args})"
            if np.isnan(v).any():
                return f"{where} is outside its real domain", True
            return f"{where} overflows float64", False
    return None


def compare(
    t: float,
    exact: Exact,
    dtype: str,
    allowance: mpmath.mpf,
    spread_of: Callable[[], float],
    what: str,
    origin: tuple[str, bool] | None = None,
) -> Verdict:
    """The verdict for one number: torch's ``t`` against the exact value (steps 1, 3 and 4 of
    the order in this module's docstring; kinks are the caller's business).

    ``allowance`` is the absolute part of the tolerance; ``spread_of`` says how far rounding
    noise moves ``t`` (called only when ``t`` is off); ``origin`` is where torch's forward pass
    left the finite numbers, if it did.
    """
    tol = TOLERANCES[dtype]
    with mpmath.workdps(DIGITS + 10):
        r = exact.value
        if r is None:
            return Verdict(
                Status.UNDEFINED, t, None, exact.text, f"the exact {what} is {exact.text}"
            )
        rounded = _to_float(r, FLOAT_MAX[dtype], dtype)
        if not math.isfinite(t):
            if origin is not None and origin[1]:
                return Verdict(
                    Status.UNDEFINED,
                    t,
                    rounded,
                    _text(r),
                    f"{origin[0]}; the exact {what} exists only through complex or undefined "
                    "intermediate values",
                )
            where = f"{origin[0]}; " if origin else ""
            return Verdict(
                Status.OVERFLOW,
                t,
                rounded,
                _text(r),
                f"{where}{dtype} gave {t} but the exact {what} is finite",
            )
        if rounded is None:
            return Verdict(
                Status.OVERFLOW, t, None, _text(r), f"the exact {what} is beyond the float64 range"
            )
        err = abs(mpmath.mpf(t) - r)
        if t == rounded or err <= tol.rel * abs(r) + allowance:
            return Verdict(Status.AGREE, t, rounded, _text(r))
        moved = spread_of()
        rel = f"{float(err / abs(r)):.2g}" if r != 0 else "inf"
        if moved * 4 >= float(err):
            return Verdict(
                Status.PRECISION_LOSS,
                t,
                rounded,
                _text(r),
                f"torch's {what} is off by {_short(float(err))} (relative {rel}): "
                f"{dtype} rounding lost the digits; the exact value is stable",
            )
        return Verdict(
            Status.MISMATCH,
            t,
            rounded,
            _text(r),
            f"torch's {what} is off by {_short(float(err))} (relative {rel}) and "
            "rounding does not explain it",
        )


def judge(
    expr: Expr,
    elements: Mapping[str, tuple[str, float]],
    dtype: str,
    value: float,
    gradient: Mapping[str, float],
    node_values: Sequence[np.ndarray],
    exact_value: Exact,
    exact_gradient: Mapping[str, Exact],
    spread: Spread,
) -> Check:
    """The verdicts for the value and every gradient component, and the overall status.

    Components are keyed by label (``x``, or ``x[0]``, ``W[1,0]`` for vector and matrix
    variables); ``elements`` maps each label to its variable's name and its value.
    """
    tol = TOLERANCES[dtype]
    fmax = FLOAT_MAX[dtype]
    origin = nonfinite_origin(expr, node_values)
    kinks = find_kinks(expr, node_values)
    depends = expr.depends() if kinks else []
    spreads: tuple[float, dict[str, float]] | None = None

    def get_spread() -> tuple[float, dict[str, float]]:
        nonlocal spreads
        if spreads is None:
            spreads = spread()
        return spreads

    with mpmath.workdps(DIGITS + 10):
        # |f| in the absolute term: the exact value, else torch's, else nothing.
        f_scale = exact_value.value if exact_value.value is not None else mpmath.mpf(value)
        if not mpmath.isfinite(f_scale):
            f_scale = mpmath.mpf(0)

        def verdict(
            t: float, exact: Exact, allowance: mpmath.mpf, spread_of: Callable[[], float], what: str
        ) -> Verdict:
            return compare(t, exact, dtype, allowance, spread_of, what, origin)

        value_verdict = verdict(value, exact_value, mpmath.mpf(0), lambda: get_spread()[0], "value")
        grads: dict[str, Verdict] = {}
        for name, t in gradient.items():
            exact = exact_gradient[name]
            variable, x = elements[name]
            hit = [k for k in kinks if variable in depends[k.node]]
            if value_verdict.status is Status.UNDEFINED and not exact_value.finite:
                grads[name] = Verdict(
                    Status.UNDEFINED,
                    t,
                    None,
                    exact.text,
                    "the function itself is undefined at this point",
                )
            elif hit:
                shown = _text(exact.value) if exact.value is not None else exact.text
                grads[name] = Verdict(
                    Status.NONDIFFERENTIABLE,
                    t,
                    _to_float(exact.value, fmax, dtype),
                    shown,
                    f"{hit[0].note}; torch gives {_short(t)}, SymPy's formula gives {shown}",
                )
            else:
                allowance = tol.abs * abs(f_scale) / max(1.0, abs(x))
                grads[name] = verdict(
                    t,
                    exact,
                    allowance,
                    lambda n=name: get_spread()[1][n],  # type: ignore[misc]
                    f"d/d{name}",
                )
    statuses = [value_verdict.status, *(v.status for v in grads.values())]
    notes: list[str] = []
    for v in [value_verdict, *grads.values()]:
        if v.note and v.status is not Status.AGREE and v.note not in notes:
            notes.append(v.note)
    return Check(worst(statuses), value_verdict, grads, tuple(notes))


def timed_out(value: float, gradient: Mapping[str, float], why: str) -> Check:
    """The check of a result whose symbolic side was abandoned (``why`` ends the sentence
    "the symbolic check ...")."""
    note = f"the symbolic check {why}; torch's numbers are shown unchecked" + (
        " (raise the limit with --timeout)" if "within" in why else ""
    )
    unknown = "not computed"
    return Check(
        Status.TIMEOUT,
        Verdict(Status.TIMEOUT, value, None, unknown, note),
        {name: Verdict(Status.TIMEOUT, g, None, unknown, note) for name, g in gradient.items()},
        (note,),
    )


def _to_float(r: mpmath.mpf | None, fmax: float, dtype: str) -> float | None:
    """The exact value rounded to ``dtype``, or None beyond its range."""
    if r is None or abs(r) > fmax:
        return None
    return round_to(float(r), dtype)


def _text(r: mpmath.mpf) -> str:
    return str(mpmath.nstr(r, DIGITS, min_fixed=-4, max_fixed=17))


def _short(x: float) -> str:
    return f"{x:.6g}"
