"""The SOAP shapes pmemctl sends, checked on the pyVmomi objects (no server).

Each test names the real client or document the shape comes from; the
module docstring of :mod:`pmemctl.vsphere.actions` has the sources.
"""

from __future__ import annotations

from typing import Any

import pytest
from pyVmomi import SoapAdapter, vim

from pmemctl.errors import InventoryError
from pmemctl.inventory.model import PMEM_POLICY_ID
from pmemctl.plan.model import Action, Change
from pmemctl.plan.payloads import (
    AddNvdimm,
    CreateDisk,
    DatastoreRef,
    GrowNvdimm,
    MigrateDisk,
    PolicyRef,
    PowerOn,
    RemoveDisk,
    RemoveNvdimm,
    UpgradeHardware,
)
from pmemctl.plan.planner import migration_policy
from pmemctl.vsphere import actions

SAN = DatastoreRef("san-01", "datastore-11")
NFS = DatastoreRef("nfs-01", "datastore-12")
PMEM = DatastoreRef("PMemDS-esx-01", "datastore-99", pmem=True)


def disk(key: int = 2000, unit: int = 0) -> Any:
    return vim.vm.device.VirtualDisk(
        key=key, controllerKey=1000, unitNumber=unit, capacityInKB=40 * 1024 * 1024,
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName="[san-01] vm/vm.vmdk", diskMode="persistent"),
        deviceInfo=vim.Description(label="Hard disk 1", summary="40 GB"))


def scsi() -> Any:
    return vim.vm.device.ParaVirtualSCSIController(key=1000, busNumber=0, sharedBus="noSharing")


def migrate(key: int = 2000, source: DatastoreRef = SAN, target: DatastoreRef = PMEM,
            policy: PolicyRef | None = None, rollback: bool = False) -> Change:
    if policy is None:
        policy = migration_policy(source.pmem, target.pmem)
    return Change("vm-1", Action.MIGRATE_DISK, "Hard disk 1", None, None, False, "",
                  MigrateDisk(key, 40 * 1024, source, target, policy, rollback))


def wire(obj: Any) -> str:
    """The XML pyVmomi would put on the wire for ``obj``."""
    return str(SoapAdapter.Serialize(obj, version="vim.version.v7_0_3_0"))


def test_onto_pmem_default_is_a_device_change_edit_with_the_pmem_profile() -> None:
    spec = actions.relocate_spec(
        [migrate()], [scsi(), disk()], PMEM_POLICY_ID)
    assert not spec.disk  # no locator: it would name the PMem datastore
    assert spec.datastore is None  # the VM home stays
    (edit,) = spec.deviceChange
    assert edit.operation == "edit" and edit.fileOperation is None
    assert edit.device.key == 2000 and edit.device.backing.fileName == "[san-01] vm/vm.vmdk"
    assert [type(p) for p in edit.profile] == [vim.vm.DefinedProfileSpec]
    assert edit.profile[0].profileId == PMEM_POLICY_ID
    assert "datastore-99" not in wire(spec)  # the PMem datastore is never named


def test_onto_pmem_edit_is_a_copy_of_the_live_device() -> None:
    live = disk()
    spec = actions.relocate_spec([migrate()], [live], PMEM_POLICY_ID)
    assert spec.deviceChange[0].device is not live


def test_onto_pmem_locator_shape_is_available_by_choice() -> None:
    spec = actions.relocate_spec([migrate()], [], PMEM_POLICY_ID, onto="locator")
    assert not spec.deviceChange
    (loc,) = spec.disk
    assert loc.diskId == 2000 and loc.datastore._moId == "datastore-99"
    assert loc.profile[0].profileId == PMEM_POLICY_ID


def test_onto_pmem_device_change_needs_the_disk() -> None:
    with pytest.raises(InventoryError, match=r"device key 2000\) is gone"):
        actions.relocate_spec([migrate()], [scsi()], PMEM_POLICY_ID)


@pytest.mark.parametrize(("off", "profile_type"), [
    ("default", vim.vm.DefaultProfileSpec),
    ("empty", vim.vm.EmptyProfileSpec),
])
def test_off_pmem_replaces_the_pmem_policy(off: Any, profile_type: type) -> None:
    spec = actions.relocate_spec([migrate(source=PMEM, target=SAN)], [], PMEM_POLICY_ID, off=off)
    (loc,) = spec.disk
    assert loc.datastore._moId == "datastore-11"
    assert [type(p) for p in loc.profile] == [profile_type]


def test_off_pmem_without_profile_only_when_asked() -> None:
    spec = actions.relocate_spec([migrate(source=PMEM, target=SAN)], [], PMEM_POLICY_ID,
                                 off="none")
    assert not spec.disk[0].profile


def test_rollback_restores_the_disks_own_policy() -> None:
    spec = actions.relocate_spec(
        [migrate(source=PMEM, target=NFS, policy=PolicyRef("defined", ("gold",)),
                 rollback=True)], [], PMEM_POLICY_ID)
    assert [(type(p), p.profileId) for p in spec.disk[0].profile] == [
        (vim.vm.DefinedProfileSpec, "gold")]


def test_between_regular_datastores_the_policy_is_left_alone() -> None:
    spec = actions.relocate_spec([migrate(source=SAN, target=NFS)], [], PMEM_POLICY_ID)
    assert not spec.disk[0].profile


def test_rollback_without_a_known_policy_takes_the_targets_default() -> None:
    spec = actions.relocate_spec(
        [migrate(source=PMEM, target=NFS, policy=PolicyRef("defined"), rollback=True)], [],
        PMEM_POLICY_ID)
    assert [type(p) for p in spec.disk[0].profile] == [vim.vm.DefaultProfileSpec]


def test_planned_moid_is_what_is_sent() -> None:
    # Names are per datacenter: the planner resolves them and the executor never does.
    other_san = DatastoreRef("san-01", "datastore-77")
    spec = actions.relocate_spec([migrate(source=PMEM, target=other_san)], [], PMEM_POLICY_ID)
    assert spec.disk[0].datastore._moId == "datastore-77"


def test_target_without_a_moid_is_an_inventory_error() -> None:
    with pytest.raises(InventoryError, match="'gone-01' is unknown"):
        actions.relocate_spec([migrate(source=SAN, target=DatastoreRef("gone-01"))], [],
                              PMEM_POLICY_ID)


def test_mixed_directions_in_one_relocate() -> None:
    spec = actions.relocate_spec(
        [migrate(2000), migrate(2001, source=PMEM, target=SAN)],
        [disk(2000), disk(2001, unit=1)], PMEM_POLICY_ID)
    assert [e.device.key for e in spec.deviceChange] == [2000]
    assert [loc.diskId for loc in spec.disk] == [2001]


def create(where: DatastoreRef) -> Change:
    return Change("vm-1", Action.CREATE_DISK, "Hard disk 2", None, None, True, "",
                  CreateDisk("Hard disk 2", 1024, where))


def test_new_vpmemdisk_is_community_vmwares_shape() -> None:
    spec = actions.reconfigure_spec([create(PMEM)], [scsi(), disk()], PMEM_POLICY_ID)
    (add,) = spec.deviceChange
    assert add.operation == "add" and add.fileOperation == "create"
    assert not add.profile  # the backing places it; vmware_guest_disk.py sends no profile
    backing = add.device.backing
    assert type(backing) is vim.vm.device.VirtualDisk.LocalPMemBackingInfo
    assert backing.diskMode == "persistent" and backing.datastore is None
    assert add.device.controllerKey == 1000 and add.device.unitNumber == 1
    assert add.device.capacityInKB == 1024 * 1024


def test_new_regular_disk_names_its_datastore() -> None:
    spec = actions.reconfigure_spec([create(SAN)], [scsi()], PMEM_POLICY_ID)
    backing = spec.deviceChange[0].device.backing
    assert type(backing) is vim.vm.device.VirtualDisk.FlatVer2BackingInfo
    assert backing.fileName == "[san-01]" and backing.datastore._moId == "datastore-11"


def add_nvdimm(snapshot_mode: str | None = None, add_controller: bool = True,
               controller_key: int | None = None) -> Change:
    return Change("vm-1", Action.ADD_NVDIMM, "NVDIMM 1", None, "16 GiB", True, "",
                  AddNvdimm(1, 16384, add_controller, controller_key, snapshot_mode))


def test_nvdimm_add_carries_controller_profile_and_no_datastore() -> None:
    spec = actions.reconfigure_spec([add_nvdimm()], [scsi()], PMEM_POLICY_ID)
    ctl, dimm = spec.deviceChange
    assert type(ctl.device) is vim.vm.device.VirtualNVDIMMController and ctl.device.key < 0
    assert dimm.device.controllerKey == ctl.device.key
    assert dimm.device.backing.fileName == "" and dimm.device.backing.datastore is None
    assert dimm.profile[0].profileId == PMEM_POLICY_ID
    assert spec.pmem is None and spec.version is None


def test_snapshot_mode_goes_in_the_same_reconfigure() -> None:
    spec = actions.reconfigure_spec([add_nvdimm(snapshot_mode="independent_persistent")],
                                    [scsi()], PMEM_POLICY_ID)
    assert type(spec.pmem) is vim.vm.VirtualPMem
    assert spec.pmem.snapshotMode == "independent_persistent"
    assert "<snapshotMode>independent_persistent</snapshotMode>" in wire(spec)


def test_upgrade_goes_through_upgradevm_with_the_version() -> None:
    change = Change("vm-1", Action.UPGRADE_HARDWARE, "vm-1", "vmx-13", "vmx-14", True, "",
                    UpgradeHardware(13, 14))
    assert actions.upgrade_version(change) == "vmx-14"
    assert not hasattr(actions, "upgrade_spec")  # ReconfigVM(spec.version) is gone


def test_existing_controller_from_the_plan_is_used() -> None:
    # The planner decided there is a controller (key 13000): no second one is added.
    spec = actions.reconfigure_spec([add_nvdimm(add_controller=False, controller_key=13000)],
                                    [scsi()], PMEM_POLICY_ID)
    (dimm,) = spec.deviceChange
    assert dimm.device.controllerKey == 13000


def test_a_plan_without_a_controller_is_refused() -> None:
    with pytest.raises(InventoryError, match="names no NVDIMM controller"):
        actions.reconfigure_spec([add_nvdimm(add_controller=False)], [scsi()], PMEM_POLICY_ID)


def nvdimm_device(key: int = 14000, mb: int = 16384) -> Any:
    return vim.vm.device.VirtualNVDIMM(key=key, controllerKey=13000, capacityInMB=mb,
                                       deviceInfo=vim.Description(label="NVDIMM 1"))


def test_removals_come_first_then_grows_then_adds() -> None:
    changes = [
        add_nvdimm(add_controller=False, controller_key=13000),
        Change("vm-1", Action.GROW_NVDIMM, "NVDIMM 2", "8 GiB", "16 GiB", True, "",
               GrowNvdimm(14001, 8192, 16384)),
        Change("vm-1", Action.REMOVE_NVDIMM, "NVDIMM 1", "16 GiB", None, True, "",
               RemoveNvdimm(14000, 16384)),
    ]
    live = [nvdimm_device(14000), nvdimm_device(14001, 8192)]
    spec = actions.reconfigure_spec(changes, live, PMEM_POLICY_ID)
    ops = [(d.operation, d.fileOperation, d.device.key) for d in spec.deviceChange]
    assert ops == [("remove", "destroy", 14000), ("edit", None, 14001), ("add", "create", -28001)]
    grown = spec.deviceChange[1].device
    assert grown.capacityInMB == 16384 and live[1].capacityInMB == 8192  # a copy is edited


def test_a_device_the_plan_names_that_is_gone_is_an_inventory_error() -> None:
    change = Change("vm-1", Action.REMOVE_DISK, "Hard disk 2", "8 GiB", None, True, "",
                    RemoveDisk(2001, 8192))
    with pytest.raises(InventoryError, match=r"Hard disk 2 \(device key 2001\) is gone"):
        actions.reconfigure_spec([change], [scsi(), disk(2000)], PMEM_POLICY_ID)


def test_a_full_scsi_controller_is_an_inventory_error() -> None:
    full = [scsi()] + [disk(2000 + u, unit=u) for u in range(16) if u != 7]
    with pytest.raises(InventoryError, match="no SCSI controller with a free unit"):
        actions.reconfigure_spec([create(PMEM)], full, PMEM_POLICY_ID)


def test_only_reconfigure_changes_go_into_a_reconfigure() -> None:
    with pytest.raises(ValueError, match="migrate_disk is not a reconfigure change"):
        actions.reconfigure_spec([migrate()], [scsi(), disk()], PMEM_POLICY_ID)
    with pytest.raises(ValueError, match="add_nvdimm is not a disk migration"):
        actions.relocate_spec([add_nvdimm()], [], PMEM_POLICY_ID)
    power_on = Change("vm-1", Action.POWER_ON, "vm-1", None, None, False, "", PowerOn())
    with pytest.raises(ValueError, match="power_on is not a hardware upgrade"):
        actions.upgrade_version(power_on)


@pytest.mark.parametrize(("value", "text"), [(14, "vmx-14"), ("9", "vmx-09"),
                                             ("vmx-19", "vmx-19")])
def test_hardware_versions_read_as_vmx(value: Any, text: str) -> None:
    assert actions.hw_version(value) == text


def test_a_disk_that_is_not_the_one_planned_is_not_moved() -> None:
    # Another client replaced the disk: same device key, another backing file.
    planned = Change("vm-1", Action.MIGRATE_DISK, "Hard disk 1", None, None, False, "",
                     MigrateDisk(2000, 40 * 1024, SAN, PMEM, PolicyRef("pmem"),
                                 file_name="[san-01] vm/vm_old.vmdk"))
    with pytest.raises(InventoryError, match=r"Hard disk 1 \(device key 2000\) is not the disk "
                       r"the plan saw: its backing was \[san-01\] vm/vm_old.vmdk, now "
                       r"\[san-01\] vm/vm.vmdk"):
        actions.relocate_spec([planned], [disk()], PMEM_POLICY_ID)
    same = Change("vm-1", Action.MIGRATE_DISK, "Hard disk 1", None, None, False, "",
                  MigrateDisk(2000, 40 * 1024, SAN, PMEM, PolicyRef("pmem"),
                              file_name="[san-01] vm/vm.vmdk"))
    assert actions.relocate_spec([same], [disk()], PMEM_POLICY_ID).deviceChange
    # The same file moved by someone else's Storage vMotion is still the same disk.
    moved = Change("vm-1", Action.MIGRATE_DISK, "Hard disk 1", None, None, False, "",
                   MigrateDisk(2000, 40 * 1024, SAN, PMEM, PolicyRef("pmem"),
                               file_name="[nfs-01] vm/vm.vmdk"))
    assert actions.relocate_spec([moved], [disk()], PMEM_POLICY_ID).deviceChange
