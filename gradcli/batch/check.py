"""The cross-check of batch work: every row screened against a float64 reference that bounds
its own rounding, doubtful rows judged exactly; or a random sample judged with SymPy.

``all`` (the default): each chunk is evaluated by the node-by-node reference (SymPy's
derivative of every operation, chained by reverse accumulation) over whole columns in float64,
each number carrying a bound on its distance from the exact value
(:mod:`gradcli.engines.screen`). A row agrees when torch's value and gradient are within the
tolerance of the exact numbers for every exact number the bounds allow, at no kink; a row where
torch leaves the real numbers and the reference proves a domain error (a NaN no rounding
explains) is undefined. Every other row is doubtful and gets the exact verdict of ``gradcli
grad`` (the same proven reference and the same judge), up to :data:`MAX_EXACT_ROWS` rows a run;
doubtful rows past that stay ``unchecked``, and the summary says how many.

``sample:N``: N random rows of the first chunk, and up to :data:`MAX_NONFINITE_CHECKS` rows whose
result is not finite, get that same exact verdict; the other rows stay ``unchecked``.
"""

from __future__ import annotations

import contextlib
import functools
import mmap
import multiprocessing
import random
import signal
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..check.tolerance import TOLERANCES
from ..errors import UsageError, safe_text
from ..language.nodes import Expr
from ..language.ops import OPS
from ..language.parser import parse
from ..language.values import flat
from ..limits import DEFAULT_SAMPLE, MAX_EXACT_ROWS, MAX_NONFINITE_CHECKS
from ..results import Status

if TYPE_CHECKING:
    from ..engines.screen import Columns

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
        f"{{check}} {safe_text(text)!r} is not a check mode",
        hint="use all (every row, the default), sample or sample:N (N random rows)",
        params=("check",),
    )


def describe_mode(mode: str, rows: int, chunk_rows: int) -> str:
    if mode == "all":
        return "every row, in float64 with error bounds"
    return (
        f"{rows:,} random row{'s' * (rows != 1)} of the first {chunk_rows:,} exactly, and up to "
        f"{MAX_NONFINITE_CHECKS} rows whose result is not finite"
    )


def row_verdict(
    expr: Expr,
    point: dict[str, float],
    dtype: str,
    timeout: float | None,
    numbers: tuple[float, dict[str, float]] | None = None,
) -> Status:
    """The verdict ``gradcli grad`` gives at this row: the same reference, the same judge.

    ``numbers``: the value and gradient the batch computed for this row (what it writes). They
    are what is judged: torch's kernels over a whole column may round differently from its
    kernels on one point (measured: 3 rows in 200 of ``x**y`` differ in the last digit), and a
    verdict must be about the numbers the user gets. torch's own run at the point still
    supplies the intermediate values that explain a disagreement.

    The node-by-node reference comes first, alone: where it proves every number, SymPy's
    derivative (which ``grad`` also evaluates, to show it) proves the same numbers and cannot
    change the verdict, so a batch does not import SymPy for it (0.6 s and 40 MiB, measured).
    Where it cannot settle a number (``inconclusive``), SymPy's algebra may (an exact zero such
    as ``sin(x)**2 + cos(x)**2 - 1``), and the row is judged again with both, as ``grad``
    does."""
    # (here, not at the top: it loads NumPy)
    from ..check.run import check_grad

    # (here, not at the top: it loads NumPy)
    from ..engines import autograd

    computed = autograd.autograd(expr, point, dtype)
    gradient = {name: flat(g)[0] for name, g in computed.gradient.items()}
    if numbers is not None:
        computed = replace(computed, value=numbers[0])
        gradient = {name: numbers[1][name] for name in gradient}
    _, verdicts = check_grad(expr, point, dtype, computed, gradient, None, timeout, False)
    if verdicts.status is Status.INCONCLUSIVE:
        _, verdicts = check_grad(expr, point, dtype, computed, gradient, None, timeout)
    return verdicts.status


def written(
    value: np.ndarray, grads: Mapping[str, np.ndarray], row: int
) -> tuple[float, dict[str, float]]:
    """The value and gradient the batch computed at ``row``."""
    return float(value[row]), {name: float(g[row]) for name, g in grads.items()}


@dataclass(frozen=True)
class ScreenedChunk:
    """The screen's numbers over a chunk, reduced to what judging torch's rows needs: a torch number
    agrees when it is within its slack of the reference (the tolerance, less the reference's
    own bound where it has one; negative at a kink and where nothing could be settled)."""

    value: np.ndarray
    value_slack: np.ndarray
    gradient: dict[str, np.ndarray]
    gradient_slack: dict[str, np.ndarray]
    undefined: np.ndarray  #: the reference says the function is undefined (a NaN)


def _slack(tol: Any, r: np.ndarray, bound: Any, floor: Any = 0.0) -> Any:
    """How far a torch number may be from ``r`` and still be within the tolerance of every
    exact value within ``bound`` of it: ``|t - exact| <= rel |exact| + floor`` holds when
    ``|t - r| <= rel (|r| - bound) - bound + floor``. Where that is not a finite number (an
    infinite or NaN reference), -1: nothing agrees."""
    slack = tol.rel * (np.abs(r) - bound) - bound + floor
    return np.where(np.isfinite(slack), slack, -1.0)


def screen_chunk(
    expr: Expr,
    inputs: Mapping[str, np.ndarray],
    dtype: str,
    out: ScreenedChunk | None = None,
    evaluator: Any = None,
) -> ScreenedChunk:
    """The reference over whole columns (pure NumPy, no torch: it runs in a helper process or
    thread), written into ``out`` if given.

    The bounded float64 reference (``engines/screen.py``). A row it settles (its bound takes
    at most half the tolerance, or it proves the function undefined) is done; every other row,
    a kink and a shaky row, is left to the exact verdict (``gradcli grad``'s own).
    """
    # (here, not at the top: it loads NumPy)
    from ..engines import screen

    n = len(next(iter(inputs.values()))) if inputs else 1
    if out is None:
        out = ScreenedChunk(
            np.empty(n),
            np.empty(n),
            {name: np.empty(n) for name in inputs},
            {name: np.empty(n) for name in inputs},
            np.empty(n, bool),
        )
    evaluator = evaluator or screen.Evaluator(expr, dtype)
    step = max(256, min(SCREEN_ROWS, SCREEN_ELEMENTS // max(1, len(expr.nodes))))
    for start in range(0, n, step):
        part = slice(start, min(n, start + step))
        block = {k: c[part] for k, c in inputs.items()}
        with np.errstate(all="ignore"):
            _bounded(expr, evaluator.columns(block), block, dtype, out, part)
    return out


#: float32's rounding against float64's, for telling where torch in float32 may see a kink
FLOAT32 = 2.0**29
FLOAT32_TINY = 2.0**-126  #: below this, float32 may have rounded a number to 0


class _Near:
    """The op table's kink predicates asked of intervals: could the operands, within their
    margins, sit on the kink?"""

    @staticmethod
    def zero(u: tuple[Any, Any]) -> Any:
        return np.abs(u[0]) <= u[1]

    @staticmethod
    def equal(u: tuple[Any, Any], v: tuple[Any, Any]) -> Any:
        return np.abs(u[0] - v[0]) <= u[1] + v[1]

    @staticmethod
    def all_zero(*us: tuple[Any, Any]) -> Any:
        return functools.reduce(np.logical_and, (np.abs(u[0]) <= u[1] for u in us))


def _near_kink(node: Any, ref: Columns, dtype: str) -> np.ndarray:
    """Rows where a non-smooth operation's operands are on its kink, or close enough that
    torch's own rounding may have put them there (within the bound; for float32, within what
    float32's rounding and underflow can do)."""

    kink = OPS[node.op].kink
    assert kink is not None
    args = [ref.nodes[a] for a in node.args]
    margins = [ref.node_bounds[a] for a in node.args]
    if dtype == "float32":
        margins = [
            m * FLOAT32 + FLOAT32_TINY * (np.abs(a) < FLOAT32_TINY)
            for a, m in zip(args, margins, strict=True)
        ]
    near: np.ndarray = np.asarray(kink.at(_Near, *zip(args, margins, strict=True)))
    return near


def _bounded(
    expr: Expr,
    ref: Columns,
    block: Mapping[str, np.ndarray],
    dtype: str,
    out: ScreenedChunk,
    part: slice,
) -> None:
    """The bounded reference of a block into ``out[part]``. Rows it does not settle (their
    bound takes more than half the tolerance), shaky rows and kinks are left to the exact
    verdict (slack -1)."""

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
    magnitude = np.maximum(np.abs(ref.value) - f_bound, 0.0)
    slacks = {}
    for name, g in ref.gradient.items():
        # The tolerance's absolute term, as the judge has it (tolerance.py), from lower bounds
        # of its two sizes, so never more generous than the exact judge. The derivative's
        # scale S_i (the sum of the magnitudes of its terms) is at least |df/dx_i|, which the
        # bound gives for free: where a derivative cancels to near zero, torch's rounding of
        # its terms may exceed this and the row goes to the exact judge, which knows S_i.
        bound = ref.gradient_bound[name]
        size = np.minimum(
            magnitude / np.maximum(1.0, np.abs(block[name])), np.maximum(np.abs(g) - bound, 0.0)
        )
        floor = tol.abs * size * (1 - 2.0**-20)
        half = _slack(tol, g, 0.0, floor) / 2
        slacks[name] = _slack(tol, g, bound, floor)
        settled &= slacks[name] >= half
    judge |= ref.shaky  # (the bounds there prove nothing)
    undefined = nan & ~judge
    judge |= ~settled  # (undefined rows too: their slack is -1 anyway)
    out.value[part] = ref.value
    out.value_slack[part] = np.where(judge, -1.0, slack)
    for name, g in ref.gradient.items():
        out.gradient[name][part] = g
        out.gradient_slack[name][part] = np.where(judge, -1.0, slacks[name])
    out.undefined[part] = undefined


class _Slots:
    """Memory shared with the screen's helper process (mapped before it is forked): a slot per
    chunk in flight holds the chunk's input columns, and the helper writes the reference beside
    them, so no column is ever pickled through a pipe (measured: that copying cost more system
    time than the work)."""

    def __init__(self, names: list[str], rows: int, count: int) -> None:

        self.names, self.rows, self.count = names, rows, count
        # inputs, then value and its slack, then each gradient and its slack
        self.floats = rows * (3 * len(names) + 2)
        self.size = 8 * self.floats + rows  # and a flag a row
        self.size += -self.size % 8
        self.buffer = mmap.mmap(-1, self.size * count)

    def views(self, slot: int, n: int) -> tuple[dict[str, np.ndarray], ScreenedChunk]:
        base, rows, k = slot * self.size, self.rows, len(self.names)
        floats = np.frombuffer(self.buffer, np.float64, self.floats, base)
        column = [floats[i * rows : i * rows + n] for i in range(3 * k + 2)]
        flags = np.frombuffer(self.buffer, np.bool_, rows, base + 8 * self.floats)
        names = self.names
        ref = ScreenedChunk(
            column[k],
            column[k + 1],
            {name: column[k + 2 + i] for i, name in enumerate(names)},
            {name: column[2 * k + 2 + i] for i, name in enumerate(names)},
            flags[:n],
        )
        return {name: column[i] for i, name in enumerate(names)}, ref


# In the helper process: the expression, the dtype and the shared slots.
_SCREEN: tuple[Expr, str, _Slots, Any] | None = None


def _ignore_ctrl_c() -> None:
    """In a helper process: Ctrl-C reaches the whole process group; the parent handles it
    (and ends its helpers), so a helper must not print a traceback of its own. SIGTERM and
    SIGHUP end a helper at once (the command line's handlers, inherited at fork, are for the
    parent)."""

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)


_STOPS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


_SCREEN_WHY = ""  # in the helper process: why it could not start, if it could not


def _screen_init(source: str, dtype: str, rows: int | None) -> None:
    """Set the helper up. It does not raise: a failure is kept, and reported by the first
    chunk (with its reason)."""
    global _SCREEN, _SCREEN_WHY
    _ignore_ctrl_c()
    try:
        # (here, not at the top: it loads NumPy)
        from .kernel import Screener

        assert _SLOTS is not None  # inherited from the parent at fork
        expr = parse(source)
        _SCREEN = (expr, dtype, _SLOTS, Screener(expr, dtype, rows=rows))
    except Exception as e:  # (any failure at all: the parent has to hear of it)
        _SCREEN_WHY = f"{type(e).__name__}: {e}"


_SLOTS: _Slots | None = None  # in the parent, set just before the helper is forked


def _screen_slot(slot: int, n: int) -> None:
    if _SCREEN is None:
        raise RuntimeError(f"the check's helper process could not start ({_SCREEN_WHY})")
    _, _, slots, screener = _SCREEN
    inputs, out = slots.views(slot, n)
    screener.chunk(inputs, out)


def _helper_main(conn: Any, parents_end: Any, source: str, dtype: str, rows: int | None) -> None:
    """The helper process: screen each slot it is sent, answer (ticket, "" or why it failed);
    end when told (None) or when the parent has gone (the pipe closes: so the parent's end,
    inherited at fork, is closed here first)."""
    parents_end.close()
    _screen_init(source, dtype, rows)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        ticket, slot, n = job
        try:
            _screen_slot(slot, n)
            answer = ""
        except Exception as e:  # (any failure: the parent reports it)
            answer = str(e) if isinstance(e, RuntimeError) else f"{type(e).__name__}: {e}"
        try:
            conn.send((ticket, answer))
        except OSError:
            return


class _Helper:
    """One helper process, forked, that screens chunks in shared memory, talked to through a
    pipe. (Not a ``multiprocessing.Pool``: a pool worker killed by a signal dies holding its
    queue's lock, and ending the pool then waits on that lock forever.)"""

    def __init__(self, source: str, dtype: str, rows: int | None = None) -> None:
        context = multiprocessing.get_context("fork")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_helper_main, args=(child, self.conn, source, dtype, rows), daemon=True
        )
        # Forked with Ctrl-C, SIGTERM and SIGHUP held back, so that none reaches the helper
        # before it has set its own handling (it unblocks them then); in this process they
        # arrive once the fork is done.
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)
        try:
            self.process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        child.close()
        self.tickets = 0
        self.answers: dict[int, str] = {}

    def submit(self, slot: int, n: int) -> int:
        self.tickets += 1
        self.conn.send((self.tickets, slot, n))
        return self.tickets

    def wait(self, ticket: int) -> None:
        while ticket not in self.answers:
            try:
                got, answer = self.conn.recv()
            except (EOFError, OSError):
                raise RuntimeError("the check's helper process ended unexpectedly") from None
            self.answers[got] = answer
        answer = self.answers.pop(ticket)
        if answer:
            raise RuntimeError(answer)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.conn.send(None)
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


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
        exact_rows: int | None = MAX_EXACT_ROWS,
        rows: int | None = None,
    ) -> None:
        """``exact_rows``: doubtful rows judged exactly, at most (None: every one); ``rows``:
        about how many rows the run has, if known (a short run is not worth compiling for)."""
        self.expr, self.dtype, self.timeout = expr, dtype, timeout
        self.exact_left = exact_rows  #: doubtful rows still to judge exactly (None: no limit)
        self.over_budget = 0  #: doubtful rows left unchecked
        self.pool: _Helper | None = None
        self.threads: ThreadPoolExecutor | None = None
        self.slots: _Slots | None = None
        self.screener: Any = None
        self.next_slot = 0
        if process and "fork" in multiprocessing.get_all_start_methods():
            global _SLOTS
            # (here, not at the top: it loads NumPy)
            from .formats import CHUNK_ROWS

            # A slot for every chunk that can be in flight: read ahead, being computed, and
            # one the reader holds.
            self.slots = _SLOTS = _Slots(list(expr.variables), CHUNK_ROWS, in_flight + 2)
            self.pool = _Helper(expr.source, dtype, rows)
        else:
            # (here, not at the top: it loads NumPy)
            from .kernel import Screener

            self.screener = Screener(expr, dtype, rows=rows)
            self.threads = ThreadPoolExecutor(1, thread_name_prefix="gradcli-check")

    def submit(self, inputs: Mapping[str, np.ndarray]) -> Callable[[], ScreenedChunk]:
        """Start the reference for a chunk; the returned function waits for it (and returns
        a copy: the slot is used again once the chunk is done)."""
        if self.pool is not None and self.slots is not None:
            n = len(next(iter(inputs.values()))) if inputs else 1
            slot = self.next_slot % self.slots.count
            self.next_slot += 1
            shared, out = self.slots.views(slot, n)
            for name, column in inputs.items():
                shared[name][:] = column
            ticket = self.pool.submit(slot, n)
            helper = self.pool

            def wait() -> ScreenedChunk:  # (views of the slot: valid until this chunk is done)
                helper.wait(ticket)
                return out

            return wait
        assert self.threads is not None
        future = self.threads.submit(self.screener.chunk, inputs)
        return future.result

    def compare(
        self,
        ref: ScreenedChunk,
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

    def judge(
        self,
        columns: Mapping[str, np.ndarray],
        value: np.ndarray,
        grads: Mapping[str, np.ndarray],
        rows: np.ndarray,
        codes: np.ndarray,
    ) -> None:
        """Exact verdicts for the doubtful ``rows`` (in place in ``codes``), within budget: of
        the batch's own ``value`` and ``grads`` at those rows."""
        take = rows if self.exact_left is None else rows[: self.exact_left]
        self.over_budget += len(rows) - len(take)
        if self.exact_left is not None:
            self.exact_left -= len(take)
        for i in take.tolist():
            point = {name: float(col[i]) for name, col in columns.items()}
            numbers = written(value, grads, i)
            codes[i] = CODE[row_verdict(self.expr, point, self.dtype, self.timeout, numbers)]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        if self.threads is not None:
            self.threads.shutdown(cancel_futures=True)


# ---- sample:N ---------------------------------------------------------------------------------


class Sampler:
    """``--check sample:N``: N random rows of the first chunk, and up to
    :data:`MAX_NONFINITE_CHECKS` rows whose result is not finite, get ``gradcli grad``'s exact
    verdict (the same reference and judge, SymPy's derivatives built once for the run)."""

    def __init__(self, expr: Expr, dtype: str, rows: int, timeout: float | None = 5.0) -> None:
        self.expr, self.dtype, self.timeout = expr, dtype, timeout
        self.abandoned: str | None = None  #: why the exact side gave up, if it did
        self.sample = rows
        self.nonfinite_budget = MAX_NONFINITE_CHECKS
        self.rng = random.Random(20261123)

    def exact(
        self, points: list[dict[str, float]], numbers: list[tuple[float, dict[str, float]]]
    ) -> Callable[[], list[Status]]:
        """The verdicts of the batch's ``numbers`` at ``points``, computed when the returned
        function is called."""
        return lambda: [
            row_verdict(self.expr, p, self.dtype, self.timeout, n)
            for p, n in zip(points, numbers, strict=True)
        ]

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
        pass
