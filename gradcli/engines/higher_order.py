"""Jacobians, Hessians and higher derivatives with torch autograd.

Rows of a Jacobian come from one ``torch.autograd.grad`` call per output element; a Hessian
differentiates the gradient again (``create_graph=True``); the N-th derivative repeats that.
Every function takes an optional ``noise`` that perturbs each node's result, so the checker
can tell rounding (precision loss) from a wrong derivative.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import TimeLimitError
from ..language.nodes import Expr
from ..language.values import Value, flat
from .autograd import DTYPES, Noise, forward, make_leaves, on_one_thread, to_value


@dataclass(frozen=True)
class Matrix:
    """Numbers computed by torch for a Jacobian or a Hessian."""

    values: list[Value]  #: each output's value
    rows: list[list[float]]
    node_values: list[list[np.ndarray]]  #: per expression, every node's forward value
    gradient: list[float]  #: for a Hessian: the gradient, flattened (else empty)


def _grads(
    out: torch.Tensor, leaves: Sequence[torch.Tensor], create_graph: bool = False
) -> list[torch.Tensor | None]:
    if not out.requires_grad:
        return [None] * len(leaves)
    return list(
        torch.autograd.grad(
            out, list(leaves), retain_graph=True, create_graph=create_graph, allow_unused=True
        )
    )


def _flatten(
    parts: Sequence[torch.Tensor | None], leaves: Sequence[torch.Tensor]
) -> list[torch.Tensor]:
    """One flat tensor per leaf (zeros where autograd found no path)."""
    return [
        p.reshape(-1) if p is not None else torch.zeros_like(leaf).reshape(-1)
        for p, leaf in zip(parts, leaves, strict=True)
    ]


@on_one_thread
def jacobian(
    exprs: Sequence[Expr],
    point: Mapping[str, Value],
    dtype: str = "float64",
    noise: Noise | None = None,
) -> Matrix:
    """Rows: every element of every output in turn; columns: every variable element."""
    dt = DTYPES[dtype]
    leaves = make_leaves(point, dt)
    order = list(leaves.values())
    values, rows, node_values = [], [], []
    for expr in exprs:
        tensors = forward(expr, leaves, dt, noise)
        out = tensors[-1]
        values.append(to_value(out))
        node_values.append([t.detach().numpy() for t in tensors])
        for element in out.reshape(-1):
            row = torch.cat(_flatten(_grads(element, order), order))
            rows.append([float(v) for v in row.tolist()])
    return Matrix(values, rows, node_values, [])


@on_one_thread
def hessian(
    expr: Expr, point: Mapping[str, Value], dtype: str = "float64", noise: Noise | None = None
) -> Matrix:
    """Second derivatives of a scalar output with respect to every pair of variable elements."""
    dt = DTYPES[dtype]
    leaves = make_leaves(point, dt)
    order = list(leaves.values())
    tensors = forward(expr, leaves, dt, noise)
    f = tensors[-1]
    first = torch.cat(_flatten(_grads(f, order, create_graph=True), order))
    rows = []
    for g in first:
        rows.append([float(v) for v in torch.cat(_flatten(_grads(g, order), order)).tolist()])
    return Matrix(
        [to_value(f)],
        rows,
        [[t.detach().numpy() for t in tensors]],
        [float(v) for v in first.detach().tolist()],
    )


@on_one_thread
def nth_derivative(
    expr: Expr,
    point: Mapping[str, Value],
    name: str,
    n: int,
    dtype: str = "float64",
    noise: Noise | None = None,
    budget: float | None = None,
) -> tuple[float, float, list[np.ndarray]]:
    """The value and the ``n``-th derivative with respect to the scalar variable ``name``.

    Each order differentiates the graph of the one before, which can grow by a constant factor
    each time (exponentially in ``n``), and each step is one call into torch that nothing can
    interrupt. So with a ``budget`` (seconds), the next step's time is foreseen from the growth
    so far, and a step that would end past the budget is not started:
    :class:`~gradcli.errors.TimeLimitError` says so."""
    dt = DTYPES[dtype]
    leaves = make_leaves(point, dt)
    tensors = forward(expr, leaves, dt, noise)
    d = tensors[-1]
    started = time.monotonic()
    last = previous = 0.0
    for k in range(n):
        if budget and k >= 2:
            growth = max(1.0, last / previous) if previous > 0 else 1.0
            spent = time.monotonic() - started
            if spent + last * growth > budget:
                raise TimeLimitError(
                    f"torch's derivative of order {n} would not finish within {budget:g} s: "
                    f"the first {k} orders took {spent:.2g} s, and each about {growth:.2g} times "
                    "the one before",
                    hint="raise the limit with {timeout}, or ask for a lower {order}",
                    params=("timeout", "order"),
                )
        step = time.monotonic()
        (d_next,) = _grads(d, [leaves[name]], create_graph=True)
        d = d_next if d_next is not None else torch.zeros_like(leaves[name])
        previous, last = last, time.monotonic() - step
    return float(tensors[-1].detach()), float(d.detach()), [t.detach().numpy() for t in tensors]


@on_one_thread
def spread(
    compute: Callable[[Noise | None], list[float]], dtype: str, samples: int = 8, ulps: float = 4.0
) -> list[float]:
    """How far each number of ``compute`` moves when every intermediate result is nudged by a
    few ulps (see ``evaluate.noisy_spread``)."""
    dt = DTYPES[dtype]
    eps = torch.finfo(dt).eps
    gen = torch.Generator().manual_seed(20261123)

    def nudge(t: torch.Tensor) -> torch.Tensor:
        return t * (1 + (torch.rand(t.shape, generator=gen, dtype=dt) * 2 - 1) * (ulps * eps))

    base = compute(None)
    moved = [0.0] * len(base)
    for _ in range(samples):
        for k, (a, b) in enumerate(zip(compute(nudge), base, strict=True)):
            gap = abs(a - b) if a != b else 0.0
            moved[k] = max(moved[k], gap if gap == gap else float("inf"))
    return moved


__all__ = ["Matrix", "flat", "hessian", "jacobian", "nth_derivative", "spread"]
