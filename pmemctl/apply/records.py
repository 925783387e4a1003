"""Typed journal records: one value per event, and the undo state of each step kind.

The journal file stays JSON Lines (:mod:`pmemctl.apply.journal`); this
module is what is written into it and what is read back, so that resume and
rollback work on typed values and never on string-keyed dicts. Reading is
tolerant of journals written by the previous pmemctl (format 1): the keys
are the same, and what format 1 did not record (the keys of devices a
reconfigure created) reads as unknown (``None``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal, Union

from pmemctl.plan.actions import Action

# -- what a step changed (a summary of its Change JSON) -----------------------


@dataclass(frozen=True)
class ChangeRef:
    """One change of a step as journaled: what rollback reports and matches on."""

    action: Action
    target: str
    before: str | None = None
    after: str | None = None
    # An add_nvdimm that brought the VM's NVDIMM controller (its payload's
    # add_controller): rollback removes that controller with the last NVDIMM.
    added_controller: bool = False

    @classmethod
    def from_json(cls, data: Any) -> ChangeRef | None:
        """The change's contract keys; None for something that is not a change."""
        if not isinstance(data, Mapping):
            return None
        try:
            action = Action(data.get("action"))
        except ValueError:
            return None
        payload = data.get("payload")
        added = isinstance(payload, Mapping) and payload.get("add_controller") is True
        return cls(action=action, target=str(data.get("target", "")),
                   before=_opt_str(data.get("before")), after=_opt_str(data.get("after")),
                   added_controller=added)


# -- undo state, captured before a step runs ----------------------------------


@dataclass(frozen=True)
class DiskUndo:
    """Where one disk was before a migration moved it, and under which policy."""

    key: int
    label: str
    datastore: str
    datastore_moid: str | None = None
    pmem: bool = False
    file_name: str = ""
    policy_ids: tuple[str, ...] = ()
    to_datastore: str | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> DiskUndo:
        """Parse one journaled disk."""
        return cls(key=int(d["key"]), label=str(d.get("label", f"disk {d['key']}")),
                   datastore=str(d.get("datastore", "")),
                   datastore_moid=_opt_str(d.get("datastore_moid")), pmem=bool(d.get("pmem")),
                   file_name=str(d.get("file_name", "")),
                   policy_ids=tuple(str(p) for p in d.get("policy_ids", ()) or ()),
                   to_datastore=_opt_str(d.get("to_datastore")))


@dataclass(frozen=True)
class MigrateUndo:
    """A migration's disks as they were."""

    KIND: ClassVar[str] = "migrate"
    disks: tuple[DiskUndo, ...] = ()


@dataclass(frozen=True)
class ReconfigureUndo:
    """The device keys a VM had before a reconfigure."""

    KIND: ClassVar[str] = "reconfigure"
    nvdimm_keys_before: tuple[int, ...] = ()
    disk_keys_before: tuple[int, ...] = ()


@dataclass(frozen=True)
class UpgradeUndo:
    """The hardware version before an upgrade (vSphere cannot downgrade: for the report)."""

    KIND: ClassVar[str] = "upgrade"
    hardware_version_before: int | None = None


@dataclass(frozen=True)
class PowerUndo:
    """The power state the snapshot saw before this run touched the VM."""

    KIND: ClassVar[str] = "power"
    power_state_at_snapshot: str | None = None


Undo = Union[MigrateUndo, ReconfigureUndo, UpgradeUndo, PowerUndo]  # noqa: UP007


def undo_to_json(vm_moid: str | None, undo: Undo | None) -> dict[str, Any]:
    """The ``undo`` object of an intent record."""
    out: dict[str, Any] = {"vm_moid": vm_moid}
    if undo is not None:
        for k, v in asdict(undo).items():
            out[k] = [dict(x) if isinstance(x, dict) else x for x in v] \
                if isinstance(v, tuple | list) else v
    return out


def undo_from_json(kind: str, data: Any) -> Undo | None:
    """The typed undo state of a step of ``kind``; None when there is none."""
    if not isinstance(data, Mapping):
        return None
    if kind in ("migrate", "move"):
        return MigrateUndo(disks=tuple(DiskUndo.from_json(d) for d in data.get("disks", ())
                                       if isinstance(d, Mapping) and "key" in d))
    if kind == "reconfigure":
        return ReconfigureUndo(
            nvdimm_keys_before=tuple(int(k) for k in data.get("nvdimm_keys_before", ())),
            disk_keys_before=tuple(int(k) for k in data.get("disk_keys_before", ())))
    if kind == "upgrade":
        v = data.get("hardware_version_before")
        return UpgradeUndo(hardware_version_before=int(v) if v is not None else None)
    if kind in ("power_off", "power_on"):
        return PowerUndo(power_state_at_snapshot=_opt_str(data.get("power_state_at_snapshot")))
    return None


# -- devices a reconfigure created ---------------------------------------------


@dataclass(frozen=True)
class CreatedDevice:
    """A device that a reconfigure added, read back after it succeeded."""

    kind: Literal["nvdimm", "disk"]
    key: int
    label: str
    size_mb: int

    def to_json(self) -> dict[str, Any]:
        """The journal form."""
        return asdict(self)

    @classmethod
    def from_json(cls, d: Any) -> CreatedDevice | None:
        """Parse one; None for anything else."""
        if not isinstance(d, Mapping) or d.get("kind") not in ("nvdimm", "disk"):
            return None
        return cls(kind=d["kind"], key=int(d["key"]), label=str(d.get("label", "")),
                   size_mb=int(d.get("size_mb", 0)))


def created_from_json(value: Any) -> tuple[CreatedDevice, ...] | None:
    """A done record's ``created`` list; None when the record has none (format 1)."""
    if not isinstance(value, list):
        return None
    return tuple(c for c in (CreatedDevice.from_json(d) for d in value) if c is not None)


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


# -- task identity ------------------------------------------------------------

#: vCenter's ``TaskInfo.descriptionId`` of the task each step kind starts (the
#: first is what pmemctl journals; the others are aliases also believed).
#: A vCenter that restarted hands out task ids from the start again, so an id
#: alone may name another client's task; resume checks these as well as the
#: VM and the queue time. ``upgradeVM`` is what govmomi's simulator reports;
#: the vCenter name is from vSphere's task list (not seen on a live vCenter).
TASK_DESCRIPTION_IDS: dict[str, tuple[str, ...]] = {
    "migrate": ("VirtualMachine.relocate",),
    "move": ("VirtualMachine.relocate",),
    "reconfigure": ("VirtualMachine.reconfigure",),
    "upgrade": ("VirtualMachine.upgradeVirtualHardware", "VirtualMachine.upgradeVM"),
    "power_on": ("VirtualMachine.powerOn",),
    "power_off": ("VirtualMachine.powerOff",),
}


def description_ids(description_id: str | None) -> tuple[str, ...]:
    """Every descriptionId that counts as ``description_id`` (itself and its aliases)."""
    if description_id is None:
        return ()
    for ids in TASK_DESCRIPTION_IDS.values():
        if description_id in ids:
            return ids
    return (description_id,)


def iso_time(value: Any) -> str | None:
    """A task time (pyVmomi's ``datetime``) as the journal writes it: ISO 8601."""
    if value is None:
        return None
    iso = getattr(value, "isoformat", None)
    return str(iso()) if callable(iso) else str(value)
