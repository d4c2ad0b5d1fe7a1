"""What a forked child does to become the call it serves, then runs it as a cold run would.

It takes the client's standard streams (the descriptors themselves) and working directory,
its environment, arguments, import path, umask, limits (ulimit), niceness and ignored
signals; makes fresh
``sys.stdin``/``stdout``/``stderr`` over them as Python's start-up would (line-buffered on a
terminal); forgets the server's descriptors and signal handlers; tells the client its pid (for
the signals the client passes on); runs the command line's entry point; and reports the exit
code just before the process ends. If it cannot become the call, it says so before running
anything, and the client runs the call cold.
"""

from __future__ import annotations

import contextlib
import io
import os
import resource
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from .. import __main__ as entry
from ..server import wire


def prepare(forget: Callable[[], None]) -> None:
    """What a child does before it knows its call: forget the server's descriptors and take a
    cold run's signal dispositions."""
    forget()
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)


def wait_as_spare(control: Any, added: dict[str, str]) -> NoReturn:
    """A spare child, forked ahead of time so that a call does not wait for the fork: it
    waits for a call on ``control`` (the connection and the client's descriptors come with
    it), and exits when the server closes ``control`` instead."""
    try:
        request, fds = wire.receive(control)
    except BaseException:
        os._exit(0)
    control.close()
    if not fds:
        os._exit(0)
    conn = socket.socket(fileno=fds[0])
    serve(conn, request, fds[1:], added)


def serve(conn: Any, request: dict[str, Any], fds: list[int], added: dict[str, str]) -> NoReturn:
    """Become the call ``request`` (in a prepared child) and run it; never returns.
    ``added``: what the server's imports put into the environment (a cold run's imports would
    too)."""
    try:
        for sig in request.get("ignored", []):
            signal.signal(int(sig), signal.SIG_IGN)
        _process(request, fds, added)
    except Exception as e:  # (nothing of the call has run: the client runs it cold)
        with contextlib.suppress(OSError):
            wire.send(conn, {"cold": f"the server could not take the call ({e})"})
        os._exit(0)

    def report(code: int) -> None:
        with contextlib.suppress(OSError):
            wire.send(conn, {"exit": code})

    entry.on_exit = report
    try:
        wire.send(conn, {"pid": os.getpid()})
    except OSError:
        os._exit(0)  # (the client is gone already)
    try:
        entry.run()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
    except BaseException:  # (run() reports everything; this is the last guard)
        code = 70
    entry.leave(code)


def _process(request: dict[str, Any], fds: list[int], added: dict[str, str]) -> None:
    streams = request["streams"]
    if len(fds) != 1 + sum(bool(s) for s in streams):
        raise ValueError("the descriptors do not match the streams")
    os.fchdir(fds[0])
    os.close(fds[0])
    given = iter(fds[1:])
    for fd, open_ in enumerate(streams):
        if open_:
            theirs = next(given)
            os.dup2(theirs, fd)
            os.close(theirs)
        else:
            with contextlib.suppress(OSError):
                os.close(fd)
    encoding = getattr(sys.__stdout__, "encoding", None) or "utf-8"
    errors = getattr(sys.__stdout__, "errors", None) or "strict"
    # (-u or PYTHONUNBUFFERED, as the server was started: the same for the call, see refusal)
    unbuffered = bool(getattr(sys.__stdout__, "write_through", False))
    made = [
        _stream(fd, mode, encoding, fd_errors, unbuffered) if open_ else None
        for fd, (mode, fd_errors, open_) in enumerate(
            zip("rww", (errors, errors, "backslashreplace"), streams, strict=True)
        )
    ]
    sys.stdin = sys.__stdin__ = made[0]  # type: ignore[misc]
    sys.stdout = sys.__stdout__ = made[1]  # type: ignore[misc]
    sys.stderr = sys.__stderr__ = made[2]  # type: ignore[misc]
    os.environ.clear()  # (in place: modules hold os.environ itself, Rich's Console among them)
    os.environ.update(request["environ"])
    for name, value in added.items():
        os.environ.setdefault(name, value)
    os.umask(int(request["umask"]))
    for name, (soft, hard) in request.get("limits", {}).items():
        which = getattr(resource, name)
        if resource.getrlimit(which) != (soft, hard):
            resource.setrlimit(which, (soft, hard))  # (one it cannot give: the call runs cold)
    raise_by = int(request.get("nice", 0)) - os.nice(0)
    if raise_by > 0:
        os.nice(raise_by)
    sys.argv = list(request["argv"])
    sys.executable = str(request["installation"]["executable"])
    sys.path[:] = list(request["installation"]["path"])
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile.tempdir = None  # type: ignore[attr-defined]  # (read TMPDIR again)


def _stream(fd: int, mode: str, encoding: str, errors: str, unbuffered: bool) -> io.TextIOWrapper:
    """A standard stream as Python's start-up makes it (``unbuffered``: -u, PYTHONUNBUFFERED,
    for output)."""
    buffered = not unbuffered or mode == "r"
    # (io.open, as Python's start-up: a buffer sized by the file's block size; open for the
    # process's life)
    binary = io.open(fd, mode + "b", buffering=-1 if buffered else 0, closefd=False)  # noqa: UP020, SIM115
    text = io.TextIOWrapper(
        binary,
        encoding=encoding,
        errors=errors,
        newline="\n",
        line_buffering=buffered and (os.isatty(fd) or fd == 2),
        write_through=not buffered,
    )
    text.mode = mode  # type: ignore[misc]
    return text
