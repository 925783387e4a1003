"""One exclusive, non-blocking lock per open file, dropped by the OS when the holder dies.

The journal (one run per spec and vCenter) and the VM claims lock with it.
POSIX has ``fcntl.flock``; Windows has ``msvcrt.locking`` on the first byte
(also released when the process ends, however it ends). Where neither exists
``apply`` cannot promise one run per journal, so it refuses to start, saying
so, before anything is read or changed.
"""

from __future__ import annotations

import os
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
