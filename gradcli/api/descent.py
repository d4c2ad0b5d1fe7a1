"""``descend``: gradient descent on an expression with a real torch optimizer.

The arguments are checked before torch is imported; each run ends with the exact check of the
final point (as :func:`gradcli.grad` gives it), so the numbers a learner copies are proven.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import InputError, UsageError, safe_text
from ..language.nodes import Expr
from ..language.parser import parse
from ..language.shapes import infer_shapes
from ..language.values import (
    Array,
    Value,
    columns_within,
    flat,
    match_variables,
)
from ..limits import DEFAULT_TIMEOUT, MAX_CHECKED_DATA, MAX_STEPS
from ..results.descent import DescendResult, Run, Settings, Step
from .arguments import (
    column_arg,
    constants_arg,
    count_arg,
    dtype_arg,
    expression_arg,
    flag_arg,
    held_by_float32,
    needs_dependencies,
    representable,
    shapes_of,
    timeout_arg,
    values_arg,
)
from .calculus import grad

if TYPE_CHECKING:
    import numpy as np

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "rmsprop", "adagrad")

#: called after every step of every run: (which run, the step, the history so far: every
#: loss, |grad| and parameter point, and a function that gives the loss over a grid around
#: some points, ``grid(points, (across, up))``, with two scalar parameters, else None)
Observer = Callable[[int, Step, Any, Any], None]


def _number(value: object, name: str, low: float = 0.0, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError(f"{{{name}}} must be a finite number, not {value!r}", params=(name,))
    if value < low or (positive and value == 0):
        bound = "more than 0" if positive else f"{low:g} or more"
        raise UsageError(f"{{{name}}} must be {bound}, not {value!r}", params=(name,))
    return float(value)


def _optional(value: object, name: str) -> float | None:
    return None if value is None else _number(value, name, positive=True)


def _optimizer(name: object, what: str = "optimizer") -> str:
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise UsageError(
            f"{{{what}}} {safe_text(str(name))!r} is not one of {', '.join(OPTIMIZERS)}",
            params=(what,),
        )
    return name


def _fraction(value: object, name: str) -> float:
    x = _number(value, name)
    if x >= 1:
        raise UsageError(
            f"{{{name}}} must be from 0 up to (not including) 1, not {x:g}", params=(name,)
        )
    return x


@needs_dependencies
def descend(
    expression: str,
    values: Mapping[str, object] | None = None,
    /,
    *,
    optimizer: str = "sgd",
    lr: float = 0.01,
    steps: int = 100,
    every: int = 1,
    tol: float | None = None,
    loss_tol: float | None = None,
    momentum: float | None = None,
    betas: tuple[float, float] | None = None,
    alpha: float | None = None,
    eps: float | None = None,
    weight_decay: float = 0.0,
    const: Sequence[str] = (),
    data: Mapping[str, object] | None = None,
    batch_size: int | None = None,
    seed: int = 0,
    compare: Sequence[str] | None = None,
    no_zero_grad: bool = False,
    dtype: str = "float64",
    check: bool = True,
    timeout: float | None = DEFAULT_TIMEOUT,
    observe: Observer | None = None,
    contour: bool = False,
    **named_values: object,
) -> DescendResult:
    """Minimise ``expression`` by gradient descent with a ``torch.optim`` optimizer, from the
    start values given for its variables (each a parameter: a leaf tensor with
    ``requires_grad=True``), for at most ``steps`` steps::

        >>> r = descend("(w-3)**2", w=0, lr=0.1, steps=50)
        >>> round(r.runs[0].final["w"], 3), r.runs[0].stop.reason
        (3.0, 'steps')

    ``optimizer`` is sgd, momentum (SGD with ``momentum``, default 0.9), nesterov, adam
    (``betas``), rmsprop (``alpha``, ``momentum`` default 0) or adagrad; ``eps`` and
    ``weight_decay`` go to the optimizer as given. ``compare`` runs several optimizers from
    the same start for the same steps instead. The variables in ``const`` are held constant
    (``requires_grad=False``); ``data`` maps variables to columns (one value per row), each
    bound as a vector, and ``batch_size`` takes that many rows per step in a shuffle seeded
    by ``seed``. The loop stops early when |grad| <= ``tol`` or the loss changes by at most
    ``loss_tol``, and when it diverges or oscillates (``Run.stop`` says why).

    ``every`` keeps every k-th step in ``Run.steps`` (with the first and the last);
    ``no_zero_grad=True`` also runs the loop without ``optimizer.zero_grad()``, whose
    gradients accumulate. Each run's final point gets the exact check of :func:`grad` (in
    ``timeout`` seconds) unless ``check`` is False. ``observe(run, step, history)`` is called
    after every step (a live view). With ``contour=True`` and two scalar parameters, the
    result holds the loss over a grid around the paths (``DescendResult.contour``).
    """
    expression = expression_arg(expression)
    dtype = dtype_arg(dtype)
    check = flag_arg(check, "check")
    no_zero_grad = flag_arg(no_zero_grad, "no_zero_grad")
    seconds = timeout_arg(timeout)
    contour = flag_arg(contour, "contour")
    steps = count_arg(steps, "steps", 1, MAX_STEPS)
    every = count_arg(every, "every", 1)
    seed = count_arg(seed, "seed", 0, 2**63 - 1)
    names = [_optimizer(n, "compare") for n in compare] if compare is not None else []
    if compare is not None and not names:
        raise UsageError("{compare} names no optimizer", params=("compare",))
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"{{compare}} names {twice[0]} twice", params=("compare",))
    if compare is not None and no_zero_grad:
        raise UsageError(
            "{no_zero_grad} shows one optimizer's loop beside the correct one; leave out {compare}",
            params=("no_zero_grad", "compare"),
        )
    picked = names or [_optimizer(optimizer)]
    _unused(picked, momentum, betas, alpha, eps)
    settings = [
        _settings(name, lr, momentum, betas or (0.9, 0.999), alpha or 0.99, eps, weight_decay)
        for name in picked
    ]
    if dtype == "float32":
        _held_by_float32(settings[0])
    tol = _optional(tol, "tol")
    loss_tol = _optional(loss_tol, "loss_tol")
    expr = parse(expression)
    constants = constants_arg(const, expr.variables)
    columns = _data(expr, data)
    early_notes: list[str] = []
    if batch_size is not None and not columns:
        raise UsageError(
            "{batch_size} takes rows of the data: give the data too",
            params=("batch_size", "data"),
        )
    given = values_arg(values, named_values)
    for name in columns:
        if name in given:
            raise UsageError(
                f"{name} is a data column and has a value too: give it one or the other"
            )
    point = match_variables([v for v in expr.variables if v not in columns], given)
    representable(point, dtype, expr)
    columns_within(columns, dtype)
    rows = len(next(iter(columns.values()))) if columns else 0
    if batch_size is not None:
        batch_size = count_arg(batch_size, "batch_size", 1)
        if batch_size >= rows:
            early_notes.append(
                f"--batch-size {batch_size} is not less than the data's {rows:,} rows: every "
                "step uses all of them"
            )
            batch_size = None
    shapes = shapes_of(point)
    shapes.update({name: (rows,) for name in columns})
    out = infer_shapes(expr, shapes)[-1]
    if out:
        raise UsageError(
            f"the loss has shape {out}, but descent needs a scalar loss (loss.backward() "
            "needs one)",
            hint="wrap it in mean(...) or sum(...)",
        )
    start = {k: v for k, v in point.items() if k not in constants}
    if not start:
        raise UsageError(
            "nothing to descend on: every variable is held constant or is data",
            hint="leave at least one variable out of {const}",
            params=("const",),
        )
    fixed = {k: v for k, v in point.items() if k in constants}

    from ..engines import descent  # (torch)

    problem = descent.Problem(expr, start, fixed, columns, dtype, batch_size, seed)
    two = len(start) == 2 and not any(isinstance(v, Array) for v in start.values())
    grid_of = functools.partial(descent.contour, problem) if two else None
    notes: list[str] = list(early_notes)
    runs: list[Run] = []
    data_elements = rows * len(columns)
    for index, chosen in enumerate(settings):
        stability = descent.stability(problem, chosen)

        def seen(step: Step, history: Any, index: int = index) -> None:
            if observe is not None:
                observe(index, step, history, grid_of)

        run, _ = descent.descend(
            problem, chosen, steps, every, tol, loss_tol, observe=seen if observe else None
        )
        if stability.bound is not None and chosen.lr >= stability.bound:
            notes.append(
                f"--lr {chosen.lr:g} is at or above {chosen.optimizer}'s stability bound at the "
                f"start, {stability.bound:.4g} ({stability.why}; λ_max = "
                f"{stability.lambda_max:.4g}, the Hessian's largest eigenvalue): expect it to "
                "diverge or oscillate"
            )
        run = replace(run, stability=stability)
        runs.append(
            _checked(run, problem, seconds) if check and data_elements <= MAX_CHECKED_DATA else run
        )
    if check and data_elements > MAX_CHECKED_DATA:
        notes.append(
            f"the final point was not checked exactly: the data has {data_elements:,} values "
            f"(the check takes at most {MAX_CHECKED_DATA:,})"
        )
    accumulated = None
    if no_zero_grad:
        accumulated, _ = descent.descend(problem, settings[0], steps, every, zero_grad=False)
    grid = None
    if (
        flag_arg(contour, "contour")
        and len(start) == 2
        and all(not isinstance(v, Array) for v in start.values())
    ):
        paths = [p for run in runs for p in run.path]
        grid = descent.contour(problem, paths)
    return DescendResult(
        expression,
        dtype,
        start,
        fixed,
        {name: rows for name in columns},
        batch_size,
        seed,
        every,
        tuple(runs),
        accumulated,
        grid,
        tuple(notes),
    )


#: which optimizers take each hyper-parameter
_TAKES = {
    "momentum": ("momentum", "nesterov", "rmsprop"),
    "betas": ("adam",),
    "alpha": ("rmsprop",),
    "eps": ("adam", "rmsprop", "adagrad"),
}


def _unused(
    chosen: Sequence[str], momentum: object, betas: object, alpha: object, eps: object
) -> None:
    """A hyper-parameter that none of the chosen optimizers takes is a mistake, not a no-op."""
    for name, given in (("momentum", momentum), ("betas", betas), ("alpha", alpha), ("eps", eps)):
        takers = _TAKES[name]
        if given is not None and not any(c in takers for c in chosen):
            raise UsageError(
                f"{{{name}}} is not a setting of {', '.join(chosen)}",
                hint=f"it goes with --optimizer {' or '.join(takers)}",
                params=(name,),
            )


def _held_by_float32(settings: Settings) -> None:
    """torch's optimizers apply the step size and the decay in the parameters' dtype: in
    float32, 1e39 is no number (torch's own error) and 1e-50 is 0 (no step at all)."""
    for name in ("lr", "eps", "weight_decay"):
        value = getattr(settings, name)
        if value is not None:
            held_by_float32(f"{{{name}}}", [value], (name,))


def _settings(
    name: str,
    lr: object,
    momentum: object,
    betas: object,
    alpha: object,
    eps: object,
    weight_decay: object,
) -> Settings:
    if (
        not isinstance(betas, (tuple, list))
        or len(betas) != 2
        or any(isinstance(b, bool) or not isinstance(b, (int, float)) for b in betas)
    ):
        raise UsageError(f"{{betas}} must be two numbers, not {betas!r}", params=("betas",))
    default_momentum = 0.9 if name in ("momentum", "nesterov") else 0.0
    mu = default_momentum if momentum is None else _fraction(momentum, "momentum")
    if name == "nesterov" and mu == 0:
        raise UsageError("nesterov needs a {momentum} above 0", params=("momentum",))
    return Settings(
        name,
        _number(lr, "lr", positive=True),
        mu,
        (_fraction(betas[0], "betas"), _fraction(betas[1], "betas")),
        _fraction(alpha, "alpha"),
        None if eps is None else _number(eps, "eps", positive=True),
        _number(weight_decay, "weight_decay"),
    )


def _data(expr: Expr, data: object) -> dict[str, np.ndarray]:
    """The data columns: one-dimensional float64 arrays of one length (at least one row)."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise UsageError(
            f"data must be a mapping of variable names to columns, not {type(data).__name__}"
        )
    columns = {}
    for name, raw in data.items():
        if name not in expr.variables:
            uses = ", ".join(expr.variables) or "no variables"
            raise UsageError(
                f"data column {safe_text(str(name))} is not a variable of the expression "
                f"(it uses {uses})"
            )
        column = column_arg(name, raw)
        if column.ndim == 0:
            raise InputError(f"data column {name} must be an array of values, one per row")
        columns[name] = column
    lengths = {name: len(c) for name, c in columns.items()}
    if lengths and min(lengths.values()) == 0:
        raise InputError("the data has no rows")
    if len(set(lengths.values())) > 1:
        raise InputError(
            "the data columns have different lengths: "
            + ", ".join(f"{k} {n:,}" for k, n in lengths.items())
        )
    return columns


def _checked(run: Run, problem: Any, seconds: float | None) -> Run:
    """The run with the exact check of its final point (when it ended on finite numbers)."""
    finite = all(math.isfinite(x) for v in run.final.values() for x in flat(v))
    if not finite or not math.isfinite(run.final_loss):
        return run  # (a diverged run: its stop says so; there is no point to check)
    point: dict[str, Value] = {**run.final, **problem.constants}
    for name, column in problem.data.items():
        point[name] = Array((len(column),), tuple(float(x) for x in column))
    order = {name: point[name] for name in problem.expr.variables}
    fixed = [*problem.constants, *problem.data]
    result = grad(problem.expr.source, order, dtype=problem.dtype, timeout=seconds, const=fixed)
    return replace(run, check=result)


__all__ = ["OPTIMIZERS", "descend"]
