"""Every operation of the table against SymPy, against a finite difference, and its own
derivative column against SymPy's derivative."""

from __future__ import annotations

import math

import pytest
import sympy as sp
import torch

import gradcli
from gradcli.engines import autograd as evaluate
from gradcli.engines import symbolic
from gradcli.language import values as gradcli_values
from gradcli.language.ops import OPS, Op
from gradcli.language.parser import parse
from gradcli.results.models import Status

# A point inside each operation's domain and away from its kinks.
POINTS: dict[str, tuple[float, ...]] = {
    "asin": (0.3,),
    "acos": (-0.4,),
    "atanh": (0.3,),
    "acosh": (1.7,),
    "log": (1.3,),
    "log2": (1.3,),
    "log10": (1.3,),
    "sqrt": (1.3,),
    "pow": (1.3, 0.7),
    "div": (1.3, 0.7),
    "min": (0.3, 0.9),
    "max": (0.3, 0.9),
    "abs": (-0.8,),
    "relu": (0.6,),
    "sign": (-0.5,),
    "step": (0.5,),
}
SCALAR_OPS = [op for op in OPS.values() if op.elementwise]
ARRAY_OPS = [op for op in OPS.values() if not op.elementwise]


def expression_for(op: Op) -> str:
    names = ["x", "y"][: op.arity]
    if op.callable:
        return f"{op.name}({', '.join(names)})"
    if op.arity == 1:
        return f"{op.symbol}x"
    return f"x {op.symbol} y"


def point_for(op: Op) -> dict[str, float]:
    values = POINTS.get(op.name, (0.7, 0.4))
    return dict(zip(["x", "y"][: op.arity], values, strict=False))


@pytest.mark.parametrize("op", SCALAR_OPS, ids=lambda op: op.name)
def test_op_agrees_with_sympy(op: Op) -> None:
    result = gradcli.grad(expression_for(op), point_for(op))
    assert result.check.status is Status.AGREE, result.check.notes
    assert all(v.status is Status.AGREE for v in result.check.gradient.values())


@pytest.mark.parametrize("op", SCALAR_OPS, ids=lambda op: op.name)
def test_op_gradient_matches_finite_difference(op: Op) -> None:
    expr = parse(expression_for(op))
    point = point_for(op)
    result = evaluate.autograd(expr, point)
    h = 1e-6
    for name in point:

        def f(delta: float, name: str = name) -> float:
            moved = {**point, name: point[name] + delta}
            leaves = evaluate.make_leaves(moved, torch.float64)
            return float(evaluate.forward(expr, leaves, torch.float64)[-1].detach())

        estimate = (f(h) - f(-h)) / (2 * h)
        if op.name == "detach":
            estimate = 0.0  # the value moves, but no gradient is meant to flow
        assert result.gradient[name] == pytest.approx(estimate, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("op", SCALAR_OPS, ids=lambda op: op.name)
def test_derivative_column_matches_sympy(op: Op) -> None:  # elementwise ops: scalar rules
    """The op table's local derivatives (our own language, in u and v) are SymPy's."""
    u, v = sp.symbols("u v", real=True)
    operands = [u, v][: op.arity]
    exact = symbolic.elementary(op.sympy(symbolic._S, *operands))
    point = dict(zip(["u", "v"], POINTS.get(op.name, (0.7, 0.4)), strict=False))
    for i, text in enumerate(op.derivative):
        tree = parse(text)
        built = symbolic.build(tree)
        names = {s.name: s for s in built.symbols.values()}
        ours = built.expr.xreplace(
            {
                **built.exact_subs,
                **{
                    names[k]: sym
                    for k, sym in zip(["u", "v"], operands, strict=False)
                    if k in names
                },
            }
        )
        theirs = sp.diff(exact, operands[i])
        if op.name == "detach":
            theirs = sp.S.Zero
        subs = {sym: sp.Rational(str(point[sym.name])) for sym in operands}
        gap = (symbolic.elementary(ours) - theirs).xreplace(subs).evalf(30)
        assert abs(gap) < 1e-12, (op.name, text, theirs)


def test_every_function_has_a_latex_form_and_doc() -> None:
    for op in OPS.values():
        assert op.doc
        rendered = op.latex.format(*["u", "v"][: op.arity])
        assert "u" in rendered


def test_constants_are_the_float64_values() -> None:
    r = gradcli.grad("pi + e + 0*x", x=1)
    assert r.value == math.pi + math.e
    assert r.check.status is Status.AGREE


# The array operations, with vector and matrix values.
ARRAY_CASES = {
    "matmul": ("sum(W @ x)", {"W": [[1.0, 2.0], [3.0, 4.5]], "x": [0.5, -1.5]}),
    "sum": ("sum(x**2)", {"x": [1.0, 2.0, 3.0]}),
    "mean": ("mean(x**3)", {"x": [1.0, -2.0, 0.5]}),
    "dot": ("dot(x, sin(y))", {"x": [1.0, 2.0], "y": [0.3, -0.7]}),
}


def test_every_array_op_has_a_case() -> None:
    assert set(ARRAY_CASES) == {op.name for op in ARRAY_OPS}


@pytest.mark.parametrize("name", sorted(ARRAY_CASES))
def test_array_op_agrees_with_sympy_and_finite_differences(name: str) -> None:
    expression, point = ARRAY_CASES[name]
    result = gradcli.grad(expression, point)
    assert result.check.status is Status.AGREE, result.check.notes
    expr = parse(expression)
    h = 1e-6
    for var, values in point.items():
        flat = [v for row in values for v in (row if isinstance(row, list) else [row])]
        for k in range(len(flat)):

            def f(
                delta: float,
                var: str = var,
                k: int = k,
                flat: list[float] = flat,
                values: list = values,
            ) -> float:  # type: ignore[type-arg]
                moved = [v + (delta if i == k else 0.0) for i, v in enumerate(flat)]
                shaped = (
                    moved
                    if not isinstance(values[0], list)
                    else [
                        moved[r * len(values[0]) : (r + 1) * len(values[0])]
                        for r in range(len(values))
                    ]
                )
                leaves = {
                    n: torch.tensor(shaped if n == var else point[n], dtype=torch.float64)
                    for n in point
                }
                return float(evaluate.forward(expr, leaves, torch.float64)[-1])

            estimate = (f(h) - f(-h)) / (2 * h)
            got = gradcli_values.flat(result.gradient[var])[k]
            assert got == pytest.approx(estimate, rel=1e-6, abs=1e-8)
