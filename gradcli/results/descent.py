"""The result of ``descend``: gradient descent with a torch optimizer, step by step.

Plain data: the renderers (table, plot, script) and ``to_dict()`` read it; nothing here computes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..errors import ExitCode
from .grad import GradResult
from .verdicts import SCHEMA, json_number, json_value

#: why a run stopped
CONVERGED = "converged"  #: --tol or --loss-tol was met
FINISHED = "steps"  #: every step asked for was taken
DIVERGED = "diverged"  #: the loss or a parameter became non-finite or grew without bound
OSCILLATING = "oscillating"  #: the gradient flips direction at every step and does not shrink


@dataclass(frozen=True)
class Settings:
    """One optimizer and its hyper-parameters, as torch.optim takes them."""

    optimizer: str  #: sgd, momentum, nesterov, adam, rmsprop or adagrad
    lr: float
    momentum: float = 0.0  #: momentum and nesterov (SGD's ``momentum``); rmsprop's too
    betas: tuple[float, float] = (0.9, 0.999)  #: adam
    alpha: float = 0.99  #: rmsprop's smoothing constant
    eps: float | None = None  #: adam, rmsprop, adagrad; None: torch's default
    weight_decay: float = 0.0

    def torch_arguments(self) -> dict[str, Any]:
        """The keyword arguments of the torch.optim class (see :meth:`torch_class`)."""
        given: dict[str, Any] = {"lr": self.lr}
        name = self.optimizer
        if name in ("momentum", "nesterov"):
            given["momentum"] = self.momentum
        if name == "nesterov":
            given["nesterov"] = True
        if name == "adam":
            given["betas"] = self.betas
        if name == "rmsprop":
            given["alpha"] = self.alpha
            if self.momentum:
                given["momentum"] = self.momentum
        if name in ("adam", "rmsprop", "adagrad") and self.eps is not None:
            given["eps"] = self.eps
        if self.weight_decay:
            given["weight_decay"] = self.weight_decay
        return given

    @property
    def torch_class(self) -> str:
        """The torch.optim class: SGD for sgd, momentum and nesterov."""
        return {"adam": "Adam", "rmsprop": "RMSprop", "adagrad": "Adagrad"}.get(
            self.optimizer, "SGD"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer,
            "torch": f"torch.optim.{self.torch_class}",
            "arguments": {
                k: list(v) if isinstance(v, tuple) else v for k, v in self.torch_arguments().items()
            },
        }


@dataclass(frozen=True)
class Step:
    """One optimizer step: the loss and the gradient at the parameters before it, and the
    parameters after it (as the tutorials print them: ``step=00 w=0.0600 loss=9.0000``)."""

    step: int  #: 0-based
    epoch: int  #: 0-based; the step itself without --batch-size
    loss: float
    gradient: dict[str, float]  #: what ``.grad`` held after ``backward()``, by element label
    after: dict[str, float]  #: the parameters after ``optimizer.step()``, by element label

    @property
    def gradient_norm(self) -> float:
        return math.sqrt(math.fsum(g * g for g in self.gradient.values()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "loss": json_number(self.loss),
            "gradient": {k: json_number(v) for k, v in self.gradient.items()},
            "gradient_norm": json_number(self.gradient_norm),
            "parameters": {k: json_number(v) for k, v in self.after.items()},
        }


@dataclass(frozen=True)
class Stop:
    """Why and when a run stopped, in one sentence."""

    reason: str  #: CONVERGED, FINISHED, DIVERGED or OSCILLATING
    steps: int  #: steps taken
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "steps": self.steps, "message": self.message}


@dataclass(frozen=True)
class Stability:
    """The Hessian at the start and what it says about plain SGD's learning rate."""

    lambda_max: float | None  #: largest eigenvalue of the Hessian (None: not computed)
    bound: float | None  #: the largest stable lr for the optimizer (None: none applies)
    why: str  #: how the bound follows, or why there is none

    def to_dict(self) -> dict[str, Any]:
        return {
            "lambda_max": json_number(self.lambda_max),
            "lr_bound": json_number(self.bound),
            "why": self.why,
        }


@dataclass(frozen=True)
class Run:
    """One optimizer's run from the start point."""

    settings: Settings
    steps: tuple[Step, ...]  #: the steps kept (every k-th, the first and the last)
    stop: Stop
    final: dict[str, Any]  #: the parameters at the end (floats or Arrays), by variable
    final_loss: float  #: the loss (on all the data) at the end
    final_gradient: dict[str, Any]  #: its gradient there
    zero_grad: bool = True  #: False: the run without optimizer.zero_grad()
    after_zero_grad: dict[str, Any] | None = None  #: ``.grad`` after the last zero_grad()
    check: GradResult | None = None  #: the exact check at the final point
    stability: Stability | None = None  #: the Hessian at the start and the lr bound
    #: every step's loss and |grad| (for the plots; ``steps`` keeps every k-th step)
    losses: tuple[float, ...] = ()
    gradient_norms: tuple[float, ...] = ()
    #: with at most two parameter elements: their values before each step, and at the end
    path: tuple[tuple[float, ...], ...] = ()

    @property
    def exit_code(self) -> ExitCode:
        if self.stop.reason in (DIVERGED, OSCILLATING):
            return ExitCode.DIVERGED
        return self.check.exit_code if self.check is not None else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings.to_dict(),
            "zero_grad": self.zero_grad,
            "stability": self.stability.to_dict() if self.stability is not None else None,
            "stop": self.stop.to_dict(),
            "steps": [s.to_dict() for s in self.steps],
            "final": {
                "parameters": {k: json_value(v) for k, v in self.final.items()},
                "loss": json_number(self.final_loss),
                "gradient": {k: json_value(v) for k, v in self.final_gradient.items()},
                "grad_after_zero_grad": None
                if self.after_zero_grad is None
                else {k: json_value(v) for k, v in self.after_zero_grad.items()},
                "check": self.check.to_dict() if self.check is not None else None,
            },
        }


@dataclass(frozen=True)
class Contour:
    """The loss over a grid of two scalar parameters around the runs' paths."""

    names: tuple[str, str]  #: the parameters across and up
    xs: tuple[float, ...]
    ys: tuple[float, ...]
    values: tuple[tuple[float, ...], ...]  #: values[i][j]: at (xs[j], ys[i])


@dataclass(frozen=True)
class DescendResult:
    """Gradient descent on ``expression``: one run per optimizer (``--compare``), and with
    ``--no-zero-grad`` the run without zeroing beside the correct one."""

    expression: str
    dtype: str
    start: dict[str, Any]  #: the parameters' start values
    constants: dict[str, Any]  #: the values that are not parameters (--const), by variable
    data: dict[str, int]  #: data columns bound to variables: name -> rows
    batch_size: int | None
    seed: int
    every: int
    runs: tuple[Run, ...]
    accumulated: Run | None = None  #: --no-zero-grad: the same loop without zero_grad()
    contour: Contour | None = None  #: with two scalar parameters, when asked for
    notes: tuple[str, ...] = field(default=())

    @property
    def all_runs(self) -> tuple[Run, ...]:
        """The runs, and the one without zero_grad() last when there is one."""
        return (*self.runs, *((self.accumulated,) if self.accumulated else ()))

    @property
    def exit_code(self) -> ExitCode:
        return max((r.exit_code for r in self.runs), default=ExitCode.OK)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``gradcli descend --json``."""
        return {
            "schema": SCHEMA,
            "command": "descend",
            "expression": self.expression,
            "dtype": self.dtype,
            "start": {k: json_value(v) for k, v in self.start.items()},
            "constants": {k: json_value(v) for k, v in self.constants.items()},
            "data": dict(self.data),
            "batch_size": self.batch_size,
            "seed": self.seed,
            "every": self.every,
            "runs": [r.to_dict() for r in self.runs],
            "without_zero_grad": self.accumulated.to_dict() if self.accumulated else None,
            "notes": list(self.notes),
        }
