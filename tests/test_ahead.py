"""The exact check started ahead in a forked child (gradcli/check/ahead.py): what crosses the
pipe is what was computed, the verdicts are the library's own, and a child that fails, hangs
or outlives its parent changes nothing for the user."""

from __future__ import annotations

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from flint import arb

import gradcli
from gradcli.check.ahead import ItemByItem, OnRequest
from gradcli.engines.exact import real
from gradcli.engines.exact.real import Kind, Real, working_precision


def _parts(b: object) -> tuple[object, object]:
    assert isinstance(b, arb)
    return b.mid().man_exp(), b.rad().man_exp()


def test_a_ball_crosses_processes_with_its_midpoint_and_a_radius_no_smaller() -> None:
    rng = random.Random(8)
    for _ in range(2000):
        with working_precision(rng.choice([53, 120, 400, 2000])):
            b = (arb(rng.random()) * arb(10) ** rng.randint(-300, 300)).sqrt() + arb(1) / 7
            x = real.ball(b)
        y = pickle.loads(pickle.dumps(x))
        assert y.kind is Kind.BALL
        assert y.b.mid().man_exp() == x.b.mid().man_exp()  # the very same midpoint
        # FLINT may round the radius up by one unit of its 30-bit mantissa, never down
        assert y.b.rad() >= x.b.rad()
        assert y.b.rad() <= x.b.rad() * (1 + 2.0**-28)


def test_every_kind_of_real_crosses_with_its_side_and_reason() -> None:
    zero_from_below = Real(Kind.EXACT, real.fmpq(0), side=-1)
    for x in [
        real.rational(3, 7),
        zero_from_below,
        real.pos_inf("log(0)"),
        real.neg_inf(),
        real.pole("1/0"),
        real.huge(-1, "exp(exp(1000))"),
        real.not_real("sqrt(-1)"),
        real.undefined("0/0"),
        real.unknown("straddles a pole"),
        Real(Kind.BALL, b=arb("nan")),
        Real(Kind.BALL, b=arb(1, "inf")),
    ]:
        y = pickle.loads(pickle.dumps(x))
        assert (y.kind, y.q, y.side, y.why) == (x.kind, x.q, x.side, x.why)
        assert (y.b is None) == (x.b is None)
        if x.b is not None:
            assert y.b.mid().str() == x.b.mid().str() and y.b.rad().str() == x.b.rad().str()


class _Unreadable:
    """Pickles, but cannot be unpickled."""

    def __reduce__(self) -> tuple[object, ...]:
        return (_refuse, ())


def _refuse() -> None:
    raise ValueError("unreadable")


def test_node_values_cross_item_by_item_and_are_read_one_at_a_time() -> None:
    items = [real.rational(k, 3) for k in range(50)]
    items[7] = _Unreadable()  # type: ignore[call-overload]
    there = pickle.loads(pickle.dumps(ItemByItem(items)))
    assert len(there) == 50
    assert there[3].q == items[3].q  # (read without touching the unreadable one)
    assert [x.q for x in there[10:13]] == [items[k].q for k in range(10, 13)]
    with pytest.raises(ValueError, match="unreadable"):
        there[7]


def test_a_mapping_on_request_reads_as_its_base_and_keeps_what_is_set_over_it() -> None:
    scales = OnRequest({"x": 1.0, "y": 2.0})
    scales["y"] = 5.0
    assert dict(scales) == {"x": 1.0, "y": 5.0}
    assert pickle.loads(pickle.dumps(scales)) == {"x": 1.0, "y": 5.0}  # (no child: a dict)


def _script(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


#: points whose check takes every path: SymPy's derivative shown, a kink, a pole, an exact
#: zero only SymPy's algebra proves, a tensor with a VJP, rounding that needs the judge's
#: scales, a large sum checked node by node (its node values and scales cross item by item)
CASES: list[tuple[str, dict[str, object], dict[str, object]]] = [
    ("x**2*y", {"x": 2, "y": 3}, {}),
    ("abs(x)*relu(y)", {"x": 0, "y": 1}, {}),
    ("1/x + log(x)", {"x": 0}, {}),
    ("sin(x)**2 + cos(x)**2 - 1", {"x": 0.7}, {}),
    ("x*y", {"x": "1,2,3", "y": "4,5,6"}, {"vjp": "1,0,2"}),
    ("x*y - y*x + 1e-300*x", {"x": 0.3, "y": 0.7}, {}),
    (" + ".join(f"sin({k}*x)*y**{k % 3}" for k in range(1, 1500)), {"x": 0.5, "y": 2}, {}),
]


def _owned(case: tuple[str, dict[str, object], dict[str, object]]) -> dict[str, object]:
    """``grad`` of one case, first thing in a process that owns itself."""
    got = _script(
        f"""
        import json, sys
        from gradcli import api
        api.own_process()
        out = api.grad(*{case[:2]!r}, **{case[2]!r}).to_dict()
        print(json.dumps({{"result": out, "sympy": "sympy" in sys.modules}}))
        """
    )
    assert got.returncode == 0, got.stderr
    answer: dict[str, object] = json.loads(got.stdout)
    return answer


def test_the_command_lines_check_beside_torch_gives_the_librarys_verdicts() -> None:
    """A process that owns itself (as the command line does) checks in a forked child: SymPy
    is never imported in the parent, yet its derivatives are shown; every result is the one
    the library gives in its own process, number for number."""
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(_owned, CASES))
    # (the symbolic work was the child's; torch itself imports SymPy for some tensor work)
    scalar = [a for a, (_, _, k) in zip(answers, CASES, strict=True) if "vjp" not in k]
    assert all(a["sympy"] is False for a in scalar)
    results = [a["result"] for a in answers]
    assert results[0]["symbolic"] == {"x": "2*x*y", "y": "x**2"}  # type: ignore[index]
    here = [gradcli.grad(e, p, **k).to_dict() for e, p, k in CASES]
    assert results == json.loads(json.dumps(here))
    statuses = [r["check"]["status"] for r in results]  # type: ignore[index]
    assert statuses[1] == "nondifferentiable" and statuses[2] == "undefined"


def test_a_failing_child_leaves_the_work_to_this_process() -> None:
    got = _script(
        """
        import os, signal, sys
        from gradcli.check import ahead
        ahead.allow()
        me = os.getpid()

        def fails(seconds):
            raise ValueError(f"failed in {'the child' if os.getpid() != me else 'the parent'}")

        def dies(seconds):
            if os.getpid() != me:
                os.kill(os.getpid(), signal.SIGKILL)
            return "done here"

        def cannot_cross(seconds):
            return (lambda: os.getpid())

        p = ahead.Pending(fails, 30)
        assert p.forked
        try:
            p.result()
        except ValueError as e:
            print(e)
        print(ahead.Pending(dies, 30).result())
        print(ahead.Pending(cannot_cross, 30).result()() == me)
        print(ahead.Pending(lambda seconds: os.getpid(), 30).result() != me)
        """
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout.split("\n")[:4] == ["failed in the parent", "done here", "True", "True"]


def test_a_part_that_does_not_come_is_worked_out_here() -> None:
    """The child answers, then dies (or fails) working out a part sent later: the parent does
    the work again and takes the part from its own result. A child with nothing more to send
    is collected at once."""
    got = _script(
        """
        import os
        from collections.abc import Mapping
        from gradcli.check import ahead
        from gradcli.check.ahead import OnRequest
        ahead.allow()
        me = os.getpid()

        class Scales(Mapping):  # (worked out only when read; in the child, it ends badly)
            def __init__(self, how):
                self.how = how
            def __getitem__(self, key):
                return {"x": 1.5}[key]
            def __len__(self):
                return 1
            def __iter__(self):
                if os.getpid() != me:
                    if self.how == "dies":
                        os._exit(1)
                    raise ValueError("failed")
                return iter(["x"])

        for how in ("dies", "fails"):
            p = ahead.Pending(lambda seconds: [OnRequest(Scales(how)), os.getpid()], 30)
            got = p.result()
            print(how, got[1] != me, p.here is None)  # (the answer came from the child)
            print(dict(got[0]), "done here", p.here[1] == me, p.pid == 0)
        p = ahead.Pending(lambda seconds: os.getpid(), 30)
        print("collected at once", p.result() != me, p.pid == 0)
        """
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout.split("\n")[:5] == [
        "dies True True",
        "{'x': 1.5} done here True True",
        "fails True True",
        "{'x': 1.5} done here True True",
        "collected at once True True",
    ]


def test_a_child_past_its_time_limit_is_killed_and_reported_as_a_timeout() -> None:
    got = _script(
        """
        import os, time
        from gradcli.check import ahead
        from gradcli.check.budget import CheckTimeout
        ahead.allow()
        ahead.GRACE = 0.5
        p = ahead.Pending(lambda seconds: time.sleep(60), 0.5)
        pid, start = p.pid, time.monotonic()
        try:
            p.result()
        except CheckTimeout as e:
            print(e.why, round(time.monotonic() - start))
        try:
            os.kill(pid, 0)
            print("still there")
        except ProcessLookupError:
            print("gone")
        """
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout.split("\n")[:2] == ["did not finish within 0.5 s 1", "gone"]


def test_the_time_limit_counts_from_the_moment_the_check_is_asked_for() -> None:
    """The child's clock is held until the parent asks: work that takes longer than the
    limit but ends before the ask is done, not lost; work too slow anywhere times out the
    limit after the ask, however long the parent took to ask."""
    got = _script(
        """
        import os, time
        from gradcli.check import ahead
        from gradcli.check.budget import CheckTimeout, time_limit
        ahead.allow()
        me = os.getpid()

        def busy(seconds, for_=0.8):  # (longer than its limit: done while the clock is held)
            with time_limit(seconds):
                start = time.monotonic()
                while time.monotonic() - start < for_:
                    pass
                return os.getpid() != me

        def slow(seconds):
            with time_limit(seconds):
                while True:
                    pass

        p = ahead.Pending(busy, 0.5)
        time.sleep(1.5)  # (the parent's own work, as long as the child's)
        print("done in the child", p.result())
        for late in (0, 1):
            p = ahead.Pending(slow, 0.5)
            time.sleep(late)
            asked = time.monotonic()
            try:
                p.result()
            except CheckTimeout as e:
                print(e.why, round(time.monotonic() - asked, 1))
        """
    )
    assert got.returncode == 0, got.stderr
    lines = got.stdout.split("\n")
    assert lines[0] == "done in the child True"
    for line in lines[1:3]:  # (0.5 s after it was asked for, give or take the machine)
        why, seconds = line.rsplit(" ", 1)
        assert why == "did not finish within 0.5 s" and 0.4 <= float(seconds) <= 1.5


def test_a_held_clock_starts_its_limits_when_released() -> None:
    got = _script(
        """
        import time
        from gradcli.check.budget import CheckTimeout, hold_clock, release_clock, time_limit

        def wait(seconds):  # (in short sleeps: the limit's exception comes between two)
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                time.sleep(0.01)

        hold_clock()
        start = time.monotonic()
        try:
            with time_limit(0.3):
                wait(0.6)  # (held: nothing fires)
                print("held")
                release_clock(start + 0.5)  # (as if asked 0.5 s after the start)
                wait(5)
        except CheckTimeout:
            print("fired after", round(time.monotonic() - start, 1))
        release_clock(time.monotonic() - 10)  # (a limit set later starts when it is set)
        try:
            with time_limit(0.3):
                wait(5)
        except CheckTimeout:
            print("then", round(time.monotonic() - start, 1))
        """
    )
    assert got.returncode == 0, got.stderr
    held, fired, then = got.stdout.split("\n")[:3]
    assert held == "held"
    assert 0.75 <= float(fired.split()[-1]) <= 1.2  # (0.5 + 0.3, give or take the machine)
    assert 1.05 <= float(then.split()[-1]) <= 1.6


def _gone(pid: int, within: float) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in "ZX":  # (dead, not yet collected)
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_the_child_ends_with_its_parent(how: str) -> None:
    """Killed outright (Linux's parent-death signal), or stopped by Ctrl-C (the owner's
    clean-up ends the child)."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import time
                from gradcli.check import ahead
                ahead.allow()
                p = ahead.Pending(lambda seconds: time.sleep(60), None)
                print(p.pid, flush=True)
                try:
                    p.result()
                finally:
                    p.close()
                """
            ),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert not _gone(child, 0.3)  # (at work)
    parent.send_signal(getattr(signal, how))
    parent.wait(timeout=10)
    assert _gone(child, 5)
