"""The chain rule, shown two ways, each verified rather than narrated.

1. The backward pass, edge by edge: for every operation (output first), each operand receives
   ``local derivative x upstream gradient``; a variable used in several places sums what it
   receives, and the sums are checked against autograd's ``.grad``.
2. A symbolic derivation with named rules (sum, product, quotient, power, chain, ...). Every
   step's derivative is built from the op table's local derivatives, and the result is checked
   against ``sympy.diff`` of the whole expression.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from functools import cache

import sympy as sp

from ..check.budget import CheckTimeout, time_limit
from ..check.reference import symbolic_allowed
from ..check.tolerance import TOLERANCES
from ..engines import symbolic
from ..engines.exact import real
from ..engines.exact.real import Kind
from ..language.nodes import Expr, to_text
from ..language.ops import OPS
from ..language.parser import parse
from ..results import (
    Accumulation,
    Backward,
    BackwardStep,
    Check,
    Derivation,
    GraphEdge,
    GraphResult,
    RuleStep,
    StepsResult,
)

# ---- 1. the backward pass ------------------------------------------------------------------


def backward_pass(graph: GraphResult) -> Backward:
    """The chain rule edge by edge, in reverse topological order (output first)."""
    by_parent: dict[int, list[GraphEdge]] = {}
    for e in graph.edges:
        by_parent.setdefault(e.parent, []).append(e)
    # Gradients flow only into what requires them: constants get none, as in torch.
    steps = []
    for n in reversed(graph.nodes):
        if n.kind == "op" and (n.requires_grad or n.op == "detach"):
            edges = tuple(e for e in by_parent[n.id] if graph.node(e.child).requires_grad)
            operands = tuple(graph.node(e.child).expression for e in edges)
            kinds = tuple(graph.node(e.child).kind for e in edges)
            steps.append(BackwardStep(n.id, n.expression, n.op, n.grad, edges, operands, kinds))
    tol = TOLERANCES[graph.dtype]
    f = graph.node(graph.root).value or 0.0
    gradients = []
    for n in graph.nodes:
        if n.kind != "variable":
            continue
        into = [e for e in graph.edges if e.child == n.id and e.contribution is not None]
        parts = tuple((graph.node(e.parent).expression, e.contribution or 0.0) for e in into)
        via = tuple(e.parent for e in into)
        total = math.fsum(v for _, v in parts) if parts else 0.0
        autograd = n.grad if n.grad is not None else 0.0
        # The local derivatives here are the op table's formulas evaluated on their own, so
        # they may differ from torch's kernels by rounding: compare with the check's tolerance.
        allowance = tol.abs * abs(f) / max(1.0, abs(n.value or 0.0))
        agrees = total == autograd or abs(total - autograd) <= tol.rel * abs(autograd) + allowance
        gradients.append(Accumulation(n.expression, parts, total, autograd, agrees, via))
    return Backward(tuple(steps), tuple(gradients))


# ---- 2. the symbolic derivation --------------------------------------------------------------


@cache
def _partials(op_name: str) -> tuple[tuple[sp.Expr, ...], tuple[sp.Symbol, ...]]:
    """The op's local derivatives as SymPy expressions in the symbols u and v."""
    u, v = sp.Symbol("u", real=True), sp.Symbol("v", real=True)
    forms = []
    for text in OPS[op_name].derivative:
        built = symbolic.build(parse(text))
        rename = {built.symbols[n]: s for n, s in (("u", u), ("v", v)) if n in built.symbols}
        forms.append(built.expr.xreplace({**built.display_subs, **rename}))
    return tuple(forms), (u, v)


def _rule(expr: Expr, i: int, deps: list[frozenset[str]], x: str) -> tuple[str, str]:
    """The rule's name and its statement for node ``i``, in the user's terms."""
    node = expr.nodes[i]
    op = OPS[node.op]
    texts = [expr.text_of(a) for a in node.args]
    bare = [t if t.replace("_", "").replace(".", "").isalnum() else f"({t})" for t in texts]
    depends = [x in deps[a] for a in node.args]
    d = [f"d/d{x} [{t}]" for t in texts]
    if node.op in ("add", "sub"):
        sign = "+" if node.op == "add" else "-"
        name = "sum rule" if node.op == "add" else "difference rule"
        return name, f"{d[0]} {sign} {d[1]}"
    if node.op in ("neg", "pos"):
        return "constant multiple rule", f"{op.symbol}{d[0]}"
    if node.op in ("sum", "mean"):
        return f"{node.op} of a scalar", d[0]
    if node.op == "detach":
        return "stop-gradient rule", "0: no gradient flows through detach()"
    if node.op == "mul":
        if not all(depends):
            const, var = (0, 1) if not depends[0] else (1, 0)
            return "constant multiple rule", f"{bare[const]} * {d[var]}"
        return "product rule", f"{d[0]} * {texts[1]} + {texts[0]} * {d[1]}"
    if node.op == "div":
        if not depends[1]:
            return "constant multiple rule", f"{d[0]} / {texts[1]}"
        return "quotient rule", f"({d[0]} * {bare[1]} - {bare[0]} * {d[1]}) / {bare[1]}**2"
    if node.op == "pow":
        if not depends[1]:
            inner = "" if texts[0] == x else f" * {d[0]}"
            return "power rule", f"{bare[1]} * {bare[0]}**({texts[1]} - 1){inner}"
        if not depends[0]:
            return "exponential rule", f"{bare[0]}**{bare[1]} * log({texts[0]}) * {d[1]}"
        return "general power rule", (
            f"{bare[0]}**{bare[1]} * ({d[1]} * log({texts[0]}) + {bare[1]} * {d[0]} / {bare[0]})"
        )
    if op.arity == 1:
        if texts[0] == x:
            return f"{op.name} rule", f"{op.name}'({x})"
        return f"chain rule ({op.name})", (
            f"let u = {texts[0]}: d/d{x} {op.name}(u) = {op.derivative[0]} * du/d{x}"
        )
    parts = [f"{op.derivative[k]} * {d[k]}" for k in range(op.arity) if depends[k]]
    return f"chain rule ({op.name})", (f"with u = {texts[0]}, v = {texts[1]}: " + " + ".join(parts))


def derive(expr: Expr, sym: symbolic.Symbolic, x: str) -> Derivation:
    """The derivative of ``expr`` with respect to ``x``, step by step, checked with SymPy."""
    deps = expr.depends()
    derivative: list[sp.Expr] = []
    for i, node in enumerate(expr.nodes):  # post-order: operands first
        if x not in deps[i]:
            derivative.append(sp.S.Zero)
        elif node.kind == "variable":
            derivative.append(sp.S.One)
        else:
            forms, (u, v) = _partials(node.op)
            bind = dict(zip((u, v), (sym.nodes[a] for a in node.args), strict=False))
            derivative.append(
                sp.Add(
                    *(
                        forms[k].xreplace(bind) * derivative[a]
                        for k, a in enumerate(node.args)
                        if x in deps[a]
                    )
                )
            )

    # Number the steps top-down (pre-order), one per operation that depends on x; a
    # sub-expression already derived (same text) refers back instead of repeating itself.
    steps: list[RuleStep] = []
    number_of: dict[int, int] = {}
    seen_text: dict[str, int] = {}
    collapsed = 0
    stack = [expr.root]
    while stack:
        i = stack.pop()
        node = expr.nodes[i]
        if node.kind != "op" or x not in deps[i]:
            continue
        target = expr.text_of(i)
        key = to_text(expr, i)  # canonical: "x ** 2" and "x**2" are the same derivation
        number = len(steps) + 1
        number_of[i] = number
        if key in seen_text:
            collapsed += 1
            first = steps[seen_text[key] - 1]
            steps.append(
                RuleStep(
                    number,
                    i,
                    first.rule,
                    target,
                    f"as in step {first.number}",
                    first.result,
                    repeat_of=first.number,
                    latex_target=first.latex_target,
                    latex_result=first.latex_result,
                )
            )
            continue
        seen_text[key] = number
        rule, formula = _rule(expr, i, deps, x)
        steps.append(
            RuleStep(
                number,
                i,
                rule,
                target,
                formula,
                sym.display(derivative[i]),
                latex_target=sp.latex(sym.nodes[i].xreplace(sym.display_subs)),
                latex_result=sp.latex(derivative[i].xreplace(sym.display_subs)),
            )
        )
        stack.extend(reversed(node.args))
    # Each step uses the steps of its operands that depend on x.
    steps = [
        s
        if s.repeat_of is not None
        else RuleStep(
            s.number,
            s.node,
            s.rule,
            s.target,
            s.formula,
            s.result,
            tuple(number_of[a] for a in expr.nodes[s.node].args if a in number_of),
            None,
            s.latex_target,
            s.latex_result,
        )
        for s in steps
    ]
    result = derivative[expr.root]
    reference = sym.derivative(x)
    verified, how = _same(result, reference, sym)
    return Derivation(
        x, tuple(steps), sym.display(result), sym.display(reference), verified, how, collapsed
    )


def _same(a: sp.Expr, b: sp.Expr, sym: symbolic.Symbolic) -> tuple[bool | None, str]:
    """Whether two derivatives are the same function: symbolically when SymPy can tell
    cheaply, else at random exact points, each evaluated in proven arithmetic."""
    # (here, not at the top: it loads SymPy)
    from ..engines.exact import sympy_eval

    difference = a - b
    if difference == 0 or sp.expand(difference) == 0:
        return True, "identical to sympy.diff after expansion"
    rng = random.Random(12345)
    names = list(sym.symbols)
    tries = 0
    for low, high in ((0.1, 0.9), (1.1, 2.0), (-0.9, -0.1), (2.0, 5.0)):
        point = {n: rng.uniform(low, high) for n in names}
        subs = sympy_eval.exact_subs(sym, point, "float64")
        left, right = sympy_eval.final([a, b], subs, cap=1024)
        if not (left.finite and right.finite) or left.kind is Kind.HUGE:
            continue
        tries += 1
        with real.working_precision(256):
            gap = left - right
            if gap.kind in (Kind.EXACT, Kind.BALL) and gap.sign() is not None and gap.sign() != 0:
                return False, "differs from sympy.diff at a random point"
        if tries == 3:
            break
    if tries == 0:
        return None, "could not be compared: no test point inside the domain"
    return True, f"equals sympy.diff at {tries} random points (proven to 30 digits)"


def explain(
    expr: Expr,
    point: Mapping[str, float] | None,
    graph: GraphResult | None,
    wrt: list[str] | None = None,
    dtype: str = "float64",
    check: Check | None = None,
    seconds: float | None = None,
    limit: float | None = None,
) -> StepsResult:
    """Both views of the chain rule for ``expr``; ``check`` is the exact check of the point
    (the same as ``grad``'s), which the result carries. The derivation gets ``seconds``
    (None: no limit; ``limit``: the whole command's, which the check shared, for the note);
    when they run out, the variables derived by then are shown and a note says which are not,
    if there is a backward pass to show; with no point there is nothing else, and
    :class:`CheckTimeout` is raised."""
    names = wrt if wrt else list(expr.variables)
    backward = backward_pass(graph) if graph is not None and point is not None else None
    # The derivation shows SymPy's derivative of every sub-expression: past the size SymPy's
    # whole-expression derivative is tried at, it is not written (its text would grow with
    # the cube of a chain's length), and a note says so; the backward pass is still shown.
    skip = symbolic_allowed(expr)
    notes: tuple[str, ...] = ()
    derivations = {}
    timed_out = False
    if skip:
        notes = (f"{skip}: the derivation rule by rule is not written",)
    else:
        try:
            with time_limit(seconds):
                sym = symbolic.build(expr, dtype)
                for x in names:
                    derivations[x] = derive(expr, sym, x)
        except CheckTimeout as stop:
            if backward is None:
                raise
            timed_out = True
            missing = ", ".join(x for x in names if x not in derivations)
            why = (
                stop.why
                if limit is None
                else f"did not finish within the {limit:g} s it shared with the point's check"
            )
            notes = (f"the derivation rule by rule {why}: not written for {missing}",)
    return StepsResult(
        expr.source,
        dict(point) if point is not None else None,
        backward,
        derivations,
        check,
        notes,
        timed_out,
        dtype,
    )
