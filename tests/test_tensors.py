"""Vector and matrix values, non-scalar outputs, Jacobians, Hessians and higher derivatives."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

import gradcli
from gradcli.api import hessian, jacobian
from gradcli.cli.app import app
from gradcli.errors import ExitCode, GradcliError, ShapeError
from gradcli.language.ops import OPS
from gradcli.language.values import Array
from gradcli.results import Status

runner = CliRunner(env={"NO_COLOR": "1", "COLUMNS": "80"})


def data(value: object) -> tuple[float, ...]:
    assert isinstance(value, Array)
    return value.data


def test_sum_and_mean_of_squares() -> None:
    r = gradcli.grad("sum(x**2)", x="1,2,3")
    assert data(r.gradient["x"]) == (2.0, 4.0, 6.0)
    assert r.check.status is Status.AGREE
    assert set(r.check.gradient) == {"x[0]", "x[1]", "x[2]"}
    r = gradcli.grad("mean(x**2)", x=[1, 2, 3])
    assert data(r.gradient["x"]) == pytest.approx((2 / 3, 4 / 3, 2.0), rel=1e-15)
    assert r.symbolic["x[0]"] == "2*x[0]/3"


def test_matrix_product_gradient() -> None:
    r = gradcli.grad("sum(x@W)", x="[[1, 2]]", W="[[1, 2, 3], [4, 5, 6]]")
    w = r.gradient["W"]
    assert isinstance(w, Array) and w.shape == (2, 3)
    assert w.tolist() == [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]  # each row: x's element
    assert r.check.status is Status.AGREE


def test_linear_regression_loss() -> None:
    r = gradcli.grad(
        "mean((X@w + b - Y)**2)", X="[[1],[2],[3],[4]]", Y="[[3],[5],[7],[9]]", w="[[0]]", b=0
    )
    assert r.value == 41.0
    assert data(r.gradient["w"]) == (-35.0,)
    assert r.gradient["b"] == -12.0
    assert r.check.status is Status.AGREE
    doc = r.to_dict()
    assert doc["gradient"]["w"] == [[-35.0]]
    assert doc["point"]["X"] == [[1.0], [2.0], [3.0], [4.0]]


def test_dot_and_broadcasting() -> None:
    r = gradcli.grad("dot(x, y) + sum(x*2)", x="1,2", y="3,4")
    assert data(r.gradient["x"]) == (5.0, 6.0)
    assert data(r.gradient["y"]) == (1.0, 2.0)
    r = gradcli.grad("sum(W*x)", W="[[1,2],[3,4]]", x="10,100")  # x broadcast over rows
    assert data(r.gradient["x"]) == (4.0, 6.0)
    assert r.check.status is Status.AGREE


def test_non_scalar_output_is_explained() -> None:
    with pytest.raises(GradcliError) as info:
        gradcli.grad("x**2", x="1,2,3")
    assert info.value.exit_code == ExitCode.USAGE
    assert "grad can be implicitly created only for scalar outputs" in info.value.message
    assert "sum(...)" in (info.value.hint or "") and "pass vjp with" in (info.value.hint or "")
    assert "gradcli jacobian" in (info.value.hint or "")


def test_vector_jacobian_product() -> None:
    r = gradcli.grad("x**2", x="1,2,3", vjp="1,1,1")
    assert data(r.gradient["x"]) == (2.0, 4.0, 6.0)
    assert r.to_dict()["vjp"] == [1.0, 1.0, 1.0]
    r = gradcli.grad("x**2", x="1,2,3", vjp=[1, 0, 2])
    assert data(r.gradient["x"]) == (2.0, 0.0, 12.0)
    assert r.check.status is Status.AGREE
    with pytest.raises(GradcliError, match=r"^vjp has shape \(2,\)"):
        gradcli.grad("x**2", x="1,2,3", vjp="1,1")


@pytest.mark.parametrize(
    ("expression", "values", "message", "column"),
    [
        (
            "x + y",
            {"x": "1,2,3", "y": "1,2"},
            "shapes (3,) of 'x' and (2,) of 'y' do not broadcast",
            1,
        ),
        (
            "sum(W @ x)",
            {"W": "[[1,2],[3,4]]", "x": "1,2,3"},
            "'@' cannot multiply 'W' of shape (2, 2) by 'x' of shape (3,)",
            5,
        ),
        (
            "dot(x, y)",
            {"x": "1,2", "y": "[[1,2]]"},
            "dot() needs two vectors of the same length, got (2,) and (1, 2)",
            1,
        ),
    ],
)
def test_shape_errors_name_both_shapes_and_the_column(
    expression: str, values: dict[str, str], message: str, column: int
) -> None:
    with pytest.raises(ShapeError) as info:
        gradcli.grad(expression, values)
    assert info.value.message == message
    assert info.value.column == column


def test_jacobian_of_two_outputs() -> None:
    r = jacobian("x*y, x+y", x=2, y=3)
    assert (r.rows, r.columns) == (("f1", "f2"), ("x", "y"))
    assert r.matrix == ((3.0, 2.0), (1.0, 1.0))
    assert r.status is Status.AGREE


def test_jacobian_labels_elements() -> None:
    r = jacobian("W @ x", W="[[1,2],[3,4]]", x="5,6")
    assert r.rows == ("f[0]", "f[1]")
    assert r.columns == ("W[0,0]", "W[0,1]", "W[1,0]", "W[1,1]", "x[0]", "x[1]")
    assert r.matrix == ((5.0, 6.0, 0.0, 0.0, 1.0, 2.0), (0.0, 0.0, 5.0, 6.0, 3.0, 4.0))
    assert r.status is Status.AGREE


def test_jacobian_catches_a_wrong_derivative(monkeypatch: pytest.MonkeyPatch) -> None:
    def bad_exp(torch, u):  # type: ignore[no-untyped-def]
        return torch.exp(u.detach()) + (u - u.detach()) * 2 * torch.exp(u.detach())

    monkeypatch.setitem(OPS, "exp", dataclasses.replace(OPS["exp"], torch=bad_exp))
    r = jacobian("exp(x)", x="0.5,1")
    assert r.status is Status.MISMATCH
    assert r.exit_code is ExitCode.CHECK_FAILED


def test_hessian_of_x2y() -> None:
    r = hessian("x**2*y", x=2, y=3)
    assert r.matrix == ((6.0, 4.0), (4.0, 0.0))
    assert r.eigenvalues == pytest.approx((-2.0, 8.0))
    assert r.gradient == (12.0, 4.0)
    assert r.classification is None  # the gradient is not zero
    assert r.asymmetry == 0.0
    assert r.status is Status.AGREE


@pytest.mark.parametrize(
    ("expression", "kind"),
    [
        ("x**2 - y**2", "saddle"),
        ("x**2 + 3*y**2", "minimum"),
        ("-x**2 - y**2", "maximum"),
        ("x**4 + y**2", "inconclusive"),
    ],
)
def test_hessian_classifies_stationary_points(expression: str, kind: str) -> None:
    assert hessian(expression, x=0, y=0).classification == kind


def test_hessian_needs_a_scalar_output() -> None:
    with pytest.raises(GradcliError, match="needs a scalar output"):
        hessian("x**2", x="1,2")


def test_third_derivative() -> None:
    r = gradcli.grad("x**3", x=2, order=3)
    assert r.gradient == {"x": 6.0}
    assert r.symbolic == {"x": "6"}
    assert r.check.status is Status.AGREE
    assert r.to_dict()["order"] == 3
    r = gradcli.grad("sin(x)*y", x=0.5, y=2, order=2, wrt="x")
    assert r.symbolic == {"x": "-y*sin(x)"}
    assert r.check.status is Status.AGREE
    with pytest.raises(
        GradcliError, match=r"^order 2 needs one variable; the expression uses x, y"
    ):
        gradcli.grad("x*y", x=1, y=2, order=2)


def test_symbolic_check_size_limit() -> None:
    # past max_symbolic, SymPy's whole derivative is not tried; node by node still checks
    r = gradcli.grad("sum(x**2)", x=[0.5] * 20, max_symbolic=10)
    assert r.check.status is Status.AGREE and r.check.method == "node-by-node"
    assert "the variables have 20 elements, more than max_symbolic (10)" in r.check.notes[-1]
    assert r.symbolic == {}
    assert data(r.gradient["x"]) == (1.0,) * 20


def test_cli_tensors() -> None:
    r = runner.invoke(app, ["grad", "sum(x**2)", "--x", "1,2,3", "--plain"])
    assert (r.exit_code, r.stdout) == (0, "14\n2\n4\n6\n")
    r = runner.invoke(app, ["grad", "x**2", "--x", "[1, 2, 3]"])
    assert r.exit_code == 2 and "--vjp" in r.stderr
    r = runner.invoke(app, ["grad", "x**2", "--x", "[1, 2, 3]", "--vjp", "1,1,1", "--json"])
    assert json.loads(r.stdout)["gradient"]["x"] == [2.0, 4.0, 6.0]
    r = runner.invoke(app, ["grad", "sum(W)", "--W", "[[1, 2], [3]]"])
    assert r.exit_code == 2
    assert "value for W: row 2 has 1 number but row 1 has 2" in r.stderr
    r = runner.invoke(app, ["jacobian", "x*y, x+y", "--x", "2", "--y", "3", "--plain"])
    assert (r.exit_code, r.stdout) == (0, "3 2\n1 1\n")
    r = runner.invoke(app, ["hessian", "x**2 - y**2", "--x", "0", "--y", "0"])
    assert r.exit_code == 0 and "the point is  a saddle" in r.stdout
    r = runner.invoke(app, ["hessian", "x**2*y", "--x", "2", "--y", "3", "--json"])
    doc = json.loads(r.stdout)
    assert doc["hessian"] == [[6.0, 4.0], [4.0, 0.0]] and doc["classification"] is None
    r = runner.invoke(app, ["grad", "x**3", "--x", "2", "--order", "3", "--plain"])
    assert r.stdout == "8\n6\n"


def test_steps_refuses_tensor_values_clearly() -> None:
    r = runner.invoke(app, ["steps", "sum(x)", "--x", "1,2"])
    assert r.exit_code == 2
    assert "steps shows expressions of scalar values" in r.stderr
    assert "'gradcli graph' draws vectors and matrices" in r.stderr


def test_graph_of_tensors_shows_shapes_values_and_gradient_norms() -> None:
    g = gradcli.graph("sum(W@v) + mean(v**2)", W=[[1, 2], [3, 4]], v=[1, 2], torch_view=True)
    by_text = {n.expression: n for n in g.nodes}
    assert by_text["W@v"].shape == (2,) and by_text["W@v"].value.tolist() == [5.0, 11.0]
    assert by_text["W"].grad.tolist() == [[1.0, 2.0], [1.0, 2.0]]
    # v's gradient accumulates both uses: W^T 1 = (4, 6), plus 2v/2 = v
    assert by_text["v"].grad.tolist() == [5.0, 8.0]
    assert by_text["W@v"].grad_fn == "MvBackward0"
    assert [t.name for t in g.torch_nodes][:3] == ["AddBackward0", "SumBackward0", "MeanBackward0"]
    assert "AccumulateGrad" in {t.name for t in g.torch_nodes}
    doc = g.to_dict()
    node = next(n for n in doc["nodes"] if n["expression"] == "W")
    assert node["shape"] == [2, 2] and node["grad"] == [[1.0, 2.0], [1.0, 2.0]]
    assert node["grad_attribute"].startswith("filled by backward()")
    r = runner.invoke(app, ["graph", "sum(W@v) + mean(v**2)", "--W", "[[1,2],[3,4]]", "--v", "1,2"])
    assert r.exit_code == 0
    assert "= shape (2,) [5, 11]  grad shape (2,), norm 1.41421" in r.stdout
    assert "retain_grad()" in r.stdout
    mm = gradcli.graph("sum(A@B)", A=[[1, 2], [3, 4]], B=[[1, 0], [0, 1]], torch_view=True)
    assert "MmBackward0" in {t.name for t in mm.torch_nodes}


def test_graph_marks_constants_and_non_leaf_grads() -> None:
    g = gradcli.graph("sin(x**2)*y", x=4, y=2, const=["y"])
    y = next(n for n in g.nodes if n.expression == "y")
    assert y.constant and not y.requires_grad and y.grad is None and y.grad_fn is None
    assert y.grad_attribute == "None (requires_grad=False)"
    op = next(n for n in g.nodes if n.kind == "op")
    assert op.grad_attribute.startswith("None unless retain_grad()")
    assert g.to_dict()["constants"] == ["y"]
    r = runner.invoke(app, ["graph", "sin(x**2)*y", "--x", "4", "--y", "2", "--const", "y"])
    assert "y  leaf, constant: requires_grad=False, .grad None" in r.stdout
