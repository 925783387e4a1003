"""The actions a plan can hold, their table symbols and their order inside one VM."""

from __future__ import annotations

from enum import Enum


class Action(str, Enum):
    """What one change does. The value is the JSON action name."""

    UPGRADE_HARDWARE = "upgrade_hardware"
    POWER_OFF = "power_off"
    ADD_NVDIMM = "add_nvdimm"
    GROW_NVDIMM = "grow_nvdimm"
    REMOVE_NVDIMM = "remove_nvdimm"
    CREATE_DISK = "create_disk"
    REMOVE_DISK = "remove_disk"  # only rollback emits it: a disk that apply created
    MIGRATE_DISK = "migrate_disk"
    MIGRATE_VM = "migrate_vm"  # drain: the VM (and its NVDIMMs) to another host
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
    Action.REMOVE_DISK: "-",
    Action.MIGRATE_DISK: "→",
    Action.MIGRATE_VM: "⇒",
    Action.POWER_ON: "⏻",
}

# Execution order inside one VM; apply relies on it. Power off comes before
# the hardware upgrade because UpgradeVM_Task refuses a powered-on VM.
ACTION_ORDER = {
    Action.POWER_OFF: 0,
    Action.UPGRADE_HARDWARE: 1,
    Action.REMOVE_NVDIMM: 2,
    Action.GROW_NVDIMM: 2,
    Action.ADD_NVDIMM: 2,
    Action.CREATE_DISK: 2,
    Action.REMOVE_DISK: 2,
    Action.MIGRATE_DISK: 3,
    Action.MIGRATE_VM: 3,
    Action.POWER_ON: 4,
}
