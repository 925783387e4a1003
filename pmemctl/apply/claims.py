"""One writer per VM: a claim per (vCenter, VM) that another pmemctl on this machine sees.

Before a run changes anything it claims every VM its plan touches: an
exclusive lock (:mod:`.filelock`: ``fcntl.flock``, ``msvcrt`` on Windows) on
``$XDG_STATE_HOME/pmemctl/locks/<vcenter-host>_<port>/<vm-moid>.lock``
(``~/.local/state/...``). A second run that plans any of those VMs is refused
with the name of the run that holds it; the kernel drops a claim when its
process dies (SIGKILL included), so a killed run never leaves one behind.

What it covers: pmemctl runs **on this machine** (same ``XDG_STATE_HOME``,
one file system), whatever spec or ``--journal`` they use. It does not see
pmemctl on another machine, or other vCenter clients; those are what
``settle_vms`` (waiting for their running tasks) and the executor's check of
each disk's backing before moving it are for.

Each lock file holds one JSON line about its last holder: ``run``, ``pid``,
``journal``, ``vm``, ``taken_at`` and, once it let go normally,
``released_at`` (Unix seconds). A run that planned before the last holder
let go may have planned over an estate that holder then changed; that is
what :attr:`Claims.recent` tells the caller, so it can plan again.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pmemctl.apply.filelock import try_lock
from pmemctl.errors import JournalError

__all__ = ["Claims", "VmBusyError", "claim_vms", "default_lock_dir"]


class VmBusyError(JournalError):
    """A VM the plan touches is claimed by another pmemctl run on this machine."""

    code = "vm_locked"


def default_lock_dir(host: str, port: int) -> Path:
    """Where the claims on one vCenter live (see module docstring)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", host.lower())
    return Path(state) / "pmemctl" / "locks" / f"{safe}_{port}"


@dataclass
class Claims:
    """The claims one run holds; :meth:`release` (or the process ending) drops them.

    Attributes:
        vms: VM name by moid, every VM claimed.
        recent: names of VMs whose previous holder let go after ``since`` (or
            died holding it): the plan may predate that holder's changes.
    """

    directory: Path
    run: str
    vms: dict[str, str] = field(default_factory=dict)
    recent: list[str] = field(default_factory=list)
    _fds: dict[str, int] = field(default_factory=dict)

    def add(self, vms: dict[str, str], *, journal: Path, since: float) -> None:
        """Claim more VMs (moid -> name); all or none of them.

        Raises:
            VmBusyError: another run holds one; nothing new is claimed.
            JournalError: the lock directory cannot be written.
        """
        taken: list[str] = []
        try:
            for moid in sorted(set(vms) - set(self._fds)):
                self._take(moid, vms[moid], journal=journal, since=since)
                taken.append(moid)
        except BaseException:
            for moid in taken:
                self._drop(moid, released=False)
            raise

    def _take(self, moid: str, name: str, *, journal: Path, since: float) -> None:
        path = self.directory / f"{re.sub(r'[^A-Za-z0-9._-]', '_', moid)}.lock"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise JournalError(f"cannot create the VM claim {path}: {e.strerror or e}") from e
        try:
            taken = try_lock(fd)
        except BaseException:
            os.close(fd)
            raise
        if not taken:
            holder = _read(fd)
            os.close(fd)
            raise VmBusyError(_busy(name, holder, path))
        before = _read(fd)
        if before.get("run") and (before.get("released_at") is None
                                  or float(before["released_at"]) >= since):
            self.recent.append(name)
        self._fds[moid] = fd
        self.vms[moid] = name
        _write(fd, {"run": self.run, "pid": os.getpid(), "journal": str(journal), "vm": name,
                    "moid": moid, "taken_at": time.time()})

    def _drop(self, moid: str, *, released: bool = True) -> None:
        fd = self._fds.pop(moid)
        name = self.vms.pop(moid, moid)
        if released:
            try:
                rec = _read(fd)
                rec["released_at"] = time.time()
                _write(fd, rec)
            except OSError:
                pass  # the stamp only spares the next run a re-plan
        else:
            _write(fd, {"vm": name, "moid": moid})  # never held: no holder to report
        os.close(fd)

    def release(self) -> None:
        """Let go of every claim (stamping ``released_at``)."""
        for moid in list(self._fds):
            self._drop(moid)

    def __enter__(self) -> Claims:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def claim_vms(host: str, port: int, run: str, vms: dict[str, str], *, journal: Path,
              since: float, directory: Path | None = None) -> Claims:
    """Claim ``vms`` (moid -> name) on the vCenter at ``host:port`` for ``run``.

    ``since`` is the wall time the caller began reading the estate it planned
    from; see :attr:`Claims.recent`.

    Raises:
        VmBusyError: another pmemctl run on this machine holds one of them.
    """
    claims = Claims(directory=directory or default_lock_dir(host, port), run=run)
    claims.add(vms, journal=journal, since=since)
    return claims


def _read(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 4096, 0).decode(errors="replace").strip()
        rec = json.loads(data) if data else {}
    except (OSError, ValueError):
        return {}
    return rec if isinstance(rec, dict) else {}


def _write(fd: int, rec: dict[str, Any]) -> None:
    data = (json.dumps(rec) + "\n").encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _busy(name: str, holder: dict[str, Any], path: Path) -> str:
    who = f"run {holder['run']}" if holder.get("run") else "another run"
    details = []
    if holder.get("pid"):
        details.append(f"pid {holder['pid']}")
    if holder.get("journal"):
        details.append(f"journal {holder['journal']}")
    if holder.get("taken_at"):
        details.append("since " + time.strftime("%H:%M:%S UTC",
                                                time.gmtime(float(holder["taken_at"]))))
    extra = f" ({', '.join(details)})" if details else ""
    return (f"VM {name} is being changed by another pmemctl, {who}{extra}; nothing was "
            f"changed. Wait for that run to finish and run apply again (claim: {path})")
