"""pmemsim's vCenter rules (tests/pmemsim/rules.go, README "vCenter rules"), one test per rule.

Each rule is strict by default; ``--relax RULE`` turns it off (``test_relax_*``).
PBM is read through ``pyVmomi.pbm`` as pmemctl does (``pmemctl/vsphere/pbm.py``,
``pmemctl.vsphere.calls.disk_policies``).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from pyVmomi import SoapStubAdapter, pbm, vim, vmodl

from tests.pmemsim import client as pc

INVENTORY = """
clusters:
  - name: C1
    hosts:
      - {name: esx-a, pmem: 64GiB}
      - {name: esx-n}
datastores:
  - {name: san, type: VMFS, capacity: 4TiB}
  - {name: nfs, type: NFS, capacity: 2TiB}
  - {name: vs, type: vsan, capacity: 2TiB, hosts: [esx-a]}
vms:
  - {name: ver, host: esx-a, hardware_version: 13, disks: [{size: 1GiB, datastore: san}]}
  - {name: loc, host: esx-a, disks: [{size: 1GiB, datastore: san}]}
  - {name: nvb, host: esx-a, hardware_version: 19, guest_id: rhel8_64Guest, disks: [{size: 1GiB, datastore: san}]}
  - {name: pol, host: esx-a, disks: [{size: 1GiB, datastore: san}, {size: 1GiB, datastore: pmem},
                                     {size: 1GiB, datastore: pmem}, {size: 1GiB, datastore: pmem},
                                     {size: 1GiB, datastore: pmem}]}
  - {name: hot, host: esx-a, power: poweredOn, disks: [{size: 1GiB, datastore: san}]}
  - {name: cold, host: esx-a, disks: [{size: 1GiB, datastore: san}]}
  - {name: nvsnap, host: esx-a, hardware_version: 19, guest_id: rhel8_64Guest, disks: [{size: 1GiB, datastore: san}], nvdimms: [1GiB]}
  - {name: nvextra, host: esx-a, hardware_version: 19, guest_id: rhel8_64Guest, disks: [{size: 1GiB, datastore: san}], nvdimms: [1GiB]}
  - {name: snapd, host: esx-a, snapshots: 1, disks: [{size: 1GiB, datastore: san}]}
  - {name: gran, host: esx-a, hardware_version: 19, guest_id: rhel8_64Guest, disks: [{size: 1GiB, datastore: san}]}
  - {name: rt, host: esx-a, disks: [{size: 1GiB, datastore: san}]}
"""

SET_DIRECTLY = "com.vmware.vim.vpxd.vmprov.pMemDatastoreSetDirectly"
SET_DIRECTLY_MSG = (
    "Setting a PMem datastore directly for device configuration is not supported. "
    "Please use storage profile instead."
)
VSAN_DEFAULT = "aa6d5a82-1c88-45da-85d3-3d74b91a5bad"


def disks(v: vim.VirtualMachine) -> list[vim.vm.device.VirtualDisk]:
    return sorted(pc.devices(v, vim.vm.device.VirtualDisk), key=lambda d: d.key)


def edit_profile(d: Any, profile: Any) -> vim.vm.RelocateSpec:
    return vim.vm.RelocateSpec(
        deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="edit", device=d, profile=profile)]
    )


def pmem_profile() -> list[Any]:
    return [vim.vm.DefinedProfileSpec(profileId=pc.PMEM_PROFILE_ID)]


def extra(v: vim.VirtualMachine) -> dict[str, Any]:
    return {o.key: o.value for o in v.config.extraConfig}


# ---- 1. ReconfigVM_Task(spec.version) ----


def test_reconfig_version_change_refused_same_accepted_upgrade_works(si) -> None:
    v = pc.vm(si, "ver")
    info = pc.fails(
        v.ReconfigVM_Task(vim.vm.ConfigSpec(version="vmx-14")), vmodl.fault.InvalidArgument
    )
    assert info.error.msg == "A specified parameter was not correct: configSpec.version"
    assert pc.fault_keys(info) == ["com.vmware.pmemsim.reconfigVersion"]
    pc.ok(v.ReconfigVM_Task(vim.vm.ConfigSpec(version="vmx-13", annotation="same version")))
    assert v.config.version == "vmx-13" and v.config.annotation == "same version"
    pc.ok(v.UpgradeVM_Task(version="vmx-14"))
    assert v.config.version == "vmx-14"


# ---- 2. a PMem datastore named directly ----


def test_locator_naming_pmem_refused_device_change_accepted(si) -> None:
    v = pc.vm(si, "loc")
    a = v.runtime.host
    pds = pc.pmem_datastore(a)
    d = disks(v)[0]
    spec = vim.vm.RelocateSpec(
        disk=[vim.vm.RelocateSpec.DiskLocator(diskId=d.key, datastore=pds, profile=pmem_profile())]
    )
    info = pc.fails(v.RelocateVM_Task(spec), vim.fault.InvalidDeviceSpec)
    assert info.error.msg == "Invalid configuration for device '0'."
    (m,) = info.error.faultMessage
    assert m.key == SET_DIRECTLY and m.message.startswith(SET_DIRECTLY_MSG)
    assert disks(v)[0].backing.fileName.startswith("[san]")
    pc.ok(v.RelocateVM_Task(edit_profile(d, pmem_profile())))
    assert disks(v)[0].backing.datastore == pds


def test_nvdimm_backing_naming_pmem_refused(si) -> None:
    v = pc.vm(si, "nvb")
    pds = pc.pmem_datastore(v.runtime.host)
    for backing in (
        vim.vm.device.VirtualNVDIMM.BackingInfo(fileName=f"[{pds.name}]"),
        vim.vm.device.VirtualNVDIMM.BackingInfo(fileName="", datastore=pds),
    ):
        spec = pc.nvdimm_spec(1024, controller=True)
        spec.deviceChange[1].device.backing = backing
        info = pc.fails(v.ReconfigVM_Task(spec), vim.fault.InvalidDeviceSpec)
        assert info.error.msg == "Invalid configuration for device '1'."
        assert pc.fault_keys(info) == [SET_DIRECTLY]
    # a vPMemDisk whose backing names the PMem datastore, too
    spec = pc.disk_add_spec(v, 1, local_pmem=True)
    spec.deviceChange[0].device.backing.datastore = pds
    info = pc.fails(v.ReconfigVM_Task(spec), vim.fault.InvalidDeviceSpec)
    assert pc.fault_keys(info) == [SET_DIRECTLY]
    assert pc.devices(v, vim.vm.device.VirtualNVDIMM) == []
    # the empty backing is what vCenter wants
    pc.ok(v.ReconfigVM_Task(pc.nvdimm_spec(1024, controller=True)))


# ---- 3. storage policy association (PBM) ----


def pbm_content(si: vim.ServiceInstance, sim: Any) -> Any:
    """PBM service content over /pbm/sdk, authenticated as pmemctl does."""
    cookie = si._stub.cookie
    stub = SoapStubAdapter(
        host=sim.parts.hostname,
        port=sim.parts.port,
        path="/pbm/sdk",
        version="pbm.version.version12",
        sslContext=ssl.create_default_context(cafile=str(sim.cert)),
        requestContext={"vcSessionCookie": cookie.split('"')[1]},
    )
    stub.cookie = cookie
    return pbm.ServiceInstance("ServiceInstance", stub).RetrieveContent()


def disk_ref(v: vim.VirtualMachine, d: Any) -> Any:
    return pbm.ServerObjectRef(objectType="virtualDiskId", key=f"{v._moId}:{d.key}")


def policies(content: Any, v: vim.VirtualMachine) -> list[list[str]]:
    refs = [disk_ref(v, d) for d in disks(v)]
    res = content.profileManager.PbmQueryAssociatedProfiles(entities=refs)
    by_key = {r.object.key: [p.uniqueId for p in r.profileId] for r in res}
    return [by_key[r.key] for r in refs]


def compliance(content: Any, v: vim.VirtualMachine) -> list[str]:
    refs = [disk_ref(v, d) for d in disks(v)]
    res = content.complianceManager.PbmCheckCompliance(entities=refs)
    fetched = content.complianceManager.PbmFetchComplianceResult(entities=refs)
    assert [r.complianceStatus for r in fetched] == [r.complianceStatus for r in res]
    return [r.complianceStatus for r in res]


def test_pbm_associations_follow_profile_specs(si, sim) -> None:
    content = pbm_content(si, sim)
    v = pc.vm(si, "pol")
    p = pc.PMEM_PROFILE_ID
    assert policies(content, v) == [[], [p], [p], [p], [p]]
    assert compliance(content, v) == ["notApplicable"] + ["compliant"] * 4
    san, nfs, vs = (pc.datastore(si, n) for n in ("san", "nfs", "vs"))
    d = disks(v)
    locs = [
        vim.vm.RelocateSpec.DiskLocator(diskId=d[1].key, datastore=san),  # no profile: kept
        vim.vm.RelocateSpec.DiskLocator(
            diskId=d[2].key, datastore=nfs, profile=[vim.vm.DefaultProfileSpec()]
        ),
        vim.vm.RelocateSpec.DiskLocator(
            diskId=d[3].key, datastore=san, profile=[vim.vm.EmptyProfileSpec()]
        ),
        vim.vm.RelocateSpec.DiskLocator(
            diskId=d[4].key, datastore=vs, profile=[vim.vm.DefaultProfileSpec()]
        ),
    ]
    pc.ok(v.RelocateVM_Task(vim.vm.RelocateSpec(disk=locs)))
    assert [x.backing.datastore.name for x in disks(v)] == ["san", "san", "nfs", "san", "vs"]
    assert policies(content, v) == [[], [p], [], [], [VSAN_DEFAULT]]
    # the vPMemDisk moved off PMem without a profile keeps the PMem policy: non-compliant
    assert compliance(content, v) == [
        "notApplicable",
        "nonCompliant",
        "notApplicable",
        "notApplicable",
        "compliant",
    ]
    # back onto PMem through the profile: compliant again
    pc.ok(v.RelocateVM_Task(edit_profile(disks(v)[1], pmem_profile())))
    assert policies(content, v)[1] == [p] and compliance(content, v)[1] == "compliant"
    # a new PMem profile on a non-PMem target stays refused
    spec = vim.vm.RelocateSpec(
        disk=[
            vim.vm.RelocateSpec.DiskLocator(
                diskId=disks(v)[0].key, datastore=nfs, profile=pmem_profile()
            )
        ]
    )
    pc.fails(v.RelocateVM_Task(spec), vmodl.fault.InvalidArgument)
    # unknown disks answer an empty list
    res = content.profileManager.PbmQueryAssociatedProfiles(
        entities=[pbm.ServerObjectRef(objectType="virtualDiskId", key="vm-999999:2000")]
    )
    assert [list(r.profileId) for r in res] == [[]]


# ---- 4. vPMemDisk hot add ----


def test_pmem_disk_add_powered_on_refused_cv_shape_accepted_off(si) -> None:
    hot = pc.vm(si, "hot")
    for spec in (
        pc.disk_add_spec(hot, 1, pmem_profile=True),
        pc.disk_add_spec(hot, 1, local_pmem=True),
    ):
        info = pc.fails(hot.ReconfigVM_Task(spec), vim.fault.InvalidPowerState)
        assert (
            info.error.msg
            == "The attempted operation cannot be performed in the current state (Powered on)."
        )
        assert pc.fault_keys(info) == ["com.vmware.pmemsim.invalidPowerState"]
    assert len(disks(hot)) == 1
    # community.vmware's shape: LocalPMem backing (diskMode persistent), fileOperation create,
    # no datastore, no fileName, no profile
    cold = pc.vm(si, "cold")
    pc.ok(cold.ReconfigVM_Task(pc.disk_add_spec(cold, 1, local_pmem=True)))
    new = disks(cold)[1]
    assert isinstance(new.backing, vim.vm.device.VirtualDisk.LocalPMemBackingInfo)
    assert new.backing.datastore == pc.pmem_datastore(cold.runtime.host)


# ---- 5. fault shape ----


def test_nvdimm_with_another_policy_invalid_nvdimm_policy(si) -> None:
    v = pc.vm(si, "gran")
    spec = pc.nvdimm_spec(1024, controller=True)
    spec.deviceChange[1].profile = [vim.vm.DefinedProfileSpec(profileId=VSAN_DEFAULT)]
    info = pc.fails(v.ReconfigVM_Task(spec), vim.fault.InvalidDeviceSpec)
    assert info.error.msg == "Invalid configuration for device '1'."
    assert info.error.deviceIndex == 1
    assert pc.fault_keys(info) == ["com.vmware.vim.vpxd.vmprov.invalidNVDIMMPolicy"]
    assert VSAN_DEFAULT in pc.reason(info)


def test_insufficient_pmem_reason_in_fault_message(si) -> None:
    v = pc.vm(si, "gran")
    info = pc.fails(
        v.ReconfigVM_Task(pc.nvdimm_spec(128 * 1024, controller=True)),
        vim.fault.InsufficientResourcesFault,
    )
    assert pc.fault_keys(info) == ["com.vmware.pmemsim.insufficientPMem"]
    assert "requested 131072 MB, host esx-a" in pc.reason(info)


# ---- 6. pmem.snapshotMode and snapshots ----


def test_snapshot_mode_via_config_spec_pmem(si) -> None:
    v = pc.vm(si, "nvsnap")
    info = pc.fails(
        v.CreateSnapshot_Task(name="s", memory=False, quiesce=False), vim.fault.InvalidState
    )
    assert pc.fault_keys(info) == ["com.vmware.pmemsim.snapshotNVDIMM"]
    bad = vim.vm.ConfigSpec(pmem=vim.vm.VirtualPMem(snapshotMode="sometimes"))
    pc.fails(v.ReconfigVM_Task(bad), vmodl.fault.InvalidArgument)
    spec = vim.vm.ConfigSpec(pmem=vim.vm.VirtualPMem(snapshotMode="independent_persistent"))
    pc.ok(v.ReconfigVM_Task(spec))
    assert extra(v)["pmem.snapshotMode"] == "independent_persistent"
    assert v.config.pmem is None  # govmomi 0.24 has no ConfigInfo.pmem: read extraConfig
    pc.ok(v.CreateSnapshot_Task(name="s", memory=False, quiesce=False))
    again = vim.vm.ConfigSpec(pmem=vim.vm.VirtualPMem(snapshotMode="independent_eraseonrevert"))
    info = pc.fails(v.ReconfigVM_Task(again), vim.fault.InvalidState)
    assert pc.fault_keys(info) == ["com.vmware.pmemsim.snapshotMode"]
    assert extra(v)["pmem.snapshotMode"] == "independent_persistent"


def test_snapshot_mode_via_extra_config(si) -> None:
    v = pc.vm(si, "nvextra")
    opt = vim.option.OptionValue(key="pmem.snapshotMode", value="independent_eraseonrevert")
    pc.ok(v.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=[opt])))
    pc.ok(v.CreateSnapshot_Task(name="s", memory=False, quiesce=False))


def test_pmem_disk_on_vm_with_snapshots_refused(si) -> None:
    v = pc.vm(si, "snapd")
    info = pc.fails(
        v.ReconfigVM_Task(pc.disk_add_spec(v, 1, pmem_profile=True)), vim.fault.InvalidState
    )
    assert pc.fault_keys(info) == ["com.vmware.pmemsim.pmemDiskWithSnapshots"]
    info = pc.fails(
        v.RelocateVM_Task(edit_profile(disks(v)[0], pmem_profile())), vim.fault.InvalidState
    )
    assert pc.fault_keys(info) == ["com.vmware.pmemsim.pmemDiskWithSnapshots"]
    assert disks(v)[0].backing.fileName.startswith("[san]")


# ---- 7. NVDIMM granularity, minimum, maximum ----


def test_nvdimm_size_rules(si) -> None:
    v = pc.vm(si, "gran")
    for mb in (1026, 2, 6291460):
        info = pc.fails(
            v.ReconfigVM_Task(pc.nvdimm_spec(mb, controller=True)), vim.fault.InvalidDeviceSpec
        )
        assert pc.fault_keys(info) == ["com.vmware.pmemsim.nvdimmSize"], mb
    pc.ok(v.ReconfigVM_Task(pc.nvdimm_spec(1024, controller=True)))
    (nv,) = pc.devices(v, vim.vm.device.VirtualNVDIMM)
    nv.capacityInMB = 1030
    grow = vim.vm.ConfigSpec(
        deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="edit", device=nv)]
    )
    pc.fails(v.ReconfigVM_Task(grow), vim.fault.InvalidDeviceSpec)
    nv.capacityInMB = 1028
    pc.ok(v.ReconfigVM_Task(grow))
    assert pc.devices(v, vim.vm.device.VirtualNVDIMM)[0].capacityInMB == 1028


# ---- 8. recentTask keeps finished tasks ----


def test_recent_task_keeps_finished_tasks(si) -> None:
    v = pc.vm(si, "rt")
    t = v.PowerOnVM_Task()
    pc.ok(t)
    assert t in v.recentTask  # default window 10 min (TMDOC)


# ---- --relax ----


def test_relax_flags(make_sim, tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        "hosts: [{name: h, pmem: 16GiB}]\ndatastores: [{name: d, capacity: 1TiB}]\nvms:\n"
        "  - {name: v, host: h, hardware_version: 19, guest_id: rhel8_64Guest, power: poweredOn,"
        " disks: [{size: 1GiB, datastore: d}], nvdimms: [1GiB]}\n"
    )
    relax = [
        "pmem-locator",
        "reconfig-version",
        "pmem-disk-hot-add",
        "nvdimm-granularity",
        "pmem-snapshots",
    ]
    sim = make_sim(*[a for r in relax for a in ("--relax", r)], inventory=inv)
    si = pc.connect(sim)
    v = pc.vm(si, "v")
    pds = pc.pmem_datastore(v.runtime.host)
    pc.ok(v.ReconfigVM_Task(pc.disk_add_spec(v, 1, pmem_profile=True)))  # hot add
    pc.ok(v.CreateSnapshot_Task(name="s", memory=False, quiesce=False))  # NVDIMM, no snapshotMode
    d = disks(v)[0]
    loc = vim.vm.RelocateSpec.DiskLocator(diskId=d.key, datastore=pds, profile=pmem_profile())
    pc.ok(v.RelocateVM_Task(vim.vm.RelocateSpec(disk=[loc])))  # locator onto PMem, with snapshots
    pc.ok(v.PowerOffVM_Task())
    pc.ok(v.ReconfigVM_Task(vim.vm.ConfigSpec(version="vmx-20")))
    assert v.config.version == "vmx-20"
    (nv,) = pc.devices(v, vim.vm.device.VirtualNVDIMM)
    nv.capacityInMB = 1025
    pc.ok(
        v.ReconfigVM_Task(
            vim.vm.ConfigSpec(
                deviceChange=[vim.vm.device.VirtualDeviceSpec(operation="edit", device=nv)]
            )
        )
    )
    pc.disconnect(si)
