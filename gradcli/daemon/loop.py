"""The warm server: imports everything once, then serves each call from a fresh forked child.

Start-up, in this order: close inherited descriptors; take the installation's lock (a second
server exits at once); wait, when started on first use, until the call that started it is
done (so that call runs as fast as a cold one); import torch, SymPy, NumPy, Polars, FLINT,
Typer, Rich and gradcli; learn, in a throw-away child that runs a few commands, which modules
those commands import lazily, and import them too; bind the socket (0600, in the private
directory) and serve.

No torch operation ever runs in the server itself: torch's OpenMP threads and Polars' thread
pool start on their first use, and a process forked after they exist can hang in its first
parallel operation (measured: a Polars CSV round trip in such a child never finishes). A child
is forked from a single-threaded torch runtime and starts its own.

The loop is single-threaded: accepting a call (check the peer's uid, read the request, check
the installation and the environment, fork) takes about a millisecond, then the child runs on
its own, in parallel with every other. The server reaps children, tells a client how its child
ended when the child could not (a signal), sends SIGHUP to a child whose client went away, and
exits after its idle time. Before each call, and every half minute while idle, it checks that
its installation has not changed (an upgrade, an edit of a checkout); if it has, it refuses the
call (which then runs cold) and replaces itself with a fresh server of the new code.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any, NoReturn

from ..server import control, place, wire
from . import child

IDLE_TIMEOUT = 1800.0  #: seconds without a call before the server exits (--idle-timeout)
CHECK_EVERY = 30.0  #: seconds between checks for a changed installation while idle
LOG_LIMIT = 1 << 20  #: a log longer than this at start-up is emptied first
LOCK_PATIENCE = 2.0  #: seconds to wait for the lock (a server being replaced lets it go)
PENDING_LIMIT = 30.0  #: seconds a connection has to send its request and its "go"
#: the environment that acts at import time (threads, locale, allocators, Typer's and Rich's
#: settings read once): a client whose values differ is served cold, never with the server's
IMPORT_TIME_PREFIXES = (
    "PYTHON",
    "OMP_",
    "KMP_",
    "GOMP_",
    "MKL_",
    "OPENBLAS_",
    "TORCH",
    "PYTORCH",
    "POLARS_",
    "SYMPY",
    "MPMATH",
    "NUMPY",
    "LC_",
    "LD_",
    "CUDA",
    "_RJEM_",
    "MALLOC_",
    "MPL",
    "TYPER",
    "_TYPER",
)
IMPORT_TIME_NAMES = (
    "LANG",
    "LANGUAGE",
    "TERMINAL_WIDTH",
    "GITHUB_ACTIONS",
    "FORCE_COLOR",
    "PY_COLORS",
)
#: the packages whose files are watched for an upgrade, besides gradcli's own
WATCHED = ("torch", "sympy", "numpy", "polars", "flint", "typer", "rich", "mpmath", "pydantic")
#: commands run once in a throw-away child at start-up, to learn what their first run imports
WARM_UP = (
    ["grad", "x**2*y", "--x", "2", "--y", "3"],
    ["grad", "sin(x)*y", "--x", "2", "--y", "3", "--json"],
    ["grad", "x**2*y", "--x", "2", "--y", "3", "--plain", "--code"],
    ["graph", "sin(x**2)", "--x", "4"],
    ["graph", "sin(x**2)", "--x", "4", "--torch", "--format", "json"],
    ["steps", "sin(x**2)*exp(y)", "--x", "4", "--y", "1"],
    ["steps", "sin(x**2)", "--x", "4", "--json"],
    ["hessian", "x**2*y", "--x", "1", "--y", "2"],
    ["jacobian", "x*y, x+y", "--x", "1", "--y", "2", "--json"],
    ["descend", "(w-3)**2", "--w", "0", "--steps", "3"],
    ["check", "x**2", "--wrt", "x", "--answer", "2*x"],
    ["grad", "x*y", "--x", "0:1:3", "--y", "1"],
    ["grad", "x*y", "--x", "0:1:3", "--y", "1", "--json"],
    ["grad", "1/x", "--x", "0"],
)


def import_time_environment(environ: Any) -> dict[str, str]:
    """The variables of ``environ`` that act when a module is imported."""
    return {
        k: v
        for k, v in environ.items()
        if k in IMPORT_TIME_NAMES or k.startswith(IMPORT_TIME_PREFIXES)
    }


def log(message: str) -> None:
    """A line in the server's log (its stderr, the log file)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    sys.stderr.write(f"{stamp} [{os.getpid()}] {message}\n")
    sys.stderr.flush()


def threads() -> int:
    """How many threads this process has (Linux; 0 where that cannot be told)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def preload() -> int:
    """Import what calls need, and what their first run imports lazily; run no torch
    operation. The number of modules learned."""
    # (here, not at the top: these are the imports the server exists to hold)
    import flint  # noqa: F401
    import numpy  # noqa: F401
    import polars  # noqa: F401
    import sympy  # noqa: F401
    import torch  # noqa: F401

    from ..cli import app, commands  # noqa: F401
    from ..engines.exact import sympy_eval  # (SymPy)

    learned = _learn()
    for name in learned:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    # Tables built once from the code alone, the same in every process: Typer's Click command
    # and converters (40 ms), SymPy's function classes by op name (15 ms).
    app.warm()
    sympy_eval.heads()
    return len(learned)


def _learn() -> list[str]:
    """The modules the warm-up commands import, as run in a child (whose torch operations and
    threads go with it)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # (the child)
        try:
            os.close(read)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            before = set(sys.modules)
            # (here, not at the top: the child's copy of what preload imported)
            from ..cli.app import main

            for argv in WARM_UP:
                with contextlib.suppress(BaseException):
                    main(list(argv))
            names = sorted(set(sys.modules) - before)
            with os.fdopen(write, "w") as out:
                json.dump(names, out)
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as got:
        text = got.read()
    os.waitpid(pid, 0)
    try:
        names = json.loads(text)
    except ValueError:
        return []
    return [n for n in names if isinstance(n, str)]


def _stat(path: str) -> list[int]:
    try:
        info = os.stat(path)
    except OSError:
        return [0, 0, 0]
    return [info.st_ino, info.st_mtime_ns, info.st_size]


def watched_files() -> list[str]:
    """The files whose change means the installation changed: the interpreter, every file of
    the gradcli package, the entry files of the packages the server holds."""
    paths = [os.path.realpath(sys.executable)]
    for root, dirs, names in os.walk(place.package_dir()):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        paths.extend(os.path.join(root, n) for n in sorted(names) if n.endswith(".py"))
    for name in WATCHED:
        path = getattr(sys.modules.get(name), "__file__", None)
        if path:
            paths.append(path)
    return paths


def _same_path(theirs: list[str], ours: list[str]) -> bool:
    """Whether a client's import path finds the same modules as the server's: equal, or
    different only in its first entry (the script's or the working directory) where that entry
    holds none of the packages the server has loaded."""
    if theirs == ours:
        return True
    if theirs[1:] != ours[1:] or not theirs:
        return False
    first = theirs[0] or "."
    # (gradcli itself is checked apart: the same package directory)
    loaded = {name.partition(".")[0] for name in sys.modules} - {"gradcli"}
    try:
        present = {n.partition(".")[0] for n in os.listdir(first)}
    except OSError:
        return True
    return not (present & loaded)


class _Pending:
    """A connection whose call has not started: its reader, its request once read."""

    def __init__(self, conn: socket.socket, deadline: float) -> None:
        self.conn, self.deadline = conn, deadline
        self.reader = wire.Reader()
        self.request: dict[str, Any] | None = None


class Server:
    """The listening socket, the children, the loop."""

    def __init__(
        self, files: dict[str, str], idle: float, lock: int, environ: dict[str, str]
    ) -> None:
        self.files, self.idle, self.lock = files, idle, lock
        self.environ = environ  #: as the server started, before any import could change it
        self.added: dict[str, str] = {}  #: what the imports put into the environment
        self.started = time.time()
        self.last_call = time.monotonic()
        self.served = 0
        self.learned = 0
        self.environment = import_time_environment(environ)
        self.installation = place.installation()
        self.flags = list(sys.flags)
        self.xoptions = {str(k): str(v) for k, v in sys._xoptions.items()}
        self.children: dict[int, socket.socket | None] = {}  #: pid -> its client's connection
        self.pending: dict[socket.socket, _Pending] = {}  #: connections not yet started
        self.spare: tuple[int, socket.socket] | None = None  #: a child forked ahead, waiting
        self.stopping = False
        self.replace = False
        self.selector = selectors.DefaultSelector()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.wake_read, self.wake_write = os.pipe()
        self.watched: dict[str, list[int]] = {}

    # -- start and end ------------------------------------------------------------------------

    def bind(self) -> None:
        path = self.files["socket"]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # (a previous server's: this one holds the lock)
        old = os.umask(0o177)
        try:
            self.listener.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        self.listener.listen(128)
        self.listener.setblocking(False)
        self.inode = os.stat(path).st_ino
        self.last_call = time.monotonic()  # (the idle time counts from here, not the start)
        self.watched = {p: _stat(p) for p in watched_files()}
        self._write_state()

    def _write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "started": self.started,
            "idle_timeout": self.idle,
            "version": self.installation["version"],
            "executable": sys.executable,
            "package": place.package_dir(),
            "socket": self.files["socket"],
        }
        temporary = self.files["state"] + ".new"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(state, out)
        os.replace(temporary, self.files["state"])

    def close(self) -> None:
        """Stop listening: remove the socket and the state (if they are still this server's)."""
        try:
            if os.stat(self.files["socket"]).st_ino == self.inode:
                os.unlink(self.files["socket"])
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.files["state"])
        except (OSError, AttributeError):
            pass
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.listener)
        self.listener.close()

    def forget(self) -> None:
        """In a child: close the server's descriptors (the listener, the other calls'
        connections, the lock), keeping only its own call's."""
        self.selector.close()
        self.listener.close()
        for fd in (self.wake_read, self.wake_write, self.lock):
            with contextlib.suppress(OSError):
                os.close(fd)
        for conn in self.children.values():
            if conn is not None:
                conn.close()
        for call in self.pending.values():
            call.conn.close()
        if self.spare is not None:
            self.spare[1].close()

    def _fork_spare(self) -> None:
        """Fork the next call's child now, between calls (a fork of this process takes about
        10 ms: page tables of 300 MB)."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:  # (the spare: never returns)
            ours.close()
            child.prepare(self.forget)
            child.wait_as_spare(theirs, self.added)
        theirs.close()
        self.spare = (pid, ours)

    def _dismiss_spare(self) -> None:
        if self.spare is not None:
            self.spare[1].close()  # (it sees the end, and exits)
            self.spare = None

    # -- the loop -----------------------------------------------------------------------------

    def serve(self) -> None:
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)
        signal.set_wakeup_fd(self.wake_write, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._stop)
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.selector.register(self.wake_read, selectors.EVENT_READ, "wake")
        where, learned = self.files["socket"], self.learned
        log(f"serving on {where} ({threads()} threads, {learned} modules learned)")
        next_check = time.monotonic() + CHECK_EVERY
        while not self.stopping:
            now = time.monotonic()
            idle_left = self.idle - (now - self.last_call) if self.idle > 0 else CHECK_EVERY
            if not self.children and idle_left <= 0:
                log(f"idle for {self.idle:g} s: exiting")
                break
            timeout = max(
                0.05, min(next_check - now, idle_left if not self.children else CHECK_EVERY)
            )
            for key, _events in self.selector.select(timeout):
                if key.data == "accept":
                    self._accept()
                elif key.data == "wake":
                    self._woken()
                elif isinstance(key.data, _Pending):
                    self._read(key.data)
                else:
                    self._client_spoke(key.fileobj)  # type: ignore[arg-type]
            self._reap()
            self._expire()
            if self.spare is None and not self.stopping:
                self._fork_spare()
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + CHECK_EVERY
                if self._lost():
                    log("the socket was removed or replaced: stopping")
                    break
                why = self.changed()
                if why:
                    log(f"{why}: replacing this server")
                    self.replace = True
                    break
        self._dismiss_spare()
        for call in list(self.pending.values()):  # (not started: their clients run them cold)
            self._drop(call)
        self.close()

    def _woken(self) -> None:
        with contextlib.suppress(OSError):
            while os.read(self.wake_read, 512):
                pass

    def _lost(self) -> bool:
        """Whether the socket's path no longer leads to this server's socket."""
        try:
            return os.stat(self.files["socket"]).st_ino != self.inode
        except OSError:
            return True

    def drain(self) -> None:
        """After the server stopped listening: wait for the calls still running, to tell each
        client how its child ended (a death by a signal only the parent can see)."""
        if self.children:
            log(f"waiting for {len(self.children)} running calls")
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # (a second one: at once)
            signal.signal(sig, signal.SIG_DFL)
        while self.children:
            for key, _events in self.selector.select(CHECK_EVERY):
                if key.data == "wake":
                    self._woken()
                elif isinstance(key.data, int):
                    self._client_spoke(key.fileobj)  # type: ignore[arg-type]
            self._reap()

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log(f"accept failed: {e}")
                return
            conn.setblocking(False)
            uid = wire.peer_uid(conn)
            if uid != os.getuid():
                log(f"refused a connection from uid {uid}")
                with contextlib.suppress(OSError):
                    wire.send(conn, {"refused": "this server serves its own user only"})
                conn.close()
                continue
            call = _Pending(conn, time.monotonic() + PENDING_LIMIT)
            self.pending[conn] = call
            self.selector.register(conn, selectors.EVENT_READ, call)

    def _drop(self, call: _Pending) -> None:
        self.pending.pop(call.conn, None)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(call.conn)
        call.reader.close()
        call.conn.close()

    def _read(self, call: _Pending) -> None:
        """A connection not yet handed to a child has something: its request, or its "go"
        (with its descriptors). Nothing here waits: a slow client holds up no other."""
        try:
            frames = call.reader.read(call.conn)
        except BlockingIOError:
            return
        except (OSError, ValueError) as e:
            log(f"a call failed before it started: {type(e).__name__}: {e}")
            self._drop(call)
            return
        for message, fds in frames:
            if call.request is None:
                for fd in fds:  # (descriptors come with "go" only)
                    with contextlib.suppress(OSError):
                        os.close(fd)
                if not self._requested(call, message):
                    return
            else:
                self._start(call, fds) if message.get("go") else self._drop(call)
                return
        if call.reader.ended:
            self._drop(call)

    def _requested(self, call: _Pending, request: dict[str, Any]) -> bool:
        """Answer a request; whether the connection stays (for its "go")."""
        try:
            if "control" in request:
                self._control(call.conn, request)
                self._drop(call)
                return False
            why, stale = self.refusal(request)
            if why:
                wire.send(call.conn, {"refused": why, "stale": stale})
                self._drop(call)
                if stale:
                    log(f"{why}: replacing this server")
                    self.replace = self.stopping = True
                return False
            wire.send(call.conn, {"ready": True})
        except OSError:
            self._drop(call)
            return False
        call.request = request
        return True

    def _start(self, call: _Pending, fds: list[int]) -> None:
        """Hand the call to the spare child (or fork one now)."""
        conn, request = call.conn, call.request
        assert request is not None
        self.pending.pop(conn, None)
        self.selector.unregister(conn)
        self.last_call = time.monotonic()
        self.served += 1
        try:
            if self.spare is not None:
                pid, control = self.spare
                self.spare = None
                try:
                    wire.send(control, request, [conn.fileno(), *fds])
                finally:
                    control.close()
            else:
                pid = os.fork()
                if pid == 0:  # (the child: never returns)
                    child.prepare(self.forget)
                    child.serve(conn, request, fds, self.added)
        except OSError as e:
            log(f"a call failed as it started: {e}")
            conn.close()
            return
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.children[pid] = conn
        self.selector.register(conn, selectors.EVENT_READ, pid)

    def _expire(self) -> None:
        """Connections that never finished their request (a stuck or hostile client)."""
        now = time.monotonic()
        for call in [c for c in self.pending.values() if c.deadline < now]:
            self._drop(call)

    def _client_spoke(self, conn: socket.socket) -> None:
        """A client's connection became readable: it went away (Ctrl-C'd hard, killed); the
        child is told as a cold run would be when its terminal goes: SIGHUP."""
        try:
            data = conn.recv(64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            return
        self.selector.unregister(conn)
        for pid, held in self.children.items():
            if held is conn:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGHUP)
                break

    def _reap(self) -> None:
        while True:  # (children of a server this one replaced included: it keeps their pids)
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.spare is not None and pid == self.spare[0]:
                self._dismiss_spare()  # (it died waiting: another is forked)
                continue
            conn = self.children.pop(pid, None)
            if conn is None:
                continue
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(conn)
            if os.WIFSIGNALED(status):
                message: dict[str, Any] = {"signal": os.WTERMSIG(status)}
            else:
                message = {"exit": os.waitstatus_to_exitcode(status)}
            with contextlib.suppress(OSError):
                conn.setblocking(True)
                conn.settimeout(1.0)
                wire.send(conn, message)
            conn.close()
            self.last_call = time.monotonic()

    # -- what a call must share with the server -----------------------------------------------

    def changed(self) -> str | None:
        """Why this server no longer matches its installation (None: it does)."""
        for path, before in self.watched.items():
            if _stat(path) != before:
                return f"{path} changed since the server started"
        return None

    def refusal(self, request: dict[str, Any]) -> tuple[str | None, bool]:
        """Why a call cannot be served here (None if it can), and whether that makes the
        server stale (to be replaced)."""
        if request.get("protocol") != wire.PROTOCOL:
            return "the server is of another gradcli release", True
        theirs, ours = request.get("installation", {}), self.installation
        for what in ("prefix", "package", "version"):
            if theirs.get(what) != ours[what]:
                return f"the server runs another {what} ({ours[what]})", what == "version"
        why = self.changed()
        if why:
            return why, True
        if not _same_path(theirs.get("path", []), ours["path"]):  # type: ignore[arg-type]
            return "this call imports from another path than the server", False
        environment = import_time_environment(request.get("environ", {}))
        for name in sorted(set(environment) | set(self.environment)):
            if environment.get(name) != self.environment.get(name):
                return f"the server was started with another {name} (it acts at import)", False
        if request.get("flags") != self.flags or request.get("xoptions") != self.xoptions:
            return "this call runs Python with other options (-X, -O, ...)", False
        return None, False

    # -- gradcli server status / stop ---------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "started": self.started,
            "uptime": time.time() - self.started,
            "idle_timeout": self.idle,
            "idle_for": time.monotonic() - self.last_call,
            "served": self.served,
            "running": len(self.children),
            "version": self.installation["version"],
            "executable": sys.executable,
            "package": place.package_dir(),
            "socket": self.files["socket"],
            "log": self.files["log"],
            "memory": _resident(),
            "threads": threads(),
            "stale": self.changed(),
        }

    def _control(self, conn: socket.socket, request: dict[str, Any]) -> None:
        what = request.get("control")
        with contextlib.suppress(OSError):
            if what == "status":
                wire.send(conn, {"status": self.status()})
            elif what == "stop":
                wire.send(conn, {"stopping": os.getpid()})
                log("asked to stop")
                self.stopping = True
            else:
                wire.send(conn, {"refused": f"unknown control request {what!r}"})
        conn.close()


def _resident() -> int:
    """This process's resident memory in bytes (Linux; 0 elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@contextlib.contextmanager
def _locked(path: str) -> Iterator[int | None]:
    """The installation's lock, held for the server's life (None: another server has it)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    end = time.monotonic() + LOCK_PATIENCE
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                os.close(fd)
                raise
            if time.monotonic() > end:
                os.close(fd)
                yield None
                return
            time.sleep(0.1)
    try:
        yield fd
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def _wait_for(pid: int, limit: float = 600.0) -> None:
    """Until process ``pid`` (the call that started this server) has ended."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            return
        time.sleep(0.05)


def main(argv: list[str]) -> NoReturn:
    """``python -c BOOT --idle-timeout S [--after PID]`` (see control.spawn)."""
    options = dict(zip(argv[::2], argv[1::2], strict=False))
    environ = dict(os.environ)
    idle = float(options.get("--idle-timeout", IDLE_TIMEOUT))
    after = int(options.get("--after", 0))
    os.closerange(3, 1 << 16)  # (descriptors the starting shell or program left open)
    os.chdir("/")
    try:
        files = place.files(create=True)
    except place.PlaceError as e:
        log(f"cannot start: {e}")
        os._exit(1)
    with _locked(files["lock"]) as lock:
        if lock is None:
            os._exit(0)  # (another server is starting or running)
        os.ftruncate(lock, 0)
        os.write(lock, str(os.getpid()).encode())  # (for `server status` while it starts)
        with contextlib.suppress(OSError):  # (the log: its own server's lines, at most a MiB)
            if os.fstat(2).st_size > LOG_LIMIT:
                os.ftruncate(2, 0)
        if after:
            _wait_for(after)
        log(f"starting: gradcli {place.installation()['version']}, {sys.executable}")
        begun = time.monotonic()
        server = Server(files, idle, lock, environ)
        server.learned = preload()
        # (a cold run's imports would set these too: its child gets them unless the call's
        # environment has its own)
        server.added = {k: v for k, v in os.environ.items() if environ.get(k) != v}
        # Everything imported so far lives as long as the server: out of the collector's sight,
        # so that a child's first collection does not walk (and copy, page by page) it all.
        gc.collect()
        gc.freeze()
        server.bind()
        log(f"ready in {time.monotonic() - begun:.1f} s")
        try:
            server.serve()
        except Exception as e:  # (logged for `gradcli server status`)
            log(f"stopped by an error: {type(e).__name__}: {e}")
            server.close()
    # (the lock is released: a new server can start while this one waits for its calls)
    if server.replace:
        started = control.spawn(files, idle=idle, environ=environ)
        log(f"started its replacement ({started})")
    server.drain()
    log("stopped")
    os._exit(0)
