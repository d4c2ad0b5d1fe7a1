"""The graph and the chain-rule steps: models, every renderer as exact text, formats that parse,
and the steps verified over the whole oracle corpus."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess

import pytest
from rich.console import Console

import gradcli
from gradcli.api import graph, steps
from gradcli.render import diagram, tree
from gradcli.render import steps as steps_view

from .conftest import load_jsonl


def text_of(renderable: object, width: int = 80) -> list[str]:
    out = io.StringIO()
    Console(
        file=out, width=width, color_system=None, highlight=False, markup=False, emoji=False
    ).print(renderable)
    return [line.rstrip() for line in out.getvalue().splitlines()]


def test_shared_variable_is_one_node_with_summed_gradient() -> None:
    g = graph("x*y + sin(x)", x=2, y=3)
    x = g.node(0)
    assert (x.expression, x.uses, x.leaf, x.grad_fn) == ("x", 2, True, "AccumulateGrad")
    into_x = [e for e in g.edges if e.child == x.id]
    assert len(into_x) == 2
    assert x.grad == pytest.approx(sum(e.contribution or 0 for e in into_x), rel=1e-15)
    ops = {n.expression: n.grad_fn for n in g.nodes if n.kind == "op"}
    assert ops == {"x*y": "MulBackward0", "sin(x)": "SinBackward0", "x*y + sin(x)": "AddBackward0"}


def test_textbook_chain_rule() -> None:
    g = graph("sin(x**2)", x=4)
    local = {(g.node(e.child).expression, g.node(e.parent).expression): e for e in g.edges}
    assert local[("x**2", "sin(x**2)")].local == "cos(x**2)"
    assert local[("x", "x**2")].local == "2*x"
    assert local[("x", "x**2")].local_value == 8
    assert g.node(0).grad == pytest.approx(8 * __import__("math").cos(16), rel=1e-15)


def test_detach_stops_the_gradient() -> None:
    g = graph("sin(x**2)*detach(y**2)", x=4, y=2)
    by_text = {n.expression: n for n in g.nodes}
    assert by_text["detach(y**2)"].requires_grad is False
    assert by_text["detach(y**2)"].grad is None
    # as torch has it: no gradient reaches y or y**2 (their .grad is None, not 0), and
    # nothing flows on the edges into and out of detach
    assert by_text["y"].grad is None and by_text["y**2"].grad is None
    assert by_text["x"].grad != 0.0
    into_detach = [e for e in g.edges if g.node(e.parent).op == "detach"]
    assert [(e.local_value, e.contribution) for e in into_detach] == [(None, None)]
    assert gradcli.grad("sin(x**2)*detach(y**2)", x=4, y=2).gradient["y"] == 0.0


def test_no_gradient_flows_into_a_constant() -> None:
    g = graph("x**2", x=3)
    exponent = next(e for e in g.edges if g.node(e.child).kind == "number")
    assert (exponent.local_value, exponent.upstream, exponent.contribution) == (None, None, None)


def test_grad_fn_names_are_torchs_for_the_expression_as_written() -> None:
    """Number literals reach torch as Python numbers, as in a learner's code, so the names
    are those torch records for it (x**2 is PowBackward0, 1 - x RsubBackward1)."""
    import torch

    text = "x**2 + (1 - x) * 2**x / x + x*y**y"
    g = graph(text, x=3, y=2)
    x = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    expected = {
        "x**2": type((x**2).grad_fn).__name__,
        "1 - x": type((1 - x).grad_fn).__name__,
        "2**x": type((2**x).grad_fn).__name__,
        "y**y": type((y**y).grad_fn).__name__,
        "(1 - x) * 2**x / x": type(((1 - x) * 2**x / x).grad_fn).__name__,
    }
    names = {n.expression: n.grad_fn for n in g.nodes if n.expression in expected}
    assert names == expected
    assert names["x**2"] == "PowBackward0" and names["1 - x"] == "RsubBackward1"
    # and the tensors each saved for backward, as torch lists them
    saved = {n.expression: n.saved for n in graph("x**2 + exp(x) + sin(x)*y", x=3, y=2).nodes}
    assert saved["x**2"] == ("self",) and saved["exp(x)"] == ("result",)
    assert saved["sin(x)*y"] == ("other", "self") and saved["x"] == ()


def test_structure_without_values() -> None:
    g = graph("x**2*y")
    assert g.point is None
    assert all(n.value is None and n.grad is None for n in g.nodes)
    assert [e.local for e in g.edges] == ["2*x", "x**2*log(x)", "y", "x**2"]


def test_constant_expression_has_values() -> None:
    g = graph("2*pi")
    assert g.node(g.root).value == pytest.approx(6.283185307179586)


def test_torch_view() -> None:
    g = graph("sin(x**2)*y", x=4, y=2, torch_view=True)
    names = [t.name for t in g.torch_nodes]
    assert names == [
        "MulBackward0",
        "SinBackward0",
        "AccumulateGrad",
        "PowBackward0",
        "AccumulateGrad",
    ]
    pow_node = g.torch_nodes[3]
    assert pow_node.saved["_saved_exponent"] == "2"  # (x**2: a Python number, as written)
    assert {t.variable for t in g.torch_nodes if t.name == "AccumulateGrad"} == {"x", "y"}
    doc = g.to_dict()
    assert doc["torch"][0]["next"] == [1, 2]


def test_tree_golden_text() -> None:
    assert text_of(tree.tree(graph("x*y + sin(x)", x=2, y=3))) == [
        "n5  x*y + sin(x)  +  AddBackward0",
        "= 6.9093  grad 1",
        "├── n2  x*y  *  MulBackward0  saves other, self",
        "│   = 6  grad 1",
        "│   local ∂parent/∂this = 1 = 1",
        "│   ├── x  leaf, requires_grad, 2 uses",
        "│   │   = 2  grad 2.58385 (accumulated)",
        "│   │   local ∂parent/∂this = y = 3",
        "│   └── y  leaf, requires_grad",
        "│       = 3  grad 2",
        "│       local ∂parent/∂this = x = 2",
        "└── n4  sin(x)  sin  SinBackward0  saves self",
        "    = 0.909297  grad 1",
        "    local ∂parent/∂this = 1 = 1",
        "    └── x  leaf, requires_grad, 2 uses  (shown above)",
        "        local ∂parent/∂this = cos(x) = -0.416147",
    ]


def test_torch_tree_golden_text() -> None:
    assert text_of(tree.torch_tree(graph("sin(x**2)*y", x=4, y=2, torch_view=True))) == [
        "MulBackward0",
        "saved: other=2.0, self=-0.2879033166650653",
        "├── SinBackward0",
        "│   saved: self=16.0",
        "│   └── PowBackward0",
        "│       saved: exponent=2, self=4.0",
        "│       └── AccumulateGrad  → x.grad",
        "└── AccumulateGrad  → y.grad",
    ]


def test_dot_golden_text_and_it_parses() -> None:
    text = diagram.to_dot(graph("sin(x**2)", x=4))
    assert text == (
        "digraph gradcli {\n"
        '  rankdir="LR";\n'
        '  node [shape=record, fontname="monospace"];\n'
        '  n0 [label="{ x | variable | value 4 | grad -7.66128 }", style=filled, '
        'fillcolor="#e8f4e8"];\n'
        '  n1 [label="{ 2 | number | value 2 | no grad }", style=filled, fillcolor="#e8f4e8"];\n'
        '  n2 [label="{ x**2 | ** | value 16 | grad -0.957659 }"];\n'
        '  n3 [label="{ sin(x**2) | sin | value -0.287903 | grad 1 }"];\n'
        '  n0 -> n2 [label="2*x = 8"];\n'
        "  n1 -> n2;\n"
        '  n2 -> n3 [label="cos(x**2) = -0.957659"];\n'
        "}\n"
    )
    dot = shutil.which("dot")
    if dot:  # Graphviz itself (CI installs it)
        proc = subprocess.run([dot, "-Tsvg"], input=text, capture_output=True, text=True)
        assert proc.returncode == 0 and "<svg" in proc.stdout, proc.stderr
    # And a structural check that holds everywhere: balanced braces, quoted labels closed.
    assert text.count("{") == text.count("}")
    assert all(line.count('"') % 2 == 0 for line in text.splitlines())


def test_mermaid_is_well_formed() -> None:
    text = diagram.to_mermaid(graph("x*y + sin(x)", x=2, y=3))
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    nodes = set()
    for line in lines[1:]:
        node = re.fullmatch(r'  (n\d+)(\(\[|\[)"[^"]*"(\]\)|\])', line)
        edge = re.fullmatch(r'  (n\d+) (-- "[^"]*" -->|-->) (n\d+)', line)
        assert node or edge, line
        if node:
            nodes.add(node.group(1))
        else:
            assert edge is not None
            assert {edge.group(1), edge.group(3)} <= nodes  # edges only between defined nodes


def test_graph_json_parses_and_lists_nodes_and_edges() -> None:
    doc = json.loads(json.dumps(graph("x*y + sin(x)", x=2, y=3).to_dict()))
    assert doc["schema"] == "gradcli/1" and doc["kind"] == "graph"
    assert {n["expression"] for n in doc["nodes"]} == {"x", "y", "x*y", "sin(x)", "x*y + sin(x)"}
    assert set(doc["nodes"][0]) == {
        "id",
        "kind",
        "op",
        "expression",
        "operands",
        "uses",
        "shape",
        "grad_attribute",
        "value",
        "grad",
        "requires_grad",
        "leaf",
        "grad_fn",
        "saved",
    }
    assert {(e["from"], e["to"]) for e in doc["edges"]} == {(0, 2), (1, 2), (0, 4), (2, 5), (4, 5)}


def test_steps_golden_text() -> None:
    assert text_of(steps_view.render(steps("sin(x**2)", x=4, dtype="float32")))[1] == (
        "at  x = 4  (float32)"  # (the backward pass's numbers are torch's, in that dtype)
    )
    assert text_of(steps_view.render(steps("sin(x**2)", x=4))) == [
        "f = sin(x**2)",
        "at  x = 4  (float64)",
        "",
        "Backward pass: the chain rule edge by edge, output first",
        "nodes (n<id>: the node ids of graph and of --json)",
        "n3  sin(x**2)",
        "n2  x**2",
        "",
        "#   edge      local ∂                 × upstream      = sent",
        "────────────────────────────────────────────────────────────",
        "1   n2 → n3   cos(x**2) = -0.957659            1   -0.957659",
        "2   x → n2    2*x = 8                  -0.957659    -7.66128",
        "Gradients: what each variable received, summed",
        "  ∂f/∂x = -7.66128 (via n2)",
        "        = -7.661275842587077  ✓ matches autograd",
        "",
        "Derivation of d/dx, rule by rule",
        "  1. chain rule (sin)",
        "     d/dx [sin(x**2)]",
        "     = let u = x**2: d/dx sin(u) = cos(u) * du/dx   (uses step 2)",
        "     = 2*x*cos(x**2)",
        "  2. power rule",
        "     d/dx [x**2]",
        "     = 2 * x**(2 - 1)",
        "     = 2*x",
        "  result:",
        "     d/dx f = 2*x*cos(x**2)",
        "  check: ✓ identical to sympy.diff after expansion",
    ]


def test_latex_golden_text() -> None:
    assert steps_view.latex(steps("sin(x**2)")) == (
        "\\begin{align*}\n"
        "\\frac{\\partial}{\\partial x}\\left[\\sin{\\left(x^{2} \\right)}\\right] &= "
        "2 x \\cos{\\left(x^{2} \\right)} && \\text{(1) chain rule (sin)} \\\\\n"
        "\\frac{\\partial}{\\partial x}\\left[x^{2}\\right] &= 2 x && \\text{(2) power rule}\n"
        "\\end{align*}\n"
    )


@pytest.mark.parametrize(
    ("expression", "rules"),
    [
        ("x**2*y", ["constant multiple rule", "power rule"]),
        ("x*sin(x)", ["product rule", "sin rule"]),
        ("sin(x)/x", ["quotient rule", "sin rule"]),
        ("x/3", ["constant multiple rule"]),
        ("2**x", ["exponential rule"]),
        ("x**x", ["general power rule"]),
        ("exp(x**2) - x", ["difference rule", "chain rule (exp)", "power rule"]),
        ("detach(x)*x", ["product rule", "stop-gradient rule"]),
    ],
)
def test_rules_are_named(expression: str, rules: list[str]) -> None:
    derivation = steps(expression).derivations["x"]
    assert [s.rule for s in derivation.steps] == rules
    assert derivation.verified is True


def test_repeated_sub_derivations_collapse() -> None:
    d = steps("sin(x**2) + cos(x**2)").derivations["x"]
    assert d.collapsed == 1
    repeat = next(s for s in d.steps if s.repeat_of is not None)
    assert repeat.target == "x**2" and repeat.result == "2*x"


def test_two_hundred_nodes_stay_readable() -> None:
    expression = "+".join(f"sin({i}*x**2)" for i in range(1, 40))
    d = steps(expression).derivations["x"]
    assert d.verified is True
    assert d.collapsed == 38  # x**2 is derived once
    assert len(d.steps) < 200


@pytest.mark.parametrize("case", load_jsonl("oracle_public.jsonl"), ids=lambda c: c["expr"][:40])
def test_steps_verified_over_the_oracle_corpus(case: dict[str, object]) -> None:
    point = case["point"]
    assert isinstance(point, dict)
    result = steps(str(case["expr"]), point)
    assert result.backward is not None
    assert all(a.agrees for a in result.backward.gradients)
    for name, expected in case["grad"].items():  # type: ignore[attr-defined]
        total = next(a.total for a in result.backward.gradients if a.variable == name)
        assert total == pytest.approx(float(expected), rel=1e-9, abs=1e-12)
    assert all(d.verified for d in result.derivations.values())


@pytest.mark.parametrize("width", [80, 200])
def test_deep_graphs_fit_the_terminal(width: int) -> None:
    expression = "sin(" * 60 + "x" + ")" * 60
    lines = text_of(tree.render(graph(expression, x=0.5), width), width)
    assert max(len(line) for line in lines) <= width
    assert any(line.endswith("more nodes") for line in lines)
    assert any(line.endswith("(deeper: --format json)") for line in lines)


def test_large_graph_renders_every_node() -> None:
    expression = "+".join(f"sin({i}*x)*y" for i in range(1, 84))
    g = graph(expression, x=0.3, y=0.7)
    assert len(g.nodes) == 416
    lines = text_of(tree.render(g, 80), 80)
    assert "(83 terms)" in lines[0]  # the chain of sums is shown flat, not 83 levels deep
    assert sum("  sin  SinBackward0" in line for line in lines) == 83
    assert max(len(line) for line in lines) <= 80


def test_graph_and_steps_refuse_what_they_cannot_draw() -> None:
    from gradcli.errors import UsageError
    from gradcli.limits import MAX_DRAWN

    text = "+".join(f"sin({i}*x)" for i in range(1, MAX_DRAWN // 4 + 2))
    for draw in (graph, steps):
        with pytest.raises(UsageError, match=f"graph and steps draw at most {MAX_DRAWN:,}"):
            draw(text, x=0.5)
    # Just under the limit a long chain is drawn (its local derivatives written once each).
    text = "+".join(f"sin({i}*x)" for i in range(1, MAX_DRAWN // 5))
    g = graph(text, x=0.5)
    assert len(g.nodes) > MAX_DRAWN // 2


def test_shorter_derivatives_never_change_the_value() -> None:
    """The forms shown (expand always, simplify with --simplify) equal SymPy's derivative:
    their difference is exactly 0 at the corpus's points (rational arithmetic, SymPy's own
    evaluation at 50 digits where functions are involved)."""
    import sympy as sp

    from gradcli.check.reference import shortest
    from gradcli.engines import symbolic
    from gradcli.language.parser import parse

    from .conftest import load_jsonl

    tried = 0
    for k, case in enumerate(load_jsonl("oracle_public.jsonl")):
        if any(isinstance(v, list) for v in case["point"].values()):
            continue
        sym = symbolic.build(parse(case["expr"]))
        for name in sym.symbols:
            d = sym.derivative(name)
            for thorough in (False, True) if k < 12 else (False,):  # (simplify is slow)
                shown = shortest(d, thorough)
                if shown is d:
                    continue
                tried += 1
                at = {sym.symbols[k]: sp.Rational(str(v)) for k, v in case["point"].items()}
                gap = (d - shown).subs(at)
                assert gap == 0 or abs(sp.N(gap, 50)) < sp.Float("1e-40"), (case["expr"], name)
    assert tried > 5
    bce = "-(y*log(sigmoid(w*x+b)) + (1-y)*log(1-sigmoid(w*x+b)))"
    r = gradcli.grad(bce, x=6.7, y=0, w=1, b=0)
    assert r.symbolic["b"] == "-y + sigmoid(b + w*x)"  # not -y*(1 - sigmoid(..)) + (1 - y)*..
    assert gradcli.grad("sin(x)*cos(x)", x=1, simplify=True).symbolic["x"] == "cos(2*x)"
