"""Gradient descent with a real ``torch.optim`` optimizer, as the tutorials write the loop.

Each step is ``optimizer.zero_grad(set_to_none=False)``, the loss, ``loss.backward()``,
``optimizer.step()``: the parameters are leaf tensors with ``requires_grad=True``; constants
(``--const``) and data columns (``--data``) are plain tensors. The loop stops when it converges
(``tol`` on |grad|, ``loss_tol`` on the change of the loss), diverges (a non-finite number, or
growth without bound) or oscillates (the gradient flips direction at every step and does not
shrink); the reason is one sentence. Importing this module imports torch.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..language.nodes import Expr
from ..language.values import Value, flat, labels
from ..results.descent import (
    CONVERGED,
    DIVERGED,
    FINISHED,
    OSCILLATING,
    Contour,
    Run,
    Settings,
    Stability,
    Step,
    Stop,
)
from .autograd import DTYPES, as_tensor, forward, on_one_thread, to_value

#: a loss or parameter this many times its start (at least 1) has grown without bound
GROWTH = 1e10
#: steps over which the gradient must flip direction every time to count as oscillating
WINDOW = 20
#: |grad| within this many machine epsilons of its largest value is at rounding level
FLOOR = 1e4
#: Hessians of more parameter elements than this are not computed for the stability bound
MAX_HESSIAN = 400


@dataclass(frozen=True)
class Problem:
    """What to minimise: the expression, the parameters' start, what stays fixed."""

    expr: Expr
    start: dict[str, Value]  #: the parameters (leaves with requires_grad=True)
    constants: dict[str, Value]  #: --const values (requires_grad=False)
    data: dict[str, np.ndarray] = field(default_factory=dict)  #: columns, one value per row
    dtype: str = "float64"
    batch_size: int | None = None  #: rows per step (seeded shuffle each epoch); None: all
    seed: int = 0

    @property
    def rows(self) -> int:
        return len(next(iter(self.data.values()))) if self.data else 0


@dataclass
class History:
    """Every step's loss, |grad| and (for the contour plot) parameters, for the plots."""

    losses: list[float] = field(default_factory=list)
    gradient_norms: list[float] = field(default_factory=list)
    path: list[tuple[float, ...]] = field(default_factory=list)  #: parameters before each step


#: called after every step: (the step, the history so far)
Observer = Callable[[Step, History], None]


def make_optimizer(settings: Settings, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    """The torch.optim optimizer for ``settings``."""
    cls = getattr(torch.optim, settings.torch_class)
    optimizer: torch.optim.Optimizer = cls(params, **settings.torch_arguments())
    return optimizer


def _fixed_tensors(problem: Problem, dt: torch.dtype) -> dict[str, torch.Tensor]:
    fixed = {name: as_tensor(v, dt) for name, v in problem.constants.items()}
    fixed.update({name: torch.from_numpy(col).to(dt) for name, col in problem.data.items()})
    return fixed


class _Batches:
    """The data rows of each step: all of them, or --batch-size rows in a seeded shuffle, as
    ``torch.randperm(n, generator=torch.Generator().manual_seed(seed))`` at each epoch start
    (the last batch of an epoch may be smaller, as DataLoader's ``drop_last=False``)."""

    def __init__(self, problem: Problem) -> None:
        self.n = problem.rows
        self.size = problem.batch_size if problem.batch_size and self.n else None
        self.generator = torch.Generator().manual_seed(problem.seed)
        self.order: torch.Tensor | None = None
        self.at = 0
        self.epoch = -1

    @property
    def per_epoch(self) -> int:
        return 1 if self.size is None else -(-self.n // self.size)

    def next(self) -> torch.Tensor | None:
        if self.size is None:
            self.epoch += 1
            return None
        if self.order is None or self.at >= self.n:
            self.order = torch.randperm(self.n, generator=self.generator)
            self.at = 0
            self.epoch += 1
        rows = self.order[self.at : self.at + self.size]
        self.at += self.size
        return rows


def _loss(
    expr: Expr,
    leaves: Mapping[str, torch.Tensor],
    fixed: Mapping[str, torch.Tensor],
    data: set[str],
    rows: torch.Tensor | None,
    dt: torch.dtype,
) -> torch.Tensor:
    inputs = dict(leaves)
    for name, t in fixed.items():
        inputs[name] = t[rows] if rows is not None and name in data else t
    return forward(expr, inputs, dt)[-1]


def _flat(t: torch.Tensor | None, like: torch.Tensor) -> list[float]:
    if t is None:
        return [0.0] * like.numel()
    return [float(v) for v in t.detach().reshape(-1).tolist()]


@on_one_thread
def descend(
    problem: Problem,
    settings: Settings,
    steps: int,
    every: int = 1,
    tol: float | None = None,
    loss_tol: float | None = None,
    zero_grad: bool = True,
    observe: Observer | None = None,
) -> tuple[Run, History]:
    """Run the loop for at most ``steps`` steps; keep every ``every``-th step (and the first
    and the last) in the result, and every step's loss and |grad| in the history."""
    dt = DTYPES[problem.dtype]
    leaves = {name: as_tensor(v, dt, requires_grad=True) for name, v in problem.start.items()}
    fixed = _fixed_tensors(problem, dt)
    names = {name: labels(name, v) for name, v in problem.start.items()}
    optimizer = make_optimizer(settings, list(leaves.values()))
    batches = _Batches(problem)
    data = set(problem.data)
    history = History()
    kept: list[Step] = []
    start_loss: float | None = None
    start_size = max([1.0, *(abs(x) for v in problem.start.values() for x in flat(v))])
    stop: Stop | None = None
    previous: list[float] | None = None
    flips = 0
    record: Step | None = None
    for step in range(steps):
        if zero_grad:
            optimizer.zero_grad(set_to_none=False)
        rows = batches.next()
        loss = _loss(problem.expr, leaves, fixed, data, rows, dt)
        before = tuple(x for t in leaves.values() for x in _flat(t, t))
        if loss.requires_grad:
            loss.backward()  # type: ignore[no-untyped-call]
        gradient = {
            label: g
            for name, t in leaves.items()
            for label, g in zip(names[name], _flat(t.grad, t), strict=True)
        }
        optimizer.step()
        after = {
            label: x
            for name, t in leaves.items()
            for label, x in zip(names[name], _flat(t, t), strict=True)
        }
        value = float(loss.detach())
        record = Step(step, batches.epoch, value, gradient, after)
        norm = record.gradient_norm
        history.losses.append(value)
        history.gradient_norms.append(norm)
        history.path.append(before)
        if start_loss is None:
            start_loss = value
        if step % every == 0:
            kept.append(record)
        if observe is not None:
            observe(record, history)
        stop = _diverged(record, start_loss, start_size)
        if stop is None and tol is not None and norm <= tol:
            stop = Stop(CONVERGED, step + 1, f"converged: |grad| = {norm:.3g} <= --tol {tol:g}")
        if stop is None and loss_tol is not None and len(history.losses) > 1:
            change = abs(history.losses[-1] - history.losses[-2])
            if change <= loss_tol:
                stop = Stop(
                    CONVERGED,
                    step + 1,
                    f"converged: the loss changed by {change:.3g} <= --loss-tol {loss_tol:g}",
                )
        flat_gradient = list(gradient.values())
        if previous is not None and _cosine(previous, flat_gradient) < -0.5:
            flips += 1
        else:
            flips = 0
        previous = flat_gradient
        if stop is None and flips >= WINDOW:
            stop = _overshooting(history, flips, settings.lr, torch.finfo(dt).eps)
        if stop is not None:
            break
    taken = len(history.losses)
    if record is not None and kept and kept[-1].step != taken - 1:
        kept.append(record)
    if stop is None:
        stop = Stop(FINISHED, taken, f"took all {taken:,} step{'s' * (taken != 1)}")
    final = {name: to_value(t) for name, t in leaves.items()}
    final_loss, final_gradient = _at(problem, final, dt)
    after_zero = None
    if zero_grad:
        optimizer.zero_grad(set_to_none=False)
        after_zero = {name: to_value(t.grad, problem.start[name]) for name, t in leaves.items()}
    path: tuple[tuple[float, ...], ...] = ()
    if len(history.path[0]) <= 2:
        end = tuple(x for v in final.values() for x in flat(v))
        path = (*history.path, end)
    run = Run(
        settings,
        tuple(kept),
        stop,
        final,
        final_loss,
        final_gradient,
        zero_grad,
        after_zero,
        losses=tuple(history.losses),
        gradient_norms=tuple(history.gradient_norms),
        path=path,
    )
    return run, history


def _at(
    problem: Problem, params: Mapping[str, Value], dt: torch.dtype
) -> tuple[float, dict[str, Value]]:
    """The loss on all the data, and its gradient, at ``params``."""
    leaves = {name: as_tensor(v, dt, requires_grad=True) for name, v in params.items()}
    loss = _loss(problem.expr, leaves, _fixed_tensors(problem, dt), set(), None, dt)
    if loss.requires_grad:
        loss.backward()  # type: ignore[no-untyped-call]
    return float(loss.detach()), {
        name: to_value(t.grad, params[name]) for name, t in leaves.items()
    }


#: the contour grid's points across and up
CONTOUR_GRID = (80, 40)


@on_one_thread
def contour(
    problem: Problem, paths: Sequence[Sequence[float]], size: tuple[int, int] = CONTOUR_GRID
) -> Contour:
    """The loss on all the data over a grid of the two scalar parameters around ``paths``
    (the box of the paths, widened by a quarter on each side and at least 1 wide), cell by
    cell: a few thousand forward passes without autograd."""
    names = tuple(problem.start)
    finite = [p for p in paths if all(math.isfinite(v) for v in p)] or [
        tuple(float(v) for v in problem.start.values())  # type: ignore[arg-type]
    ]
    axes = []
    for k, count in enumerate(size):
        low = min(p[k] for p in finite)
        high = max(p[k] for p in finite)
        pad = max((high - low) / 4, 0.5)
        axes.append(np.linspace(low - pad, high + pad, count))
    xs, ys = axes
    dt = DTYPES[problem.dtype]
    fixed = _fixed_tensors(problem, dt)
    values = []
    with torch.no_grad():
        for y in ys:
            row = []
            for x in xs:
                leaves = {
                    names[0]: torch.tensor(float(x), dtype=dt),
                    names[1]: torch.tensor(float(y), dtype=dt),
                }
                row.append(float(_loss(problem.expr, leaves, fixed, set(), None, dt)))
            values.append(tuple(row))
    return Contour(
        (names[0], names[1]), tuple(map(float, xs)), tuple(map(float, ys)), tuple(values)
    )


def _cosine(a: list[float], b: list[float]) -> float:
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    size = math.sqrt(math.fsum(x * x for x in a) * math.fsum(y * y for y in b))
    return dot / size if size and math.isfinite(size) else 0.0


def _overshooting(history: History, flips: int, lr: float, eps: float) -> Stop | None:
    """With the gradient flipping direction at every step: diverged when |grad| grows step
    by step, oscillating when it does not shrink, None when it shrinks (converging) or when the
    parameters move by rounding alone (converged as far as the dtype can tell)."""
    norms = history.gradient_norms
    path = history.path[-WINDOW:]
    if max(norms[-WINDOW:]) <= FLOOR * eps * max(norms):
        return None  # (|grad| is down at rounding level: converged as far as the dtype tells)
    if all(
        abs(b - a) <= 16 * eps * max(abs(a), abs(b))
        for before, now in itertools.pairwise(path)
        for a, b in zip(before, now, strict=True)
    ):
        return None
    growth = (norms[-1] / norms[-WINDOW]) ** (1 / (WINDOW - 1)) if norms[-WINDOW] > 0 else 1.0
    steps = len(norms)
    if growth > 1.01:
        return Stop(
            DIVERGED,
            steps,
            f"diverged: each step overshoots and |grad| grows about {growth:.3g}x per step "
            f"(|grad| = {norms[-1]:.3g} at step {steps - 1}); --lr {lr:g} is too large",
        )
    half = WINDOW // 2
    if sum(norms[-half:]) >= 0.9 * sum(norms[-2 * half : -half]):
        return Stop(
            OSCILLATING,
            steps,
            f"oscillating: the gradient has flipped direction at each of the last {flips} "
            f"steps without shrinking (|grad| about {norms[-1]:.3g}); try a smaller --lr",
        )
    return None


def _diverged(record: Step, start_loss: float | None, start_size: float) -> Stop | None:
    """A non-finite loss, gradient or parameter, or one grown without bound."""
    k = record.step
    if not math.isfinite(record.loss):
        return Stop(DIVERGED, k + 1, f"diverged: the loss became {record.loss} at step {k}")
    for label, g in record.gradient.items():
        if not math.isfinite(g):
            return Stop(
                DIVERGED, k + 1, f"diverged: the gradient of {label} became {g} at step {k}"
            )
    for label, x in record.after.items():
        if not math.isfinite(x):
            return Stop(DIVERGED, k + 1, f"diverged: {label} became {x} after step {k}")
    scale = max(1.0, abs(start_loss or 0.0))
    if abs(record.loss) > GROWTH * scale:
        if record.loss < 0:
            return Stop(
                DIVERGED,
                k + 1,
                f"diverged: the loss fell to {record.loss:.3g} by step {k}: it has no lower "
                "bound along this path",
            )
        return Stop(
            DIVERGED,
            k + 1,
            f"diverged: the loss grew from {start_loss:.3g} to {record.loss:.3g} in {k + 1} "
            f"step{'s' * (k != 0)}; try a smaller --lr",
        )
    for label, x in record.after.items():
        if abs(x) > GROWTH * start_size:
            steps = f"{k + 1} step{'s' * (k != 0)}"
            return Stop(DIVERGED, k + 1, f"diverged: {label} grew to {x:.3g} in {steps}")
    return None


@on_one_thread
def stability(problem: Problem, settings: Settings) -> Stability:
    """The Hessian of the loss (on all the data) with respect to the parameters at the start,
    its largest eigenvalue, and the learning rate above which plain gradient descent on the
    quadratic model there diverges: 2/λ_max for SGD, 2(1+μ)/λ_max with momentum μ (heavy
    ball), 2(1+μ)/((1+2μ)λ_max) for Nesterov. Adaptive optimizers rescale each step, so no
    such bound applies to them."""
    size = sum(len(flat(v)) for v in problem.start.values())
    if size > MAX_HESSIAN:
        return Stability(
            None,
            None,
            f"not computed: the parameters have {size:,} elements (the Hessian is computed "
            f"for at most {MAX_HESSIAN:,})",
        )
    dt = DTYPES[problem.dtype]
    leaves = {name: as_tensor(v, dt, requires_grad=True) for name, v in problem.start.items()}
    order = list(leaves.values())
    loss = _loss(problem.expr, leaves, _fixed_tensors(problem, dt), set(), None, dt)
    if not loss.requires_grad:
        return Stability(None, None, "the loss does not depend on the parameters")
    first = torch.autograd.grad(loss, order, create_graph=True, allow_unused=True)
    parts = [
        g.reshape(-1) if g is not None else torch.zeros_like(t).reshape(-1)
        for g, t in zip(first, order, strict=True)
    ]
    gradient = torch.cat(parts)
    rows = []
    for g in gradient:
        if not g.requires_grad:
            rows.append(torch.zeros(size, dtype=dt))
            continue
        second = torch.autograd.grad(g, order, retain_graph=True, allow_unused=True)
        rows.append(
            torch.cat(
                [
                    s.reshape(-1) if s is not None else torch.zeros_like(t).reshape(-1)
                    for s, t in zip(second, order, strict=True)
                ]
            )
        )
    h = torch.stack(rows).to(torch.float64).numpy()
    if not np.isfinite(h).all():
        return Stability(None, None, "the Hessian at the start is not finite")
    top = float(np.linalg.eigvalsh((h + h.T) / 2)[-1])
    mu = settings.momentum
    if settings.optimizer in ("adam", "rmsprop", "adagrad"):
        return Stability(
            top,
            None,
            f"{settings.optimizer} scales each step by its own statistics: no fixed bound",
        )
    if top <= 0:
        return Stability(
            top,
            None,
            "the Hessian has no positive eigenvalue at the start: the loss curves down or is "
            "flat there, so no learning rate is stable by the quadratic model",
        )
    if settings.optimizer == "sgd":
        return Stability(top, 2 / top, "lr < 2/λ_max (plain gradient descent on a quadratic)")
    if settings.optimizer == "momentum":
        return Stability(
            top, 2 * (1 + mu) / top, f"lr < 2(1+μ)/λ_max with momentum μ = {mu:g} (heavy ball)"
        )
    return Stability(
        top,
        2 * (1 + mu) / ((1 + 2 * mu) * top),
        f"lr < 2(1+μ)/((1+2μ)λ_max) with momentum μ = {mu:g} (Nesterov)",
    )
