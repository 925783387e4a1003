"""The plan as a value: ordered changes, blocking problems, PMem per host.

``make_plan(spec, inventory) -> Plan`` (:mod:`pmemctl.plan.planner`) is pure;
``apply`` runs only plans the planner produced and decides nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

FORMAT_VERSION = 1


class Action(str, Enum):
    """What one change does. The value is the JSON action name."""

    UPGRADE_HARDWARE = "upgrade_hardware"
    POWER_OFF = "power_off"
    ADD_NVDIMM = "add_nvdimm"
    GROW_NVDIMM = "grow_nvdimm"
    REMOVE_NVDIMM = "remove_nvdimm"
    CREATE_DISK = "create_disk"
    MIGRATE_DISK = "migrate_disk"
    POWER_ON = "power_on"

    @property
    def symbol(self) -> str:
        """A one-character marker for tables, terraform style."""
        return _SYMBOLS[self]


_SYMBOLS = {
    Action.UPGRADE_HARDWARE: "~",
    Action.POWER_OFF: "⏻",
    Action.ADD_NVDIMM: "+",
    Action.GROW_NVDIMM: "~",
    Action.REMOVE_NVDIMM: "-",
    Action.CREATE_DISK: "+",
    Action.MIGRATE_DISK: "→",
    Action.POWER_ON: "⏻",
}

# Execution order inside one VM; apply relies on it.
ACTION_ORDER = {
    Action.UPGRADE_HARDWARE: 0,
    Action.POWER_OFF: 1,
    Action.REMOVE_NVDIMM: 2,
    Action.GROW_NVDIMM: 2,
    Action.ADD_NVDIMM: 2,
    Action.CREATE_DISK: 2,
    Action.MIGRATE_DISK: 3,
    Action.POWER_ON: 4,
}


@dataclass(frozen=True)
class Change:
    """One step for one VM.

    ``target`` names the device or disk ("NVDIMM 2", "Hard disk 1") or the VM
    itself for power and hardware changes. ``before``/``after`` are short
    human strings (``"san-01"`` → ``"PMemDS-…"``, ``"16 GiB"``, ``"vmx-13"``).
    ``detail`` carries the machine-readable facts apply needs (device keys,
    sizes in MiB, datastore names, host) so apply never has to re-decide.
    """

    vm: str
    action: Action
    target: str
    before: str | None
    after: str | None
    disruptive: bool
    reason: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The contract shape of one change (``detail`` is an extension)."""
        return {
            "vm": self.vm,
            "action": self.action.value,
            "target": self.target,
            "before": self.before,
            "after": self.after,
            "disruptive": self.disruptive,
            "reason": self.reason,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Problem:
    """Something that blocks the plan. ``vm`` is None for spec-level problems."""

    vm: str | None
    message: str

    def to_json(self) -> dict[str, Any]:
        """The contract shape of one problem."""
        return {"vm": self.vm, "message": self.message}


@dataclass(frozen=True)
class HostPmem:
    """PMem free on one host before and after the plan."""

    name: str
    capacity_mb: int
    free_mb_before: int
    free_mb_after: int

    def to_json(self) -> dict[str, Any]:
        """The contract shape of one host row."""
        return {
            "name": self.name,
            "pmem_capacity_mb": self.capacity_mb,
            "pmem_free_mb_before": self.free_mb_before,
            "pmem_free_mb_after": self.free_mb_after,
        }


@dataclass(frozen=True)
class Plan:
    """Everything ``plan`` shows and ``apply`` executes."""

    changes: tuple[Change, ...] = ()
    problems: tuple[Problem, ...] = ()
    hosts: tuple[HostPmem, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def blocked(self) -> bool:
        """True when any problem stands in the way."""
        return bool(self.problems)

    @property
    def empty(self) -> bool:
        """True when there is nothing to do."""
        return not self.changes

    def to_json(self) -> dict[str, Any]:
        """The ``plan --output json`` contract."""
        return {
            "format_version": FORMAT_VERSION,
            "changes": [c.to_json() for c in self.changes],
            "problems": [p.to_json() for p in self.problems],
            "hosts": [h.to_json() for h in self.hosts],
            "warnings": list(self.warnings),
        }
