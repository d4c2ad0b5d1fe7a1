"""The cross-check of batch work: every row screened against a float64 reference that bounds
its own rounding, doubtful rows judged exactly; or a random sample judged with SymPy.

``all`` (the default): each chunk is evaluated by the node-by-node reference (SymPy's
derivative of every operation, chained by reverse accumulation) over whole columns in float64,
each number carrying a bound on its distance from the exact value (``bounded.py``). A row
agrees when torch's value and gradient are within the tolerance of the exact numbers for every
exact number the bounds allow, at no kink; a row where torch leaves the real numbers and the
reference proves a domain error (a NaN no rounding explains) is undefined. Every other row is
doubtful and gets the exact verdict of ``gradcli grad`` (the same reference in 50+ digit
arithmetic and the same judge), up to :data:`MAX_EXACT_ROWS` rows a run; doubtful rows past
that stay ``unchecked``, and the summary says how many.

``sample:N``: N random rows of the first chunk, and up to :data:`MAX_NONFINITE_CHECKS` rows whose
result is not finite, get the exact verdict with SymPy's whole-expression derivative; SymPy runs
in a helper process started at once, so it overlaps with torch's work.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UsageError, safe_text
from ..language.nodes import Expr
from ..results.models import Status

if TYPE_CHECKING:
    from ..engines.screen import Columns

DEFAULT_SAMPLE = 25  #: rows checked by ``--check sample``
MAX_NONFINITE_CHECKS = 100  #: in sample mode, rows that are not finite checked in all, at most
MAX_EXACT_ROWS = 1_000  #: in ``all`` mode, doubtful rows judged exactly per run, at most
SCREEN_ELEMENTS = 1 << 22  #: rows x nodes evaluated at once by the screen (bounds its memory)
#: rows evaluated at once by the screen: its temporaries then fit under malloc's mmap threshold
#: and are reused, not page-faulted anew (measured: 28% faster than 65,536 rows at once)
SCREEN_ROWS = 8192

#: status codes in the status column's arrays: the index into this tuple
STATUSES: tuple[Status, ...] = tuple(Status)
CODE = {s: i for i, s in enumerate(STATUSES)}
AGREE, UNDEFINED, UNCHECKED = CODE[Status.AGREE], CODE[Status.UNDEFINED], CODE[Status.UNCHECKED]


def parse_mode(text: str) -> tuple[str, int]:
    """``all``, ``sample`` or ``sample:N`` as (mode, rows)."""
    if text == "all":
        return "all", 0
    if text == "sample":
        return "sample", DEFAULT_SAMPLE
    head, _, count = text.partition(":")
    if head == "sample" and count.isdigit() and int(count) > 0:
        return "sample", int(count)
    raise UsageError(
        f"--check {safe_text(text)!r} is not a check mode",
        hint="use all (every row, the default), sample or sample:N (N random rows)",
    )


def describe_mode(mode: str, rows: int, chunk_rows: int) -> str:
    if mode == "all":
        return "every row, in float64 with error bounds"
    return (
        f"{rows:,} random row{'s' * (rows != 1)} of the first {chunk_rows:,} exactly, and up to "
        f"{MAX_NONFINITE_CHECKS} rows whose result is not finite"
    )


def row_verdict(expr: Expr, point: dict[str, float], dtype: str, exact: Any) -> Status:
    """The verdict of ``gradcli grad`` at one row, given the exact (value, gradient)."""
    from ..check import judge as checking
    from ..engines import autograd as evaluate
    from ..language.values import flat

    computed = evaluate.autograd(expr, point, dtype)
    gradient = {name: flat(g)[0] for name, g in computed.gradient.items()}
    verdicts = checking.judge(
        expr,
        {name: (name, x) for name, x in point.items()},
        dtype,
        flat(computed.value)[0],
        gradient,
        computed.node_values,
        exact[0],
        exact[1],
        lambda: evaluate.rounding_spread(expr, point, dtype, exact[0], exact[1]),
    )
    return verdicts.status


@dataclass(frozen=True)
class Reference:
    """The reference over a chunk, reduced to what judging torch's rows needs: a torch number
    agrees when it is within its slack of the reference (the tolerance, less the reference's
    own bound where it has one; negative at a kink and where nothing could be settled)."""

    value: np.ndarray
    value_slack: np.ndarray
    gradient: dict[str, np.ndarray]
    gradient_slack: dict[str, np.ndarray]
    undefined: np.ndarray  #: the reference says the function is undefined (a NaN)
    extended: np.ndarray  #: the row needed the extended-precision pass


def _slack(tol: Any, r: np.ndarray, bound: Any, floor: Any = 0.0) -> Any:
    """How far a torch number may be from ``r`` and still be within the tolerance of every
    exact value within ``bound`` of it: ``|t - exact| <= rel |exact| + floor`` holds when
    ``|t - r| <= rel (|r| - bound) - bound + floor``. Where that is not a finite number (an
    infinite or NaN reference), -1: nothing agrees."""
    slack = tol.rel * (np.abs(r) - bound) - bound + floor
    return np.where(np.isfinite(slack), slack, -1.0)


def reference(
    expr: Expr,
    inputs: Mapping[str, np.ndarray],
    dtype: str,
    out: Reference | None = None,
    evaluator: Any = None,
) -> Reference:
    """The reference over whole columns (pure NumPy, no torch: it runs in a helper process or
    thread), written into ``out`` if given.

    First the bounded float64 reference (``bounded.py``). A row it settles (its bound takes at
    most half the tolerance, or it proves the function undefined) is done. A row whose bound
    would settle it if it were 2^11 times smaller is evaluated again in 80-bit ``longdouble``
    (11 more bits), as a plain reference compared with the plain tolerance. Every other row,
    and a kink or a shaky row, is left to the exact verdict.
    """
    from ..engines import screen as bounded

    n = len(next(iter(inputs.values()))) if inputs else 1
    if out is None:
        out = Reference(
            np.empty(n),
            np.empty(n),
            {name: np.empty(n) for name in inputs},
            {name: np.empty(n) for name in inputs},
            np.empty(n, bool),
            np.empty(n, bool),
        )
    evaluator = evaluator or bounded.Evaluator(expr, dtype)
    step = max(256, min(SCREEN_ROWS, SCREEN_ELEMENTS // max(1, len(expr.nodes))))
    for start in range(0, n, step):
        part = slice(start, min(n, start + step))
        block = {k: c[part] for k, c in inputs.items()}
        with np.errstate(all="ignore"):
            again = _bounded(expr, evaluator.columns(block), block, dtype, out, part)
        if again.any():
            _extended(expr, block, dtype, np.flatnonzero(again), out, start)
    return out


#: longdouble's rounding against float64's (11 more bits): the extended-precision pass is
#: trusted where the float64 bound, scaled by this, would settle the row
EXTENDED = 2.0**-11
#: float32's rounding against float64's, for telling where torch in float32 may see a kink
FLOAT32 = 2.0**29
FLOAT32_TINY = 2.0**-126  #: below this, float32 may have rounded a number to 0


def _near_kink(node: Any, ref: Columns, dtype: str) -> np.ndarray:
    """Rows where a non-smooth operation's operands are on its kink, or close enough that
    torch's own rounding may have put them there (within the bound; for float32, within what
    float32's rounding and underflow can do)."""
    from ..language.ops import OPS

    args = [ref.nodes[a] for a in node.args]
    margins = [ref.node_bounds[a] for a in node.args]
    if dtype == "float32":
        margins = [
            m * FLOAT32 + FLOAT32_TINY * (np.abs(a) < FLOAT32_TINY)
            for a, m in zip(args, margins, strict=True)
        ]
    if node.op in ("min", "max"):  # a tie, u == v
        return np.asarray(np.abs(args[0] - args[1]) <= margins[0] + margins[1])
    snapped = [np.where(np.abs(a) <= m, 0.0, a) for a, m in zip(args, margins, strict=True)]
    at_kink = OPS[node.op].kink
    assert at_kink is not None
    near: np.ndarray = np.asarray(at_kink(*snapped)) | np.asarray(at_kink(*args))
    return near


def _bounded(
    expr: Expr,
    ref: Columns,
    block: Mapping[str, np.ndarray],
    dtype: str,
    out: Reference,
    part: slice,
) -> np.ndarray:
    """The bounded reference of a block into ``out[part]``; returns the rows for the
    extended-precision pass: not settled (their bound takes more than half the tolerance), but
    they would be with a bound :data:`EXTENDED` times smaller. Rows neither settles, shaky
    rows and kinks are left to the exact verdict (slack -1)."""
    from ..check.judge import TOLERANCES
    from ..language.ops import OPS

    tol = TOLERANCES[dtype]

    nan = np.isnan(ref.value)
    finite = np.isfinite(ref.value)
    for g in ref.gradient.values():
        nan |= np.isnan(g)
        finite &= np.isfinite(g)
    # Left to the exact verdict: a kink, or what torch may have seen as one (it says what torch
    # did there), and an infinity or NaN that an operation swallowed (1**nan, step(nan),
    # 1/(1+exp(inf)) are numbers, but the exact function is undefined there).
    judge = np.zeros_like(nan)
    for node, v in zip(expr.nodes, ref.nodes, strict=True):
        if node.kind != "op":
            continue
        if OPS[node.op].kink is not None:
            judge |= _near_kink(node, ref, dtype)
        judge |= ~np.isfinite(v) & finite
    f_bound = ref.value_bound
    half = _slack(tol, ref.value, 0.0) / 2
    slack = _slack(tol, ref.value, f_bound)
    settled = slack >= half
    settled_extended = _slack(tol, ref.value, f_bound * EXTENDED) >= half
    magnitude = np.maximum(np.abs(ref.value) - f_bound, 0.0)
    slacks = {}
    for name, g in ref.gradient.items():
        floor = tol.abs * magnitude / np.maximum(1.0, np.abs(block[name]))
        bound = ref.gradient_bound[name]
        half = _slack(tol, g, 0.0, floor) / 2
        slacks[name] = _slack(tol, g, bound, floor)
        settled &= slacks[name] >= half
        settled_extended &= _slack(tol, g, bound * EXTENDED, floor) >= half
    judge |= ref.shaky  # (the bounds there prove nothing)
    undefined = nan & ~judge
    again: np.ndarray = ~settled & settled_extended & ~judge & ~undefined
    judge |= ~settled & ~again  # (undefined rows too: their slack is -1 anyway)
    out.value[part] = ref.value
    out.value_slack[part] = np.where(judge, -1.0, slack)
    for name, g in ref.gradient.items():
        out.gradient[name][part] = g
        out.gradient_slack[name][part] = np.where(judge, -1.0, slacks[name])
    out.undefined[part] = undefined
    out.extended[part] = again
    return again


def _extended(
    expr: Expr,
    block: Mapping[str, np.ndarray],
    dtype: str,
    rows: np.ndarray,
    out: Reference,
    start: int,
) -> None:
    """The rows the bounds could not settle, in ``longdouble``, into ``out`` (rows ``start +
    rows``): a reference without a bound, compared with the plain tolerance. Its NaNs prove
    nothing (an overflow makes them too), so it never calls a row undefined."""
    from ..check.judge import TOLERANCES
    from ..engines.exact import adjoint

    tol = TOLERANCES[dtype]
    where = start + rows
    value, gradient, _ = adjoint.columns(
        expr, {k: c[rows] for k, c in block.items()}, dtype, extended=True
    )
    with np.errstate(all="ignore"):
        v = value.astype(np.float64)
        out.value[where] = v
        out.value_slack[where] = _slack(tol, v, 0.0)
        for name, g in gradient.items():
            g = g.astype(np.float64)
            floor = tol.abs * np.abs(v) / np.maximum(1.0, np.abs(block[name][rows]))
            out.gradient[name][where] = g
            out.gradient_slack[name][where] = _slack(tol, g, 0.0, floor)


class _Slots:
    """Memory shared with the screen's helper process (mapped before it is forked): a slot per
    chunk in flight holds the chunk's input columns, and the helper writes the reference beside
    them, so no column is ever pickled through a pipe (measured: that copying cost more system
    time than the work)."""

    def __init__(self, names: list[str], rows: int, count: int) -> None:
        import mmap

        self.names, self.rows, self.count = names, rows, count
        # inputs, then value and its slack, then each gradient and its slack
        self.floats = rows * (3 * len(names) + 2)
        self.size = 8 * self.floats + 2 * rows  # and two flags a row
        self.size += -self.size % 8
        self.buffer = mmap.mmap(-1, self.size * count)

    def views(self, slot: int, n: int) -> tuple[dict[str, np.ndarray], Reference]:
        base, rows, k = slot * self.size, self.rows, len(self.names)
        floats = np.frombuffer(self.buffer, np.float64, self.floats, base)
        column = [floats[i * rows : i * rows + n] for i in range(3 * k + 2)]
        flags = np.frombuffer(self.buffer, np.bool_, 2 * rows, base + 8 * self.floats)
        names = self.names
        ref = Reference(
            column[k],
            column[k + 1],
            {name: column[k + 2 + i] for i, name in enumerate(names)},
            {name: column[2 * k + 2 + i] for i, name in enumerate(names)},
            flags[:n],
            flags[rows : rows + n],
        )
        return {name: column[i] for i, name in enumerate(names)}, ref


# In the helper process: the expression, the dtype and the shared slots.
_SCREEN: tuple[Expr, str, _Slots, Any] | None = None


def _ignore_ctrl_c() -> None:
    """In a helper process: Ctrl-C reaches the whole process group; the parent handles it
    (and ends its helpers), so a helper must not print a traceback of its own."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


_SCREEN_WHY = ""  # in the helper process: why it could not start, if it could not


def _screen_init(source: str, dtype: str) -> None:
    """Set the helper up. It must not raise: a pool whose initializer fails starts a new
    helper, which fails again, forever. A failure is kept, and reported by the first chunk."""
    global _SCREEN, _SCREEN_WHY
    _ignore_ctrl_c()
    try:
        from ..engines.screen import Evaluator
        from ..language.parser import parse

        assert _SLOTS is not None  # inherited from the parent at fork
        expr = parse(source)
        _SCREEN = (expr, dtype, _SLOTS, Evaluator(expr, dtype))
    except Exception as e:  # (any failure at all: the parent has to hear of it)
        _SCREEN_WHY = f"{type(e).__name__}: {e}"


_SLOTS: _Slots | None = None  # in the parent, set just before the helper is forked


def _screen_slot(slot: int, n: int) -> None:
    if _SCREEN is None:
        raise RuntimeError(f"the check's helper process could not start ({_SCREEN_WHY})")
    expr, dtype, slots, evaluator = _SCREEN
    inputs, out = slots.views(slot, n)
    reference(expr, inputs, dtype, out, evaluator)


class Screen:
    """``--check all``: every row against the bounded reference.

    The reference needs only the input columns, not torch's results, so it is computed ahead:
    in a helper process (forked before torch is imported, so it works while torch loads) or,
    where that is not wanted, on a thread.
    """

    def __init__(
        self,
        expr: Expr,
        dtype: str,
        timeout: float | None,
        process: bool = False,
        in_flight: int = 16,
    ) -> None:
        import multiprocessing
        from concurrent.futures import ThreadPoolExecutor

        self.expr, self.dtype, self.timeout = expr, dtype, timeout
        self.exact_left = MAX_EXACT_ROWS
        self.over_budget = 0  #: doubtful rows left unchecked
        self.pool: Any = None
        self.threads: ThreadPoolExecutor | None = None
        self.slots: _Slots | None = None
        self.evaluator: Any = None
        self.next_slot = 0
        if process and "fork" in multiprocessing.get_all_start_methods():
            global _SLOTS
            from .formats import CHUNK_ROWS

            # A slot for every chunk that can be in flight: read ahead, being computed, and
            # one the reader holds.
            self.slots = _SLOTS = _Slots(list(expr.variables), CHUNK_ROWS, in_flight + 2)
            context = multiprocessing.get_context("fork")
            self.pool = context.Pool(1, initializer=_screen_init, initargs=(expr.source, dtype))
        else:
            from ..engines.screen import Evaluator

            self.evaluator = Evaluator(expr, dtype)
            self.threads = ThreadPoolExecutor(1, thread_name_prefix="gradcli-check")

    def submit(self, inputs: Mapping[str, np.ndarray]) -> Callable[[], Reference]:
        """Start the reference for a chunk; the returned function waits for it (and returns
        a copy: the slot is used again once the chunk is done)."""
        if self.pool is not None and self.slots is not None:
            n = len(next(iter(inputs.values()))) if inputs else 1
            slot = self.next_slot % self.slots.count
            self.next_slot += 1
            shared, out = self.slots.views(slot, n)
            for name, column in inputs.items():
                shared[name][:] = column
            pending = self.pool.apply_async(_screen_slot, (slot, n))

            def wait() -> Reference:  # (views of the slot: valid until this chunk is done)
                pending.get()
                return out

            return wait
        assert self.threads is not None
        future = self.threads.submit(reference, self.expr, inputs, self.dtype, None, self.evaluator)
        return future.result

    def compare(
        self,
        ref: Reference,
        value: np.ndarray,
        grads: Mapping[str, np.ndarray],
        bad: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Status codes for every row, and the rows that need an exact verdict."""
        codes = np.full(len(value), UNCHECKED, dtype=np.uint8)
        with np.errstate(all="ignore"):
            agree = np.abs(value - ref.value) <= ref.value_slack  # (False for NaN and inf)
            finite = np.isfinite(value)
            for name, g in grads.items():
                agree &= np.abs(g - ref.gradient[name]) <= ref.gradient_slack[name]
                finite &= np.isfinite(g)
        undefined = ~finite & ref.undefined
        codes[agree] = AGREE
        codes[undefined] = UNDEFINED
        doubtful = ~agree & ~undefined
        if bad is not None:
            doubtful &= ~bad
        return codes, np.flatnonzero(doubtful)

    def judge(self, columns: Mapping[str, np.ndarray], rows: np.ndarray, codes: np.ndarray) -> None:
        """Exact verdicts for the doubtful ``rows`` (in place in ``codes``), within budget."""
        from ..check.budget import CheckTimeout, time_limit
        from ..engines.exact import adjoint

        take = rows[: self.exact_left]
        self.over_budget += len(rows) - len(take)
        self.exact_left -= len(take)
        for i in take.tolist():
            point = {name: float(col[i]) for name, col in columns.items()}
            try:
                with time_limit(self.timeout):
                    exact = adjoint.exact(self.expr, point, self.dtype)
                    codes[i] = CODE[row_verdict(self.expr, point, self.dtype, exact)]
            except CheckTimeout:
                codes[i] = CODE[Status.TIMEOUT]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        if self.threads is not None:
            self.threads.shutdown(cancel_futures=True)


# ---- sample:N, with SymPy in a helper process ------------------------------------------------


def _exact_points(
    sym: Any, derivatives: Mapping[str, Any], points: list[dict[str, float]], dtype: str
) -> list[tuple[Any, dict[str, Any]]]:
    """The exact value and derivatives at each point (SymPy, 30 digits)."""
    from ..engines import symbolic

    return [
        (
            symbolic.evaluate(sym, sym.expr, p, dtype),
            {n: symbolic.evaluate(sym, d, p, dtype) for n, d in derivatives.items()},
        )
        for p in points
    ]


_WORKER: tuple[Any, Any, str] | None = None  # in the helper process: (sym, derivatives, dtype)


def _worker_init(source: str, dtype: str) -> None:
    """Set the helper up (SymPy's derivatives, while torch loads in the parent). Like
    :func:`_screen_init`, it must not raise; why it failed is what later requests answer."""
    global _WORKER
    _ignore_ctrl_c()
    try:
        from ..check.budget import CheckTimeout, time_limit
        from ..engines import symbolic
        from ..language.parser import parse

        expr = parse(source)
        with time_limit(None):  # no clock here: each request has its own budget
            sym = symbolic.build(expr, dtype)
            _WORKER = (sym, {n: sym.derivative(n) for n in expr.variables}, dtype)
    except CheckTimeout as stop:
        _WORKER = None
        globals()["_WORKER_WHY"] = stop.why
    except Exception as e:  # (any failure at all: a sentence's end, like the others)
        _WORKER = None
        globals()["_WORKER_WHY"] = f"could not start ({type(e).__name__}: {e})"


def _worker_exact(
    points: list[dict[str, float]], seconds: float | None
) -> list[tuple[Any, dict[str, Any]]] | str:
    """Exact values for ``points``, or why there are none (a sentence's end)."""
    from ..check.budget import CheckTimeout, time_limit

    if _WORKER is None:
        return str(globals().get("_WORKER_WHY", "was abandoned"))
    sym, derivatives, dtype = _WORKER
    try:
        with time_limit(seconds):
            return _exact_points(sym, derivatives, points, dtype)
    except CheckTimeout as stop:
        return stop.why


class Sampler:
    """``--check sample:N``: the exact check of single rows with SymPy.

    The symbolic side (importing SymPy, differentiating, evaluating the sampled rows at 30
    digits) runs in a helper process started at once, so on a 2-core machine it overlaps with
    importing torch and computing the chunk instead of adding to it. Where processes cannot be
    forked it runs here.
    """

    def __init__(self, expr: Expr, dtype: str, rows: int, timeout: float | None = 5.0) -> None:
        import multiprocessing

        self.expr, self.dtype, self.timeout = expr, dtype, timeout
        self.abandoned: str | None = None  #: why the exact side gave up, if it did
        self.sample = rows
        self.nonfinite_budget = MAX_NONFINITE_CHECKS
        self.rng = random.Random(20261123)
        self.pool: Any = None
        self.local: tuple[Any, Any] | None = None
        if "fork" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("fork")
            self.pool = context.Pool(1, initializer=_worker_init, initargs=(expr.source, dtype))

    def exact(self, points: list[dict[str, float]]) -> Callable[[], list[Any] | str]:
        """Start the exact evaluation of ``points``; the returned function waits for the
        results, or says why there are none (the time limit, too deep for SymPy)."""
        import multiprocessing

        from ..check.budget import CheckTimeout, time_limit

        if not points or self.abandoned:
            why = self.abandoned
            return lambda: why if why else []
        budget = None if not self.timeout else self.timeout * max(1.0, len(points) / 25)
        if self.pool is not None:
            pending = self.pool.apply_async(_worker_exact, (points, budget))

            def wait() -> list[Any] | str:
                try:  # the first request also waits for SymPy's import in the helper
                    got: list[Any] | str = pending.get(None if budget is None else budget + 60)
                    return got
                except multiprocessing.TimeoutError:
                    return "did not finish in time"

            return wait
        try:
            with time_limit(budget):
                if self.local is None:
                    from ..engines import symbolic

                    sym = symbolic.build(self.expr, self.dtype)
                    self.local = (sym, {n: sym.derivative(n) for n in self.expr.variables})
                sym, derivatives = self.local
                done: list[Any] | str = _exact_points(sym, derivatives, points, self.dtype)
        except CheckTimeout as stop:
            done = stop.why
        return lambda: done

    def sample_rows(self, n: int) -> list[int]:
        """The random sample, drawn from the first chunk."""
        picked = sorted(self.rng.sample(range(n), min(self.sample, n)))
        self.sample = 0
        return picked

    def nonfinite_rows(
        self, value: np.ndarray, grads: Mapping[str, np.ndarray], already: set[int]
    ) -> list[int]:
        """Rows whose value or gradient is not finite, while the budget for them lasts."""
        finite = np.isfinite(value)
        for g in grads.values():
            finite &= np.isfinite(g)
        rows = [i for i in np.flatnonzero(~finite).tolist() if i not in already]
        rows = rows[: self.nonfinite_budget]
        self.nonfinite_budget -= len(rows)
        return rows

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
