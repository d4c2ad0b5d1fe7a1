"""``gradcli server start|stop|status|restart``, and starting a server on first use.

Nothing here imports torch or SymPy: these run in the calling process, as fast as ``--help``.
"""

from __future__ import annotations

import _socket
import contextlib
import fcntl
import json
import os
import signal
import sys
import time

from . import place, wire

TYPE_CHECKING = False  # (without importing typing: the entry point stays light)
if TYPE_CHECKING:
    from typing import Any

IDLE_TIMEOUT = 1800.0  #: seconds without a call before a server exits, unless told otherwise
IDLE_ENV = "GRADCLI_SERVER_IDLE"  #: the idle time of a server started on first use (seconds)
START_LIMIT = 180.0  #: seconds a starting server has to answer before start gives up
#: how a server process starts: the client's import path first (from the environment, so the
#: server imports the same gradcli), then the loop
BOOT = (
    "import json, os, sys; sys.path[:] = json.loads(os.environ.pop('_GRADCLI_SERVER_PATH')); "
    "from gradcli.daemon.loop import main; main(sys.argv[1:])"
)


class ControlError(Exception):
    """A server could not be started, stopped or asked; the message says why."""


def _idle_from_environment() -> float:
    text = os.environ.get(IDLE_ENV, "")
    try:
        value = float(text) if text else IDLE_TIMEOUT
    except ValueError:
        return IDLE_TIMEOUT
    return value if value >= 0 else IDLE_TIMEOUT


def _command(
    idle: float, after: int = 0, environ: dict[str, str] | None = None
) -> tuple[list[str], dict[str, str]]:
    argv = [sys.executable, "-c", BOOT, "--idle-timeout", f"{idle:g}"]
    if after:
        argv += ["--after", str(after)]
    environ = dict(os.environ if environ is None else environ)
    environ["_GRADCLI_SERVER_PATH"] = json.dumps(sys.path)
    return argv, environ


def spawn(
    found: dict[str, str],
    after: int = 0,
    idle: float | None = None,
    environ: dict[str, str] | None = None,
) -> str:
    """Start a server in the background, in a session of its own, its output into the log;
    ``after``: it waits for that process (the call that started it) to end before it imports;
    ``environ``: its environment (this process's by default). What was done, in short."""
    argv, environ = _command(_idle_from_environment() if idle is None else idle, after, environ)
    try:
        pid = os.posix_spawn(
            sys.executable,
            argv,
            environ,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (
                    os.POSIX_SPAWN_OPEN,
                    1,
                    found["log"],
                    os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                    0o600,
                ),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,
        )
    except OSError as e:
        return f"could not start one: {e.strerror or e}"
    return f"pid {pid}"


def _ask(path: str, what: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The server's answer to a control request (None: no server listens there)."""
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    except OSError as e:
        sock.close()
        raise ControlError(f"cannot connect to {path}: {e.strerror or e}") from None
    try:
        if wire.peer_uid(sock) != os.getuid():
            raise ControlError(f"the socket {path} is held by another user")
        wire.send(sock, {"protocol": wire.PROTOCOL, "control": what})
        answer, _ = wire.receive(sock)
        return answer
    except TimeoutError:
        return {"hung": True}
    except (OSError, wire.ClosedError, ValueError) as e:
        return {"hung": True, "error": str(e)}
    finally:
        sock.close()


def _recorded(found: dict[str, str]) -> dict[str, Any]:
    """What the server wrote about itself when it started (empty if nothing)."""
    try:
        with open(found["state"]) as state:
            recorded = json.load(state)
    except (OSError, ValueError):
        return {}
    return recorded if isinstance(recorded, dict) else {}


def _ours(pid: int) -> bool:
    """Whether process ``pid`` is a gradcli server of this user (before signalling it)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            words = cmdline.read().split(b"\0")
        return (
            os.stat(f"/proc/{pid}").st_uid == os.getuid()
            and b"--idle-timeout" in words
            and any(b"gradcli.daemon.loop" in w for w in words)
        )
    except OSError:
        return False


def status() -> dict[str, Any] | None:
    """The running server's account of itself; None if none runs. ``hung`` when one holds
    the socket but does not answer."""
    try:
        found = place.files()
    except place.PlaceError:
        return None
    answer = _ask(found["socket"], "status")
    if answer is None:
        pid = starting(found)
        if pid is None:
            return None
        where = {"pid": pid, "socket": found["socket"], "log": found["log"]}
        if _recorded(found).get("pid") == pid:  # (it was serving: its socket was removed)
            return {"hung": True, "lost": True, **where}
        return {"starting": True, **where}
    if answer.get("hung"):
        recorded = _recorded(found)
        return {
            "hung": True,
            "pid": recorded.get("pid"),
            "socket": found["socket"],
            "log": found["log"],
        }
    got = answer.get("status")
    return got if isinstance(got, dict) else {"hung": True, "socket": found["socket"]}


def _deaf(path: str, limit: float) -> bool:
    """Whether the server at ``path`` stopped listening within ``limit`` seconds (it may still
    be waiting for the calls it runs)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if _ask(path, "status", timeout=1.0) is None:
            return True
        time.sleep(0.05)
    return False


def _gone(pid: int, limit: float) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        done, _ = os.waitpid(pid, os.WNOHANG)  # (our own child when this process started it)
        if done:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def stop() -> dict[str, Any] | None:
    """Stop this installation's server (calls it is running finish on their own); what was
    stopped, or None if none ran."""
    try:
        found = place.files()
    except place.PlaceError:
        return None
    answer = _ask(found["socket"], "stop")
    if answer is None:
        pid = starting(found)
        if not pid or not _ours(pid):
            return None
        os.kill(pid, signal.SIGTERM)  # (still importing: nothing of a call runs in it)
        _gone(pid, 5.0)
        return {"pid": pid, "forced": False}
    pid = answer.get("stopping") or _recorded(found).get("pid")
    if not isinstance(pid, int):
        raise ControlError("the server does not answer and did not record its pid")
    if answer.get("hung") or not _deaf(found["socket"], 10.0):
        if not _ours(pid):
            raise ControlError(f"the server does not answer, and pid {pid} is not a gradcli server")
        os.kill(pid, signal.SIGTERM)
        if not _gone(pid, 5.0):
            os.kill(pid, signal.SIGKILL)
            _gone(pid, 5.0)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(found["socket"])
        return {"pid": pid, "forced": True}
    return {"pid": pid, "forced": False}


def start(idle: float | None = None, progress: Any = None) -> tuple[str, dict[str, Any]]:
    """Start this installation's server, or keep the one running (replacing it if stale or
    hung). What happened (``running``, ``started``, ``replaced``) and its status."""
    found = place.files(create=True)
    current = status()
    what = "started"
    begun = time.monotonic()
    if current and current.get("starting"):  # (started on first use: wait for that one)
        pid = int(current["pid"] or 0)
    else:
        if current and not current.get("hung") and not current.get("stale"):
            return "running", current
        if current:
            stop()
            what = "replaced"
        spawned = spawn(found, idle=_idle_from_environment() if idle is None else idle)
        if not spawned.startswith("pid "):
            raise ControlError(f"{spawned} (see {found['log']})")
        pid = int(spawned.split()[1])
    while time.monotonic() - begun < START_LIMIT:
        if progress is not None:
            progress(time.monotonic() - begun)
        current = status()
        if current and not current.get("hung") and not current.get("starting"):
            return what, current
        if not _alive(pid) and not _locked(found["lock"]):
            raise ControlError(f"the server stopped while starting:\n{_tail(found['log'])}")
        time.sleep(0.1)
    raise ControlError(f"the server did not answer within {START_LIMIT:g} s (see {found['log']})")


def starting(found: dict[str, str]) -> int | None:
    """The pid of a server that holds the lock but is not listening yet (importing), if any."""
    if not _locked(found["lock"]):
        return None
    try:
        with open(found["lock"]) as lock:
            return int(lock.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _locked(path: str) -> bool:
    """Whether some process holds the installation's lock (a server starting or running)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def _tail(path: str, lines: int = 8) -> str:
    try:
        with open(path, errors="replace") as log:
            return "".join(log.readlines()[-lines:]).rstrip()
    except OSError:
        return f"(no log at {path})"
