"""Every operation of the table against SymPy, against a finite difference, and its own
derivative column against SymPy's derivative."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
import torch

import gradcli
from gradcli.engines import autograd as evaluate
from gradcli.engines import screen, symbolic
from gradcli.engines.exact import nodewise, real, sympy_eval
from gradcli.engines.exact._rules import RULES
from gradcli.engines.exact.real import Kind
from gradcli.language import values as gradcli_values
from gradcli.language.ops import ALIASES, FUNCTIONS, OPS, Op
from gradcli.language.parser import parse
from gradcli.results import Status

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
    "log1p": (0.3,),
    "hypot": (0.3, -0.8),
    "atan2": (0.3, -0.8),
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
    """The op table's local derivatives (our own language, in u and v) are SymPy's, evaluated
    exactly at a point inside the domain."""
    u, v = sp.symbols("u v", real=True)
    operands = [u, v][: op.arity]
    exact = op.sympy(symbolic.S, *operands)
    point = dict(zip(["u", "v"], POINTS.get(op.name, (0.7, 0.4)), strict=False))
    subs = {sym: real.of_float(point[sym.name]) for sym in operands}
    for i, text in enumerate(op.derivative):
        built = symbolic.build(parse(text))
        names = {s.name: s for s in built.symbols.values()}
        ours = built.expr.xreplace(
            {names[k]: sym for k, sym in zip(["u", "v"], operands, strict=False) if k in names}
        )
        theirs = sp.S.Zero if op.name == "detach" else sp.diff(exact, operands[i])
        bound = {
            **subs,
            **{s: real.rational(int(q.p), int(q.q)) for s, q in built.exact_subs.items()},
        }
        a, b = sympy_eval.final([ours, theirs], bound)
        # (within 1e-15: pi written in the table is pi's double, SymPy's pi is pi)
        assert float(a) == pytest.approx(float(b), rel=1e-15, abs=1e-300), (op.name, text, theirs)


# ---- every row, every column, every engine ----------------------------------------------------

#: operations that torch records no backward node for
NO_GRAD_FN = {"pos", "step", "detach"}


@pytest.mark.parametrize("op", list(OPS.values()), ids=lambda op: op.name)
def test_every_row_has_every_column(op: Op) -> None:
    assert op.name and op.arity in (1, 2) and op.doc and op.latex
    assert len(op.derivative) == op.arity
    for text in op.derivative:
        parse(text)  # (in gradcli's own language)
    for column in (op.torch, op.sympy, op.exact, op.screen):
        assert callable(column)
    assert (op.grad_fn is None) == (op.name in NO_GRAD_FN)
    assert op.rule and op.shape in ("elementwise", "reduce", "matmul", "dot")
    if op.elementwise:
        assert op.name in RULES, (
            "regenerate the local rules: python -m gradcli._dev.local_rules --write"
        )
        assert len(RULES[op.name]) == op.arity
    if op.kink is not None:
        assert op.kink.kind in ("corner", "jump")


@pytest.mark.parametrize("op", SCALAR_OPS, ids=lambda op: op.name)
def test_every_row_works_in_every_engine(op: Op) -> None:
    """torch, SymPy, the exact engine, the batch screen and the batch run: a new row that
    lacks a kernel any stage uses fails here."""
    text, point = expression_for(op), point_for(op)
    expr = parse(text)
    exact = nodewise.evaluate(expr, point, "float64")
    assert exact.failure is None and exact.value.kind in (Kind.EXACT, Kind.BALL)
    columns = {k: np.array([v, v]) for k, v in point.items()}
    bounded = screen.Evaluator(expr, "float64").columns(columns)
    with real.working_precision(256):
        off = abs(float(bounded.value[0]) - float(exact.value))
        assert off <= float(bounded.value_bound[0]) + 1e-300, (op.name, off)
    out = gradcli.grad_batch(text, columns)
    assert list(out["status"]) == ["agree", "agree"], op.name
    assert out["value"][0] == pytest.approx(float(exact.value), rel=1e-12)


@pytest.mark.parametrize("op", [op for op in OPS.values() if op.grad_fn], ids=lambda op: op.name)
def test_grad_fn_column_is_what_torch_records(op: Op) -> None:
    shape: tuple[int, ...] = {"matmul": (2, 2), "dot": (2,), "sum": (2,), "mean": (2,)}.get(
        op.name, ()
    )
    operands = [
        torch.full(shape, 0.6 + 0.1 * k, dtype=torch.float64, requires_grad=True)
        for k in range(op.arity)
    ]
    out = op.torch(torch, *operands)
    assert type(out.grad_fn).__name__ == op.grad_fn


def test_aliases_point_to_rows() -> None:
    assert all(target in FUNCTIONS for target in ALIASES.values())
    assert not set(ALIASES) & set(FUNCTIONS)


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
