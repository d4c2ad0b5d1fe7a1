"""The warm server: whole-process times of calls it serves, against ``python -c pass`` and cold
runs, all measured in one run of this script.

    python benchmarks/server.py                 # 20 rounds, a 20-call cold loop
    python benchmarks/server.py --cold-loop 100 # the shell loop's cold side in full (~4 min)

It uses the ``gradcli`` command beside this interpreter (as a user types it) and a private
runtime directory, so a server of yours is neither used nor stopped. What it prints:

- each warm call's median over the rounds (every round runs ``python -c pass`` and each call
  once, in turn, so a drift of the machine's speed hits all alike), its ratio to
  ``python -c pass`` and to the cold median of the same call;
- the first call with ``GRADCLI_SERVER=auto`` (no server yet: it runs cold and starts one)
  against a cold call, over rounds that alternate the two;
- a shell loop of calls, warm (100) and cold (``--cold-loop``), as the time per call.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(sys.executable).parent
GRADCLI = (
    [str(HERE / "gradcli")] if (HERE / "gradcli").exists() else [sys.executable, "-m", "gradcli"]
)
CALLS = {
    "grad": ["grad", "x**2*y", "--x", "2", "--y", "3"],
    "grad --json": ["grad", "x**2*y", "--x", "2", "--y", "3", "--json"],
    "graph": ["graph", "sin(x**2)", "--x", "4"],
    "steps": ["steps", "sin(x**2)", "--x", "4"],
}


def run(argv: list[str], env: dict[str, str]) -> float:
    begun = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - begun


def environment(runtime: str, mode: str) -> dict[str, str]:
    return {**os.environ, "XDG_RUNTIME_DIR": runtime, "GRADCLI_SERVER": mode}


def wait_for_server(env: dict[str, str], limit: float = 180) -> None:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        got = subprocess.run([*GRADCLI, "server", "status"], env=env, capture_output=True)
        if got.returncode == 0:
            return
        time.sleep(0.2)
    raise SystemExit("the server did not start")


def stop(env: dict[str, str]) -> None:
    subprocess.run([*GRADCLI, "server", "stop"], env=env, capture_output=True, check=False)


def shell_loop(count: int, env: dict[str, str]) -> float:
    """Seconds per call of ``count`` calls from a bash loop."""
    line = " ".join(f"'{a}'" for a in [*GRADCLI, *CALLS["grad"]])
    script = f"for i in $(seq {count}); do {line} >/dev/null; done"
    return run(["bash", "-c", script], env) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="rounds of warm calls")
    parser.add_argument("--cold", type=int, default=5, help="cold runs of each call")
    parser.add_argument("--first", type=int, default=5, help="rounds of auto's first call")
    parser.add_argument("--cold-loop", type=int, default=20, help="calls in the cold shell loop")
    options = parser.parse_args()
    runtime = tempfile.mkdtemp(prefix="gradcli-bench-")
    warm, cold = environment(runtime, "on"), environment(runtime, "off")
    try:
        print(f"gradcli: {' '.join(GRADCLI)}; {os.cpu_count()} cores", flush=True)
        cold_times = {name: [] for name in CALLS}  # type: dict[str, list[float]]
        for _ in range(options.cold):
            for name, argv in CALLS.items():
                cold_times[name].append(run([*GRADCLI, *argv], cold))
        subprocess.run([*GRADCLI, "server", "start"], env=warm, capture_output=True, check=True)
        wait_for_server(warm)
        times = {name: [] for name in ["python -c pass", *CALLS]}  # type: dict[str, list[float]]
        for argv in CALLS.values():  # (once, unmeasured: the disk cache)
            run([*GRADCLI, *argv], warm)
        for _ in range(options.repeat):
            times["python -c pass"].append(run([sys.executable, "-c", "pass"], warm))
            for name, argv in CALLS.items():
                times[name].append(run([*GRADCLI, *argv], warm))
        floor = statistics.median(times["python -c pass"])
        print(f"\n{'warm call':<16}{'median':>10}{'/ pass':>9}{'/ cold':>9}   goal")
        print(f"{'python -c pass':<16}{floor * 1000:>8.1f}ms{1:>9.2f}")
        for name in CALLS:
            median = statistics.median(times[name])
            cold_median = statistics.median(cold_times[name])
            verdict = "ok" if median < 0.1 and median <= 5 * floor else "MISSED"
            print(
                f"{name:<16}{median * 1000:>8.1f}ms{median / floor:>9.2f}"
                f"{median / cold_median:>9.3f}   < 100 ms and <= 5x pass: {verdict}"
                f"  (cold {cold_median:.2f} s)"
            )
        warm_loop = shell_loop(100, warm)
        stop(warm)
        cold_loop = shell_loop(options.cold_loop, cold)
        speedup = cold_loop / warm_loop
        print(
            f"\nshell loop: warm {warm_loop * 1000:.1f} ms a call (100 calls), cold "
            f"{cold_loop * 1000:.0f} ms a call ({options.cold_loop} calls): {speedup:.1f}x "
            f"faster; goal >= 15x: {'ok' if speedup >= 15 else 'MISSED'}"
        )
        firsts, colds = [], []
        for _ in range(options.first):
            fresh = tempfile.mkdtemp(prefix="gradcli-bench-first-")
            try:
                colds.append(run([*GRADCLI, *CALLS["grad"]], environment(fresh, "off")))
                firsts.append(run([*GRADCLI, *CALLS["grad"]], environment(fresh, "auto")))
                wait_for_server(environment(fresh, "on"))  # (it starts after the call)
                stop(environment(fresh, "on"))
            finally:
                shutil.rmtree(fresh, ignore_errors=True)
        ratio = statistics.median(firsts) / statistics.median(colds)
        print(
            f"first call with GRADCLI_SERVER=auto: {statistics.median(firsts):.2f} s, cold "
            f"{statistics.median(colds):.2f} s: {ratio:.3f}x; goal <= 1.10x: "
            f"{'ok' if ratio <= 1.10 else 'MISSED'}"
        )
    finally:
        stop(warm)
        shutil.rmtree(runtime, ignore_errors=True)


if __name__ == "__main__":
    main()
