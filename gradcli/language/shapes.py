"""Shapes, worked out before any computation, so shape errors point at the operator.

Values are scalars (shape ``()``), vectors ``(n,)`` or matrices ``(m, n)``. Elementwise
operations broadcast as in torch; ``@`` is torch's matmul for vectors and matrices; ``sum``,
``mean`` and ``dot`` give scalars.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ShapeError
from .nodes import Expr

Shape = tuple[int, ...]


def _show(shape: Shape) -> str:
    return (
        "()"
        if not shape
        else "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
    )


def broadcast(a: Shape, b: Shape) -> Shape | None:
    """The broadcast shape of ``a`` and ``b``, or None if they do not broadcast."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and 1 not in (x, y):
            return None
        out.append(max(x, y))
    return tuple(reversed(out))


def matmul_shape(a: Shape, b: Shape) -> Shape | None:
    if not a or not b:
        return None
    if len(a) == 1 and len(b) == 1:
        return () if a == b else None
    if len(a) == 2 and len(b) == 1:
        return (a[0],) if a[1] == b[0] else None
    if len(a) == 1 and len(b) == 2:
        return (b[1],) if a[0] == b[0] else None
    return (a[0], b[1]) if a[1] == b[0] else None


#: the operations that refuse scalars (every other keeps scalars scalar)
_NEEDS_ARRAYS = frozenset({"matmul", "dot"})


def infer_shapes(expr: Expr, shapes: Mapping[str, Shape]) -> list[Shape]:
    """The shape of every node; :class:`ShapeError` at the first operator that does not fit.

    ``shapes`` gives each variable's shape; a variable without one is a scalar.
    """
    nodes = expr.nodes
    if not any(shapes.get(name) for name in expr.variables) and not any(
        node.op in _NEEDS_ARRAYS for node in nodes
    ):
        return [()] * len(nodes)  # (scalars throughout: the common case, in one pass)
    out: list[Shape] = []
    for node in nodes:
        if node.kind == "variable":
            out.append(tuple(shapes.get(node.name, ())))
            continue
        if node.kind != "op":
            out.append(())
            continue
        operands = [out[a] for a in node.args]
        if node.op in ("sum", "mean"):
            out.append(())
        elif node.op == "matmul":
            result = matmul_shape(*operands)
            if result is None:
                a, b = operands
                texts = [expr.text_of(a) for a in node.args]  # (only now: a slice per node of
                # a long chain would copy text quadratic in its length)
                why = ("is a scalar" if not a else "") or ("is a scalar" if not b else "")
                hint = (
                    "use '*' to multiply by a scalar"
                    if why
                    else "the inner sizes must match: (m, n) @ (n, k)"
                )
                raise ShapeError(
                    f"'@' cannot multiply {texts[0]!r} of shape {_show(a)} by {texts[1]!r} of "
                    f"shape {_show(b)}",
                    expr.source,
                    node.start,
                    node.end,
                    hint=hint,
                )
            out.append(result)
        elif node.op == "dot":
            a, b = operands
            if len(a) != 1 or a != b:
                raise ShapeError(
                    f"dot() needs two vectors of the same length, got {_show(a)} and {_show(b)}",
                    expr.source,
                    node.start,
                    node.end,
                )
            out.append(())
        elif len(operands) == 2:
            result = broadcast(*operands)
            if result is None:
                texts = [expr.text_of(a) for a in node.args]
                raise ShapeError(
                    f"shapes {_show(operands[0])} of {texts[0]!r} and {_show(operands[1])} of "
                    f"{texts[1]!r} do not broadcast",
                    expr.source,
                    node.start,
                    node.end,
                    hint="elementwise operations need equal sizes, or size 1, per dimension",
                )
            out.append(result)
        else:
            out.append(operands[0])
    return out
