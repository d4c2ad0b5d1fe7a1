"""``--code``: the PyTorch script that computes what a command shows, to run and change.

The expression is written with Python's operators (whose precedence and associativity are the
language's own) and the op table's torch spelling; a number that is one operand of arithmetic
stays a Python number (``x**2``, ``1 - x``), as gradcli hands it to torch, so the script records
the same graph, with the same grad_fn names, and prints the same numbers. Each script prints
every number with ``repr`` (all its digits), one ``name = value`` per line.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..language.nodes import Expr, Node, literal_operands, to_text
from ..language.ops import OPS
from ..language.values import Array, Value

#: names the scripts use for themselves; a variable called so is renamed (``torch_``)
_RESERVED = {
    "torch", "math", "dtype", "f", "loss", "optimizer", "step", "epoch", "print", "range",
    "len", "inputs", "outputs", "rows", "block", "generator", "order", "batch", "data", "v",
    "start", "norm", "previous", "sum", "type", "math_",
}  # fmt: skip
#: names of the scripts' own that follow a pattern: graph nodes n3, batches X_batch
_PATTERN = re.compile(r"n\d+|.*_batch")
#: expressions taller than this are written one operation per line (Python's parser refuses
#: deeply nested parentheses)
_NESTED = 50


def _py_names(names: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    taken = set(names)
    for name in names:
        py = name
        while (
            keyword.iskeyword(py)
            or py in _RESERVED
            or _PATTERN.fullmatch(py)
            or (py != name and py in taken)
        ):
            py += "_"
        out[name] = py
        taken.add(py)
    return out


def _tensor(value: Value, dtype: str, requires_grad: bool = False) -> str:
    data = repr(value.tolist()) if isinstance(value, Array) else repr(float(value))
    grad = ", requires_grad=True" if requires_grad else ""
    return f"torch.tensor({data}, dtype={dtype}{grad})"


def _call(node: Node, parts: list[str], atoms: list[bool]) -> str:
    op = OPS[node.op]
    if op.code is None:
        return f"torch.{op.name}({', '.join(parts)})"
    wrapped = [p if ok else f"({p})" for p, ok in zip(parts, atoms, strict=True)]
    # operands inside a call's own parentheses need none; elsewhere (u.detach()) they do
    inner = re.search(r"\(\{0\}[,)]", op.code) is not None
    return op.code.format(*(parts if inner else wrapped))


def expression(expr: Expr, names: Mapping[str, str], dtype: str = "dtype") -> str:
    """``expr`` as one Python expression over torch tensors named ``names``."""
    literals = literal_operands(expr)
    loose = {expr.nodes[i].args[k] for i, (k, _) in literals.items()}
    numbers = {expr.nodes[i].args[k]: n for i, (k, n) in literals.items()}

    def atom(i: int, node: Node) -> str:
        if node.kind == "variable":
            return names[node.name]
        if node.kind == "constant":
            return f"torch.tensor(math.{node.name}, dtype={dtype})"
        if i in loose:
            return repr(numbers[i])
        return _tensor(node.value, dtype)

    return to_text(expr, atom=atom, call=_call)


def _operations(expr: Expr, names: Mapping[str, str]) -> tuple[list[tuple[int, str]], str]:
    """Every operation as ``(index, Python text over earlier results n<index>)``, and the
    text of the root."""
    literals = literal_operands(expr)
    texts: list[str] = []
    ops: list[tuple[int, str]] = []
    for i, node in enumerate(expr.nodes):
        if node.kind == "variable":
            texts.append(names[node.name])
            continue
        if node.kind == "constant":
            texts.append(f"torch.tensor(math.{node.name}, dtype=dtype)")
            continue
        if node.kind == "number":
            texts.append(_tensor(node.value, "dtype"))
            continue
        op = OPS[node.op]
        parts = [texts[a] for a in node.args]
        if i in literals:
            k, number = literals[i]
            parts[k] = repr(number)
        if op.symbol is None:
            text = _call(node, parts, [True] * len(parts))
        elif op.arity == 1:
            text = f"{op.symbol}{parts[0]}"
        else:
            text = f"{parts[0]} {op.symbol} {parts[1]}"
        ops.append((i, text))
        texts.append(f"n{i}")
    return ops, texts[-1]


def _lines(expr: Expr, names: Mapping[str, str], target: str) -> list[str]:
    """``target = <expr>``: one line, or one line per operation for a tall expression."""
    if expr.height() <= _NESTED:
        return [f"{target} = {expression(expr, names)}"]
    ops, root = _operations(expr, names)
    return [*(f"n{i} = {text}" for i, text in ops), f"{target} = {root}"]


def _header(expr: Expr, dtype: str, what: str) -> list[str]:
    lines = [
        f"# {what}, written by gradcli: {expr.source[:200]}",
        "import torch",
    ]
    if any(n.kind == "constant" for n in expr.nodes):
        lines.insert(1, "import math")
        lines.insert(2, "")
    lines += ["", f"dtype = torch.{dtype}  # (torch.tensor(0.1) alone would be float32)"]
    return lines


def _leaves(
    point: Mapping[str, Value], names: Mapping[str, str], dtype: str, constants: Sequence[str]
) -> list[str]:
    lines = []
    for name, value in point.items():
        const = name in constants
        comment = "  # a constant: requires_grad=False, so .grad stays None" if const else ""
        lines.append(f"{names[name]} = {_tensor(value, 'dtype', not const)}{comment}")
    return lines


def _show(label: str, text: str) -> str:
    return f'print("{label} =", {text})'


def _number(tensor: str) -> str:
    """Print a tensor's numbers: a float for a scalar, nested lists otherwise."""
    return f"{tensor}.tolist()"


def grad(
    expr: Expr,
    point: Mapping[str, Value],
    dtype: str,
    constants: Sequence[str] = (),
    vjp: Value | None = None,
) -> str:
    """The script of ``gradcli grad``: leaves, the expression, ``backward()``, each .grad."""
    names = _py_names(list(point))
    lines = _header(expr, dtype, "gradient")
    lines += _leaves(point, names, dtype, constants)
    lines += ["", *_lines(expr, names, "f")]
    if vjp is not None:
        lines.append("if f.requires_grad:  # (not when every variable is a constant)")
        lines.append(
            f"    f.backward(gradient={_tensor(vjp, 'dtype')})  # a vector-Jacobian product"
        )
    else:
        lines.append("if f.requires_grad:  # (not when every variable is a constant)")
        lines.append("    f.backward()  # fills .grad of every leaf with requires_grad=True")
    lines += ["", _show("f", _number("f"))]
    for name in point:
        if name in constants:
            lines.append(_show(f"{name}.grad", f"{names[name]}.grad"))
        else:
            lines.append(_show(f"df/d{name}", _number(f"{names[name]}.grad")))
    return "\n".join(lines) + "\n"


def graph(expr: Expr, point: Mapping[str, Value], dtype: str, constants: Sequence[str] = ()) -> str:
    """The script of ``gradcli graph``: every operation a named tensor (``n3``, as the graph
    labels it) with ``retain_grad()``, so each has a .grad after ``backward()``; its grad_fn."""
    names = _py_names(list(point))
    lines = _header(expr, dtype, "computation graph")
    lines += _leaves(point, names, dtype, constants)
    lines.append("")
    operations, root = _operations(expr, names)
    ops = []
    for i, text in operations:
        name = f"n{i}"
        lines.append(f"{name} = {text}  # {expr.text_of(i)[:60]}")
        lines.append(f"if {name}.requires_grad:")
        lines.append(f"    {name}.retain_grad()  # a non-leaf: its .grad is kept only if asked")
        ops.append(name)
    seen: dict[str, int] = {}
    for i, node in enumerate(expr.nodes):
        if node.kind == "variable":
            seen.setdefault(node.name, i)
    lines += ["", f"if {root}.requires_grad:", f"    {root}.backward()", ""]
    for name, i in seen.items():
        lines.append(_show(f"n{i} {name} value", _number(names[name])))
        py = names[name]
        lines.append(
            _show(f"n{i} {name} grad", f"{py}.grad.tolist() if {py}.grad is not None else None")
        )
    for name in ops:
        lines.append(_show(f"{name} value", _number(name)))
        lines.append(
            _show(f"{name} grad_fn", f"type({name}.grad_fn).__name__ if {name}.grad_fn else None")
        )
        lines.append(
            _show(f"{name} grad", f"{name}.grad.tolist() if {name}.grad is not None else None")
        )
    return "\n".join(lines) + "\n"


def _inputs(point: Mapping[str, Value], names: Mapping[str, str]) -> str:
    return ", ".join(names[n] for n in point) + ("," if len(point) == 1 else "")


def jacobian(exprs: Sequence[Expr], point: Mapping[str, Value], dtype: str) -> str:
    """The script of ``gradcli jacobian``: ``torch.autograd.functional.jacobian``, its blocks
    laid out as gradcli's rows (every output element) and columns (every variable element)."""
    names = _py_names(list(point))
    lines = _header(exprs[0], dtype, "Jacobian")
    lines += _leaves(point, names, dtype, ())
    args = _inputs(point, names)
    outs = ", ".join(expression(e, names) for e in exprs) + ("," if len(exprs) == 1 else "")
    lines += [
        "",
        f"def f({args}):",
        f"    return ({outs})",
        "",
        f"inputs = ({args})",
        "outputs = f(*inputs)",
        "J = torch.autograd.functional.jacobian(f, inputs)  # J[output][input]",
        "rows = torch.cat([",
        "    torch.cat([J[k][j].reshape(out.numel(), x.numel()) for j, x in enumerate(inputs)], 1)",
        "    for k, out in enumerate(outputs)",
        "])",
        _show("J", "rows.tolist()"),
    ]
    return "\n".join(lines) + "\n"


def hessian(expr: Expr, point: Mapping[str, Value], dtype: str) -> str:
    """The script of ``gradcli hessian``: ``torch.autograd.functional.hessian`` over every
    variable, its blocks laid out as one matrix of every variable element."""
    names = _py_names(list(point))
    lines = _header(expr, dtype, "Hessian")
    lines += _leaves(point, names, dtype, ())
    args = _inputs(point, names)
    lines += [
        "",
        f"def f({args}):",
        f"    return {expression(expr, names)}",
        "",
        f"inputs = ({args})",
        "H = torch.autograd.functional.hessian(f, inputs)  # H[i][j]: d2f/(dinput_i dinput_j)",
        "rows = torch.cat([",
        "    torch.cat([H[i][j].reshape(a.numel(), b.numel()) for j, b in enumerate(inputs)], 1)",
        "    for i, a in enumerate(inputs)",
        "])",
        _show("H", "rows.tolist()"),
    ]
    return "\n".join(lines) + "\n"


def descend(
    expr: Expr,
    start: Mapping[str, Value],
    constants: Mapping[str, Value],
    data: Mapping[str, Any],
    dtype: str,
    optimizer_class: str,
    arguments: Mapping[str, Any],
    steps: int,
    batch_size: int | None,
    seed: int,
    tol: float | None = None,
    loss_tol: float | None = None,
) -> str:
    """The script of ``gradcli descend``: the training loop as the tutorials write it, with
    the stop rules ``tol`` (|grad|) and ``loss_tol`` (the loss's change) when given (the
    divergence and oscillation rules are gradcli's own)."""
    names = _py_names([*start, *constants, *data])
    lines = _header(expr, dtype, "gradient descent")
    lines += _leaves(start, names, dtype, ())
    lines += _leaves(constants, names, dtype, list(constants))
    for name, column in data.items():
        values = [float(x) for x in column]
        lines.append(f"{names[name]} = torch.tensor({values!r}, dtype=dtype)  # data")
    shown = ", ".join(
        f"{k}={tuple(v) if isinstance(v, (list, tuple)) else v!r}" for k, v in arguments.items()
    )
    params = ", ".join(names[n] for n in start)
    lines += ["", f"optimizer = torch.optim.{optimizer_class}([{params}], {shown})", ""]
    if batch_size and data:
        rows = len(next(iter(data.values())))
        full = {n: names[n] for n in data}
        lines += [
            f"generator = torch.Generator().manual_seed({seed})",
            "step = 0",
            f"while step < {steps}:",
            f"    order = torch.randperm({rows}, generator=generator)  # a new shuffle each epoch",
            f"    for start in range(0, {rows}, {batch_size}):",
            f"        if step == {steps}:",
            "            break",
            f"        batch = order[start : start + {batch_size}]",
            *(f"        {py}_batch = {py}[batch]" for py in full.values()),
            "        optimizer.zero_grad(set_to_none=False)  # .grad to zeros (None by default)",
        ]
        batched = {**names, **{n: f"{py}_batch" for n, py in full.items()}}
        lines += [f"        {line}" for line in _lines(expr, batched, "loss")]
        indent = "        "
    else:
        lines += [
            f"for step in range({steps}):",
            "    optimizer.zero_grad(set_to_none=False)  # .grad to zeros (None by default)",
        ]
        lines += [f"    {line}" for line in _lines(expr, names, "loss")]
        indent = "    "
    report = " ".join(
        ["step={step} loss={loss.item()!r}"]
        + [f"{n}.grad={{{names[n]}.grad.tolist()!r}}" for n in start]
    )
    after = " ".join(f"{n}={{{names[n]}.tolist()!r}}" for n in start)
    lines += [
        f"{indent}loss.backward()  # .grad += d(loss)/d(parameter)",
        f'{indent}print(f"{report}")',
        f"{indent}optimizer.step()  # the update, under torch.no_grad()",
        f'{indent}print(f"after step={{step}} {after}")',
    ]
    if tol is not None:
        grads = " + ".join(f"{names[n]}.grad.pow(2).sum()" for n in start)
        lines += [
            f"{indent}norm = torch.sqrt({grads}).item()",
            f"{indent}if norm <= {tol!r}:  # --tol: |grad| small enough",
            f"{indent}    break",
        ]
    if loss_tol is not None:
        lines += [
            f"{indent}if step > 0 and abs(loss.item() - previous) <= {loss_tol!r}:  # --loss-tol",
            f"{indent}    break",
            f"{indent}previous = loss.item()",
        ]
    if batch_size and data:
        lines.append(f"{indent}step += 1")
    if batch_size and data and (tol is not None or loss_tol is not None):
        lines += [
            "    else:",
            "        continue",
            "    break  # (a stop rule ended the epoch's loop)",
        ]
    return "\n".join(lines) + "\n"
