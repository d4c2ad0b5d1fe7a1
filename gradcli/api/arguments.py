"""The arguments of the public functions, checked before any work: each error names the
parameter as Python sees it (``order``, ``timeout``); the command line says it as a flag.
A missing dependency is one clear error (:func:`needs_dependencies`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ..errors import InputError, MissingDependencyError, UsageError, safe_text
from ..language.values import (
    Array,
    Value,
    coerce_values,
    flat,
    float32_hint,
    float32_trouble,
    literals_within,
)

if TYPE_CHECKING:
    import numpy as np

    from ..language.nodes import Expr

DTYPES = ("float64", "float32")


#: gradcli's runtime dependencies as Python imports them, and how to install each
_DEPENDENCIES = {
    "torch": "pip install torch==2.13.0 (first, as the README says)",
    "sympy": "pip install sympy",
    "numpy": "pip install numpy",
    "polars": "pip install polars",
    "mpmath": "pip install mpmath",
}

_F = TypeVar("_F", bound=Callable[..., Any])


def needs_dependencies(function: _F) -> _F:
    """A public function whose missing dependency is one clear GradcliError (exit 2, what to
    install), not a ModuleNotFoundError from deep inside."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ModuleNotFoundError as e:
            top = (e.name or "").split(".")[0]
            if top not in _DEPENDENCIES:
                raise
            raise MissingDependencyError(
                f"gradcli needs {top}, which is not installed", hint=_DEPENDENCIES[top]
            ) from None

    return cast(_F, call)


# ---- arguments ---------------------------------------------------------------------------------


def expression_arg(expression: object, what: str = "expression") -> str:
    if not isinstance(expression, str):
        raise UsageError(f"{what} must be a string, not {type(expression).__name__}")
    return expression


def dtype_arg(dtype: object) -> str:
    if not isinstance(dtype, str) or dtype not in DTYPES:
        shown = ", ".join(DTYPES)
        raise UsageError(f"{{dtype}} must be one of {shown}, not {dtype!r}", params=("dtype",))
    return dtype


def timeout_arg(timeout: object) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise UsageError(
            f"{{timeout}} must be a number of seconds or None, not {timeout!r}",
            params=("timeout",),
        )
    if not math.isfinite(timeout) or timeout < 0:
        raise UsageError(
            f"{{timeout}} must be 0 or more seconds, not {timeout!r}", params=("timeout",)
        )
    return float(timeout) or None


def flag_arg(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise UsageError(f"{{{name}}} must be True or False, not {value!r}", params=(name,))
    return value


def count_arg(value: object, name: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError(f"{{{name}}} must be a whole number, not {value!r}", params=(name,))
    if value < low or (high is not None and value > high):
        bounds = f"from {low:,} to {high:,}" if high is not None else f"{low} or more"
        raise UsageError(f"{{{name}}} must be {bounds}, not {value:,}", params=(name,))
    return value


def values_arg(values: object, named: Mapping[str, object]) -> dict[str, Value]:
    if values is not None and not isinstance(values, Mapping):
        raise UsageError(
            f"values must be a mapping of variable names to values, not {type(values).__name__}"
        )
    return coerce_values({**(values or {}), **named})


def constants_arg(const: object, variables: Sequence[str]) -> tuple[str, ...]:
    """The variables held constant (``const``): names of the expression's variables."""
    names = [const] if isinstance(const, str) else const
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise UsageError(
            f"{{const}} must be a variable name or a list of them, not {const!r}",
            params=("const",),
        )
    for name in names:
        if name not in variables:
            uses = ", ".join(variables) or "no variables"
            raise UsageError(
                f"{{const}} {safe_text(name)}: the expression has no variable {safe_text(name)} "
                f"(it uses {uses})",
                params=("const",),
            )
    return tuple(dict.fromkeys(names))


def shapes_of(point: Mapping[str, Value]) -> dict[str, tuple[int, ...]]:
    """Each variable's shape: () for a number."""
    return {name: v.shape if isinstance(v, Array) else () for name, v in point.items()}


def representable(point: Mapping[str, Value], dtype: str, *exprs: Expr) -> None:
    """Every value, and every number written in ``exprs``, is a finite number of ``dtype``
    and, unless 0, a nonzero one (3.5e38 and 1e-50 are no float32)."""
    if dtype != "float32":
        return
    for expr in exprs:
        literals_within(expr, dtype)
    for name, value in point.items():
        held_by_float32(f"the value of {name}", flat(value))


def held_by_float32(what: str, numbers: Iterable[float], params: tuple[str, ...] = ()) -> None:
    """Each of ``numbers`` (``what`` they are, for the message: its ``{params}`` spelled as
    options) is one float32 holds as written, or :class:`UsageError`."""
    for x in numbers:
        trouble = float32_trouble(x)
        if trouble is not None:
            raise UsageError(
                f"{what}, {x:.8g}, {trouble}",
                hint=float32_hint("{dtype} float64"),
                params=("dtype", *params),
            )


def column_arg(name: str, raw: object) -> np.ndarray:
    """One column as a float64 array (0-dimensional for a plain number), by the strict rule."""
    # (here, not at the top: it loads NumPy)
    import numpy as np

    if hasattr(raw, "detach") and hasattr(raw, "cpu"):  # a torch tensor
        raw = raw.detach().cpu().numpy()
    if isinstance(raw, (str, bytes, Mapping)):
        raise InputError(
            f"column {name} must be an array of numbers, not {type(raw).__name__}",
            hint="pass a list, tuple or NumPy array of numbers (text is not read as numbers here)",
        )
    if not isinstance(raw, (np.ndarray, np.generic, Sequence, int, float)) and not hasattr(
        raw, "__array__"
    ):
        raise InputError(
            f"column {name} must be an array of numbers, not {type(raw).__name__}",
            hint="pass a list, tuple or NumPy array (make a generator a list first)",
        )
    if isinstance(raw, (list, tuple)):  # (NumPy would read True as 1.0)
        for row, cell in enumerate(raw):
            if isinstance(cell, bool):
                raise InputError(
                    f"column {name}, row {row}: a boolean is not a number",
                    hint="every cell must be a finite number",
                )
    try:
        array = np.asarray(raw)
    except (ValueError, TypeError):
        raise InputError(
            f"column {name} is not an array of numbers (its rows have different lengths?)",
            hint="give one number per row",
        ) from None
    if array.ndim > 1:
        raise InputError(
            f"column {name} must be one-dimensional (one number per row), not shape "
            f"{tuple(array.shape)}",
            hint="batch rows are scalar points; for vector variables use grad",
        )
    if array.dtype.kind not in "iuf":
        flat = array.reshape(-1)
        for row, cell in enumerate(flat.tolist()):
            if isinstance(cell, bool) or not isinstance(cell, (int, float)):
                what = (
                    "a boolean"
                    if isinstance(cell, bool)
                    else "None"
                    if cell is None
                    else f"text {safe_text(cell)!r}"
                    if isinstance(cell, str)
                    else f"a {type(cell).__name__}"
                )
                raise InputError(
                    f"column {name}, row {row}: {what} is not a number",
                    hint="every cell must be a finite number",
                )
        for row, cell in enumerate(flat.tolist()):
            try:
                float(cell)
            except OverflowError:
                raise InputError(
                    f"column {name}, row {row}: the number is too large for float64"
                ) from None
        array = np.array([float(c) for c in flat.tolist()]).reshape(array.shape)
    with np.errstate(over="ignore"):
        wide = array
        array = array.astype(np.float64, copy=False)
    if array.size and not np.isfinite(array).all() and np.isfinite(wide).all():
        row = int(np.flatnonzero(~np.isfinite(array.reshape(-1)))[0])
        raise InputError(f"column {name}, row {row}: the number is too large for float64")
    bad = ~np.isfinite(array.reshape(-1))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"column {name}, row {row}: {array.reshape(-1)[row]} is not a finite number",
            hint="every cell must be a finite number",
        )
    return array
