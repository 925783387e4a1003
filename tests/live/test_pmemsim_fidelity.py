"""pmemsim fidelity: lenient inventories, CreateVM_Task, private collectors, malformed specs, recentTask."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from pyVmomi import vim, vmodl

from tests import simproc
from tests.pmemsim import client as pc
from tests.pmemsim.client import GiB

# Served by the module-scoped `sim` and `si` fixtures (tests/live/conftest.py).
INVENTORY = """
clusters:
  - name: C1
    hosts:
      - {name: esx-p, pmem: 64GiB}
      - {name: esx-q, pmem: 8GiB}
      - {name: esx-n}
hosts:
  - {name: esx-x, pmem: 16GiB}
datastores:
  - {name: zeta, capacity: 4TiB}
  - {name: beta, capacity: 1TiB, hosts: [esx-p, esx-q, esx-n]}
  - {name: tiny, capacity: 2GiB, hosts: [esx-p]}
vms:
  - {name: no-disks, host: esx-p}
  - {name: empty-disks, host: esx-x, disks: []}
  - {name: pmem-first, host: esx-p, disks: [{size: 4GiB, datastore: pmem}, {size: 1GiB, datastore: zeta}]}
  - {name: home-key, host: esx-p, home: zeta, disks: [{size: 2GiB, datastore: pmem}]}
  - {name: fuzz, host: esx-p, hardware_version: 19, guest_id: rhel8_64Guest,
     disks: [{size: 1GiB, datastore: beta}], nvdimms: [1GiB]}
"""


def disks(v: vim.VirtualMachine) -> list[vim.vm.device.VirtualDisk]:
    return pc.devices(v, vim.vm.device.VirtualDisk)


def ds_names(v: vim.VirtualMachine) -> set[str]:
    return {d.name for d in v.datastore}


# ---- 1. inventory leniency ----


def test_vm_without_disks_gets_first_mounted_datastore_by_name(si) -> None:
    v = pc.vm(si, "no-disks")
    # esx-p mounts beta, tiny, zeta (and its PMem datastore): beta is first by name
    assert v.config.files.vmPathName == "[beta] no-disks/no-disks.vmx"
    assert ds_names(v) == {"beta"}
    assert disks(v) == []
    assert not v.summary.config.numVirtualDisks  # 0 (govmomi omits a zero int)
    # esx-x mounts only zeta (and PMem)
    e = pc.vm(si, "empty-disks")
    assert e.config.files.vmPathName == "[zeta] empty-disks/empty-disks.vmx"
    assert ds_names(e) == {"zeta"} and disks(e) == []


def test_pmem_first_disk_and_home_key(si) -> None:
    v = pc.vm(si, "pmem-first")
    assert v.config.files.vmPathName.startswith("[beta] pmem-first/")
    d0, d1 = disks(v)
    assert isinstance(d0.backing, vim.vm.device.VirtualDisk.LocalPMemBackingInfo)
    assert d0.backing.fileName.startswith("[PMemDS-") and d1.backing.fileName.startswith("[zeta] ")
    assert [d.deviceInfo.label for d in (d0, d1)] == ["Hard disk 1", "Hard disk 2"]
    h = pc.vm(si, "home-key")
    assert h.config.files.vmPathName == "[zeta] home-key/home-key.vmx"
    assert h.summary.config.vmPathName == h.config.files.vmPathName
    assert "zeta" in ds_names(h) and any(n.startswith("PMemDS-") for n in ds_names(h))


def _run(inv: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - the exit code is what the tests check
        [str(simproc.RUN), "--listen", "127.0.0.1:0", "--inventory", str(inv)],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "text,where",
    [
        (
            "hosts:\n  - {name: h1, pmem: 8GiB}\ndatastores:\n  - {name: d, capacity: 1TiB}\n"
            "vms:\n  - {name: a, host: h1, home: pmem}\n",
            "inv.yaml:6: vms[0].home: the VM home cannot be on PMem",
        ),
        (
            "hosts:\n  - {name: h1}\n  - {name: h2}\ndatastores:\n  - {name: d, capacity: 1TiB, hosts: [h2]}\n"
            "  - {name: e, capacity: 1TiB}\nvms:\n  - {name: a, host: h1, home: d}\n",
            "inv.yaml:8: vms[0].home: datastore d is not mounted on host h1",
        ),
        (
            "hosts:\n  - {name: h1}\ndatastores:\n  - {name: d, capacity: 1TiB}\nvms:\n  - {name: a, host: h1, home: nope}\n",
            "inv.yaml:6: vms[0].home: unknown datastore",
        ),
        (
            "hosts:\n  - {name: h1, pmem: 8GiB}\n  - {name: h2}\ndatastores:\n  - {name: d, capacity: 1TiB, hosts: [h2]}\n"
            "vms:\n  - {name: a, host: h1, disks: [{size: 1GiB, datastore: pmem}]}\n",
            "inv.yaml:7: vms[0]: host h1 mounts no non-PMem datastore",
        ),
        (
            "hosts:\n  - {name: h1}\nvms:\n  - {name: a, host: h1}\n",
            "inv.yaml:4: vms[0]: host h1 mounts no non-PMem datastore",
        ),
    ],
)
def test_inventory_home_errors(tmp_path: Path, text: str, where: str) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(text)
    r = _run(inv)
    assert r.returncode == 2 and r.stdout == "", r
    assert where in r.stderr.replace(str(tmp_path) + "/", ""), r.stderr


# ---- 2. CreateVM_Task ----


def _dc(si) -> vim.Datacenter:
    return si.content.rootFolder.childEntity[0]


def _pool(si, host: str) -> vim.ResourcePool:
    return pc.host(si, host).parent.resourcePool


def create_spec(
    name: str,
    home: str = "[zeta]",
    *,
    version: str = "vmx-19",
    guest: str = "rhel8_64Guest",
    nvdimm_mb: int = 0,
    pmem_disk_gib: int = 0,
    local_pmem_gib: int = 0,
    flat_gib: int = 0,
    flat_file: str = "",
) -> vim.vm.ConfigSpec:
    changes = [
        vim.vm.device.VirtualDeviceSpec(
            operation="add",
            device=vim.vm.device.ParaVirtualSCSIController(
                key=-100, busNumber=0, sharedBus="noSharing"
            ),
        )
    ]
    key = -200

    def disk(gib: int, backing: vim.vm.device.VirtualDevice.BackingInfo, profile: bool) -> None:
        nonlocal key
        key -= 1
        ch = vim.vm.device.VirtualDeviceSpec(
            operation="add",
            fileOperation="create",
            device=vim.vm.device.VirtualDisk(
                key=key, controllerKey=-100, capacityInKB=gib * 1024 * 1024, backing=backing
            ),
        )
        if profile:
            ch.profile = [vim.vm.DefinedProfileSpec(profileId=pc.PMEM_PROFILE_ID)]
        changes.append(ch)

    if flat_gib:
        disk(
            flat_gib,
            vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                diskMode="persistent", fileName=flat_file
            ),
            False,
        )
    if pmem_disk_gib:
        disk(
            pmem_disk_gib,
            vim.vm.device.VirtualDisk.FlatVer2BackingInfo(diskMode="persistent", fileName=""),
            True,
        )
    if local_pmem_gib:
        disk(
            local_pmem_gib,
            vim.vm.device.VirtualDisk.LocalPMemBackingInfo(diskMode="persistent"),
            False,
        )
    if nvdimm_mb:
        changes += pc.nvdimm_spec(nvdimm_mb, controller=True).deviceChange
    return vim.vm.ConfigSpec(
        name=name,
        guestId=guest,
        version=version,
        numCPUs=4,
        memoryMB=8192,
        files=vim.vm.FileInfo(vmPathName=home),
        deviceChange=changes,
    )


def test_create_vm_full_spec_then_reconfig_relocate_destroy(si) -> None:
    p, q = pc.host(si, "esx-p"), pc.host(si, "esx-q")
    zeta = pc.datastore(si, "zeta")
    free_p, free_z = p.summary.quickStats.availablePMemCapacity, zeta.summary.freeSpace
    spec = create_spec(
        "new-full",
        flat_gib=2,
        flat_file="[zeta]",
        pmem_disk_gib=1,
        local_pmem_gib=1,
        nvdimm_mb=2048,
    )
    task = _dc(si).vmFolder.CreateVM_Task(config=spec, pool=_pool(si, "esx-p"), host=p)
    info = pc.ok(task)
    v = info.result
    assert isinstance(v, vim.VirtualMachine) and v.name == "new-full"
    assert info.entity == _dc(si).vmFolder
    assert v.runtime.host == p and v.runtime.powerState == "poweredOff"
    assert v.config.files.vmPathName == "[zeta] new-full/new-full.vmx"
    assert v.config.version == "vmx-19" and v.config.guestId == "rhel8_64Guest"
    assert v.config.hardware.numCPU == 4 and v.config.hardware.memoryMB == 8192
    (scsi,) = pc.devices(v, vim.vm.device.ParaVirtualSCSIController)
    assert scsi.key == 1000 and scsi.deviceInfo.label == "SCSI controller 0"
    d = disks(v)
    assert [x.deviceInfo.label for x in d] == ["Hard disk 1", "Hard disk 2", "Hard disk 3"]
    assert all(x.controllerKey == 1000 for x in d)
    assert d[0].backing.fileName == "[zeta] new-full/new-full.vmdk"
    assert isinstance(d[0].backing, vim.vm.device.VirtualDisk.FlatVer2BackingInfo)
    for x in d[1:]:
        assert isinstance(x.backing, vim.vm.device.VirtualDisk.LocalPMemBackingInfo)
        assert x.backing.datastore == pc.pmem_datastore(p)
    (nv,) = pc.devices(v, vim.vm.device.VirtualNVDIMM)
    assert nv.deviceInfo.label == "NVDIMM 1" and nv.capacityInMB == 2048
    assert p.summary.quickStats.availablePMemCapacity == free_p - 2048 - 2048
    assert zeta.summary.freeSpace == free_z - 2 * GiB
    assert "new-full" in pc.objects(si, vim.VirtualMachine)
    assert si.content.searchIndex.FindByInventoryPath("DC0/vm/new-full") == v
    # later operations work as on inventory VMs
    pc.ok(v.ReconfigVM_Task(pc.nvdimm_spec(1024, controller=False)))
    assert [n.deviceInfo.label for n in pc.devices(v, vim.vm.device.VirtualNVDIMM)] == [
        "NVDIMM 1",
        "NVDIMM 2",
    ]
    pc.ok(v.RelocateVM_Task(vim.vm.RelocateSpec(host=q, datastore=pc.datastore(si, "beta"))))
    assert v.runtime.host == q and v.config.files.vmPathName.startswith("[beta] ")
    assert p.summary.quickStats.availablePMemCapacity == free_p
    pc.ok(v.PowerOnVM_Task())
    pc.ok(v.PowerOffVM_Task())
    free_q = q.summary.quickStats.availablePMemCapacity
    pc.ok(v.Destroy_Task())
    assert q.summary.quickStats.availablePMemCapacity == free_q + 3072 + 2048
    assert zeta.summary.freeSpace == free_z
    assert "new-full" not in pc.objects(si, vim.VirtualMachine)


def test_create_vm_defaults_and_subfolder(si) -> None:
    folder = _dc(si).vmFolder.CreateFolder("Created")
    spec = vim.vm.ConfigSpec(name="new-min", files=vim.vm.FileInfo(vmPathName="[beta] somedir"))
    v = pc.ok(folder.CreateVM_Task(config=spec, pool=_pool(si, "esx-p"))).result
    assert v.parent == folder and v.config.files.vmPathName == "[beta] somedir/new-min.vmx"
    assert v.runtime.host == pc.host(si, "esx-n")  # first host by name that mounts beta: esx-n
    assert v.config.guestId == "otherGuest" and v.config.version == "vmx-19"
    assert disks(v) == [] and v.datastore == [pc.datastore(si, "beta")]
    assert si.content.searchIndex.FindChild(folder, "new-min") == v
    pc.ok(
        v.ReconfigVM_Task(
            vim.vm.ConfigSpec(
                deviceChange=[
                    vim.vm.device.VirtualDeviceSpec(
                        operation="add",
                        device=vim.vm.device.VirtualLsiLogicSASController(
                            key=-1, busNumber=1, sharedBus="noSharing"
                        ),
                    )
                ]
            )
        )
    )
    (sas,) = pc.devices(v, vim.vm.device.VirtualLsiLogicSASController)
    assert sas.key == 1001 and sas.deviceInfo.label == "SCSI controller 1"
    pc.ok(v.Destroy_Task())
    pc.ok(folder.Destroy_Task())
    assert si.content.searchIndex.FindByInventoryPath("DC0/vm/Created") is None


def test_create_vm_with_nvdimm_picks_a_pmem_host(si) -> None:
    spec = create_spec("new-pick", home="[beta]", nvdimm_mb=1024)
    v = pc.ok(_dc(si).vmFolder.CreateVM_Task(config=spec, pool=_pool(si, "esx-p"))).result
    assert v.runtime.host == pc.host(si, "esx-p")  # esx-n comes first by name but has no PMem
    pc.ok(v.Destroy_Task())


@pytest.mark.parametrize(
    "kwargs,fault,needle",
    [
        ({"home": "[PMEM]"}, vmodl.fault.InvalidArgument, "PMem"),
        ({"home": "[nosuch]"}, vim.fault.InvalidDatastore, "nosuch"),
        ({"home": "nobrackets"}, vim.fault.InvalidDatastorePath, "nobrackets"),
        ({"home": "[tiny]", "host": "esx-q"}, vim.fault.InvalidDatastore, "tiny"),
        ({"version": "vmx-13", "nvdimm_mb": 1024}, vim.fault.DeviceUnsupportedForVmVersion, "14"),
        ({"guest": "otherGuest64", "nvdimm_mb": 1024}, vim.fault.UnsupportedGuest, "otherGuest64"),
        ({"nvdimm_mb": 1 << 20}, vim.fault.InsufficientResourcesFault, "persistent memory"),
        ({"pmem_disk_gib": 1, "host": "esx-n"}, vim.fault.InsufficientResourcesFault, "no PMem"),
        ({"flat_gib": 4, "flat_file": "[tiny]"}, vim.fault.InsufficientStorageSpace, "tiny"),
        ({"version": "13"}, vmodl.fault.InvalidArgument, "hardware version"),
        ({"guest": "beos5Guest"}, vmodl.fault.InvalidArgument, "guest"),
        ({"name": "no-disks"}, vim.fault.DuplicateName, "no-disks"),
        ({"name": ""}, vmodl.fault.InvalidArgument, "name"),
    ],
)
def test_create_vm_refusals_leave_nothing(si, kwargs: dict, fault: type, needle: str) -> None:
    p = pc.host(si, kwargs.pop("host", "esx-p"))
    home = kwargs.pop("home", "[zeta]")
    if home == "[PMEM]":
        home = f"[{pc.pmem_datastore(p).name}]"
    name = kwargs.pop("name", "new-bad")
    free = p.summary.quickStats.availablePMemCapacity
    before = set(pc.objects(si, vim.VirtualMachine))
    spec = create_spec(name, home, **kwargs)
    info = pc.fails(
        _dc(si).vmFolder.CreateVM_Task(config=spec, pool=_pool(si, "esx-p"), host=p), fault
    )
    assert needle in pc.reason(info), pc.reason(info)
    assert set(pc.objects(si, vim.VirtualMachine)) == before
    assert p.summary.quickStats.availablePMemCapacity == free


def test_create_vm_unknown_pool_or_host_is_a_soap_fault(si) -> None:
    stub = si._stub
    bogus_pool = vim.ResourcePool("resgroup-999999", stub)
    with pytest.raises(vmodl.fault.ManagedObjectNotFound):
        _dc(si).vmFolder.CreateVM_Task(config=create_spec("new-x"), pool=bogus_pool)
    with pytest.raises(vmodl.fault.ManagedObjectNotFound):
        _dc(si).vmFolder.CreateVM_Task(
            config=create_spec("new-x"),
            pool=_pool(si, "esx-p"),
            host=vim.HostSystem("host-999999", stub),
        )


# ---- 3. private PropertyCollectors page ----


def test_private_property_collector_pages(si) -> None:
    c = si.content
    priv = c.propertyCollector.CreatePropertyCollector()
    try:
        view = c.viewManager.CreateContainerView(c.rootFolder, [vim.VirtualMachine], True)
        spec = pc.view_filter_spec(view, vim.VirtualMachine, ["name"])
        res = priv.RetrievePropertiesEx(
            [spec], vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=2)
        )
        assert len(res.objects) == 2 and res.token
        names = [o.propSet[0].val for o in res.objects]
        while res.token:
            res = priv.ContinueRetrievePropertiesEx(res.token)
            names += [o.propSet[0].val for o in res.objects]
        assert len(names) == len(set(names)) == len(view.view)
        res = priv.RetrievePropertiesEx(
            [spec], vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=1)
        )
        priv.CancelRetrievePropertiesEx(res.token)
        view.Destroy()
    finally:
        priv.DestroyPropertyCollector()


# ---- 4. malformed specs: a fault, never a crash or a hang ----


def _change(op: str, dev: vim.vm.device.VirtualDevice, **kw) -> vim.vm.ConfigSpec:
    return vim.vm.ConfigSpec(
        deviceChange=[vim.vm.device.VirtualDeviceSpec(operation=op, device=dev, **kw)]
    )


def test_malformed_reconfig_specs_are_refused(si, sim) -> None:
    v = pc.vm(si, "fuzz")
    before = [(d.key, type(d).__name__) for d in v.config.hardware.device]
    (disk,) = disks(v)
    (nv,) = pc.devices(v, vim.vm.device.VirtualNVDIMM)
    (nvc,) = pc.devices(v, vim.vm.device.VirtualNVDIMMController)
    cases = [
        # NVDIMM edit with the key of a disk / of the NVDIMM controller
        _change("edit", vim.vm.device.VirtualNVDIMM(key=disk.key, capacityInMB=4096)),
        _change("edit", vim.vm.device.VirtualNVDIMM(key=nvc.key, capacityInMB=4096)),
        # a disk "edit" of the NVDIMM, a controller replaced by a NIC
        _change("edit", vim.vm.device.VirtualDisk(key=nv.key, capacityInKB=1)),
        _change("edit", vim.vm.device.VirtualVmxnet3(key=1000)),
        # remove of devices that do not exist
        _change("remove", vim.vm.device.VirtualDisk(key=424242)),
        _change("remove", vim.vm.device.VirtualNVDIMM(key=-1), fileOperation="destroy"),
        # the SCSI controller while its disk is attached
        _change(
            "remove",
            vim.vm.device.ParaVirtualSCSIController(key=1000, busNumber=0, sharedBus="noSharing"),
        ),
        # a second bus-0 SCSI controller
        _change(
            "add",
            vim.vm.device.ParaVirtualSCSIController(key=-7, busNumber=0, sharedBus="noSharing"),
        ),
        # absurd sizes
        _change(
            "add", vim.vm.device.VirtualNVDIMM(key=-9, controllerKey=nvc.key, capacityInMB=1 << 62)
        ),
        _change("add", vim.vm.device.VirtualDisk(key=-9, controllerKey=1000, capacityInKB=1 << 60)),
        _change("edit", vim.vm.device.VirtualDisk(key=disk.key, capacityInKB=-5)),
        # a device with no operation
        vim.vm.ConfigSpec(
            deviceChange=[vim.vm.device.VirtualDeviceSpec(device=vim.vm.device.VirtualDisk(key=-3))]
        ),
        # a disk with a device (non-file) backing
        _change(
            "add",
            vim.vm.device.VirtualDisk(
                key=-4,
                controllerKey=1000,
                capacityInKB=1024,
                backing=vim.vm.device.VirtualDisk.RawDiskVer2BackingInfo(
                    deviceName="/dev/x", descriptorFileName=""
                ),
            ),
            fileOperation="create",
        ),
    ]
    for spec in cases:
        info = pc.wait(v.ReconfigVM_Task(spec), timeout=10)
        assert info.state == "error", spec
        assert isinstance(info.error, vim.fault.InvalidDeviceSpec), (
            type(info.error).__name__,
            info.error.msg,
        )
    assert [(d.key, type(d).__name__) for d in v.config.hardware.device] == before
    assert sim.proc.poll() is None


def test_malformed_relocate_specs_are_refused(si, sim) -> None:
    v = pc.vm(si, "fuzz")
    stub = si._stub
    (disk,) = disks(v)
    beta = pc.datastore(si, "beta")
    info = pc.fails(
        v.RelocateVM_Task(
            vim.vm.RelocateSpec(
                disk=[vim.vm.RelocateSpec.DiskLocator(diskId=31337, datastore=beta)]
            )
        ),
        vmodl.fault.InvalidArgument,
    )
    assert "31337" in pc.reason(info)
    # the NVDIMM is not a disk either
    (nv,) = pc.devices(v, vim.vm.device.VirtualNVDIMM)
    pc.fails(
        v.RelocateVM_Task(
            vim.vm.RelocateSpec(
                disk=[vim.vm.RelocateSpec.DiskLocator(diskId=nv.key, datastore=beta)]
            )
        ),
        vmodl.fault.InvalidArgument,
    )
    gone = vim.Datastore("datastore-999999", stub)
    for spec in (
        vim.vm.RelocateSpec(datastore=gone),
        vim.vm.RelocateSpec(
            disk=[vim.vm.RelocateSpec.DiskLocator(diskId=disk.key, datastore=gone)]
        ),
        vim.vm.RelocateSpec(host=vim.HostSystem("host-999999", stub)),
        vim.vm.RelocateSpec(pool=vim.ResourcePool("resgroup-999999", stub)),
        vim.vm.RelocateSpec(folder=vim.Folder("group-v999999", stub)),
    ):
        with pytest.raises(vmodl.fault.ManagedObjectNotFound):
            v.RelocateVM_Task(spec)
    # a folder that is not a VM folder
    pc.fails(
        v.RelocateVM_Task(vim.vm.RelocateSpec(folder=_dc(si).hostFolder)),
        vmodl.fault.InvalidArgument,
    )
    assert v.config.files.vmPathName.startswith("[beta] fuzz/")
    assert v.parent == _dc(si).vmFolder
    assert sim.proc.poll() is None


# ---- 5. recentTask ----


def test_recent_task_lists_queued_and_running_tasks(make_sim, tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        "hosts: [{name: h1}]\ndatastores: [{name: a, capacity: 1TiB}, {name: b, capacity: 1TiB}]\n"
        "vms:\n  - {name: v1, host: h1, disks: [{size: 100MiB, datastore: a}]}\n"
    )
    # the move lasts ~1 s; finished tasks leave recentTask after 1 s (default 10 min)
    sim = make_sim("--copy-rate", "100MiB/s", "--recent-task-window", "1s", inventory=inv)
    si = pc.connect(sim)
    v = pc.vm(si, "v1")
    t1 = v.RelocateVM_Task(vim.vm.RelocateSpec(datastore=pc.datastore(si, "b")))
    t2 = v.PowerOnVM_Task()  # queued behind the relocation
    assert t1.info.entity == v and t1.info.entityName == "v1"
    recent = v.recentTask
    assert t1 in recent and t2 in recent
    assert t2.info.state == "queued"
    assert t1 in si.content.taskManager.recentTask
    pc.ok(t1)
    pc.ok(t2)
    # finished tasks stay listed for the window (TMDOC: "completed within the past 10 minutes")
    assert t1 in v.recentTask and t2 in v.recentTask
    end = time.monotonic() + 5
    while v.recentTask and time.monotonic() < end:
        time.sleep(0.02)
    assert v.recentTask == []
    assert t1 in si.content.taskManager.recentTask
    assert v.config.files.vmPathName.startswith("[b] ")
