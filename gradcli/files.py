"""Files: standard input, and output files checked before any work and written so that
nothing is destroyed or lost.

Every ``--output`` goes through :class:`OutputFile`:

- It is checked when the command starts, before any work: a directory, a missing or read-only
  folder, or a file that is also the command's input (the same file by inode, through symlinks
  too) is an error then, naming the path.
- A regular file (or a new one) is written under a temporary name beside its target and
  renamed into place at the end, so a failure, a full disk or a signal never leaves half a file
  under the final name. The new file gets the mode of the file it replaces, or for a new file
  what the umask allows (``0o666 & ~umask``), as a shell redirection would.
- A symlink is followed: its target is replaced (atomically, beside the target), the link
  stays.
- Anything that is not a regular file (a device such as ``/dev/null`` or ``/dev/full``, a FIFO,
  ``/dev/stdout``) is opened and written in place, never replaced by a rename; a write error
  there (``/dev/full``: no space) is the command's error.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from collections.abc import Sequence
from typing import IO

from .errors import OutputError, UsageError, held_signals, safe_text


def standard_input() -> IO[bytes]:
    """Standard input as bytes, or a clear error when the shell closed it (``<&-``)."""
    stream = getattr(sys.stdin, "buffer", None)
    closed = stream is None
    if stream is not None:
        try:
            fd = stream.fileno()
        except (OSError, ValueError):  # (not a file at all: a test's or a host's stream)
            fd = None
        if fd is not None:
            try:
                os.fstat(fd)
            except OSError:
                closed = True
    if closed:
        raise UsageError(
            "standard input is closed: there is nothing to read for '-'",
            hint="pipe the input in, or name a file",
        )
    return stream  # type: ignore[return-value]


def names_a_descriptor(path: str) -> bool:
    """Whether ``path`` leads, through its symlinks, to one of this process's open descriptors
    (``/dev/stdout`` -> ``/proc/self/fd/1``)."""
    seen = 0
    current = os.path.abspath(path)
    while seen < 40:
        if current.startswith(("/proc/self/fd/", "/dev/fd/", f"/proc/{os.getpid()}/fd/")):
            return True
        try:
            link = os.readlink(current)
        except OSError:
            return False
        current = os.path.normpath(os.path.join(os.path.dirname(current), link))
        seen += 1
    return False


def write_stdout(text: str) -> None:
    """Write ``text`` to stdout in full, or fail. (A single large write to a pipe whose reader
    has gone can come back short with no error from Python's buffered layer, so the rest was
    lost without a word and the run said 0; here every byte is written or the write raises,
    BrokenPipeError for a closed pipe.)"""
    stream = sys.stdout
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        fd = -1  # (not a real file: a test's capture, a closed stream's stand-in)
    if fd < 0:
        stream.write(text)
        return
    stream.flush()
    data = memoryview(text.encode(stream.encoding or "utf-8", "replace"))
    while data:
        data = data[os.write(fd, data[: 1 << 20]) :]


def _umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # (elsewhere: the only portable way, set back at once)
    os.umask(mask)
    return mask


class OutputFile:
    """One output destination; see the module's documentation."""

    def __init__(self, path: str, inputs: Sequence[str] = ()) -> None:
        self.given = path
        self.tmp: str | None = None
        shown = safe_text(path)
        if path.endswith("/"):
            raise UsageError(f"cannot write {shown!r}: not a file name (it ends in '/')")
        #: an open descriptor (/dev/stdout, /dev/fd/1, /proc/self/fd/1): written through, in
        #: append mode, never resolved to the file behind it (the shell's `>> log` stays)
        self.descriptor = names_a_descriptor(path)
        self.target = path if self.descriptor else os.path.realpath(path)
        try:
            info: os.stat_result | None = os.stat(self.target)
        except FileNotFoundError:
            info = None
        except OSError as e:
            raise UsageError(f"cannot write {shown!r}: {e.strerror}") from None
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise UsageError(f"cannot write {shown!r}: it is a directory", hint="name a file in it")
        #: write in place: the target exists and is not a regular file (a device, a FIFO)
        self.in_place = self.descriptor or (info is not None and not stat.S_ISREG(info.st_mode))
        self.folder = os.path.dirname(self.target)
        if self.in_place:
            if not os.access(self.target, os.W_OK):
                raise UsageError(f"cannot write {shown!r}: permission denied")
        elif not os.path.isdir(self.folder):
            raise UsageError(f"cannot write {shown!r}: no such directory")
        elif not os.access(self.folder, os.W_OK | os.X_OK):
            raise UsageError(f"cannot write {shown!r}: the directory is not writable")
        elif info is not None and not os.access(self.target, os.W_OK):
            raise UsageError(f"cannot write {shown!r}: the file is read-only")
        for source in inputs:
            if source in ("", "-") or info is None or self.in_place:
                continue
            try:
                same = os.path.samefile(source, self.target)
            except OSError:
                continue
            if same:
                raise UsageError(
                    f"cannot write {shown!r}: it is also the input, which would be lost",
                    hint="write the results to another file",
                )
        self.mode = stat.S_IMODE(info.st_mode) if info is not None else 0o666 & ~_umask()
        self._temporaries: set[str] = set()  #: made beside the target, not yet in place

    @property
    def rewritable(self) -> bool:
        """Whether what was written can be read back and written again (not a device)."""
        return not self.in_place

    def open(self) -> IO[bytes]:
        """The stream to write to: a temporary file beside the target, or the target itself
        when it is written in place."""
        if self.in_place:
            return open(self.target, "ab" if self.descriptor else "wb")  # (the caller closes it)
        with held_signals():
            fd, self.tmp = self.temporary()
            return os.fdopen(fd, "wb")

    def temporary(self) -> tuple[int, str]:
        """A new temporary file beside the target (for a rewrite): its descriptor and name.
        Every one is removed by :meth:`discard` unless it was put in place."""
        with held_signals():  # (a stop now must not leave a file no one knows of)
            prefix = f".{os.path.basename(self.target)}."
            fd, name = tempfile.mkstemp(prefix=prefix, dir=self.folder)
            self._temporaries.add(name)
        return fd, name

    def replace_temporary(self, name: str) -> None:
        """Use ``name`` (from :meth:`temporary`) instead of the current temporary file."""
        with held_signals():
            if self.tmp is not None and self.tmp != name:
                os.unlink(self.tmp)
                self._temporaries.discard(self.tmp)
            self.tmp = name

    def commit(self) -> None:
        """Put the written file in place (the stream must be closed)."""
        with held_signals():
            if self.tmp is not None:
                os.chmod(self.tmp, self.mode)
                os.replace(self.tmp, self.target)
                self._temporaries.discard(self.tmp)
                self.tmp = None

    def discard(self) -> None:
        """Remove the temporary files, if any: the target is left as it was."""
        with held_signals():
            for name in sorted(self._temporaries):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
            self._temporaries.clear()
            self.tmp = None

    def write_all(self, data: bytes) -> None:
        """Write ``data`` as the whole file, atomically where the target allows."""
        try:
            try:
                with self.open() as sink:
                    sink.write(data)
                self.commit()
            except BaseException:  # (a stop signal too: the temporary file goes)
                self.discard()
                raise
        except OSError as e:
            raise self.failed(e) from None

    def failed(self, e: OSError) -> OutputError:
        """The error for a write that failed (a full disk, an I/O error)."""
        reason = e.strerror or str(e)
        return OutputError(f"cannot write {safe_text(self.given)}: {reason}")


__all__ = ["OutputFile", "names_a_descriptor", "standard_input", "write_stdout"]
