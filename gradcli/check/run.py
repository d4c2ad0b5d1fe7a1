"""The check of each kind of result: the reference (``reference.py``) put before the one judge
(``judge.py``), for a gradient, an N-th derivative, a Jacobian and a Hessian."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..engines import autograd, higher_order
from ..engines.exact import nodewise, real
from ..engines.exact.real import Kind, Real
from ..language.nodes import Expr
from ..language.values import Value, elements, flat
from ..results import Check, Status, Verdict, worst
from . import reference, spread
from .ahead import Pending
from .budget import CheckTimeout, time_limit
from .judge import PointReference, judge_point, not_provable, not_provable_note, timed_out


def check_grad(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str,
    computed: autograd.Autograd,
    gradient: Mapping[str, float],
    vjp: Value | None,
    timeout: float | None,
    symbolic: bool = True,
    simplify: bool | None = None,
    exact: Pending[PointReference] | None = None,
) -> tuple[dict[str, str], Check]:
    """SymPy's derivatives as text (by element label), and the verdicts of ``grad``. With
    ``simplify`` False or True the text is in the shorter forms found (see
    :func:`reference.shorter_shown`); None (batch rows, whose text nobody reads) as diff
    gave it. ``exact``: the reference started ahead (:func:`reference.shown_reference`), which
    then stands for ``symbolic`` and ``simplify``; without it, it is computed here."""
    value = autograd.scalar_of(computed.value, vjp)
    try:
        ref = (
            exact.result()
            if exact is not None
            else reference.shown_reference(expr, point, dtype, vjp, timeout, symbolic, simplify)
        )
    except CheckTimeout as stop:
        return {}, timed_out(value, gradient, stop.why)

    def moved() -> tuple[float, dict[str, float]]:
        return spread.grad_spread(expr, point, dtype, ref.value, ref.gradient, vjp)

    verdicts = judge_point(
        expr, dtype, value, gradient, elements(point), ref, computed.node_values, moved
    )
    return ref.shown, verdicts


def _kink_note(expr: Expr, ref: nodewise.Reference, names: set[str], what: str) -> str:
    """Why a higher derivative through an exact kink is reported non-differentiable."""
    depends = expr.depends()
    for hit in ref.kinks:
        if names & depends[hit.node]:
            node = expr.nodes[hit.node]
            return (
                f"{node.op} at column {node.start + 1} is at its kink: {what} through it are "
                "not decided (the first derivative may not exist there, nor change smoothly)"
            )
    return ""


def check_order(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str,
    wrt: str,
    order: int,
    value: float,
    derivative: float,
    node_values: Sequence[Any],
    timeout: float | None,
) -> tuple[dict[str, str], Check]:
    """The check of an N-th derivative: SymPy's, in proven arithmetic, where the function is
    defined (node by node) and no kink lies on the way."""
    # (here, not at the top: it loads SymPy)
    import sympy as sp

    # (here, not at the top: it loads NumPy)
    from ..engines import symbolic

    # (here, not at the top: it loads SymPy)
    from ..engines.exact import sympy_eval

    too_large = reference.symbolic_allowed(expr)
    if too_large:  # (the N-th derivative is SymPy's: past its size, nothing proves it)
        return {}, not_provable(value, {wrt: derivative}, too_large, str(order))
    try:
        with time_limit(timeout) as deadline:
            ref, late = reference.nodewise_reference(expr, point, dtype, None, deadline)
            assert ref is not None
            base = reference.from_nodewise(expr, ref)
            sym = symbolic.build(expr, dtype)
            f = sym.expr
            d = sp.diff(f, sym.symbols[wrt], order)
            shown = {wrt: sym.display(d)}
            subs = sympy_eval.exact_subs(sym, point, dtype)
            got: tuple[list[Real], list[float]] | None = None
            for _, values, sizes in sympy_eval.refine([f, d], subs):
                got = (values, sizes)
    except CheckTimeout as stop:
        return {}, timed_out(value, {wrt: derivative}, stop.why)
    assert got is not None
    (exact_f, exact_d), (_, size) = got
    out = PointReference(
        reference.combine(base.value, exact_f)[0],
        {wrt: exact_d},
        {wrt: size},
        base.undefined,
        node_values=base.node_values,
        notes=[late] if late else [],
    )
    note = _kink_note(expr, ref, {wrt}, f"derivatives of order {order}")
    if note:
        out.nondifferentiable[wrt] = note

    def moved() -> tuple[float, dict[str, float]]:
        def compute(noise: Any) -> list[float]:
            v, dv, _ = higher_order.nth_derivative(expr, point, wrt, order, dtype, noise)
            return [v, dv]

        spreads = higher_order.spread(compute, dtype)
        return spreads[0], {wrt: spreads[1]}

    x = float(point[wrt])  # type: ignore[arg-type]
    verdicts = judge_point(
        expr, dtype, value, {wrt: derivative}, {wrt: (wrt, x)}, out, node_values, moved
    )
    return shown, verdicts


def _cells(rows: list[Check], columns: Sequence[tuple[str, str, float]]) -> list[Verdict]:
    return [row.gradient[label] for row in rows for label, _, _ in columns]


def _summary(
    checks: list[Check], columns: Sequence[tuple[str, str, float]]
) -> tuple[tuple[tuple[Verdict, ...], ...], Status, tuple[str, ...]]:
    cells = tuple(tuple(row.gradient[label] for label, _, _ in columns) for row in checks)
    flat_cells = [c for row in cells for c in row]
    notes: list[str] = []
    for row in checks:
        for note in row.notes:
            if note not in notes:
                notes.append(note)
    return cells, worst([c.status for c in flat_cells]), tuple(notes)


def check_jacobian(
    exprs: Sequence[Expr],
    point: Mapping[str, Value],
    dtype: str,
    timeout: float | None,
    computed: higher_order.Matrix,
    columns: Sequence[tuple[str, str, float]],
) -> tuple[tuple[tuple[Verdict, ...], ...] | None, Status, tuple[str, ...]]:
    """Every cell of a Jacobian: each output element's gradient, checked like ``grad``'s."""
    labelled = elements(point)
    checks: list[Check] = []
    moved: list[list[float]] = []

    def spread_at(row: int) -> tuple[float, dict[str, float]]:
        if not moved:

            def compute(noise: Any) -> list[float]:
                m = higher_order.jacobian(exprs, point, dtype, noise)
                return [x for r in m.rows for x in r]

            moved.append(higher_order.spread(compute, dtype))
        n = len(columns)
        cells = moved[0][row * n : (row + 1) * n]
        return 0.0, {label: s for (label, _, _), s in zip(columns, cells, strict=True)}

    row = 0
    for k, expr in enumerate(exprs):
        try:
            refs = reference.references(expr, point, dtype, "elements", timeout)
        except CheckTimeout as stop:
            note = timed_out(0.0, {}, stop.why).notes
            return None, Status.TIMEOUT, note
        values = (
            flat(computed.values[k])
            if not isinstance(computed.values[k], float)
            else (computed.values[k],)
        )
        for j, ref in enumerate(refs):
            full = {label: computed.rows[row][c] for c, (label, _, _) in enumerate(columns)}
            for label in full:
                if label not in ref.gradient:  # (a variable this output does not use)
                    ref.gradient[label] = real.ZERO
                    ref.scale[label] = 0.0
            checks.append(
                judge_point(
                    expr,
                    dtype,
                    float(values[j]),  # type: ignore[arg-type]
                    full,
                    labelled,
                    ref,
                    computed.node_values[k],
                    lambda r=row: spread_at(r),  # type: ignore[misc]
                )
            )
            row += 1
    return _summary(checks, columns)


def check_hessian(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str,
    timeout: float | None,
    computed: higher_order.Matrix,
    columns: Sequence[tuple[str, str, float]],
) -> tuple[tuple[tuple[Verdict, ...], ...] | None, Status, list[str], list[bool] | None]:
    """Every cell of a Hessian: SymPy's second derivatives in proven arithmetic, where the
    function is defined and no kink lies on the way; and, from the exact gradient, whether
    the point is stationary."""
    # (here, not at the top: it loads SymPy)
    import sympy as sp

    # (here, not at the top: it loads NumPy)
    from ..engines import symbolic

    # (here, not at the top: it loads SymPy)
    from ..engines.exact import sympy_eval

    labelled = elements(point)
    shapes = {n: getattr(v, "shape", ()) for n, v in point.items()}
    too_large = reference.symbolic_allowed(expr)
    if too_large:
        return None, Status.INCONCLUSIVE, [not_provable_note(too_large, "2")], None
    try:
        with time_limit(timeout) as deadline:
            ref, late = reference.nodewise_reference(expr, point, dtype, None, deadline)
            assert ref is not None
            first = reference.from_nodewise(expr, ref)
            sym = symbolic.build(expr, dtype, shapes)
            f = sym.expr
            symbols = [(label, s) for elems in sym.elements.values() for label, s in elems]
            grads = [sp.diff(f, s) for _, s in symbols]
            seconds = [[sp.diff(g, s) for _, s in symbols] for g in grads]
            subs = sympy_eval.exact_subs(sym, point, dtype)
            got: tuple[list[Real], list[float]] | None = None
            for _, values, sizes in sympy_eval.refine(
                [*grads, *(c for r in seconds for c in r)], subs
            ):
                got = (values, sizes)
    except CheckTimeout as stop:
        return None, Status.TIMEOUT, list(timed_out(0.0, {}, stop.why).notes), None
    assert got is not None
    values, sizes = got
    n = len(symbols)
    exact_first = values[:n]
    moved: list[list[float]] = []

    def spread_at(r: int) -> tuple[float, dict[str, float]]:
        if not moved:

            def compute(noise: Any) -> list[float]:
                m = higher_order.hessian(expr, point, dtype, noise)
                return [*m.gradient, *(x for row in m.rows for x in row)]

            moved.append(higher_order.spread(compute, dtype))
        cells = moved[0][n + r * n : n + (r + 1) * n]
        return moved[0][r], {label: s for (label, _), s in zip(symbols, cells, strict=True)}

    checks: list[Check] = []
    stationary: list[bool] = []
    for r, (label, _) in enumerate(symbols):
        g_exact, _ = reference.combine(first.gradient[label], exact_first[r])
        stationary.append(_zero_gradient(g_exact, first.scale.get(label)))
        cells = {c_label: values[n + r * n + c] for c, (c_label, _) in enumerate(symbols)}
        row = PointReference(
            g_exact,
            cells,
            {c_label: sizes[n + r * n + c] for c, (c_label, _) in enumerate(symbols)},
            first.undefined,
            node_values=first.node_values,
            notes=[late] if late else [],
        )
        for c_label, _ in symbols:
            names = {label.split("[", 1)[0], c_label.split("[", 1)[0]}
            why = first.nondifferentiable.get(label) or _kink_note(
                expr, ref, names, "second derivatives"
            )
            if why:
                row.nondifferentiable[c_label] = why
        torch_row = {c_label: computed.rows[r][c] for c, (c_label, _) in enumerate(symbols)}
        checks.append(
            judge_point(
                expr,
                dtype,
                computed.gradient[r],
                torch_row,
                labelled,
                row,
                computed.node_values[0],
                lambda i=r: spread_at(i),  # type: ignore[misc]
            )
        )
    cells_out, status, notes = _summary(checks, columns)
    exact = stationary if not first.undefined else None
    return cells_out, status, list(notes), exact


def _zero_gradient(g: Real, scale: float | None) -> bool:
    """The exact gradient component is zero, or within what rounding of its own terms is."""
    if g.kind is Kind.EXACT:
        return bool(g.q == 0)
    if g.kind is Kind.BALL:
        size = abs(float(g)) if not g.b.contains(0) else 0.0
        return size <= 1e-13 * (scale or 0.0) or size == 0.0
    return False


__all__ = ["check_grad", "check_hessian", "check_jacobian", "check_order"]
