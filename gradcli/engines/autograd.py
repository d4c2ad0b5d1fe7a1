"""Evaluate an expression tree with PyTorch autograd.

Every variable becomes a leaf tensor with ``requires_grad=True``; every node is computed through
the op table in post-order; ``backward()`` on the root fills each leaf's ``.grad``. Importing
this module imports torch, so the CLI imports it only once the input has been parsed.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import torch

from ..language.nodes import Expr, literal_operands
from ..language.ops import CONSTANTS, OPS
from ..language.values import Array, Value, flat, labels, round_to
from ..results import TorchNode

DTYPES: dict[str, torch.dtype] = {"float64": torch.float64, "float32": torch.float32}


F = TypeVar("F", bound=Callable[..., Any])


def on_one_thread(fn: F) -> F:
    """``fn`` run under :func:`one_thread`."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        with one_thread():
            return fn(*args, **kwargs)

    return cast(F, run)


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one intra-op thread in this block, and the host's setting back afterwards.

    Single-point work is tiny; on a shared 2-core machine extra intra-op threads only add
    contention (measured: 3x to 80x slower with a busy neighbour), so gradcli uses one, without
    changing the setting of a program that imports it."""
    before = torch.get_num_threads()
    if before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before != 1:
            torch.set_num_threads(before)


Noise = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Autograd:
    """What torch computed: the output, the gradient, and every node's forward value."""

    value: Value
    gradient: dict[str, Value]
    node_values: list[np.ndarray]  #: every node's forward value, as NumPy arrays


def forward(
    expr: Expr,
    leaves: Mapping[str, torch.Tensor],
    dtype: torch.dtype,
    noise: Noise | None = None,
    rowwise: bool = False,
    bare_numbers: bool = False,
) -> list[torch.Tensor]:
    """The tensor of every node, in post-order. ``noise`` may perturb each node's output.

    With ``rowwise``, every leaf is a column of independent scalar points (batch work): the
    reductions ``sum`` and ``mean`` of a scalar are the scalar itself, row by row. With
    ``bare_numbers``, a number or constant that torch only ever gets as a Python number
    (``x**2``, ``1 - x``) is that Python float in the list, not a tensor (making 20,000
    literals into tensors took a quarter of a second). Equal literals share one tensor: none
    requires grad, and no operation changes its operands.
    """
    nodes = expr.nodes
    out: list[Any] = []
    scalars = literal_operands(expr) if noise is None else {}
    as_tensor_needed = _tensor_literals(expr, scalars) if bare_numbers else None
    literals: dict[float, torch.Tensor] = {}
    arithmetic = _ARITHMETIC
    table = OPS
    for i, node in enumerate(nodes):
        kind = node.kind
        if kind == "variable":
            t = leaves[node.name]
        elif kind != "op":
            value = node.value if kind == "number" else CONSTANTS[node.name]
            if as_tensor_needed is not None and i not in as_tensor_needed:
                out.append(round_to(value, "float32" if dtype is torch.float32 else "float64"))
                continue
            shared = literals.get(value)
            if shared is None:
                shared = literals[value] = torch.tensor(value, dtype=dtype)
            t = shared
        elif i in scalars:  # as the expression reads in PyTorch: x**2, 1 - x, 2*x
            position, number = scalars[i]
            u, v = (number if k == position else out[a] for k, a in enumerate(node.args))
            t = arithmetic[node.op](u, v)
        else:
            op = table[node.op]
            if rowwise and op.shape == "reduce":
                t = out[node.args[0]]
            else:
                t = op.torch(torch, *(out[a] for a in node.args))
        if noise is not None and kind != "variable":
            t = noise(t)
        out.append(t)
    return out


def _tensor_literals(expr: Expr, scalars: Mapping[int, tuple[int, int | float]]) -> set[int]:
    """The numbers and constants some operation takes as a tensor (not as a Python number
    through :func:`~gradcli.language.nodes.literal_operands`), and the root if it is one."""
    needed = {expr.root}
    nodes = expr.nodes
    for i, node in enumerate(nodes):
        if node.kind != "op":
            continue
        literal = scalars.get(i)
        for k, a in enumerate(node.args):
            if nodes[a].kind in ("number", "constant") and (literal is None or literal[0] != k):
                needed.add(a)
    return needed


def node_arrays(values: Sequence[Any], dtype: torch.dtype) -> list[Any]:
    """Every node's forward value as NumPy data, for the judge: NumPy scalars when every node
    is a scalar (one array made at once: a tensor's ``.numpy()`` each took half a second for
    90,000 nodes), else an array per node."""
    kind = np.float32 if dtype is torch.float32 else np.float64
    if all(not isinstance(v, torch.Tensor) or v.dim() == 0 for v in values):
        numbers = [v.item() if isinstance(v, torch.Tensor) else v for v in values]
        return list(np.array(numbers, dtype=kind))
    return [
        v.detach().numpy() if isinstance(v, torch.Tensor) else np.asarray(v, dtype=kind)
        for v in values
    ]


#: arithmetic that torch records by its operand kinds: x**2 is PowBackward0 (a Python number
#: as exponent), x**y PowBackward1, 2**x PowBackward2; 1 - x is RsubBackward1
_ARITHMETIC: dict[str, Callable[[Any, Any], torch.Tensor]] = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": operator.truediv,
    "pow": operator.pow,
}


def as_tensor(value: Value, dtype: torch.dtype, requires_grad: bool = False) -> torch.Tensor:
    """A float or an Array as a tensor. The dtype is always explicit: ``torch.tensor(0.1)``
    alone would be float32."""
    data = value.tolist() if isinstance(value, Array) else value
    return torch.tensor(data, dtype=dtype, requires_grad=requires_grad)


def make_leaves(
    point: Mapping[str, Value], dtype: torch.dtype, constants: frozenset[str] = frozenset()
) -> dict[str, torch.Tensor]:
    """One leaf tensor per variable: ``requires_grad=True``, except for the ``constants``."""
    return {
        name: as_tensor(v, dtype, requires_grad=name not in constants) for name, v in point.items()
    }


def to_value(t: torch.Tensor | None, like: Value | None = None) -> Value:
    """A tensor as a float (0-d) or an Array; a missing gradient is zeros shaped ``like``."""
    if t is None:
        if isinstance(like, Array):
            return Array(like.shape, (0.0,) * like.size)
        return 0.0
    t = t.detach()
    if t.dim() == 0:
        return float(t)
    return Array(tuple(t.shape), tuple(float(v) for v in t.reshape(-1).tolist()))


def _backward(root: torch.Tensor, vjp: Value | None) -> None:
    if not root.requires_grad:  # a constant expression, or one cut off by detach()
        return
    if vjp is None:
        root.backward()  # type: ignore[no-untyped-call]
    else:  # exactly y.backward(gradient=v): the vector-Jacobian product
        root.backward(gradient=as_tensor(vjp, root.dtype))  # type: ignore[no-untyped-call]


@on_one_thread
def autograd(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str = "float64",
    vjp: Value | None = None,
    constants: frozenset[str] = frozenset(),
) -> Autograd:
    """Value and gradient of ``expr`` at ``point`` by reverse-mode autograd.

    The output must be a scalar, or ``vjp`` gives the vector for ``backward(gradient=v)``.
    The ``constants`` are plain tensors (``requires_grad=False``): they have no gradient.
    """
    dt = DTYPES[dtype]
    leaves = make_leaves(point, dt, constants)
    values = forward(expr, leaves, dt, bare_numbers=True)
    root = values[-1]
    _backward(root, vjp)
    gradient = {
        name: to_value(leaf.grad, point[name])
        for name, leaf in leaves.items()
        if name not in constants
    }
    return Autograd(to_value(root), gradient, node_arrays(values, dt))


@on_one_thread
def noisy_spread(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str,
    vjp: Value | None = None,
    samples: int = 8,
    ulps: float = 4.0,
) -> tuple[float, dict[str, float]]:
    """How much the value and gradient move when every node's result is nudged by a few ulps.

    This imitates rounding error: each node's output is multiplied by ``1 + d`` with ``|d|`` up
    to ``ulps`` machine epsilons (a fixed pseudo-random sequence, so results are repeatable).
    A result that moves about as much as it differs from the exact value lost its digits to
    rounding (precision loss); one that stays put while being wrong is a mismatch.
    Returns the largest change of the (scalar) value and of each gradient element, by label.
    """
    dt = DTYPES[dtype]
    eps = torch.finfo(dt).eps
    base = autograd(expr, point, dtype, vjp)
    gen = torch.Generator().manual_seed(20261123)
    value_spread = 0.0
    spread: dict[str, float] = {}
    for _ in range(samples):

        def nudge(t: torch.Tensor) -> torch.Tensor:
            d = (torch.rand(t.shape, generator=gen, dtype=dt) * 2 - 1) * (ulps * eps)
            return t * (1 + d)

        leaves = make_leaves(point, dt)
        root = forward(expr, leaves, dt, nudge)[-1]
        _backward(root, vjp)
        value_spread = max(
            value_spread, _gap(scalar_of(to_value(root), vjp), scalar_of(base.value, vjp))
        )
        for name, leaf in leaves.items():
            now = flat(to_value(leaf.grad, point[name]))
            before = flat(base.gradient[name])
            for label, a, b in zip(labels(name, point[name]), now, before, strict=True):
                spread[label] = max(spread.get(label, 0.0), _gap(a, b))
    return value_spread, spread


def scalar_of(value: Value, vjp: Value | None) -> float:
    """The value itself, or with a VJP vector ``v`` the scalar ``sum(v * value)``."""
    if vjp is None:
        return value if isinstance(value, float) else float("nan")
    return math.fsum(a * b for a, b in zip(flat(value), flat(vjp), strict=True))


def _item(t: torch.Tensor | None) -> float:
    """A scalar tensor as a float; no gradient (never reached) is 0."""
    return 0.0 if t is None else float(t.detach())


def _gap(a: float, b: float) -> float:
    if a == b:
        return 0.0
    gap = abs(a - b)
    return gap if math.isfinite(gap) else math.inf


@dataclass(frozen=True)
class Traced:
    """Everything autograd knows about every node of one evaluation."""

    values: list[Value]  #: floats, Arrays for vectors and matrices
    grads: list[Value | None]  #: adjoint of each node; None where no gradient can flow
    requires_grad: list[bool]
    grad_fns: list[str | None]
    local_values: dict[int, list[float]]  #: op node -> local partial derivatives' values
    torch_nodes: list[TorchNode]
    saved: list[tuple[str, ...]]  #: what each node's grad_fn saved for backward (self, ...)


@on_one_thread
def trace(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str = "float64",
    torch_view: bool = False,
    constants: frozenset[str] = frozenset(),
) -> Traced:
    """Evaluate with ``retain_grad()`` on every intermediate, so each node's adjoint is known;
    and each operation's local partial derivatives as torch's own backward computes them (at
    a kink, torch's convention: ``max`` at a tie gives 0.5 to each side), for operations on
    numbers (between tensors they are Jacobians). The ``constants`` do not require grad."""
    dt = DTYPES[dtype]
    leaves = make_leaves(point, dt, constants)
    tensors = forward(expr, leaves, dt)
    for t in tensors:
        if t.requires_grad and not t.is_leaf:
            t.retain_grad()
    root = tensors[-1]
    torch_nodes = torch_graph(root, leaves) if torch_view else []
    grad_fns = [
        type(t.grad_fn).__name__
        if t.grad_fn is not None
        else ("AccumulateGrad" if t.requires_grad else None)
        for t in tensors
    ]
    saved = [_saved_names(t.grad_fn) for t in tensors]
    if root.requires_grad:
        root.backward()  # type: ignore[no-untyped-call]
    # no gradient (None) where torch has none: what does not require grad, and what no
    # gradient reached (inside detach)
    grads = [to_value(t.grad) if t.requires_grad and t.grad is not None else None for t in tensors]
    local_values = {
        i: _local_grads(node.op, [tensors[a] for a in node.args])
        for i, node in enumerate(expr.nodes)
        if node.kind == "op" and all(tensors[a].dim() == 0 for a in (*node.args, i))
    }
    return Traced(
        [to_value(t) for t in tensors],
        grads,
        [t.requires_grad for t in tensors],
        grad_fns,
        local_values,
        torch_nodes,
        saved,
    )


def _saved_names(grad_fn: Any) -> tuple[str, ...]:
    """The tensors a backward node saved for the backward pass (``self``, ``other``,
    ``result``), as torch names them on the node (``_saved_self``, ...); numbers it keeps
    (an exponent, ``alpha``) are not tensors and are left out."""
    if grad_fn is None:
        return ()
    names = []
    for attribute in dir(grad_fn):
        if attribute.startswith("_saved_"):
            try:
                kept = getattr(grad_fn, attribute)
            except RuntimeError:  # (freed after backward: not the case here, before it)
                continue
            if isinstance(kept, torch.Tensor):
                names.append(attribute.removeprefix("_saved_"))
    return tuple(sorted(names))


def _local_grads(op: str, operands: list[torch.Tensor]) -> list[float]:
    """d(op)/d(operand) for each operand, by torch's backward of this one operation."""
    copies = [t.detach().clone().requires_grad_(True) for t in operands]
    with torch.enable_grad():
        out = OPS[op].torch(torch, *copies)
        if not out.requires_grad:  # (detach, step: no gradient flows)
            return [0.0] * len(copies)
        grads = torch.autograd.grad(out, copies, allow_unused=True)
    return [_item(g) for g in grads]


def torch_graph(root: torch.Tensor, leaves: Mapping[str, torch.Tensor]) -> list[TorchNode]:
    """PyTorch's recorded backward graph from ``root.grad_fn``, breadth first, root first.

    Must run before ``backward()``, which frees the saved tensors.
    """
    if root.grad_fn is None:
        return []
    names = {id(t): name for name, t in leaves.items()}
    order: list[Any] = [root.grad_fn]
    index = {id(root.grad_fn): 0}
    nodes: list[TorchNode] = []
    for fn in order:  # the list grows while we walk it
        nxt = []
        for child, _ in fn.next_functions:
            if child is None:
                continue
            if id(child) not in index:
                index[id(child)] = len(order)
                order.append(child)
            nxt.append(index[id(child)])
        saved = {}
        for attr in dir(fn):
            if attr.startswith("_saved_") and not attr.endswith("_raw"):
                try:
                    saved[attr] = _describe(getattr(fn, attr))
                except RuntimeError:  # freed or not exposed
                    continue
        variable = getattr(fn, "variable", None)
        nodes.append(
            TorchNode(
                index[id(fn)],
                type(fn).__name__,
                saved,
                names.get(id(variable)) if variable is not None else None,
                tuple(nxt),
            )
        )
    return nodes


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        if value.numel() == 1:
            return repr(float(value.detach()))
        return f"tensor of shape {tuple(value.shape)}"
    return repr(value)


#: torch's elementwise kernels split a tensor of at least this many elements between threads
#: (``at::internal::GRAIN_SIZE``)
_GRAIN = 32768
#: elements a SIMD loop of torch's takes at a time, at most (AVX-512, float32: 2 x 16); the
#: rest of a thread's range goes through a scalar loop
_LANES = 64


def _padded_length(n: int) -> int:
    """``n`` rounded up so that every thread's range of an elementwise kernel over it is a
    whole number of SIMD steps.

    torch's vectorised ``pow`` (and the like) and its scalar loop for the last few elements can
    differ in the last bit, so without this a row's numbers depended on its place in the chunk,
    and a pipe's chunks end where its pauses fall (measured: ``x**y`` over 473 slices of one
    set of points, 13 to 99,999 rows long, gave 42 of 18.7 million values that differed from
    the same rows computed at once; padded, none). Both are within torch's accuracy
    and either is checked; this only makes the output the same however the rows came in. (It
    follows torch's way of splitting: were that to change, a row's last bit could again depend
    on its place, never its verdict.)"""
    threads = 1
    while True:
        padded = -(-n // (_LANES * threads)) * (_LANES * threads)
        split = 1 if padded < _GRAIN else max(1, min(torch.get_num_threads(), -(-padded // _GRAIN)))
        if split == threads:
            return padded
        threads = split


@on_one_thread
def batch_gradients(
    expr: Expr, columns: Mapping[str, np.ndarray], dtype: str = "float64"
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Value and gradient at every row of ``columns`` (one float64 array per variable) in one
    autograd pass: the rows are independent, so the gradient of the sum of the outputs is every
    row's gradient. The columns are padded (with copies of their last row) to a length at which
    a row's numbers do not depend on its place (:func:`_padded_length`)."""
    dt = DTYPES[dtype]
    n = len(next(iter(columns.values()))) if columns else 1
    size = _padded_length(n) if columns and n else n
    leaves = {}
    for name, col in columns.items():
        padded = np.empty(size, dtype=np.float64)
        padded[:n] = col
        padded[n:] = padded[n - 1] if n else 0.0
        leaves[name] = torch.from_numpy(padded).to(dt).requires_grad_(True)
    out = forward(expr, leaves, dt, rowwise=True)[-1]
    if out.dim() == 0:  # an expression that uses no variable is the same at every row
        out = out.expand(size)
    if out.requires_grad:
        out.sum().backward()  # type: ignore[no-untyped-call]
    value = out.detach()[:n].to(torch.float64).numpy().copy()
    grads = {
        name: leaf.grad[:n].to(torch.float64).numpy()
        if leaf.grad is not None
        else np.zeros(n, dtype=np.float64)
        for name, leaf in leaves.items()
    }
    return value, grads
