"""The cross-check of batch work: every row screened in extended precision, doubtful rows
judged exactly; or a random sample judged with SymPy.

``all`` (the default): each chunk is evaluated by the node-by-node reference (``adjoint.py``:
SymPy's derivative of every operation, chained by reverse accumulation) over whole columns in
80-bit ``longdouble``, which carries 11 more bits than float64. A row whose torch value and
gradient are finite and within the tolerance of that reference, at no kink, agrees; a row where
both torch and the reference leave the real numbers (NaN) is undefined. Every other row is
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
from typing import Any

import numpy as np

from .errors import UsageError, safe_text
from .models import Status
from .nodes import Expr

DEFAULT_SAMPLE = 25  #: rows checked by ``--check sample``
MAX_NONFINITE_CHECKS = 100  #: in sample mode, rows that are not finite checked in all, at most
MAX_EXACT_ROWS = 1_000  #: in ``all`` mode, doubtful rows judged exactly per run, at most
SCREEN_ELEMENTS = 1 << 22  #: rows x nodes evaluated at once by the screen (bounds its memory)

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
        return "every row, in extended precision"
    return (
        f"{rows:,} random row{'s' * (rows != 1)} of the first {chunk_rows:,} exactly, and up to "
        f"{MAX_NONFINITE_CHECKS} rows whose result is not finite"
    )


def row_verdict(expr: Expr, point: dict[str, float], dtype: str, exact: Any) -> Status:
    """The verdict of ``gradcli grad`` at one row, given the exact (value, gradient)."""
    from . import check as checking
    from . import evaluate
    from .values import flat

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
        lambda: evaluate.noisy_spread(expr, point, dtype),
    )
    return verdicts.status


class Screen:
    """``--check all``: every row against the extended-precision reference."""

    def __init__(self, expr: Expr, dtype: str, timeout: float | None) -> None:
        from . import adjoint

        self.expr, self.dtype, self.timeout = expr, dtype, timeout
        self.exact_left = MAX_EXACT_ROWS
        self.over_budget = 0  #: doubtful rows left unchecked
        self.supported = adjoint.supports(expr)

    def screen(
        self,
        columns: Mapping[str, np.ndarray],
        value: np.ndarray,
        grads: Mapping[str, np.ndarray],
        bad: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Status codes for every row, and the rows that need an exact verdict. Pure NumPy:
        it may run on another thread while torch works on the next chunk."""
        from . import adjoint
        from .check import TOLERANCES
        from .ops import OPS

        n = len(value)
        codes = np.full(n, UNCHECKED, dtype=np.uint8)
        doubtful = np.zeros(n, dtype=bool)
        tol = TOLERANCES[self.dtype]
        step = max(256, SCREEN_ELEMENTS // max(1, len(self.expr.nodes)))
        for start in range(0, n, step):
            part = slice(start, min(n, start + step))
            inputs = {k: c[part] for k, c in columns.items()}
            ref, ref_grads, nodes = adjoint.columns(self.expr, inputs, self.dtype)
            with np.errstate(all="ignore"):
                t = value[part]
                torch_finite = np.isfinite(t)
                ref_finite = np.isfinite(ref)
                ref_nan = np.isnan(ref)
                ok = np.abs(t - ref) <= tol.rel * np.abs(ref)
                for name, g in grads.items():
                    tg, rg = g[part], ref_grads[name]
                    torch_finite &= np.isfinite(tg)
                    ref_finite &= np.isfinite(rg)
                    ref_nan |= np.isnan(rg)
                    scale = np.maximum(1.0, np.abs(inputs[name]))
                    ok &= np.abs(tg - rg) <= tol.rel * np.abs(rg) + tol.abs * np.abs(ref) / scale
                kink = np.zeros(len(t), dtype=bool)
                for node in self.expr.nodes:
                    at_kink = OPS[node.op].kink if node.kind == "op" else None
                    if at_kink is not None:
                        kink |= np.asarray(at_kink(*(nodes[a] for a in node.args)))
            agree = torch_finite & ref_finite & ok & ~kink
            undefined = ~torch_finite & ref_nan
            block = codes[part]
            block[agree] = AGREE
            block[undefined & ~agree] = UNDEFINED
            doubtful[part] = ~agree & ~undefined
        if bad is not None:
            doubtful &= ~bad
        return codes, np.flatnonzero(doubtful)

    def judge(self, columns: Mapping[str, np.ndarray], rows: np.ndarray, codes: np.ndarray) -> None:
        """Exact verdicts for the doubtful ``rows`` (in place in ``codes``), within budget."""
        from . import adjoint
        from .deadline import CheckTimeout, time_limit

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


# ---- sample:N, with SymPy in a helper process ------------------------------------------------


def _exact_points(
    sym: Any, derivatives: Mapping[str, Any], points: list[dict[str, float]], dtype: str
) -> list[tuple[Any, dict[str, Any]]]:
    """The exact value and derivatives at each point (SymPy, 30 digits)."""
    from . import symbolic

    return [
        (
            symbolic.evaluate(sym, sym.expr, p, dtype),
            {n: symbolic.evaluate(sym, d, p, dtype) for n, d in derivatives.items()},
        )
        for p in points
    ]


_WORKER: tuple[Any, Any, str] | None = None  # in the helper process: (sym, derivatives, dtype)


def _worker_init(source: str, dtype: str) -> None:
    global _WORKER
    from . import symbolic
    from .deadline import CheckTimeout, time_limit
    from .parser import parse

    expr = parse(source)
    try:
        with time_limit(None):  # no clock here: each request has its own budget
            sym = symbolic.build(expr, dtype)
            _WORKER = (sym, {n: sym.derivative(n) for n in expr.variables}, dtype)
    except CheckTimeout as stop:
        _WORKER = None
        globals()["_WORKER_WHY"] = stop.why


def _worker_exact(
    points: list[dict[str, float]], seconds: float | None
) -> list[tuple[Any, dict[str, Any]]] | str:
    """Exact values for ``points``, or why there are none (a sentence's end)."""
    from .deadline import CheckTimeout, time_limit

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

        from .deadline import CheckTimeout, time_limit

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
                    from . import symbolic

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
