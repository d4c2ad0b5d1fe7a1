"""The frames on the server's socket: a 4-byte length, then JSON (ASCII: text that is not
UTF-8, such as a file name in another encoding, travels as escaped surrogates and comes back
the same). A frame may carry open file descriptors (``SCM_RIGHTS``): the client hands over its
working directory and its standard streams themselves, so the child that serves the call writes
to the same terminal, pipe or file, and reads the same stdin, as a cold run would.

The client's side uses ``_socket`` (the C module): ``socket`` would cost more to import than the
rest of the client together.
"""

from __future__ import annotations

import _socket
import json
import os
import struct

TYPE_CHECKING = False  # (without importing typing: the entry point stays light)
if TYPE_CHECKING:
    from typing import Any


PROTOCOL = 1  #: raised whenever a frame's meaning changes; a server refuses other versions
MAX_FRAME = 64 << 20  #: a request larger than this is refused (an expression is at most 1 MB)
MAX_FDS = 8
_LENGTH = struct.Struct(">I")


class ClosedError(Exception):
    """The other side closed the connection (before a whole frame arrived)."""


def send(sock: Any, message: dict[str, Any], fds: list[int] | None = None) -> None:
    """One frame, with ``fds`` passed along with its first byte."""
    data = json.dumps(message, separators=(",", ":")).encode("ascii")
    frame = _LENGTH.pack(len(data)) + data
    if fds:
        rights = struct.pack(f"{len(fds)}i", *fds)
        sent = sock.sendmsg([frame], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, rights)])
        frame = frame[sent:]
    if frame:
        sock.sendall(frame)


def _exactly(sock: Any, size: int, fds: list[int]) -> bytes:
    chunks, have = [], 0
    space = _socket.CMSG_SPACE(MAX_FDS * 4)
    while have < size:
        data, ancillary, _flags, _addr = sock.recvmsg(min(size - have, 1 << 20), space)
        for level, kind, payload in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                whole = len(payload) - len(payload) % 4
                fds.extend(struct.unpack(f"{whole // 4}i", payload[:whole]))
        if not data:
            raise ClosedError()
        chunks.append(data)
        have += len(data)
    return b"".join(chunks)


def receive(sock: Any) -> tuple[dict[str, Any], list[int]]:
    """The next frame and the descriptors that came with it; :class:`ClosedError` at the end."""
    fds: list[int] = []
    try:
        (size,) = _LENGTH.unpack(_exactly(sock, _LENGTH.size, fds))
        if size > MAX_FRAME:
            raise ValueError(f"a frame of {size} bytes is larger than {MAX_FRAME}")
        message = json.loads(_exactly(sock, size, fds))
    except BaseException:
        for fd in fds:
            _close(fd)
        raise
    if not isinstance(message, dict):
        raise ValueError("a frame that is not a JSON object")
    return message, fds


def _close(fd: int) -> None:
    try:  # noqa: SIM105 - (contextlib would cost the client its import)
        os.close(fd)
    except OSError:
        pass


class Reader:
    """Frames from a non-blocking socket, as they arrive (the server reads many connections
    at once and never waits on one). Descriptors go with the next frame that completes."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.fds: list[int] = []
        self.ended = False

    def read(self, sock: Any) -> list[tuple[dict[str, Any], list[int]]]:
        """What one read completes (BlockingIOError: nothing to read yet); ``ended`` at EOF."""
        data, ancillary, _flags, _addr = sock.recvmsg(1 << 20, _socket.CMSG_SPACE(MAX_FDS * 4))
        for level, kind, payload in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                whole = len(payload) - len(payload) % 4
                self.fds.extend(struct.unpack(f"{whole // 4}i", payload[:whole]))
        if not data:
            self.ended = True
        self.buffer += data
        frames = []
        while len(self.buffer) >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(self.buffer)
            if size > MAX_FRAME:
                raise ValueError(f"a frame of {size} bytes is larger than {MAX_FRAME}")
            if len(self.buffer) < _LENGTH.size + size:
                break
            message = json.loads(bytes(self.buffer[_LENGTH.size : _LENGTH.size + size]))
            del self.buffer[: _LENGTH.size + size]
            if not isinstance(message, dict):
                raise ValueError("a frame that is not a JSON object")
            frames.append((message, self.fds))
            self.fds = []
        return frames

    def close(self) -> None:
        """Close descriptors that came with no frame."""
        for fd in self.fds:
            _close(fd)
        self.fds = []


def peer_uid(sock: Any) -> int:
    """The user id of the process at the other end (``SO_PEERCRED``: the kernel's word)."""
    raw = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    return int(uid)
