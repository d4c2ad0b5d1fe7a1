"""gradcli: gradients of math expressions with PyTorch autograd, checked exactly with SymPy.

``import gradcli`` is cheap: torch and SymPy are imported on first use.

    >>> import gradcli
    >>> r = gradcli.grad("x**2*y", x=2, y=3)
    >>> r.value, r.gradient
    (12.0, {'x': 12.0, 'y': 4.0})
"""

from __future__ import annotations

from .api import grad, graph, hessian, jacobian, steps
from .errors import ExitCode, GradcliError, ParseError
from .models import SCHEMA, Check, GradResult, Status, Verdict
from .parser import parse

__version__ = "0.1.0"

__all__ = [
    "SCHEMA",
    "Check",
    "ExitCode",
    "GradResult",
    "GradcliError",
    "ParseError",
    "Status",
    "Verdict",
    "__version__",
    "grad",
    "graph",
    "hessian",
    "jacobian",
    "parse",
    "steps",
]
