"""The batch check's screen compiled to machine code, one expression at a time (optional: it needs
numba, the ``fast`` extra).

The NumPy screen (``engines/screen.py``, then :func:`gradcli.batch.check.screen_chunk`) walks the
tree once per block of rows, and each of its few hundred NumPy calls reads and writes whole
columns. Here the same code is run once on stand-ins (:class:`Sym`) that record every operation
instead of doing it, which turns it into straight-line code for a single row: the value and its
rounding bound, node by node; the gradient and its bounds; the shaky-row flags; and the judge's
slack. That code is compiled once (``numba.njit``) and runs over the rows in one loop, the
numbers of a row never leaving the processor's registers.

So there is one screen, written once: the compiled one is the NumPy one traced, with the same
bound terms in the same order. It takes the careful branches (underflow counted, overflow
flagged) on every row, where the NumPy screen takes them only after the processor flagged an
underflow or overflow in a block: the same bounds where it matters, and never fewer terms.
Its elementary functions are the C library's rather than NumPy's, which the bounds allow for
(16 units in the last place, ``LIBM``). Anything the trace cannot follow (code that branches
on a row's number) ends the trace, and the NumPy screen is used.

No text of the expression reaches the generated source: operands are numbered, and constants are
written as the exact ``repr`` of a float.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import importlib.util
import math
import os
import platform
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from multiprocessing.util import Finalize
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..language.nodes import Expr
from ..limits import COMPILE_FROM_ROWS

#: the most lines of traced code compiled (compile time grows with it: past this, NumPy's screen)
MAX_LINES = 6000

_BOOL_RESULT = {
    "less": "<",
    "less_equal": "<=",
    "greater": ">",
    "greater_equal": ">=",
    "equal": "==",
    "not_equal": "!=",
}
_ARITHMETIC = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "true_divide": "/"}
_LOGICAL = {"logical_and": "&", "bitwise_and": "&", "logical_or": "|", "bitwise_or": "|"}
#: NumPy's functions of a float as the C library's (numba compiles ``math``'s for scalars, with
#: NumPy's meaning: a NaN, never an exception, outside the domain)
_MATH = {
    "sin": "sin", "cos": "cos", "tan": "tan", "arcsin": "asin", "arccos": "acos",
    "arctan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "arcsinh": "asinh",
    "arccosh": "acosh", "arctanh": "atanh", "exp": "exp", "expm1": "expm1", "log": "log",
    "log1p": "log1p", "sqrt": "sqrt", "isnan": "isnan", "isinf": "isinf",
    "isfinite": "isfinite",
}  # fmt: skip
#: NumPy's functions of two floats, which numba compiles with NumPy's meaning for scalars
_NUMPY = {"power", "arctan2", "hypot", "logaddexp"}
#: NumPy's, whose NaNs and signed zeros numba's differ from: written out, as NumPy's vector
#: loops have them (the second operand on a tie, NaN in either gives NaN)
_WRITTEN = {
    "absolute": "abs({0})",
    "fabs": "abs({0})",
    "maximum": "({0} if ({0} > {1} or {0} != {0}) else {1})",
    "minimum": "({0} if ({0} < {1} or {0} != {0}) else {1})",
    "sign": "(1.0 if {0} > 0.0 else (-1.0 if {0} < 0.0 else ({0} if {0} != {0} else 0.0)))",
}


class TraceError(Exception):
    """The screen did something the trace cannot follow (the NumPy screen is used instead)."""


class ConstantError(TraceError):
    """A constant underflows or overflows: only the careful pass is right for it."""


class Trace:
    """The straight-line code recorded so far."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.known: dict[str, Sym] = {}  #: code already emitted, and its result (computed once)

    def emit(self, code: str, kind: str) -> Sym:
        known = self.known.get(code)
        if known is not None and "[" not in code:
            return known
        name = f"t{len(self.lines)}"
        self.lines.append(f"{name} = {code}")
        self.known[code] = result = Sym(self, name, kind)
        return result

    def input(self) -> Sym:
        name = f"x{len(self.inputs)}"
        self.inputs.append(name)
        return self.emit(f"{name}[i]", "f")

    def output(self, kind: str) -> _Output:
        name = f"y{len(self.outputs)}"
        self.outputs.append(name)
        return _Output(self, name, kind)


def _unwrap(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        if x.ndim != 0:
            raise TraceError(f"a column of {x.shape} in the trace")
        return x.item()
    if isinstance(x, np.generic):
        return x.item()
    return x


def _kind(x: Any) -> str:
    x = _unwrap(x)
    if isinstance(x, Sym):
        return x.kind
    if isinstance(x, bool):
        return "b"
    if isinstance(x, int | float):
        return "f"
    raise TraceError(f"{type(x).__name__} in the trace")


def _code(x: Any, want: str | None = None) -> str:
    """``x`` as an operand of the generated code; ``want="f"`` turns a flag into 0.0 or 1.0."""
    x = _unwrap(x)
    kind = _kind(x)
    if isinstance(x, Sym):
        text = x.name
    elif kind == "b":
        text = "True" if x else "False"
    else:
        c = float(x)
        if math.isnan(c):
            text = "np.nan"
        elif math.isinf(c):
            text = "np.inf" if c > 0 else "(-np.inf)"
        else:
            text = repr(c) if c >= 0 else f"({c!r})"
    if want == "f" and kind == "b":
        return f"(1.0 if {text} else 0.0)"
    return text


def _trace_of(*xs: Any) -> Trace:
    for x in xs:
        x = _unwrap(x)
        if isinstance(x, Sym):
            return x.trace
    raise TraceError("no traced operand")


def apply(name: str, *args: Any) -> Any:
    """The NumPy function ``name`` of the operands, recorded."""
    trace = _trace_of(*args)
    if name in _BOOL_RESULT:
        a, b = (_code(x, "f") for x in args)
        return trace.emit(f"({a} {_BOOL_RESULT[name]} {b})", "b")
    if name in _ARITHMETIC:
        if name == "multiply":  # (times 1.0 is exact, for every float)
            for one, other in ((args[0], args[1]), (args[1], args[0])):
                constant_one = not isinstance(_unwrap(one), Sym) and _unwrap(one) == 1
                traced = isinstance(_unwrap(other), Sym) and _kind(other) == "f"
                if constant_one and _kind(one) == "f" and traced:
                    return _unwrap(other)
        a, b = (_code(x, "f") for x in args)
        return trace.emit(f"{a} {_ARITHMETIC[name]} {b}", "f")
    if name in _LOGICAL:
        if any(_kind(x) != "b" for x in args):
            raise TraceError(f"{name} of numbers")
        a, b = (_code(x) for x in args)
        if a == b:
            return _unwrap(args[0])
        for flag, other in ((args[0], args[1]), (args[1], args[0])):
            if not isinstance(_unwrap(flag), Sym):  # (a constant flag decides, or drops out)
                decides = bool(_unwrap(flag)) == (_LOGICAL[name] == "|")
                return flag if decides else _unwrap(other)
        return trace.emit(f"{a} {_LOGICAL[name]} {b}", "b")
    if name in ("invert", "logical_not"):
        if _kind(args[0]) != "b":
            raise TraceError(f"{name} of a number")
        return trace.emit(f"not {_code(args[0])}", "b")
    if name == "negative":
        return trace.emit(f"-{_code(args[0], 'f')}", "f")
    floats = [_code(x, "f") for x in args]
    if name in _MATH:
        return trace.emit(f"math.{_MATH[name]}({floats[0]})", "b" if name[:2] == "is" else "f")
    if name in _NUMPY:
        return trace.emit(f"np.{name}({', '.join(floats)})", "f")
    if name in _WRITTEN:
        return trace.emit(_WRITTEN[name].format(*floats), "f")
    raise TraceError(f"np.{name} is not compiled")


def where(cond: Any, a: Any, b: Any) -> Any:
    """``np.where`` for one row: the operand the flag picks (both are computed already)."""
    if _kind(cond) != "b":
        raise TraceError("np.where on a number")
    kind = "b" if _kind(a) == _kind(b) == "b" else "f"
    want = None if kind == "b" else "f"
    if not isinstance(_unwrap(cond), Sym):
        return a if _unwrap(cond) else b
    trace = _trace_of(cond, a, b)
    return trace.emit(f"({_code(a, want)} if {_code(cond)} else {_code(b, want)})", kind)


class Sym:
    """One row's number (``kind`` "f") or flag ("b") in the trace: NumPy's functions and the
    operators on it are recorded (``__array_ufunc__``) rather than computed."""

    __slots__ = ("kind", "name", "trace")
    ndim = 1  #: a column, to the screen's code (a constant there is 0-d)
    __array_priority__ = 1000

    def __init__(self, trace: Trace, name: str, kind: str) -> None:
        self.trace, self.name, self.kind = trace, name, kind

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__" or kwargs.get("out") is not None:
            raise TraceError(f"np.{ufunc.__name__}.{method}")
        return apply(ufunc.__name__, *inputs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func is np.where and not kwargs:
            return where(*args)
        if func is np.zeros_like:
            return self.trace.emit("False" if _kind(args[0]) == "b" else "0.0", _kind(args[0]))
        raise TraceError(f"np.{func.__name__}")

    def __bool__(self) -> bool:
        raise TraceError("a branch on a row's number")

    def __float__(self) -> float:
        raise TraceError("a row's number as a constant")

    def erf(self) -> Sym:
        return self.trace.emit(f"math.erf({_code(self, 'f')})", "f")

    def __add__(self, o: Any) -> Any:
        return apply("add", self, o)

    def __radd__(self, o: Any) -> Any:
        return apply("add", o, self)

    def __sub__(self, o: Any) -> Any:
        return apply("subtract", self, o)

    def __rsub__(self, o: Any) -> Any:
        return apply("subtract", o, self)

    def __mul__(self, o: Any) -> Any:
        return apply("multiply", self, o)

    def __rmul__(self, o: Any) -> Any:
        return apply("multiply", o, self)

    def __truediv__(self, o: Any) -> Any:
        return apply("divide", self, o)

    def __rtruediv__(self, o: Any) -> Any:
        return apply("divide", o, self)

    def __neg__(self) -> Any:
        return apply("negative", self)

    def __abs__(self) -> Any:
        return apply("absolute", self)

    def __lt__(self, o: Any) -> Any:
        return apply("less", self, o)

    def __le__(self, o: Any) -> Any:
        return apply("less_equal", self, o)

    def __gt__(self, o: Any) -> Any:
        return apply("greater", self, o)

    def __ge__(self, o: Any) -> Any:
        return apply("greater_equal", self, o)

    def __eq__(self, o: Any) -> Any:
        return apply("equal", self, o)

    def __ne__(self, o: Any) -> Any:
        return apply("not_equal", self, o)

    def __and__(self, o: Any) -> Any:
        return apply("logical_and", self, o)

    __rand__ = __and__

    def __or__(self, o: Any) -> Any:
        return apply("logical_or", self, o)

    __ror__ = __or__

    def __invert__(self) -> Any:
        return apply("invert", self)

    __hash__ = None  # type: ignore[assignment]


class _Output:
    """An output column of the kernel: ``out[part] = value`` records ``out[i] = value``."""

    def __init__(self, trace: Trace, name: str, kind: str) -> None:
        self.trace, self.name, self.kind = trace, name, kind

    def __setitem__(self, part: Any, value: Any) -> None:
        want = "f" if self.kind == "f" else None
        if self.kind == "b" and _kind(value) != "b":
            raise TraceError("a number for a flag")
        self.trace.lines.append(f"{self.name}[i] = {_code(value, want)}")


class _Context:
    """The screen's :class:`~gradcli.engines.screen.Context` for one traced row."""

    def __init__(self, careful: bool) -> None:
        self.careful = careful
        self.shaky: Any = False

    def doubt(self, rows: Any) -> None:
        self.shaky = self.shaky | rows


def trace_screen(expr: Expr, dtype: str, careful: bool) -> Trace:
    """The screen and the judge's slack for one row of ``expr``, as code: inputs in the order
    of ``expr.variables``; outputs value, its slack, each gradient, each gradient's slack (in
    the same order), the undefined flag."""
    names = list(expr.variables)
    trace = Trace()
    ctx: Any = _Context(careful)
    # Without care, no operation may underflow or overflow, constants included: the processor's
    # flags tell of the rows' (:class:`Kernel`), NumPy's of the constants' (here).
    state = (
        np.errstate(all="ignore")
        if careful
        else np.errstate(over="raise", under="raise", divide="ignore", invalid="ignore")
    )
    try:
        with state:
            return _trace(trace, expr, dtype, ctx, names)
    except FloatingPointError as e:
        raise ConstantError(f"a constant underflows or overflows ({e})") from None


def _trace(trace: Trace, expr: Expr, dtype: str, ctx: Any, names: list[str]) -> Trace:
    # (here, not at the top: it loads NumPy's screen, which a cached kernel does not need)
    from ..engines import screen

    # (here, not at the top: check imports this module)
    from .check import ScreenedChunk, _bounded

    inputs = {name: trace.input() for name in names}
    point = {name: screen.Bounded(col, 0.0, ctx) for name, col in inputs.items()}
    seed = screen.Bounded(trace.emit("1.0", "f"), 0.0, ctx)
    values, gradient = screen.sweep(
        expr, screen._PARTIALS, lambda node: screen._leaf(node, point, dtype, ctx), seed
    )
    zero = screen.Bounded(0.0, 0.0, ctx)
    grads = {name: gradient.get(name, zero) for name in names}
    last = values[-1]
    ref = screen.Columns(
        last.v,
        last.e * screen.GROW,
        {name: g.v for name, g in grads.items()},
        {name: g.e * screen.GROW for name, g in grads.items()},
        [node.v for node in values],
        [node.e for node in values],
        ctx.shaky,
    )
    out = ScreenedChunk(
        trace.output("f"),  # type: ignore[arg-type]
        trace.output("f"),  # type: ignore[arg-type]
        {name: trace.output("f") for name in names},  # type: ignore[misc]
        {name: trace.output("f") for name in names},  # type: ignore[misc]
        trace.output("b"),  # type: ignore[arg-type]
    )
    _bounded(expr, ref, inputs, dtype, out, slice(None))  # type: ignore[arg-type]
    return trace


def _live(lines: list[str]) -> list[str]:
    """The lines an output depends on (the screen computes some numbers nothing uses)."""
    needed: set[str] = set()
    kept: list[str] = []
    for line in reversed(lines):
        target, _, code = line.partition(" = ")
        if "[" in target or target in needed:
            kept.append(line)
            needed.update(_names(code))
    kept.reverse()
    return kept


def _names(code: str) -> list[str]:
    out, word = [], ""
    for ch in code + " ":
        if ch.isalnum() or ch == "_":
            word += ch
            continue
        if word[:1] == "t" and word[1:].isdigit():
            out.append(word)
        word = ""
    return out


def source(trace: Trace) -> str:
    """The module that holds the compiled kernel."""
    args = ", ".join(["n", *trace.inputs, *trace.outputs])
    body = "\n".join(f"        {line}" for line in _live(trace.lines))
    return (
        '"""A compiled batch screen of gradcli (generated; safe to delete)."""\n'
        "import math\n\nimport numpy as np\nfrom numba import njit\n\n\n"
        '@njit(error_model="numpy", nogil=True, cache=True)\n'
        f"def kernel({args}):\n    for i in range(n):\n{body}\n"
    )


def _cache_dir() -> Path | None:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "gradcli" / "kernels"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return path if os.access(path, os.W_OK) else None


@functools.lru_cache(maxsize=64)
def _load(text: str) -> Callable[..., None]:
    """The kernel of a generated module: from the cache directory when it can be written (numba
    then keeps the machine code beside it, and a later run loads it instead of compiling), else
    from a temporary folder of this process's, removed when it ends (compiled each run)."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:24]
    folder = _cache_dir()
    if folder is None:  # (a private folder of this run's instead: the code is still a file)
        folder = Path(tempfile.mkdtemp(prefix="gradcli-kernel-"))
        # removed when this process ends, also when it is the forked helper, which ends
        # through multiprocessing and never runs atexit's handlers
        Finalize(None, shutil.rmtree, (str(folder), True), exitpriority=0)
    path = folder / f"screen_{digest}.py"
    try:
        known = path.read_text()
    except OSError:
        known = None
    if known != text:  # (written whole, then moved into place: another run may be reading it)
        fd, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(temporary, path)
    name = f"gradcli_kernel_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # (numba's cache finds the module by its name)
    spec.loader.exec_module(module)
    return module.kernel  # type: ignore[no-any-return]


class _Flags:
    """The processor's floating-point exception flags, read through the C library (as NumPy
    reads them after each of its operations), on the machines whose flag values are known."""

    #: (overflow, underflow) in <fenv.h>
    KNOWN: ClassVar[dict[str, tuple[int, int]]] = {
        "x86_64": (0x08, 0x10), "amd64": (0x08, 0x10), "aarch64": (0x04, 0x08),
        "arm64": (0x04, 0x08),
    }  # fmt: skip

    def __init__(self) -> None:
        self.libm: Any = None
        bits = self.KNOWN.get(platform.machine().lower())
        if bits is None or sys.platform not in ("linux", "darwin"):
            return
        found = ctypes.util.find_library("m") or ("libm.so.6" if sys.platform == "linux" else None)
        try:
            libm = ctypes.CDLL(found)
            libm.feclearexcept.argtypes = libm.fetestexcept.argtypes = [ctypes.c_int]
        except (OSError, AttributeError, TypeError):
            return
        self.libm, self.bits = libm, bits[0] | bits[1]

    @property
    def usable(self) -> bool:
        return self.libm is not None

    def clear(self) -> None:
        self.libm.feclearexcept(self.bits)

    def raised(self) -> bool:
        """An overflow or underflow since :meth:`clear` (on this thread)."""
        return bool(self.libm.fetestexcept(self.bits))


class Kernel:
    """The compiled screen of one expression: :meth:`run` fills a
    :class:`~gradcli.batch.check.ScreenedChunk` as :func:`~gradcli.batch.check.screen_chunk`
    does, or says it cannot (a row underflowed or overflowed, and the kernel took no care).

    The kernel is the screen's fast pass where the processor's flags can be read: a chunk in
    which they show an underflow or overflow is done again by NumPy's screen, which then takes
    care. Elsewhere it is the careful pass, on every row."""

    def __init__(self, expr: Expr, dtype: str, careful: bool | None = None) -> None:
        self.flags = _Flags()
        self.careful = not self.flags.usable if careful is None else careful
        try:
            trace = trace_screen(expr, dtype, self.careful)
        except ConstantError:
            if careful is not None:
                raise
            self.careful = True
            trace = trace_screen(expr, dtype, True)
        if len(trace.lines) > MAX_LINES:
            raise TraceError(f"{len(trace.lines)} lines of code")
        self.names = list(expr.variables)
        self.stored = np.float32 if dtype == "float32" else np.float64  # as torch holds them
        self.kernel = _load(source(trace))
        probe = {name: np.ones(1) for name in self.names}
        self.run(probe, None)  # (compiles it, or loads it from the cache)

    def run(self, inputs: Mapping[str, np.ndarray], out: Any) -> Any:
        """The chunk's screen, or None if it has to be done with care."""
        # (here, not at the top: check imports this module)
        from .check import ScreenedChunk

        n = len(inputs[self.names[0]]) if self.names else 1
        if out is None:
            out = ScreenedChunk(
                np.empty(n),
                np.empty(n),
                {name: np.empty(n) for name in self.names},
                {name: np.empty(n) for name in self.names},
                np.empty(n, bool),
            )
        columns = [
            np.ascontiguousarray(np.asarray(inputs[name]).astype(self.stored), dtype=np.float64)
            for name in self.names
        ]
        if not self.careful:
            self.flags.clear()
        self.kernel(
            n,
            *columns,
            out.value,
            out.value_slack,
            *(out.gradient[name] for name in self.names),
            *(out.gradient_slack[name] for name in self.names),
            out.undefined,
        )
        if not self.careful and self.flags.raised():
            return None
        return out


def available() -> bool:
    """numba can be imported, and the compiled screen is not turned off
    (``GRADCLI_SCREEN=numpy``)."""
    if _setting() == "numpy":
        return False
    return importlib.util.find_spec("numba") is not None


def _setting() -> str:
    """``GRADCLI_SCREEN``: ``numpy`` (never compile), ``compiled`` (whatever the run's size),
    or anything else: by the run's size."""
    return os.environ.get("GRADCLI_SCREEN", "").strip().lower()


def worth_compiling(rows: int | None) -> bool:
    """Whether a run of about ``rows`` rows (None: not known, such as a stream) gets the
    compiled screen: numba's import and the kernel's load (about 0.6 s of a core, measured)
    pay for themselves from :data:`COMPILE_FROM_ROWS` rows on, at about 0.1 s of a core saved
    a million rows."""
    if _setting() == "compiled":
        return True
    return rows is None or rows >= COMPILE_FROM_ROWS


class Screener:
    """The screen of one expression: the compiled one once it is ready (it compiles on a thread
    of its own), NumPy's until then and wherever it cannot be had."""

    def __init__(
        self, expr: Expr, dtype: str, compile_now: bool = False, rows: int | None = None
    ) -> None:
        """``rows``: about how many rows the run has, if that is known (a short run is
        screened by NumPy: see :func:`worth_compiling`)."""
        # (here, not at the top: check imports this module)
        from ..engines.screen import Evaluator

        self.expr, self.dtype = expr, dtype
        self.evaluator = Evaluator(expr, dtype)
        self.kernel: Kernel | None = None
        self.why = ""  #: why there is no compiled screen, if there is none
        self.thread: threading.Thread | None = None
        if not available():
            self.why = "numba is not installed, or GRADCLI_SCREEN=numpy"
        elif not worth_compiling(rows):
            self.why = f"a run of {rows:,} rows is too short for compiling to pay"
        elif compile_now:
            self._build()
        else:
            self.thread = threading.Thread(target=self._build, daemon=True, name="gradcli-jit")
            self.thread.start()

    def _build(self) -> None:
        try:
            self.kernel = Kernel(self.expr, self.dtype)
        except Exception as e:  # (any failure: the NumPy screen does the work)
            self.why = f"{type(e).__name__}: {e}"

    def chunk(self, inputs: Mapping[str, np.ndarray], out: Any = None) -> Any:
        # (here, not at the top: check imports this module)
        from .check import screen_chunk

        kernel = self.kernel
        if kernel is not None:
            done = kernel.run(inputs, out)
            if done is not None:
                return done
        return screen_chunk(self.expr, inputs, self.dtype, out, self.evaluator)
