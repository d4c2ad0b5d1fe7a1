"""The node-by-node reference: its rules come from SymPy, and its numbers match SymPy's
whole-expression derivatives wherever both can be computed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import mpmath
import numpy as np
import pytest

from gradcli._dev import local_rules
from gradcli.engines import symbolic
from gradcli.engines.exact import adjoint
from gradcli.language.parser import parse
from gradcli.language.shapes import infer_shapes

DATA = Path(__file__).parent / "data"


def test_stored_rules_are_what_sympy_derives() -> None:
    assert local_rules.TARGET.read_text() == local_rules.source(), (
        "regenerate with: python -m gradcli._dev.local_rules --write"
    )


def _scalar_cases() -> list[tuple[str, dict[str, float]]]:
    cases = []
    for name in ("oracle_public.jsonl", "stress_public.jsonl"):
        for line in (DATA / name).read_text().splitlines():
            case = json.loads(line)
            if any(isinstance(v, (list, dict, str)) for v in case["point"].values()):
                continue
            expr = parse(case["expr"])
            infer_shapes(expr, {})
            if adjoint.supports(expr):
                cases.append((case["expr"], {k: float(v) for k, v in case["point"].items()}))
    return cases


SCALAR_CASES = _scalar_cases()


def _same(a: object, b: object) -> bool:
    av, bv = a.value, b.value  # type: ignore[attr-defined]
    if av is None or bv is None:
        return av is None and bv is None
    scale = max(abs(av), abs(bv), mpmath.mpf(10) ** -40)
    return bool(abs(av - bv) <= mpmath.mpf(10) ** -28 * scale)


@pytest.mark.parametrize(("text", "point"), SCALAR_CASES, ids=[c[0][:40] for c in SCALAR_CASES])
def test_matches_sympy_on_the_corpora(text: str, point: dict[str, float]) -> None:
    expr = parse(text)
    value, gradient = adjoint.exact(expr, point, "float64")
    sym = symbolic.build(expr)
    assert _same(value, symbolic.evaluate(sym, sym.expr, point, "float64"))
    for name in point:
        assert _same(gradient[name], symbolic.evaluate(sym, sym.derivative(name), point, "float64"))


def test_there_are_many_corpus_cases() -> None:
    assert len(SCALAR_CASES) > 100


@pytest.mark.parametrize(
    ("text", "point", "value_text", "gradient_text"),
    [
        ("log(x)", {"x": -1.0}, "complex: log at column 1 leaves the reals", None),
        ("1/x", {"x": 0.0}, "infinite: div at column 1 divides by zero", None),
        ("sqrt(x)", {"x": 0.0}, "0.0", "infinite"),
        ("x**y", {"x": -2.0, "y": 3.0}, "-8.0", "complex"),
    ],
)
def test_undefined_places_are_named(
    text: str, point: dict[str, float], value_text: str, gradient_text: str | None
) -> None:
    value, gradient = adjoint.exact(parse(text), point, "float64")
    assert value.text == value_text
    if gradient_text is not None:
        assert any(g.text.startswith(gradient_text) for g in gradient.values())


def test_cancellation_is_resolved_by_raising_the_precision() -> None:
    # 1 - cos(1e-7) loses 14 digits; the two precisions must still agree to 30.
    value, gradient = adjoint.exact(parse("(1-cos(x))/x**2"), {"x": 1e-7}, "float64")
    assert value.text.startswith("0.49999999999999958")
    assert gradient["x"].finite


def test_detach_stops_the_gradient() -> None:
    value, gradient = adjoint.exact(parse("x*detach(x)"), {"x": 3.0}, "float64")
    assert value.text == "9.0"
    assert gradient["x"].text == "3.0"


def test_float64_columns_match_the_exact_reference() -> None:
    expr = parse("sin(x**2)*exp(-y) + log(1+x*y) + sigmoid(x) + erf(y) + atan(x/y)")
    rng = np.random.default_rng(7)
    xs, ys = rng.uniform(0.1, 3, 50), rng.uniform(0.1, 3, 50)
    value, gradient, _ = adjoint.columns(expr, {"x": xs, "y": ys}, "float64")
    for i in range(50):
        v, g = adjoint.exact(expr, {"x": float(xs[i]), "y": float(ys[i])}, "float64")
        assert math.isclose(float(value[i]), float(v.value), rel_tol=1e-15)
        for name in ("x", "y"):
            assert math.isclose(float(gradient[name][i]), float(g[name].value), rel_tol=1e-14)


def test_float64_columns_mark_undefined_rows() -> None:
    value, gradient, _ = adjoint.columns(
        parse("log(x)"), {"x": np.array([-1.0, 0.0, 2.0])}, "float64"
    )
    assert np.isnan(value[0]) and np.isinf(value[1]) and value[2] == pytest.approx(math.log(2))
    assert gradient["x"][2] == pytest.approx(0.5)


def test_columns_see_the_inputs_as_torch_stores_them() -> None:
    # In float32, x = 0.1 and the literal 0.1 are the same float32 number: x - 0.1 is 0.
    value, _, _ = adjoint.columns(parse("x - 0.1"), {"x": np.array([0.1])}, "float32")
    assert value[0] == 0
    value, _, _ = adjoint.columns(parse("x - 0.1"), {"x": np.array([0.1])}, "float64")
    assert value[0] == 0
