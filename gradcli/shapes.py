"""Shape checks that run before any computation, so shape errors point at the operator.

Every value is a scalar for now, so the only shape error is a matrix product of scalars.
"""

from __future__ import annotations

from .errors import ShapeError
from .nodes import Expr


def check_shapes(expr: Expr) -> None:
    """Raise :class:`ShapeError` at the first operator whose operands' shapes do not fit."""
    for node in expr.nodes:
        if node.kind == "op" and node.op == "matmul":
            left, right = (expr.text_of(a) for a in node.args)
            raise ShapeError(
                f"'@' is the matrix product, but {left!r} and {right!r} are scalars (shape ())",
                expr.source,
                node.start,
                node.end,
                hint="use '*' to multiply scalars",
            )
