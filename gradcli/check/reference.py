"""The strategy that picks the reference: which exact engines run for a point, and how their
answers are put together for the judge.

Two references, both independent of torch:

- **node by node** (``engines/exact/nodewise.py``), always: the expression as written, one
  operation at a time, in proven arithmetic, with SymPy's local derivative of each operation.
  It decides where the function is defined, which kinks are hit, and whether a derivative
  exists through them; it scales linearly with the expression.
- **SymPy's derivative of the whole expression** (``engines/symbolic.py``), evaluated in the
  same proven arithmetic (``engines/exact/sympy_eval.py``), when the expression is small enough
  for SymPy (``SYMBOLIC_NODES``, ``SYMBOLIC_HEIGHT``) and within the time limit. It is shown to
  the user, and checked against the first: where the node-by-node ball cannot be separated
  from zero and SymPy's algebra gives an exact zero, the exact zero is used; where SymPy's
  formula meets 0*inf (``x**y*log(x)`` at x = 0), the node-by-node number stands.

Both raise their working precision (x4) until every number is settled or the cap is reached,
within the time limit; what was settled by then is what the judge gets.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..engines.exact import nodewise, real
from ..engines.exact.real import FINITE, INFINITE, NUMBERS, Kind, Real
from ..errors import SymbolicError
from ..language.nodes import Expr
from ..language.ops import OPS
from ..language.shapes import infer_shapes
from ..language.values import Array, Value, flat
from ..limits import (
    EXPAND_SECONDS,
    SHORTER_MAX_OPS,
    SIMPLIFY_SECONDS,
    SYMBOLIC_HEIGHT,
    SYMBOLIC_NODES,
)
from ..results import NODE_BY_NODE, SYMBOLIC
from .ahead import ItemByItem, OnRequest
from .budget import CheckTimeout, Deadline, time_limit
from .judge import PointReference, text_of

#: what makes a node a failure: no finite real, and not merely undecided
FAILED = tuple(k for k in Kind if k not in FINITE and k is not Kind.UNKNOWN)


def _where(expr: Expr, i: int) -> str:
    node = expr.nodes[i]
    return f"{node.op} at column {node.start + 1}"


def _operands(values: Sequence[Any], node: Any) -> str:
    parts = []
    for a in node.args:
        v = values[a]
        parts.append(text_of(v) if isinstance(v, Real) else "its operands")
    return ", ".join(parts)


def nodewise_reference(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str,
    seeds: Sequence[Any] | None,
    deadline: Deadline,
) -> tuple[nodewise.Reference | None, str]:
    """The node-by-node reference at the highest precision there was time for, and a note
    when the time ran out before it was settled."""
    last: nodewise.Reference | None = None
    try:
        for ref in nodewise.refine(expr, point, dtype, seeds):
            last = ref
    except CheckTimeout as stop:
        if last is None:
            raise
        return last, (
            f"the exact reference {stop.why} at {last.bits * 4:,} bits; "
            f"the numbers settled at {last.bits:,} bits are used"
        )
    del deadline
    return last, ""


def from_nodewise(expr: Expr, ref: nodewise.Reference, seed_index: int = 0) -> PointReference:
    """What the judge needs, from the node-by-node reference (one output seed)."""
    values = ref.values
    value = ref.value
    undefined = ""
    if ref.failure is not None:
        bad = values[ref.failure]
        shown = bad if isinstance(bad, Real) else next(x for x in bad.flat if x.kind in FAILED)
        why = f" ({shown.why})" if shown.why else ""
        undefined = f"{_where(expr, ref.failure)} is {text_of(shown)}{why}"
    gradient = dict(ref.gradients[seed_index])
    scale = ref.scales[seed_index]  # (worked out when the judge first needs it)
    nondiff: dict[str, str] = {}
    conventions: dict[str, str] = {}
    depends = expr.depends() if ref.kinks else []

    def kink_for(label: str) -> nodewise.KinkHit | None:
        name = label.split("[", 1)[0]
        for hit in ref.kinks:
            if name in depends[hit.node]:
                return hit
        return None

    for label, g in gradient.items():
        if g.kind in FAILED and not undefined:
            slope = _steep_slope(expr, ref, label)
            if slope:
                gradient[label] = Real(g.kind, g.q, g.b, g.side, slope)
    for label, node_index in ref.jumps.items():
        if node_index < 0:
            nondiff[label] = (
                f"d/d{label} passes through a kink and was not decided (more than "
                "the budget of elements to decide direction by direction)"
            )
            continue
        node = expr.nodes[node_index]
        op = OPS[node.op]
        assert op.kink is not None
        hit = next(h for h in ref.kinks if h.node == node_index)
        if not hit.decided:
            nondiff[label] = (
                f"{_where(expr, node_index)} may sit exactly on its kink: its operands "
                f"({_operands(values, node)}) could not be separated from it"
            )
        else:
            nondiff[label] = (
                f"{_where(expr, node_index)} jumps at {_operands(values, node)}, where it has "
                f"no derivative; {op.kink.torch}"
            )
    for label, one in ref.one_sided[seed_index].items():
        found = kink_for(label)
        assert found is not None
        hit = found
        node = expr.nodes[hit.node]
        op = OPS[node.op]
        assert op.kink is not None
        where = f"{_where(expr, hit.node)} is at its kink ({_operands(values, node)})"
        if one.exists is True:
            gradient[label] = one.value
            conventions[label] = (
                f"{where}, where the derivative exists (d/d{label} = {text_of(one.value)} "
                f"from both sides) but torch's convention gives another number: "
                f"{op.kink.torch or 'its subgradient'}"
            )
        elif one.exists is False:
            nondiff[label] = (
                f"{where}, where d/d{label} does not exist: the slope is "
                f"{text_of(one.right)} from the right and {text_of(one.left)} from the left"
                + (f"; {op.kink.torch}" if op.kink.torch else "")
            )
        else:
            nondiff[label] = f"{where}; whether d/d{label} exists could not be decided"
    return PointReference(
        value,
        gradient,
        scale,
        undefined,
        nondiff,
        conventions,
        values,
        method=NODE_BY_NODE,
    )


def _steep_slope(expr: Expr, ref: nodewise.Reference, label: str) -> str:
    """The operation whose local slope makes a derivative infinite or undefined (``sqrt`` at
    0, the edge of its domain), as the reason the judge gives."""
    name = label.split("[", 1)[0]
    depends = expr.depends()
    for i, parts in sorted(ref.partials.items()):
        node = expr.nodes[i]
        for k, part in enumerate(parts):
            if name not in depends[node.args[k]]:
                continue
            bad = next((x for x in _elements(part) if x.kind in FAILED), None)
            if bad is not None:
                operands = _operands(ref.values, node)
                slope = "an infinite slope" if bad.kind in INFINITE else f"slope {text_of(bad)}"
                return f"{_where(expr, i)} has {slope} at {operands}"
    return ""


def _elements(v: Any) -> list[Real]:
    return [v] if isinstance(v, Real) else list(np.asarray(v, dtype=object).flat)


def combine(primary: Real, other: Real) -> tuple[Real, bool]:
    """The better of two proven values of one number (the node-by-node one first), and
    whether they contradict each other."""
    if primary.kind in NUMBERS and other.kind in NUMBERS:
        if primary.kind is Kind.EXACT and other.kind is Kind.EXACT:
            return primary, bool(primary.q != other.q)
        if primary.kind is Kind.EXACT:
            return primary, not other.b.contains(primary.arb())
        if other.kind is Kind.EXACT:
            return other, not primary.b.contains(other.arb())
        if not primary.b.overlaps(other.b):
            return primary, True
        narrower = primary if primary.b.rad() <= other.b.rad() else other
        return narrower, False
    if primary.kind is Kind.UNKNOWN and other.kind in NUMBERS:
        return other, False
    return primary, False


def _symbolic_height(expr: Expr) -> int:
    """Levels of nesting as SymPy sees them: a chain of sums (or of products) is one level,
    as SymPy flattens it."""
    heights: list[int] = []
    for node in expr.nodes:
        rule = OPS[node.op].rule if node.kind == "op" else ""
        best = 0
        for a in node.args:
            child = expr.nodes[a]
            same = child.kind == "op" and _family(OPS[child.op].rule) == _family(rule) != ""
            best = max(best, heights[a] + (0 if same else 1))
        heights.append(best)
    return heights[-1] if heights else 0


def _family(rule: str) -> str:
    return {"sum": "add", "difference": "add", "product": "mul"}.get(rule, "")


def symbolic_allowed(expr: Expr) -> str:
    """Why SymPy's whole-expression derivative is not tried ("" when it is)."""
    if len(expr.nodes) > SYMBOLIC_NODES:
        return f"the expression has {len(expr.nodes):,} nodes, too many for SymPy's derivative"
    height = _symbolic_height(expr)
    if height > SYMBOLIC_HEIGHT:
        return f"the expression is {height:,} operations deep, too deep for SymPy's derivative"
    return ""


def grad_reference(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str,
    vjp: Value | None,
    timeout: float | None,
    symbolic: bool = True,
) -> PointReference:
    """The exact reference for ``grad``: value and first derivatives (of ``sum(v * f)`` with a
    VJP vector ``v``). Raises :class:`CheckTimeout` when not even the first pass finished."""
    outputs: str | Value = "scalar" if vjp is None else vjp
    return references(expr, point, dtype, outputs, timeout, symbolic)[0]


def shown_reference(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str,
    vjp: Value | None,
    timeout: float | None,
    symbolic: bool = True,
    simplify: bool | None = None,
) -> PointReference:
    """:func:`grad_reference`, with the derivatives' text already in the form shown (with
    ``simplify`` False or True, :func:`shorter_shown`; None, as diff gave it) and no SymPy object
    left in it: all the check needs of SymPy, done, so that it can be done in another process
    (:mod:`gradcli.check.ahead`)."""
    ref = grad_reference(expr, point, dtype, vjp, timeout, symbolic)
    if simplify is not None:
        ref.shown = shorter_shown(ref, simplify)
    ref.formulas, ref.display = {}, None
    if ref.node_values is not None:
        ref.node_values = ItemByItem(ref.node_values)
    ref.scale = OnRequest(ref.scale)
    return ref


def references(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str,
    outputs: str | Value,
    timeout: float | None,
    symbolic: bool = True,
) -> list[PointReference]:
    """One reference per output row: ``"scalar"`` (the output itself), a VJP vector (the one
    row ``sum(v * f)``) or ``"elements"`` (each element of the output: Jacobian rows)."""
    with time_limit(timeout) as deadline:
        shapes = {n: v.shape if isinstance(v, Array) else () for n, v in point.items()}
        shape = infer_shapes(expr, shapes)[-1]
        if outputs == "scalar":
            seeds: list[Any] | None = None
        elif outputs == "elements":
            seeds = _one_hot(shape)
        else:
            assert not isinstance(outputs, str)
            seeds = [_seed(outputs)]
        ref, late = nodewise_reference(expr, point, dtype, seeds, deadline)
        assert ref is not None
        rows = [from_nodewise(expr, ref, k) for k in range(len(ref.gradients))]
        for k, row in enumerate(rows):
            if outputs == "elements" and shape:
                row.value = np.asarray(ref.value, dtype=object).flat[k]
            elif not isinstance(outputs, str):
                row.value = _weighted(row.value, outputs)
            if late:
                row.notes.append(late)
        skip = symbolic_allowed(expr) if symbolic else "the symbolic check was not asked for"
        if not skip and importlib.util.find_spec("sympy") is None:
            skip = "SymPy is not installed"  # (the node-by-node reference needs FLINT only)
        if skip:
            for row in rows:
                row.notes.append(f"{skip}: checked node by node; no symbolic derivative is shown")
            return rows
        try:
            _with_sympy(expr, point, dtype, outputs, rows)
        except SymbolicError as e:
            for row in rows:
                row.notes.append(f"{e.message}: checked node by node")
                row.shown = {}
                row.method = NODE_BY_NODE
        except CheckTimeout as stop:
            for row in rows:
                row.notes.append(
                    f"SymPy's derivative {stop.why}: checked node by node; no symbolic "
                    "derivative is shown"
                )
                row.shown = {}
                row.method = NODE_BY_NODE
    return rows


def _one_hot(shape: tuple[int, ...]) -> list[Any] | None:
    if not shape:
        return None
    size = int(np.prod(shape))
    seeds = []
    for k in range(size):
        seed = np.full(size, real.ZERO, dtype=object)
        seed[k] = real.ONE
        seeds.append(seed.reshape(shape))
    return seeds


def _seed(vjp: Value) -> Any:
    if isinstance(vjp, Array):
        out = np.empty(len(vjp.data), dtype=object)
        for i, x in enumerate(vjp.data):
            out[i] = real.of_float(x)
        return out.reshape(vjp.shape)
    return real.of_float(float(vjp))


def _weighted(value: Any, vjp: Value) -> Real:
    """sum(v * f) of an exact array value."""
    total = real.ZERO
    for w, x in zip(flat(vjp), np.asarray(value, dtype=object).flat, strict=True):
        total = total + real.of_float(w) * x
    return total


def _with_sympy(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str,
    outputs: str | Value,
    rows: list[PointReference],
) -> None:
    """SymPy's derivatives of each row: shown, evaluated exactly, and combined into ``rows``."""
    # (here, not at the top: it loads SymPy)
    import sympy as sp

    # (here, not at the top: it loads NumPy)
    from ..engines import symbolic

    # (here, not at the top: it loads SymPy)
    from ..engines.exact import sympy_eval

    shapes = {n: v.shape if isinstance(v, Array) else () for n, v in point.items()}
    sym = symbolic.build(expr, dtype, shapes)
    output = sym.arrays[-1]
    if outputs == "scalar":
        functions = [output.item()]
    elif outputs == "elements":
        functions = list(output.flat)
    else:  # the scalar whose gradient is the VJP: sum(v * f)
        assert not isinstance(outputs, str)
        weights = (symbolic.exact_rational(c) for c in flat(outputs))
        functions = [sp.Add(*(c * e for c, e in zip(weights, output.flat, strict=True)))]
    symbols = [(label, s) for elems in sym.elements.values() for label, s in elems]
    derivatives = [{label: sp.diff(f, s) for label, s in symbols} for f in functions]
    for row, ds in zip(rows, derivatives, strict=True):
        row.shown = {label: sym.display(d) for label, d in ds.items()}
        row.formulas, row.display = ds, sym.display
    subs = sympy_eval.exact_subs(sym, point, dtype)
    exprs = [e for f, ds in zip(functions, derivatives, strict=True) for e in (f, *ds.values())]
    values: list[Real] = []
    try:
        for _, got, _ in sympy_eval.refine(exprs, subs):
            values = got
    except CheckTimeout:
        if not values:
            raise
    if not values:
        return
    per_row = 1 + len(symbols)
    for k, (row, ds) in enumerate(zip(rows, derivatives, strict=True)):
        got = values[k * per_row : (k + 1) * per_row]
        row.method = SYMBOLIC
        if row.undefined:
            continue
        row.value, clash = combine(row.value, got[0])
        if clash:
            row.notes.append(_clash("value", got[0], row.value))
        for label, s in zip(ds, got[1:], strict=True):
            if label in row.nondifferentiable:
                continue
            n = row.gradient[label]
            best, clash = combine(n, s)
            if clash:
                row.notes.append(_clash(f"d/d{label}", s, n))
            row.gradient[label] = best


def _clash(what: str, sympy_value: Real, used: Real) -> str:
    return (
        f"SymPy's formula for the {what} evaluates to {text_of(sympy_value)} here, the "
        f"node-by-node reference to {text_of(used)}; the check uses the node-by-node number "
        "(please report this)"
    )


__all__ = [
    "NODE_BY_NODE",
    "SYMBOLIC",
    "combine",
    "from_nodewise",
    "grad_reference",
    "nodewise_reference",
    "references",
    "symbolic_allowed",
]


def shorter_shown(ref: PointReference, thorough: bool) -> dict[str, str]:
    """The derivatives as shown, each in its shortest form found: SymPy's ``expand`` always
    (cheap: the BCE loss's ``-y*(1 - sigmoid(b + w*x)) + (1 - y)*sigmoid(b + w*x)`` becomes
    ``-y + sigmoid(b + w*x)``), ``simplify`` too when ``thorough`` (``--simplify``). Each try
    has its own time limit; a form is taken only when it has fewer operations. The check is
    unaffected: it judged SymPy's derivative as ``diff`` gave it."""
    # (here, not at the top: it loads SymPy)

    if ref.display is None:
        return ref.shown
    shown = dict(ref.shown)
    for label, formula in ref.formulas.items():
        best = shortest(formula, thorough)
        if best is not formula:
            shown[label] = ref.display(best)
    return shown


def shortest(formula: Any, thorough: bool) -> Any:
    """``formula`` or an equal SymPy expression with fewer operations (see shorter_shown)."""
    # (here, not at the top: it loads SymPy)
    import sympy as sp

    best, size = formula, sp.count_ops(formula)
    if size > SHORTER_MAX_OPS:
        return formula
    tries = [sp.simplify] if thorough else []
    if _expanded_terms(formula) <= SHORTER_MAX_OPS:  # ((x+y)**40 would be 41 terms of powers)
        tries.insert(0, sp.expand)
    for transform in tries:
        try:
            with time_limit(SIMPLIFY_SECONDS if thorough else EXPAND_SECONDS):
                candidate = transform(formula)
        except CheckTimeout:
            continue
        ops = sp.count_ops(candidate)
        if ops < size:
            best, size = candidate, ops
    return best


def _expanded_terms(e: Any) -> int:
    """An upper bound on the number of terms ``expand`` makes of ``e`` (a sum adds its
    terms' counts, a product multiplies them, a sum to a whole power n multiplies n times),
    so that an expansion that would blow up is not tried."""
    # (here, not at the top: it loads SymPy)
    import sympy as sp

    cap = 10**6
    sizes: dict[Any, int] = {}
    for node in sp.postorder_traversal(e):
        if node in sizes:
            continue
        if isinstance(node, sp.Add):
            size = sum(sizes.get(a, 1) for a in node.args)
        elif isinstance(node, sp.Mul):
            size = 1
            for a in node.args:
                size = min(cap, size * sizes.get(a, 1))
        elif isinstance(node, sp.Pow) and node.exp.is_Integer and int(node.exp) > 1:
            size = min(cap, sizes.get(node.base, 1) ** min(int(node.exp), 64))
        else:
            size = 1
        sizes[node] = min(cap, size)
    return sizes.get(e, 1)
