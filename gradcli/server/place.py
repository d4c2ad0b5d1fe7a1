"""Where the server lives: a private directory of the user's, and the files in it.

``$XDG_RUNTIME_DIR/gradcli`` when the session has a runtime directory of this user's, else
``gradcli-<uid>`` under the temporary directory. Either way the directory must be this user's, a
real directory (not a link) and closed to everyone else (mode 0700): a socket that other users
could reach, or a place they could plant one, is never used. Each installation (interpreter and
package directory) has its own server, so two virtual environments never serve each other's
calls.

Imports only the standard library's lightest modules: the entry point reads this on every call.
"""

from __future__ import annotations

import os
import stat
import sys
import zlib

from .. import __version__

#: the longest path a Unix socket address holds (sun_path, with its final NUL)
MAX_SOCKET_PATH = 107


class PlaceError(Exception):
    """The server's directory cannot be used safely; the message says why."""


class MissingError(PlaceError):
    """The server's directory does not exist yet: no server was ever started here."""


def supported() -> bool:
    """Whether this system has what the server needs (Linux: SO_PEERCRED, fork, /proc)."""
    return sys.platform.startswith("linux")


def package_dir() -> str:
    """The directory of the gradcli package this process runs."""
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def installation() -> dict[str, object]:
    """What a server must share with a client to serve it: the environment (``sys.prefix``),
    the package and its version, and the import path."""
    return {
        "prefix": sys.prefix,
        "executable": sys.executable,
        "package": package_dir(),
        "version": __version__,
        "path": list(sys.path),
    }


def key() -> str:
    """The installation's short name: the servers of two environments never meet (``python``
    and ``python3`` of one environment share one)."""
    text = f"{sys.prefix}\0{package_dir()}".encode("utf-8", "surrogateescape")
    return f"{zlib.crc32(text):08x}"


def _base() -> str:
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime):
        try:
            info = os.lstat(runtime)
        except OSError:
            info = None
        if info and stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
            return os.path.join(runtime, "gradcli")
    tmp = os.environ.get("TMPDIR", "")
    if not (tmp and os.path.isabs(tmp) and os.path.isdir(tmp)):
        tmp = "/tmp"
    return os.path.join(tmp, f"gradcli-{os.getuid()}")


def directory(create: bool = False) -> str:
    """The private directory (made when ``create``); :class:`PlaceError` if it is not private."""
    path = _base()
    if create:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as e:
            raise PlaceError(f"cannot make {path}: {e.strerror}") from None
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise MissingError(f"{path} does not exist (no server was started)") from None
    except OSError as e:
        raise PlaceError(f"cannot read {path}: {e.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise PlaceError(f"{path} is not a directory")
    if info.st_uid != os.getuid():
        raise PlaceError(f"{path} belongs to another user (uid {info.st_uid})")
    if info.st_mode & 0o077:
        raise PlaceError(
            f"{path} is open to other users (mode {stat.S_IMODE(info.st_mode):o}, not 700)"
        )
    return path


def files(create: bool = False) -> dict[str, str]:
    """The socket, lock, state and log files of this installation's server."""
    here = directory(create)
    name = os.path.join(here, f"server-{key()}")
    found = {
        "socket": name + ".sock",
        "lock": name + ".lock",
        "state": name + ".json",
        "log": name + ".log",
    }
    if len(os.fsencode(found["socket"])) > MAX_SOCKET_PATH:
        raise PlaceError(f"the socket path {found['socket']} is too long for a Unix socket")
    return found
