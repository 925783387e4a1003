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
from pmemctl.vsphere import actions

DS = {"san-01": "datastore-11", "nfs-01": "datastore-12", "PMemDS-esx-01": "datastore-99"}


def disk(key: int = 2000, unit: int = 0) -> Any:
    return vim.vm.device.VirtualDisk(
        key=key, controllerKey=1000, unitNumber=unit, capacityInKB=40 * 1024 * 1024,
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName="[san-01] vm/vm.vmdk", diskMode="persistent"),
        deviceInfo=vim.Description(label="Hard disk 1", summary="40 GB"))


def scsi() -> Any:
    return vim.vm.device.ParaVirtualSCSIController(key=1000, busNumber=0, sharedBus="noSharing")


def migrate(key: int = 2000, **detail: Any) -> Change:
    return Change("vm-1", Action.MIGRATE_DISK, "Hard disk 1", None, None, False, "",
                  {"key": key, **detail})


def wire(obj: Any) -> str:
    """The XML pyVmomi would put on the wire for ``obj``."""
    return str(SoapAdapter.Serialize(obj, version="vim.version.v7_0_3_0"))


def test_onto_pmem_default_is_a_device_change_edit_with_the_pmem_profile() -> None:
    spec = actions.relocate_spec(
        [migrate(to_datastore="PMemDS-esx-01", to_pmem=True, from_pmem=False)],
        [scsi(), disk()], PMEM_POLICY_ID, DS)
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
    spec = actions.relocate_spec([migrate(to_datastore="PMemDS-esx-01", to_pmem=True)],
                                 [live], PMEM_POLICY_ID, DS)
    assert spec.deviceChange[0].device is not live


def test_onto_pmem_locator_shape_is_available_by_choice() -> None:
    spec = actions.relocate_spec([migrate(to_datastore="PMemDS-esx-01", to_pmem=True)], [],
                                 PMEM_POLICY_ID, DS, onto="locator")
    assert not spec.deviceChange
    (loc,) = spec.disk
    assert loc.diskId == 2000 and loc.datastore._moId == "datastore-99"
    assert loc.profile[0].profileId == PMEM_POLICY_ID


def test_onto_pmem_device_change_needs_the_disk() -> None:
    with pytest.raises(InventoryError, match=r"device key 2000\) is gone"):
        actions.relocate_spec([migrate(to_datastore="PMemDS-esx-01", to_pmem=True)], [scsi()],
                              PMEM_POLICY_ID, DS)


@pytest.mark.parametrize(("off", "profile_type"), [
    ("default", vim.vm.DefaultProfileSpec),
    ("empty", vim.vm.EmptyProfileSpec),
])
def test_off_pmem_replaces_the_pmem_policy(off: Any, profile_type: type) -> None:
    spec = actions.relocate_spec([migrate(to_datastore="san-01", to_pmem=False, from_pmem=True)],
                                 [], PMEM_POLICY_ID, DS, off=off)
    (loc,) = spec.disk
    assert loc.datastore._moId == "datastore-11"
    assert [type(p) for p in loc.profile] == [profile_type]


def test_off_pmem_without_profile_only_when_asked() -> None:
    spec = actions.relocate_spec([migrate(to_datastore="san-01", from_pmem=True)], [],
                                 PMEM_POLICY_ID, DS, off="none")
    assert not spec.disk[0].profile


def test_rollback_restores_the_disks_own_policy() -> None:
    spec = actions.relocate_spec(
        [migrate(to_datastore="nfs-01", from_pmem=True, rollback=True, policy_ids=["gold"])],
        [], PMEM_POLICY_ID, DS)
    assert [(type(p), p.profileId) for p in spec.disk[0].profile] == [
        (vim.vm.DefinedProfileSpec, "gold")]


def test_between_regular_datastores_the_policy_is_left_alone() -> None:
    spec = actions.relocate_spec([migrate(to_datastore="nfs-01", from_pmem=False)], [],
                                 PMEM_POLICY_ID, DS)
    assert not spec.disk[0].profile


def test_planned_moid_wins_over_the_name() -> None:
    # Names are per datacenter: the planner resolves them and the executor never does.
    spec = actions.relocate_spec(
        [migrate(to_datastore="san-01", to_datastore_moid="datastore-77", from_pmem=True)],
        [], PMEM_POLICY_ID, DS)
    assert spec.disk[0].datastore._moId == "datastore-77"


def test_unknown_target_datastore_is_an_inventory_error() -> None:
    with pytest.raises(InventoryError, match="'gone-01' is gone"):
        actions.relocate_spec([migrate(to_datastore="gone-01")], [], PMEM_POLICY_ID, DS)


def test_mixed_directions_in_one_relocate() -> None:
    spec = actions.relocate_spec(
        [migrate(2000, to_datastore="PMemDS-esx-01", to_pmem=True),
         migrate(2001, to_datastore="san-01", from_pmem=True)],
        [disk(2000), disk(2001, unit=1)], PMEM_POLICY_ID, DS)
    assert [e.device.key for e in spec.deviceChange] == [2000]
    assert [loc.diskId for loc in spec.disk] == [2001]


def create(pmem: bool, **detail: Any) -> Change:
    return Change("vm-1", Action.CREATE_DISK, "Hard disk 2", None, None, True, "",
                  {"size_mb": 1024, "pmem": pmem, **detail})


def test_new_vpmemdisk_is_community_vmwares_shape() -> None:
    spec = actions.reconfigure_spec([create(True)], [scsi(), disk()], PMEM_POLICY_ID, DS)
    (add,) = spec.deviceChange
    assert add.operation == "add" and add.fileOperation == "create"
    assert not add.profile  # the backing places it; vmware_guest_disk.py sends no profile
    backing = add.device.backing
    assert type(backing) is vim.vm.device.VirtualDisk.LocalPMemBackingInfo
    assert backing.diskMode == "persistent" and backing.datastore is None
    assert add.device.controllerKey == 1000 and add.device.unitNumber == 1
    assert add.device.capacityInKB == 1024 * 1024


def test_new_regular_disk_names_its_datastore() -> None:
    spec = actions.reconfigure_spec([create(False, datastore="san-01")], [scsi()],
                                    PMEM_POLICY_ID, DS)
    backing = spec.deviceChange[0].device.backing
    assert type(backing) is vim.vm.device.VirtualDisk.FlatVer2BackingInfo
    assert backing.fileName == "[san-01]" and backing.datastore._moId == "datastore-11"


def add_nvdimm(**detail: Any) -> Change:
    return Change("vm-1", Action.ADD_NVDIMM, "NVDIMM 1", None, "16 GiB", True, "",
                  {"size_mb": 16384, **detail})


def test_nvdimm_add_carries_controller_profile_and_no_datastore() -> None:
    spec = actions.reconfigure_spec([add_nvdimm()], [scsi()], PMEM_POLICY_ID, DS)
    ctl, dimm = spec.deviceChange
    assert type(ctl.device) is vim.vm.device.VirtualNVDIMMController and ctl.device.key < 0
    assert dimm.device.controllerKey == ctl.device.key
    assert dimm.device.backing.fileName == "" and dimm.device.backing.datastore is None
    assert dimm.profile[0].profileId == PMEM_POLICY_ID
    assert spec.pmem is None and spec.version is None


def test_snapshot_mode_goes_in_the_same_reconfigure() -> None:
    spec = actions.reconfigure_spec([add_nvdimm(snapshot_mode="independent_persistent")],
                                    [scsi()], PMEM_POLICY_ID, DS)
    assert type(spec.pmem) is vim.vm.VirtualPMem
    assert spec.pmem.snapshotMode == "independent_persistent"
    assert "<snapshotMode>independent_persistent</snapshotMode>" in wire(spec)


def test_upgrade_goes_through_upgradevm_with_the_version() -> None:
    change = Change("vm-1", Action.UPGRADE_HARDWARE, "vm-1", "vmx-13", "vmx-14", True, "",
                    {"to": 14})
    assert actions.upgrade_version(change) == "vmx-14"
    assert not hasattr(actions, "upgrade_spec")  # ReconfigVM(spec.version) is gone
