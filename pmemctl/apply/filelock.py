"""One exclusive, non-blocking lock per open file, dropped by the OS when the holder dies.

The journal (one run per spec and vCenter) and the VM claims lock with it.
POSIX has ``fcntl.flock``; Windows has ``msvcrt.locking`` on the first byte
(also released when the process ends, however it ends). Where neither exists
``apply`` cannot promise one run per journal, so it refuses to start, saying
so, before anything is read or changed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pmemctl.errors import PmemctlError

_fcntl: Any
_msvcrt: Any
try:
    import fcntl as _fcntl
except ImportError:  # not POSIX
    _fcntl = None
try:
    import msvcrt as _msvcrt  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # not Windows
    _msvcrt = None


class LockingUnsupported(PmemctlError):
    """This system has neither ``fcntl`` nor ``msvcrt``: apply cannot lock its journal."""


def try_lock(fd: int) -> bool:
    """Lock ``fd`` exclusively without waiting; False when another process holds it.

    Raises:
        LockingUnsupported: the system offers no file locks pmemctl knows.
    """
    if _fcntl is not None:
        try:
            _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True
    if _msvcrt is not None:
        # Byte 0 of the file, whatever its length: a lock may extend past the end.
        pos = os.lseek(fd, 0, os.SEEK_CUR)
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            _msvcrt.locking(fd, _msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        finally:
            os.lseek(fd, pos, os.SEEK_SET)
        return True
    raise LockingUnsupported(
        "apply and rollback need file locks (POSIX fcntl or Windows msvcrt) to keep two runs "
        "off one journal and one VM, and this system has neither; nothing was changed. "
        "`plan`, `status` and `validate` work without them")


# A reader's momentary probe (held_elsewhere, `pmemctl journals`) can overlap a
# run's first lock attempt: try a few times before calling the file taken.
RETRIES = 5
RETRY_S = 0.02


def try_lock_patiently(fd: int) -> bool:
    """:func:`try_lock`, tried :data:`RETRIES` times over about 0.1 s."""
    for attempt in range(RETRIES):
        if try_lock(fd):
            return True
        if attempt < RETRIES - 1:
            time.sleep(RETRY_S)
    return False


def held_elsewhere(path: Path) -> bool:
    """True when another process holds ``path``'s lock (a momentary try-lock fails).

    False when the file cannot be opened, or the system has no locks pmemctl knows
    (then nothing can be told, and nothing is refused on it).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if _fcntl is not None:
            try:
                _fcntl.flock(fd, _fcntl.LOCK_SH | _fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            except OSError:
                return False
            return False
        if _msvcrt is not None:
            try:
                _msvcrt.locking(fd, _msvcrt.LK_NBRLCK, 1)
            except OSError:
                return True
            _msvcrt.locking(fd, _msvcrt.LK_UNLCK, 1)
        return False
    finally:
        os.close(fd)  # closing drops a lock we got
