"""The public functions behind ``import gradcli``; the command line calls these too.

``calculus``: grad, graph, steps, jacobian, hessian and grad_batch; ``descent``: gradient
descent with a torch optimizer; ``answers``: is a hand-derived derivative right. Their
arguments are checked in ``arguments``, before any heavy import.
"""

from .answers import check_answer
from .arguments import DTYPES, shapes_of
from .calculus import grad, grad_batch, graph, hessian, jacobian, own_process, steps
from .descent import OPTIMIZERS, descend

__all__ = [
    "DTYPES",
    "OPTIMIZERS",
    "check_answer",
    "descend",
    "grad",
    "grad_batch",
    "graph",
    "hessian",
    "jacobian",
    "own_process",
    "shapes_of",
    "steps",
]
