"""gradcli: gradients of math expressions with PyTorch autograd, checked exactly with SymPy.

``import gradcli`` is cheap: the public names load on first use, torch on the first
computation and SymPy on the first check.

    >>> import gradcli
    >>> r = gradcli.grad("x**2*y", x=2, y=3)
    >>> r.value, r.gradient
    (12.0, {'x': 12.0, 'y': 4.0})
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # (typing.TYPE_CHECKING, without importing typing: the entry point is light)

__version__ = "0.1.0"

# Public name -> the module that defines it. Loaded on first access (PEP 562), so that the
# command line's fast paths (--help, --version, TAB completion) import almost nothing.
_EXPORTS = {
    "grad": "api",
    "graph": "api",
    "hessian": "api",
    "jacobian": "api",
    "steps": "api",
    "grad_batch": "api",
    "descend": "api",
    "check_answer": "api",
    "ExitCode": "errors",
    "GradcliError": "errors",
    "ParseError": "errors",
    "SCHEMA": "results",
    "Check": "results",
    "GradResult": "results",
    "GraphResult": "results",
    "MatrixResult": "results",
    "Status": "results",
    "Verdict": "results",
    "parse": "language.parser",
    "Array": "language.values",
}

if TYPE_CHECKING:
    from typing import Any

    from .api import check_answer, descend, grad, grad_batch, graph, hessian, jacobian, steps
    from .errors import ExitCode, GradcliError, ParseError
    from .language.parser import parse
    from .language.values import Array
    from .results import (
        SCHEMA,
        Check,
        GradResult,
        GraphResult,
        MatrixResult,
        Status,
        Verdict,
    )


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'gradcli' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "SCHEMA",
    "Array",
    "Check",
    "ExitCode",
    "GradResult",
    "GradcliError",
    "GraphResult",
    "MatrixResult",
    "ParseError",
    "Status",
    "Verdict",
    "__version__",
    "check_answer",
    "descend",
    "grad",
    "grad_batch",
    "graph",
    "hessian",
    "jacobian",
    "parse",
    "steps",
]
