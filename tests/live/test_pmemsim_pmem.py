"""pmemsim PMem model: hosts, PMem datastores, NVDIMMs, vPMemDisks, config options, upgrades, snapshots."""

from __future__ import annotations

import time

import pytest
from pyVmomi import vim, vmodl

from tests.pmemsim import client as pc
from tests.pmemsim.client import GiB, MiB

# Each test uses its own VM(s), so one simulator serves the whole module.
# Served by the module-scoped `sim` and `si` fixtures (tests/live/conftest.py).
INVENTORY = """
datacenter: Lab
clusters:
  - name: Gold
    hosts:
      - {name: esx-a, pmem: 64GiB}
      - {name: esx-b, pmem: 32GiB}
      - {name: esx-n}
hosts:
  - {name: esx-s, pmem: 16GiB}
datastores:
  - {name: san, type: VMFS, capacity: 4TiB}
  - {name: nfs, type: NFS, capacity: 2TiB, hosts: [esx-a, esx-b, esx-n]}
vms:
  - {name: nv-add, host: esx-a, hardware_version: 14, guest_id: rhel8_64Guest, disks: [{size: 10GiB, datastore: san}]}
  - {name: nv-grow, host: esx-a, hardware_version: 19, guest_id: rhel8_64Guest, disks: [{size: 10GiB, datastore: san}], nvdimms: [4GiB]}
  - {name: nv-old, host: esx-a, hardware_version: 13, guest_id: rhel8_64Guest, disks: [{size: 10GiB, datastore: san}]}
  - {name: nv-on, host: esx-a, hardware_version: 14, guest_id: rhel8_64Guest, power: poweredOn, disks: [{size: 10GiB, datastore: san}]}
  - {name: nv-guest, host: esx-a, hardware_version: 14, guest_id: otherGuest64, disks: [{size: 10GiB, datastore: san}]}
  - {name: nv-snap, host: esx-a, hardware_version: 14, guest_id: rhel8_64Guest, snapshots: 2, disks: [{size: 10GiB, datastore: san}]}
  - {name: nv-big, host: esx-s, hardware_version: 14, guest_id: windows9Server64Guest, disks: [{size: 10GiB, datastore: san}]}
  - {name: nv-none, host: esx-n, hardware_version: 14, guest_id: rhel8_64Guest, disks: [{size: 10GiB, datastore: san}]}
  - {name: nv-many, host: esx-b, hardware_version: 14, guest_id: sles15_64Guest, disks: [{size: 10GiB, datastore: san}]}
  - {name: disk-prof, host: esx-b, hardware_version: 11, guest_id: otherGuest64, disks: [{size: 10GiB, datastore: san}]}
  - {name: disk-lpm, host: esx-b, hardware_version: 11, guest_id: otherGuest64, disks: [{size: 10GiB, datastore: nfs}]}
  - {name: disk-reg, host: esx-a, hardware_version: 11, disks: [{size: 10GiB, datastore: san}]}
  - {name: ver-reconf, host: esx-a, hardware_version: 11, disks: [{size: 10GiB, datastore: san}]}
  - {name: ver-upg, host: esx-a, hardware_version: 13, disks: [{size: 10GiB, datastore: san}]}
  - {name: ver-upg-on, host: esx-a, hardware_version: 13, power: poweredOn, disks: [{size: 10GiB, datastore: san}]}
  - {name: destroy-me, host: esx-s, hardware_version: 19, guest_id: rhel9_64Guest, disks: [{size: 10GiB, datastore: san}, {size: 2GiB, datastore: pmem}], nvdimms: [2GiB]}
  - {name: snap-nv, host: esx-s, hardware_version: 19, guest_id: rhel9_64Guest, disks: [{size: 10GiB, datastore: san}], nvdimms: [1GiB]}
  - {name: guest-on, host: esx-n, power: poweredOn, disks: [{size: 10GiB, datastore: san}]}
  - {name: guest-notools, host: esx-n, power: poweredOn, tools: false, disks: [{size: 10GiB, datastore: san}]}
"""


def free_mb(h: vim.HostSystem) -> int:
    return h.summary.quickStats.availablePMemCapacity


def test_pmem_host_properties(si) -> None:
    a = pc.host(si, "esx-a")
    info = a.hardware.persistentMemoryInfo
    assert info.capacityInMB == 65536 and info.volumeUUID
    assert a.capability.pMemSupported is True
    assert a.capability.pMemSnapshotSupported is False
    assert isinstance(a.summary.quickStats.availablePMemCapacity, int)
    n = pc.host(si, "esx-n")
    assert n.hardware.persistentMemoryInfo is None
    # a real ESXi 8.0.3 without PMem: pMemSupported=true, 0 MB available (pyVmomi's
    # recorded tests/fixtures/test_json_host_explode.yaml)
    assert n.capability.pMemSupported is True
    # read by its path; a whole `summary` read omits the 0 (govmomi 0.24's omitempty, README)
    objs, _ = pc.retrieve(si, vim.HostSystem, ["name", "summary.quickStats.availablePMemCapacity"])
    free = {
        props["name"]: props.get("summary.quickStats.availablePMemCapacity")
        for props in ({p.name: p.val for p in o.propSet} for o in objs)
    }
    assert free["esx-n"] == 0
    assert [d for d in n.datastore if d.summary.type == "PMEM"] == []
    assert {d.name for d in n.datastore} == {"san", "nfs"}


def test_pmem_datastore_properties_and_refresh(si) -> None:
    a = pc.host(si, "esx-a")
    ds = pc.pmem_datastore(a)
    uuid = a.hardware.persistentMemoryInfo.volumeUUID
    assert ds.name == f"PMemDS-{uuid}"
    assert ds.summary.type == "PMEM"
    assert ds.summary.capacity == 64 * GiB
    assert isinstance(ds.info, vim.host.PMemDatastoreInfo)
    assert (
        ds.info.pmem.type == "PMEM"
        and ds.info.pmem.uuid == uuid
        and ds.info.pmem.capacity == 64 * GiB
    )
    assert [m.key.name for m in ds.host] == ["esx-a"]
    free = ds.summary.freeSpace
    assert free == free_mb(a) * MiB
    ds.RefreshDatastore()
    assert ds.summary.freeSpace == free and ds.summary.capacity == 64 * GiB
    san = pc.datastore(si, "san")
    assert san.summary.type == "VMFS" and san.summary.capacity == 4 << 40
    assert san.summary.freeSpace < san.summary.capacity
    san_free = san.summary.freeSpace
    san.RefreshDatastore()
    assert san.summary.freeSpace == san_free
    assert {m.key.name for m in san.host} == {"esx-a", "esx-b", "esx-n", "esx-s"}
    assert pc.datastore(si, "nfs").summary.type == "NFS"
    # the shared datastore is one object seen by every host
    assert all(san in h.datastore for h in pc.objects(si, vim.HostSystem).values())


def test_nvdimm_add_grow_remove(si) -> None:
    v = pc.vm(si, "nv-add")
    a = v.runtime.host
    ds = pc.pmem_datastore(a)
    free0 = free_mb(a)
    pc.ok(v.ReconfigVM_Task(pc.nvdimm_spec(8192, controller=True)))
    (ctl,) = pc.devices(v, vim.vm.device.VirtualNVDIMMController)
    (nv,) = pc.devices(v, vim.vm.device.VirtualNVDIMM)
    assert ctl.deviceInfo.label == "NVDIMM controller 0"
    assert nv.deviceInfo.label == "NVDIMM 1" and nv.capacityInMB == 8192
    assert nv.controllerKey == ctl.key
    assert nv.backing.fileName.startswith(f"[{ds.name}] nv-add/")
    assert nv.backing.datastore == ds
    assert free_mb(a) == free0 - 8192
    assert ds.summary.freeSpace == (free0 - 8192) * MiB
    assert ds in v.datastore
    # a second NVDIMM reuses the controller
    pc.ok(v.ReconfigVM_Task(pc.nvdimm_spec(4096, controller=False, profile=False)))
    labels = sorted(d.deviceInfo.label for d in pc.devices(v, vim.vm.device.VirtualNVDIMM))
    assert labels == ["NVDIMM 1", "NVDIMM 2"]
    assert free_mb(a) == free0 - 12288
    # grow NVDIMM 1
    nv.capacityInMB = 12288
    pc.ok(
        v.ReconfigVM_Task(
            vim.vm.ConfigSpec(
                deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="edit", device=nv)]
            )
        )
    )
    nv1 = next(d for d in pc.devices(v, vim.vm.device.VirtualNVDIMM) if d.key == nv.key)
    assert nv1.capacityInMB == 12288
    assert free_mb(a) == free0 - 16384
    # shrink is refused
    nv1.capacityInMB = 4096
    info = pc.fails(
        v.ReconfigVM_Task(
            vim.vm.ConfigSpec(
                deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="edit", device=nv1)]
            )
        ),
        vim.fault.InvalidDeviceSpec,
    )
    assert "shrink" in pc.reason(info)
    # remove both
    spec = vim.vm.ConfigSpec(
        deviceChange=[
            vim.vm.device.VirtualDeviceSpec(operation="remove", fileOperation="destroy", device=d)
            for d in pc.devices(v, vim.vm.device.VirtualNVDIMM)
        ]
    )
    pc.ok(v.ReconfigVM_Task(spec))
    assert pc.devices(v, vim.vm.device.VirtualNVDIMM) == []
    assert free_mb(a) == free0
    assert ds not in v.datastore


def test_nvdimm_refused_below_vmx14(si) -> None:
    v = pc.vm(si, "nv-old")
    info = pc.fails(
        v.ReconfigVM_Task(pc.nvdimm_spec(1024, controller=True)),
        vim.fault.DeviceUnsupportedForVmVersion,
    )
    assert "vmx-13" in pc.reason(info)
    assert pc.devices(v, vim.vm.device.VirtualNVDIMMController) == []  # atomic


def test_nvdimm_refused_powered_on(si) -> None:
    v = pc.vm(si, "nv-on")
    free0 = free_mb(v.runtime.host)
    info = pc.fails(
        v.ReconfigVM_Task(pc.nvdimm_spec(1024, controller=True)), vim.fault.InvalidPowerState
    )
    assert "powered off" in pc.reason(info)
    assert pc.devices(v, vim.vm.device.VirtualNVDIMMController) == []
    assert free_mb(v.runtime.host) == free0


def test_nvdimm_refused_unsupported_guest(si) -> None:
    v = pc.vm(si, "nv-guest")
    info = pc.fails(
        v.ReconfigVM_Task(pc.nvdimm_spec(1024, controller=True)), vim.fault.UnsupportedGuest
    )
    assert "otherGuest64" in pc.reason(info)


def test_nvdimm_refused_with_snapshots(si) -> None:
    v = pc.vm(si, "nv-snap")
    assert v.snapshot is not None and len(v.rootSnapshot) == 1
    info = pc.fails(
        v.ReconfigVM_Task(pc.nvdimm_spec(1024, controller=True)), vim.fault.InvalidState
    )
    assert "snapshot" in pc.reason(info)


def test_nvdimm_refused_insufficient_pmem(si) -> None:
    v = pc.vm(si, "nv-big")
    h = v.runtime.host
    free0 = free_mb(h)
    info = pc.fails(
        v.ReconfigVM_Task(pc.nvdimm_spec(free0 + 4096, controller=True)),
        vim.fault.InsufficientResourcesFault,
    )
    assert f"requested {free0 + 4096} MB, host esx-s has {free0} MB free" in pc.reason(info)
    assert free_mb(h) == free0
    assert pc.devices(v, vim.vm.device.VirtualNVDIMMController) == []


def test_nvdimm_refused_host_without_pmem(si) -> None:
    v = pc.vm(si, "nv-none")
    info = pc.fails(
        v.ReconfigVM_Task(pc.nvdimm_spec(1024, controller=True)),
        vim.fault.InsufficientResourcesFault,
    )
    assert "esx-n has no PMem" in pc.reason(info)


def test_nvdimm_limits_controller_and_count(si) -> None:
    v = pc.vm(si, "nv-many")
    pc.ok(v.ReconfigVM_Task(pc.nvdimm_spec(4, controller=True)))
    pc.fails(
        v.ReconfigVM_Task(pc.nvdimm_spec(4, controller=True)), vim.fault.InvalidDeviceSpec
    )  # 2nd controller
    ctl = pc.devices(v, vim.vm.device.VirtualNVDIMMController)[0]
    changes = [
        vim.vm.device.VirtualDeviceSpec(
            operation="add",
            fileOperation="create",
            device=vim.vm.device.VirtualNVDIMM(
                key=-1 - i,
                controllerKey=ctl.key,
                capacityInMB=4,
                backing=vim.vm.device.VirtualNVDIMM.BackingInfo(),
            ),
        )
        for i in range(63)
    ]
    pc.ok(v.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=changes)))
    assert len(pc.devices(v, vim.vm.device.VirtualNVDIMM)) == 64
    info = pc.fails(
        v.ReconfigVM_Task(pc.nvdimm_spec(4, controller=False)), vim.fault.InvalidDeviceSpec
    )
    assert "64" in pc.reason(info)


def test_pmem_disk_via_profile(si) -> None:
    # hardware 11, otherGuest64: vPMemDisks have no such requirements (powered off: CV's rule)
    v = pc.vm(si, "disk-prof")
    h = v.runtime.host
    free0 = free_mb(h)
    pc.ok(v.ReconfigVM_Task(pc.disk_add_spec(v, 2, pmem_profile=True)))
    disks = pc.devices(v, vim.vm.device.VirtualDisk)
    new = next(d for d in disks if d.deviceInfo.label == "Hard disk 2")
    ds = pc.pmem_datastore(h)
    assert new.backing.datastore == ds and new.backing.fileName.startswith(
        f"[{ds.name}] disk-prof/"
    )
    assert isinstance(new.backing, vim.vm.device.VirtualDisk.LocalPMemBackingInfo)
    assert new.backing.volumeUUID == h.hardware.persistentMemoryInfo.volumeUUID
    assert free_mb(h) == free0 - 2048
    assert v.summary.config.numVirtualDisks == 2
    # a too large PMem disk is refused with the PMem message
    info = pc.fails(
        v.ReconfigVM_Task(pc.disk_add_spec(v, 64, pmem_profile=True)),
        vim.fault.InsufficientResourcesFault,
    )
    assert "requested 65536 MB, host esx-b" in pc.reason(info)


def test_pmem_disk_via_local_pmem_backing_then_more_reconfigs(si, sim) -> None:
    v = pc.vm(si, "disk-lpm")
    h = v.runtime.host
    free0 = free_mb(h)
    pc.ok(v.ReconfigVM_Task(pc.disk_add_spec(v, 1, local_pmem=True)))
    d = next(
        x
        for x in pc.devices(v, vim.vm.device.VirtualDisk)
        if isinstance(x.backing, vim.vm.device.VirtualDisk.LocalPMemBackingInfo)
    )
    assert d.backing.datastore == pc.pmem_datastore(h)
    assert free_mb(h) == free0 - 1024
    # later reconfigs keep working: grow it, add a regular disk, rename, remove it
    d.capacityInKB = 2 * 1024 * 1024
    d.capacityInBytes = 2 * GiB
    pc.ok(
        v.ReconfigVM_Task(
            vim.vm.ConfigSpec(
                deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="edit", device=d)]
            )
        )
    )
    assert free_mb(h) == free0 - 2048
    pc.ok(v.ReconfigVM_Task(pc.disk_add_spec(v, 1)))
    pc.ok(v.ReconfigVM_Task(vim.vm.ConfigSpec(annotation="still fine", memoryMB=8192)))
    assert v.config.hardware.memoryMB == 8192
    d = next(
        x
        for x in pc.devices(v, vim.vm.device.VirtualDisk)
        if isinstance(x.backing, vim.vm.device.VirtualDisk.LocalPMemBackingInfo)
    )
    pc.ok(
        v.ReconfigVM_Task(
            vim.vm.ConfigSpec(
                deviceChange=[
                    vim.vm.device.VirtualDeviceSpec(
                        operation="remove", fileOperation="destroy", device=d
                    )
                ]
            )
        )
    )
    assert free_mb(h) == free0
    assert sim.proc.poll() is None


def test_regular_disk_goes_to_named_datastore(si) -> None:
    v = pc.vm(si, "disk-reg")
    nfs = pc.datastore(si, "nfs")
    free0 = nfs.summary.freeSpace
    pc.ok(v.ReconfigVM_Task(pc.disk_add_spec(v, 3, file_name="[nfs]")))
    new = next(
        d for d in pc.devices(v, vim.vm.device.VirtualDisk) if d.deviceInfo.label == "Hard disk 2"
    )
    assert new.backing.datastore == nfs and new.backing.fileName == "[nfs] disk-reg/disk-reg_1.vmdk"
    assert isinstance(new.backing, vim.vm.device.VirtualDisk.FlatVer2BackingInfo)
    assert nfs.summary.freeSpace == free0 - 3 * GiB
    assert nfs in v.datastore
    # a PMem datastore named in the backing (even another host's) is refused as on vCenter
    other = pc.pmem_datastore(pc.host(si, "esx-b"))
    info = pc.fails(
        v.ReconfigVM_Task(pc.disk_add_spec(v, 1, file_name=f"[{other.name}]")),
        vim.fault.InvalidDeviceSpec,
    )
    assert pc.fault_keys(info) == ["com.vmware.vim.vpxd.vmprov.pMemDatastoreSetDirectly"]


def test_reconfig_refuses_hardware_version_change(si) -> None:
    v = pc.vm(si, "ver-reconf")
    info = pc.fails(
        v.ReconfigVM_Task(vim.vm.ConfigSpec(version="vmx-14")), vmodl.fault.InvalidArgument
    )
    assert info.error.invalidProperty == "configSpec.version"
    assert "UpgradeVM_Task" in pc.reason(info)
    assert v.config.version == "vmx-11"
    pc.ok(v.ReconfigVM_Task(vim.vm.ConfigSpec(version="vmx-11")))  # the same version: a no-op


def test_upgrade_vm_honours_version(si) -> None:
    v = pc.vm(si, "ver-upg")
    pc.ok(v.UpgradeVM_Task(version="vmx-19"))
    assert v.config.version == "vmx-19"
    pc.fails(v.UpgradeVM_Task(version="vmx-14"), vim.fault.AlreadyUpgraded)
    assert v.config.version == "vmx-19"
    on = pc.vm(si, "ver-upg-on")
    pc.fails(on.UpgradeVM_Task(version="vmx-19"), vim.fault.InvalidPowerState)
    assert on.config.version == "vmx-13"


def test_destroy_returns_pmem(si) -> None:
    v = pc.vm(si, "destroy-me")
    h = v.runtime.host
    free0 = free_mb(h)
    pc.ok(v.Destroy_Task())
    assert free_mb(h) == free0 + 4096
    assert "destroy-me" not in pc.objects(si, vim.VirtualMachine)


def test_snapshot_refused_with_nvdimms(si) -> None:
    v = pc.vm(si, "snap-nv")
    info = pc.fails(
        v.CreateSnapshot_Task(name="s1", memory=False, quiesce=False), vim.fault.InvalidState
    )
    assert "NVDIMM" in pc.reason(info)
    w = pc.vm(si, "nv-snap")
    pc.ok(w.CreateSnapshot_Task(name="s3", memory=False, quiesce=False))
    assert w.snapshot.currentSnapshot is not None
    pc.ok(w.snapshot.currentSnapshot.RemoveSnapshot_Task(removeChildren=False))
    pc.ok(w.RemoveAllSnapshots_Task())
    assert w.snapshot is None


def test_query_config_option_ex(si) -> None:
    v = pc.vm(si, "nv-add")
    eb = v.environmentBrowser
    opt = eb.QueryConfigOptionEx(
        spec=vim.EnvironmentBrowser.ConfigOptionQuerySpec(key="vmx-19", guestId=["rhel8_64Guest"])
    )
    (g,) = opt.guestOSDescriptor
    assert g.id == "rhel8_64Guest" and g.persistentMemorySupported is True
    assert g.supportedMaxPersistentMemoryMB == 6291456
    assert (
        g.persistentMemoryHotAddSupported is False and g.persistentMemoryColdGrowthSupported is True
    )
    assert opt.hardwareOptions.numNVDIMMControllers.max == 1
    (nvo,) = [
        o
        for o in opt.hardwareOptions.virtualDeviceOption
        if isinstance(o, vim.vm.device.VirtualNVDIMMOption)
    ]
    assert nvo.growable is True and nvo.hotGrowable is False and nvo.granularityInMB == 4
    opt = eb.QueryConfigOptionEx(
        spec=vim.EnvironmentBrowser.ConfigOptionQuerySpec(guestId=["otherGuest64"])
    )
    assert opt.guestOSDescriptor[0].persistentMemorySupported is False
    everything = eb.QueryConfigOptionEx(
        spec=vim.EnvironmentBrowser.ConfigOptionQuerySpec(guestId=["nonsense"])
    )
    ids = {x.id for x in everything.guestOSDescriptor}
    assert {
        "windows9Server64Guest",
        "sles15_64Guest",
        "ubuntu64Guest",
        "centos7_64Guest",
        "rhel6_64Guest",
    } <= ids
    assert len(eb.QueryConfigOption().guestOSDescriptor) == len(everything.guestOSDescriptor)
    target = eb.QueryConfigTarget()
    assert target.availablePersistentMemoryReservationMB > 0


def test_shutdown_guest(si) -> None:
    v = pc.vm(si, "guest-on")
    assert v.guest.toolsRunningStatus == "guestToolsRunning"
    v.ShutdownGuest()
    end = time.monotonic() + 5
    while v.runtime.powerState != "poweredOff":
        assert time.monotonic() < end
        time.sleep(0.05)
    with pytest.raises(vim.fault.ToolsUnavailable):
        pc.vm(si, "guest-notools").ShutdownGuest()
    pc.ok(v.PowerOnVM_Task())
    assert v.runtime.powerState == "poweredOn"
    pc.fails(v.PowerOnVM_Task(), vim.fault.InvalidPowerState)
