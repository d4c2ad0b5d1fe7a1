"""``gradcli server start|stop|status|restart``: the warm server's commands (see
:mod:`gradcli.server`). Light: they never import torch or SymPy."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from ..errors import ExitCode, UsageError
from ..server import control, place
from .report import error, reporting, say


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
    return f"{seconds // 3600:.0f} h {seconds % 3600 // 60:.0f} min"


def _lines(status: dict[str, Any]) -> list[str]:
    idle = status.get("idle_timeout", 0)
    ends = (
        f"exits after {_duration(idle)} without a call (idle for {_duration(status['idle_for'])})"
        if idle
        else "never exits on its own (--idle-timeout 0)"
    )
    stale = status.get("stale")
    return [
        f"gradcli server: running, pid {status['pid']}, gradcli {status['version']}",
        f"  served:  {status['served']} calls, {status['running']} running now",
        f"  up:      {_duration(status['uptime'])}; {ends}",
        f"  memory:  {status['memory'] / 2**20:.0f} MiB resident: torch, SymPy, NumPy, Polars, "
        "FLINT, Typer, Rich and gradcli imported; no tensors, no results",
        f"  python:  {status['executable']}",
        f"  socket:  {status['socket']} (this user only)",
        f"  log:     {status['log']}",
    ] + ([f"  stale:   {stale}; the next call replaces it"] if stale else [])


def _place() -> None:
    if not place.supported():
        raise UsageError(
            "the warm server needs Linux (SO_PEERCRED, fork); here every call runs on its own"
        )
    try:
        place.files(create=True)
    except place.PlaceError as e:
        hint = (
            "set XDG_RUNTIME_DIR (or TMPDIR) to a shorter path"
            if "too long" in str(e)
            else "make it a directory of yours with mode 700, or set XDG_RUNTIME_DIR"
        )
        raise UsageError(f"the server's directory cannot be used: {e}", hint=hint) from None


def _json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps({"schema": "gradcli/1", **document}, indent=2) + "\n")


def status(json_out: bool, debug: bool) -> int:
    with reporting(debug):
        _place()
        current = control.status()
        if json_out:
            serving = bool(current and not current.get("hung") and not current.get("starting"))
            _json({"running": serving, "server": current})
        elif current is None:
            say("no server is running (start one: gradcli server start)")
        elif current.get("starting"):
            say(
                f"a server is starting (pid {current['pid']}: importing torch, SymPy, ...); "
                "calls run without it until it is ready"
            )
        elif current.get("lost"):
            error(
                f"the server (pid {current['pid']}) lost its socket {current['socket']} and "
                "cannot be reached; gradcli server restart replaces it"
            )
        elif current.get("hung"):
            error(
                f"a server holds {current['socket']} but does not answer (pid "
                f"{current.get('pid')}); gradcli server restart replaces it"
            )
        else:
            sys.stdout.write("\n".join(_lines(current)) + "\n")
        serving = bool(current and not current.get("hung") and not current.get("starting"))
        return ExitCode.OK if serving else ExitCode.CHECK_FAILED


def start(idle_timeout: float | None, restart: bool, json_out: bool, debug: bool) -> int:
    with reporting(debug):
        _place()
        if restart:
            control.stop()
        shown = [False]

        def progress(elapsed: float) -> None:
            if sys.stderr.isatty() and elapsed > 0.5:
                sys.stderr.write(
                    f"\rgradcli: starting the server (importing torch, SymPy, ...) {elapsed:.0f} s"
                )
                sys.stderr.flush()
                shown[0] = True

        begun = time.monotonic()
        try:
            what, current = control.start(idle_timeout, progress)
        except control.ControlError as e:
            if shown[0]:
                sys.stderr.write("\n")
            error(f"{e}")
            return ExitCode.CHECK_FAILED
        if shown[0]:
            sys.stderr.write("\r\x1b[K")
        if json_out:
            _json(
                {
                    "action": "restarted" if restart and what == "started" else what,
                    "server": current,
                }
            )
        else:
            took = f" in {time.monotonic() - begun:.1f} s" if what != "running" else ""
            verb = {
                "running": "already running",
                "started": "started",
                "replaced": "replaced a stale one",
            }[what]
            if restart and what == "started":
                verb = "restarted"
            say(f"server {verb}{took} (pid {current['pid']}); calls now take it")
        return ExitCode.OK


def stop(json_out: bool, debug: bool) -> int:
    with reporting(debug):
        _place()
        try:
            stopped = control.stop()
        except control.ControlError as e:
            error(f"{e}")
            return ExitCode.CHECK_FAILED
        if json_out:
            _json({"stopped": stopped})
        elif stopped is None:
            say("no server was running")
        else:
            how = " (it did not answer: killed)" if stopped["forced"] else ""
            pid = stopped["pid"]
            say(f"server stopped (pid {pid}){how}; calls it was running finish on their own")
        return ExitCode.OK
