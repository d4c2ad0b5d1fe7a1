"""The entry point's side: hand this call to the warm server, or say why it runs here.

A call is forwarded whole: the arguments, the environment, the working directory and the three
standard streams (as open descriptors, so the child writes to the same terminal or pipe and
reads the same stdin), the umask and the signals this process ignores. The client then only
waits: it passes on the signals it receives (Ctrl-C, SIGTERM, SIGHUP, a terminal resize,
Ctrl-Z) to the child and ends with the child's exit code, or by the signal that ended it.

Anything short of a child that has started runs cold instead, so a missing, stale, refusing or
hung server never breaks a call; ``--debug`` says on stderr why the server was not used. Once
a child has started the call is its own: it is never run twice.
"""

from __future__ import annotations

import _signal as signal  # (the C module: signal's enums cost more than the client)
import _socket
import os
import resource
import sys

from . import place, wire

TYPE_CHECKING = False  # (without importing typing: the entry point stays light)
if TYPE_CHECKING:
    from typing import Any

ENV = "GRADCLI_SERVER"  #: auto (start a server on first use), on (the default: use one), off
MODES = ("auto", "on", "off")
NOT_FORWARDED = ("server", "repl")  #: commands that run in the calling process
ANSWER_TIMEOUT = 3.0  #: seconds a server has to accept a call before it runs cold
#: the signals passed on to the child (Ctrl-Z is handled apart: see _suspend)
FORWARDED = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGWINCH,
    signal.SIGUSR1,
    signal.SIGUSR2,
)
#: the limits (ulimit) a cold run would inherit, applied to the child
LIMITS = ("RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_CORE")
#: the signals whose "ignored" a cold run would inherit (nohup, a shell's background job)
INHERITED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class ModeError(Exception):
    """GRADCLI_SERVER has a value that is not one of MODES."""


def mode(environ: Any = os.environ) -> str:
    """How this call may use a server (from GRADCLI_SERVER; empty means ``on``)."""
    value = environ.get(ENV, "").strip().lower() or "on"
    if value not in MODES:
        raise ModeError(
            f"{ENV}={environ.get(ENV)!r} is not one of {', '.join(MODES)}\n"
            f"hint: unset it, or set {ENV}=off to run every call without the server"
        )
    return value


def forward(argv: list[str]) -> int | None:
    """Serve this call from the warm server: its exit code, or None to run it here."""
    debug = "--debug" in argv
    if (argv[1:2] and argv[1] in NOT_FORWARDED) or not place.supported():
        return None  # (gradcli server ... works whatever GRADCLI_SERVER says)
    try:
        how = mode()
    except ModeError as e:
        _say(f"gradcli: error: {e}\n")
        return 2
    if how == "off":
        return _cold(debug, f"{ENV}=off")
    # (before this process opens anything: a socket would take the number of a closed stream)
    streams = _open_streams()
    try:
        found = place.files(create=how == "auto")
    except place.MissingError:
        return _cold(debug, "no server is running")
    except place.PlaceError as e:
        return _cold(debug, f"the server's directory is unusable: {e}")
    sock = _connect(found["socket"])
    if isinstance(sock, str):
        if how == "auto":
            # (here, not at the top: only when a server is to be started)
            from . import control

            pid = control.starting(found)
            if pid is not None:
                sock += f"; one is starting (pid {pid}) and takes the next calls"
            else:
                started = control.spawn(found, after=os.getpid())
                sock += f"; started one in the background ({started}) for the next calls"
        return _cold(debug, sock)
    try:
        return _call(sock, argv, streams, debug, how)
    finally:
        sock.close()


def _say(text: str) -> None:
    """A line on stderr, unless the shell closed it (2>&-)."""
    if sys.stderr is not None:
        sys.stderr.write(text)


def _cold(debug: bool, why: str) -> int | None:
    """None (run the call here), saying why when debugging."""
    if debug:
        _say(f"gradcli: debug: not using the warm server: {why}; running here\n")
    return None


def _connect(path: str) -> Any:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(ANSWER_TIMEOUT)
    try:
        sock.connect(path)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return "no server is running"
    except OSError as e:
        sock.close()
        return f"cannot connect to {path}: {e.strerror or e}"
    owner = wire.peer_uid(sock)
    if owner != os.getuid():
        sock.close()
        return f"the socket {path} is held by another user (uid {owner})"
    return sock


def _open_streams() -> list[bool]:
    """Which of stdin, stdout and stderr are open (the shell closes them with <&-, >&-)."""
    streams = []
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
            streams.append(True)
        except OSError:
            streams.append(False)
    return streams


def _request(argv: list[str], streams: list[bool]) -> tuple[dict[str, Any], list[int]]:
    here = os.open(".", getattr(os, "O_PATH", os.O_RDONLY) | os.O_DIRECTORY)
    umask = os.umask(0o022)
    os.umask(umask)
    main = sys.modules.get("__main__")
    request = {
        "protocol": wire.PROTOCOL,
        "installation": place.installation(),
        "flags": list(sys.flags),
        "xoptions": {str(k): str(v) for k, v in sys._xoptions.items()},
        "argv": argv,
        "main_package": getattr(main, "__package__", None),
        "environ": dict(os.environ),
        "umask": umask,
        "nice": os.nice(0),
        "streams": streams,
        "ignored": [int(s) for s in INHERITED if signal.getsignal(s) == signal.SIG_IGN],
        "limits": {n: list(resource.getrlimit(getattr(resource, n))) for n in LIMITS},
    }
    return request, [here] + [fd for fd, open_ in zip((0, 1, 2), streams, strict=True) if open_]


def _call(sock: Any, argv: list[str], streams: list[bool], debug: bool, how: str) -> int | None:
    try:
        request, fds = _request(argv, streams)
    except OSError as e:  # (a working directory that cannot be opened)
        return _cold(debug, f"cannot pass the working directory: {e.strerror or e}")
    try:
        # The descriptors go only with "go", to a server that has answered: passed to one
        # that never reads them, they would keep the caller's pipes open (a $(...) in a shell
        # would wait for that server).
        wire.send(sock, request)
        answer, _ = wire.receive(sock)
    except (OSError, wire.ClosedError, ValueError) as e:
        # (a slow answer is not taken for a hung server: one loaded by many calls at once
        # answers late, and stopping it would slow them all; `server restart` replaces one)
        why = "did not answer in time" if isinstance(e, TimeoutError) else f"failed ({e})"
        os.close(fds[0])
        return _cold(debug, f"the server {why} (gradcli server restart)")
    if not answer.get("ready"):
        os.close(fds[0])
        reason = str(answer.get("refused", "it refused the call"))
        if answer.get("stale") and how == "auto":
            reason += " (it is being replaced)"
        return _cold(debug, reason)
    relay = _Relay()
    try:
        wire.send(sock, {"go": True}, fds)  # (from here on the call is the child's)
    except OSError as e:
        return _cold(debug, f"the server went away before the call started ({e})")
    finally:
        os.close(fds[0])
    sock.settimeout(None)
    relay.install()
    code = relay.wait(sock)
    if isinstance(code, str):
        return _cold(debug, code)
    return code


class _Relay:
    """Passes signals on to the child, and ends as the child ended."""

    def __init__(self) -> None:
        self.pid = 0
        self.pending: list[int] = []

    def install(self) -> None:
        for sig in FORWARDED:
            if signal.getsignal(sig) != signal.SIG_IGN:
                signal.signal(sig, self._pass_on)
        if signal.getsignal(signal.SIGTSTP) == signal.SIG_DFL:
            signal.signal(signal.SIGTSTP, self._suspend)

    def _pass_on(self, signum: int, frame: object) -> None:
        if self.pid:
            try:  # noqa: SIM105 - (contextlib would cost the client its import)
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass
        else:
            self.pending.append(signum)

    def _suspend(self, signum: int, frame: object) -> None:
        """Ctrl-Z: stop the child, then this process as the shell expects; both go on when the
        shell continues this one (fg, bg)."""
        if self.pid:
            try:  # noqa: SIM105 - (contextlib would cost the client its import)
                os.kill(self.pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        signal.signal(signal.SIGTSTP, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTSTP)  # (returns once continued)
        signal.signal(signal.SIGTSTP, self._suspend)
        if self.pid:
            try:  # noqa: SIM105 - (contextlib would cost the client its import)
                os.kill(self.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass

    def wait(self, sock: Any) -> int | str:
        """The exit code; or why the call must run here after all (nothing of it ran)."""
        while True:
            try:
                message, _ = wire.receive(sock)
            except (wire.ClosedError, OSError, ValueError):
                message = {}
            if "pid" in message:
                self.pid = int(message["pid"])
                for sig in self.pending:
                    self._pass_on(sig, None)
                self.pending.clear()
            elif "exit" in message:
                return int(message["exit"])
            elif "signal" in message:
                return _die_by(int(message["signal"]))
            elif "cold" in message:  # (the child could not become this call; it ran nothing)
                return str(message["cold"])
            elif not message and not self.pid:  # (the server went before a child started)
                return "the server closed the connection before the call started"
            elif not message:
                _say(
                    "gradcli: error: the warm server's child ended without an exit code "
                    "(its output may be incomplete); run again, or set GRADCLI_SERVER=off\n"
                )
                return 70


def _die_by(signum: int) -> int:
    """End as the child ended: by the same signal (a shell shows the same), else 128 + it."""
    try:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    except (OSError, ValueError):
        pass
    return 128 + signum
