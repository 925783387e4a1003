"""The files pmemctl is pointed at: regular files only, read with a size limit.

Specs, saved plans and journals are small regular files. A path given on the
command line may be anything, though: ``/dev/zero`` never ends, ``/dev/full``
fails every write, a FIFO with no writer blocks ``open`` forever, and
renaming a temporary file over ``/dev/full`` as root replaces the device
node. Every read and write of those files goes through here, so each of
those ends in a message instead of a hang, an OOM kill or a broken system.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

__all__ = ["FileProblem", "check_regular_target", "describe_kind", "format_size",
           "open_regular", "read_bounded", "read_stream_bounded"]

_CHUNK = 1 << 16


class FileProblem(Exception):
    """A file that cannot be used; the message (no path) says why, for the caller to place.

    Attributes:
        too_large: the file is over the caller's size limit (the caller may
            say what to do about that).
    """

    def __init__(self, message: str, *, too_large: bool = False) -> None:
        super().__init__(message)
        self.too_large = too_large


def describe_kind(mode: int) -> str:
    """What a non-regular file is, in words: ``a directory``, ``a character device``, ..."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def format_size(n: int) -> str:
    """``1 MiB``, ``64 MiB``: how the limits are written in messages and docs."""
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n} bytes"


def _not_regular(mode: int) -> FileProblem:
    return FileProblem(f"it is {describe_kind(mode)}, not a regular file")


def open_regular(path: str | Path, flags: int, mode: int = 0o600) -> int:
    """``os.open`` that never blocks and refuses anything but a regular file.

    ``O_NONBLOCK`` makes opening a FIFO return at once instead of waiting for
    the other end; the check is on the opened descriptor (``fstat``), so a
    file swapped in between a check and the open cannot slip through.

    Raises:
        FileNotFoundError: no such file (and no ``O_CREAT``).
        FileProblem: not a regular file, or the open failed (its strerror).
    """
    try:
        fd = os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except IsADirectoryError:
        raise FileProblem("it is a directory, not a regular file") from None
    except FileNotFoundError:
        raise  # callers tell "no file yet" (an empty journal) from a bad one
    except OSError as exc:
        raise FileProblem(exc.strerror or str(exc)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(st.st_mode)
        # Regular files ignore O_NONBLOCK; clear it anyway so no later reader is surprised.
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bounded(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    Reads at most ``limit + 1`` bytes whatever ``st_size`` says (files under
    /proc report 0 and may be huge).

    Raises:
        FileNotFoundError: there is no such file (callers treat that apart).
        FileProblem: not a regular file, unreadable, or larger than ``limit``.
    """
    fd = open_regular(path, os.O_RDONLY)
    with os.fdopen(fd, "rb") as f:
        try:
            return _read_limited(f, limit)
        except OSError as exc:
            raise FileProblem(exc.strerror or str(exc)) from None


def read_stream_bounded(stream: BinaryIO, limit: int) -> bytes:
    """At most ``limit`` bytes of a stream (standard input); more raises FileProblem."""
    try:
        return _read_limited(stream, limit)
    except OSError as exc:
        raise FileProblem(exc.strerror or str(exc)) from None


def _read_limited(f: BinaryIO, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = f.read(min(_CHUNK, limit + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
    raise FileProblem(f"it is larger than the {format_size(limit)} limit", too_large=True)


def check_regular_target(path: str | Path) -> None:
    """Refuse to write over anything but a regular file (a missing file is fine).

    Raises:
        FileProblem: ``path`` (after symlinks) is a directory, device, FIFO or socket.
    """
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        st = Path(path).stat()
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(st.st_mode)
