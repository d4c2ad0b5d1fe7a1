"""The exact side: a SymPy expression built from our tree, its derivatives, exact evaluation.

SymPy only ever receives SymPy objects built here from the parsed tree: no user text reaches
``sympify``, ``parse_expr``, ``lambdify`` or ``eval``.

"Exact" means: the same function torch executes, at the same binary64 numbers torch sees.
Variables are real symbols; at evaluation time each is replaced by the exact rational value of
its double. A number literal that is not exactly representable (``0.1``) and the constants
``pi`` and ``e`` are placeholders during differentiation, replaced by the exact rational of
their double when evaluating, and by their familiar form (``0.1``, ``pi``, ``E``) when
printing, so the derivative reads as the user wrote it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from ..errors import LimitError, SymbolicError
from ..language.nodes import Expr
from ..language.ops import CONSTANTS, OPS
from ..language.values import round_to
from ..limits import MAX_EXPONENT


class detach(sp.Function):  # noqa: N801 - named as it is printed
    """Stop-gradient: the value of its argument, derivative zero."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sp.S.Zero

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real  # type: ignore[no-any-return]


class sigmoid(sp.Function):  # noqa: N801
    """The logistic function, kept whole so derivatives read sigmoid(u)*(1 - sigmoid(u))."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real  # type: ignore[no-any-return]


class softplus(sp.Function):  # noqa: N801
    """log(1 + exp(u)), kept whole for readable derivatives."""

    nargs = 1

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return sigmoid(self.args[0])

    def _eval_is_real(self) -> bool | None:
        return self.args[0].is_real  # type: ignore[no-any-return]


class _TooLargeError(Exception):
    pass


class _Namespace:
    """What the op table's SymPy column sees as ``S``: SymPy plus gradcli's own pieces."""

    sigmoid = sigmoid
    softplus = softplus

    def __getattr__(self, name: str) -> Any:
        return getattr(sp, name)

    @staticmethod
    def detach(u: sp.Expr) -> sp.Expr:
        # Of a constant, the constant: nothing flows back from it anyway, and SymPy can then
        # compare it (Min(x, detach(3)) needs to).
        return u if u.is_number else detach(u)

    @staticmethod
    def Pow(base: sp.Expr, exponent: sp.Expr) -> sp.Expr:  # noqa: N802 - SymPy's name
        # SymPy evaluates number**number exactly; 9**387420489 would never finish.
        if exponent.is_Number and exponent.is_finite and abs(exponent) > MAX_EXPONENT:
            raise _TooLargeError
        return sp.Pow(base, exponent)

    # The array operations receive whole object arrays (see Op.elementwise).
    @staticmethod
    def reduce_sum(u: np.ndarray) -> np.ndarray:
        return scalar_array(sp.Add(*u.flat))

    @staticmethod
    def reduce_mean(u: np.ndarray) -> np.ndarray:
        return scalar_array(sp.Add(*u.flat) / u.size)

    @staticmethod
    def matmul(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        out = np.matmul(u, v)
        return out if isinstance(out, np.ndarray) else scalar_array(out)

    @staticmethod
    def dot(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return scalar_array(sp.Add(*(u * v).flat))


def scalar_array(e: Any) -> np.ndarray:
    """A 0-d object array holding one SymPy expression."""
    out = np.empty((), dtype=object)
    out[()] = e
    return out


def elementwise(fn: Any, *arrays: np.ndarray) -> np.ndarray:
    """``fn`` applied element by element, with torch's broadcasting."""
    parts = np.broadcast_arrays(*arrays)
    out = np.empty(parts[0].shape, dtype=object)
    for index in np.ndindex(out.shape):
        out[index] = fn(*(p[index] for p in parts))
    return out


S = _Namespace()  #: what the op table's sympy column sees as ``S``


def exact_rational(value: float) -> sp.Rational:
    """The exact rational value of a double."""
    num, den = value.as_integer_ratio()
    return sp.Rational(num, den)


@dataclass(frozen=True)
class Symbolic:
    """The SymPy form of an expression, with what is needed to evaluate and print it.

    Every node's value is an object array of SymPy expressions (0-d for scalars), and every
    element of a vector or matrix variable is its own real symbol, named ``x[0]`` or
    ``W[1,0]``, so SymPy differentiates exactly the function torch executes.
    """

    arrays: tuple[np.ndarray, ...]  #: the SymPy form of every tree node, in post-order
    elements: dict[str, list[tuple[str, sp.Symbol]]]  #: variable -> [(label, symbol), ...]
    exact_subs: dict[sp.Symbol, sp.Expr]  #: placeholder -> exact rational of its double
    display_subs: dict[sp.Symbol, sp.Expr]  #: placeholder -> the form the user wrote

    @property
    def expr(self) -> sp.Expr:
        """The output, which must be a scalar."""
        return self.arrays[-1].item()

    @property
    def nodes(self) -> tuple[sp.Expr, ...]:
        """Every node as one SymPy expression (expressions with scalar values only)."""
        return tuple(a.item() for a in self.arrays)

    @property
    def symbols(self) -> dict[str, sp.Symbol]:
        """Each scalar variable's symbol."""
        return {name: elems[0][1] for name, elems in self.elements.items() if len(elems) == 1}

    def derivative(self, name: str) -> sp.Expr:
        return sp.diff(self.expr, self.symbols[name])

    def display(self, e: sp.Expr) -> str:
        """``e`` as text, with literals and constants as written."""
        return str(sp.sstr(e.xreplace(self.display_subs), full_prec=False))


def build(
    expr: Expr, dtype: str = "float64", shapes: Mapping[str, tuple[int, ...]] | None = None
) -> Symbolic:
    """Translate the tree into SymPy, node by node through the op table."""
    shapes = shapes or {}
    elements: dict[str, list[tuple[str, sp.Symbol]]] = {}
    variables: dict[str, np.ndarray] = {}
    for name in expr.variables:
        shape = tuple(shapes.get(name, ()))
        arr = np.empty(shape, dtype=object)
        elements[name] = []
        for index in np.ndindex(shape):
            label = name if not shape else f"{name}[{','.join(map(str, index))}]"
            arr[index] = sp.Symbol(label, real=True)
            elements[name].append((label, arr[index]))
        variables[name] = arr
    exact_subs: dict[sp.Symbol, sp.Expr] = {}
    display_subs: dict[sp.Symbol, sp.Expr] = {}
    placeholders: dict[tuple[str, str], sp.Symbol] = {}
    out: list[np.ndarray] = []

    def placeholder(kind: str, text: str, exact: sp.Expr, shown: sp.Expr) -> sp.Symbol:
        key = (kind, text)
        if key not in placeholders:
            sym = sp.Symbol(f"_{kind}{len(placeholders)}", real=True)
            placeholders[key] = sym
            exact_subs[sym] = exact
            display_subs[sym] = shown
        return placeholders[key]

    for node in expr.nodes:
        if node.kind == "number":
            stored = round_to(node.value, dtype)
            exact = exact_rational(stored)
            if exact == sp.Rational(node.text):
                out.append(scalar_array(exact))  # 2, 0.5, 1e3: exactly what torch stores
            else:
                digits = max(15, sum(c.isdigit() for c in node.text))
                shown = sp.Float(node.text, digits)
                out.append(scalar_array(placeholder("n", node.text, exact, shown)))
        elif node.kind == "constant":
            stored = round_to(CONSTANTS[node.name], dtype)
            shown = sp.pi if node.name == "pi" else sp.E
            out.append(scalar_array(placeholder("c", node.name, exact_rational(stored), shown)))
        elif node.kind == "variable":
            out.append(variables[node.name])
        else:
            op = OPS[node.op]
            operands = [out[a] for a in node.args]
            try:
                if op.elementwise:
                    out.append(elementwise(lambda *a, op=op: op.sympy(S, *a), *operands))
                else:
                    out.append(op.sympy(S, *operands))
            except (ValueError, TypeError, ArithmeticError) as e:
                raise SymbolicError(
                    f"SymPy cannot write {op.name} at column {node.start + 1} ({e})"
                ) from None
            except _TooLargeError:
                raise LimitError(
                    f"exponent is too large for an exact check; the limit is {MAX_EXPONENT:,}",
                    expr.source,
                    node.start,
                    node.end,
                ) from None
    return Symbolic(tuple(out), elements, exact_subs, display_subs)
