"""Every operation's local partial derivatives, derived by SymPy, kept as plain data.

The node-by-node exact reference (``engines/exact/nodewise.py``) and the batch check's screen
(``engines/screen.py``) evaluate these formulas in their own arithmetic and propagate adjoints
through the tree, which scales linearly where SymPy's whole-expression ``diff`` does not. The
formulas come from SymPy, one operation at a time, from the op table's ``sympy`` column, so
they are independent of torch's kernels and of the table's hand-written ``derivative`` texts.
They are stored in ``engines/exact/_rules.py`` so that using them needs no SymPy import; a test
fails when the stored rules differ from what SymPy derives now. Regenerate them with::

    python -m gradcli._dev.local_rules --write

A formula is a nested tuple in the op table's own names:

- ``("arg", i)``: operand ``i`` (0 is ``u``, 1 is ``v``);
- ``("num", p, q)``: the rational ``p/q``; ``("pi",)`` and ``("E",)``;
- ``("add", a, b, ...)``, ``("mul", a, b, ...)``, ``("pow", base, exponent)``;
- ``("call", name, a, ...)``: the operation ``name`` of the op table;
- ``("self",)``: the operation's own value (``exp(u)`` in the slope of ``exp``, ``tanh(u)`` in
  ``1 - tanh(u)**2``, ``1/sqrt(u)`` as ``self**-1``), which the engines have computed already.

SymPy's ``DiracDelta`` (the slope of sign and step) is 0 away from their jump, where the kink
check speaks instead; SymPy's ``Heaviside(u, h)`` is the table's ``step`` (they differ only at
0, a kink again).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..language.ops import OPS, Op

Formula = tuple[Any, ...]

#: operations whose partials are not formulas of scalars (the engines know their array rules)
ARRAY_ONLY = ("matmul", "dot")


def _heads() -> dict[Any, str]:
    """SymPy's function classes, mapped to the op table's names (from the sympy column)."""
    # (here, not at the top: it loads SymPy)
    import sympy as sp

    # (here, not at the top: it loads NumPy)
    from ..engines import symbolic

    u, v = sp.Symbol("u", real=True), sp.Symbol("v", real=True)
    heads: dict[Any, str] = {}
    for op in OPS.values():
        if not op.elementwise:
            continue
        operands = (u, v)[: op.arity]
        e = op.sympy(symbolic.S, *operands)
        if isinstance(e, sp.Function) and e.args == operands and type(e) not in heads:
            heads[type(e)] = op.name
    heads[sp.exp] = "exp"
    return heads


def _formula(e: Any, operands: tuple[Any, ...], heads: dict[Any, str], own: Any = None) -> Formula:
    # (here, not at the top: it loads SymPy)
    import sympy as sp

    if own is not None and e == own:
        return ("self",)
    if own is not None and e.is_Pow and e == 1 / own:  # (1/sqrt(u) in the slope of sqrt)
        return ("pow", ("self",), ("num", -1, 1))
    if e in operands:
        return ("arg", operands.index(e))
    if e is sp.pi:
        return ("pi",)
    if e is sp.E:
        return ("E",)
    if e.is_Rational:
        return ("num", int(e.p), int(e.q))
    if e.is_Add:
        return ("add", *(_formula(a, operands, heads, own) for a in e.args))
    if e.is_Mul:
        return ("mul", *(_formula(a, operands, heads, own) for a in e.args))
    if e.is_Pow:
        return (
            "pow",
            _formula(e.base, operands, heads, own),
            _formula(e.exp, operands, heads, own),
        )
    if isinstance(e, sp.Heaviside):
        return ("call", "step", _formula(e.args[0], operands, heads, own))
    if isinstance(e, sp.exp):
        return ("call", "exp", _formula(e.args[0], operands, heads, own))
    name = heads.get(type(e))
    if name is not None:
        return ("call", name, *(_formula(a, operands, heads, own) for a in e.args))
    raise ValueError(f"no op-table name for SymPy's {type(e).__name__} in {e!r}")


def partials_of(op: Op, heads: dict[Any, str]) -> tuple[Formula, ...]:
    """The op's partial derivatives, from SymPy."""
    # (here, not at the top: it loads SymPy)
    import sympy as sp

    # (here, not at the top: it loads NumPy)
    from ..engines import symbolic

    u, v = sp.Symbol("u", real=True), sp.Symbol("v", real=True)
    operands = (u, v)[: op.arity]
    if op.elementwise:
        e = op.sympy(symbolic.S, *operands)
    else:  # reductions of a scalar are the scalar itself
        e = op.sympy(symbolic.S, *(symbolic.scalar_array(a) for a in operands)).item()
    out = []
    for a in operands:
        d = sp.diff(e, a).replace(sp.DiracDelta, lambda *args: sp.S.Zero)
        # powsimp writes v*u**v/u as v*u**(v-1), which stays finite at u = 0 for v >= 1.
        out.append(_formula(sp.powsimp(d), operands, heads, e if op.elementwise else None))
    return tuple(out)


def derive() -> dict[str, tuple[Formula, ...]]:
    """Each operation's partial derivatives, from SymPy."""
    heads = _heads()
    return {name: partials_of(op, heads) for name, op in OPS.items() if name not in ARRAY_ONLY}


def source() -> str:
    """The text of ``engines/exact/_rules.py``."""
    lines = [
        '"""Generated by ``python -m gradcli._dev.local_rules --write``: do not edit."""',
        "",
        "# fmt: off",
        "RULES = {",
    ]
    for name, partials in derive().items():
        lines.append(f"    {name!r}: {partials!r},")
    lines += ["}", ""]
    return "\n".join(lines)


TARGET = Path(__file__).parents[1] / "engines" / "exact" / "_rules.py"


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        TARGET.write_text(source())
        return 0
    sys.stdout.write(source())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
