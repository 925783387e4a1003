"""pmemsim tasks: Storage vMotion (RelocateVM_Task), async states, progress, queueing limits, fault injection."""

from __future__ import annotations

import time
from pathlib import Path

from pyVmomi import vim, vmodl

from tests.pmemsim import client as pc
from tests.pmemsim.client import GiB

# Served by the module-scoped `sim` and `si` fixtures (tests/live/conftest.py).
INVENTORY = """
clusters:
  - name: C1
    hosts:
      - {name: esx-a, pmem: 64GiB}
      - {name: esx-b, pmem: 64GiB}
      - {name: esx-n}
hosts:
  - {name: esx-s, pmem: 8GiB}
datastores:
  - {name: san, type: VMFS, capacity: 4TiB, hosts: [esx-a, esx-b, esx-n]}
  - {name: nfs, type: NFS, capacity: 2TiB, hosts: [esx-a, esx-b, esx-n]}
  - {name: tiny, type: VMFS, capacity: 5GiB, hosts: [esx-a, esx-b]}
  - {name: local-s, type: VMFS, capacity: 1TiB, hosts: [esx-s]}
vms:
  - {name: mv-loc, host: esx-a, power: poweredOn, disks: [{size: 4GiB, datastore: san}, {size: 2GiB, datastore: san}]}
  - {name: mv-dc, host: esx-a, disks: [{size: 4GiB, datastore: san}, {size: 2GiB, datastore: san}]}
  - {name: mv-home, host: esx-a, disks: [{size: 4GiB, datastore: san}]}
  - {name: mv-bad, host: esx-a, hardware_version: 19, guest_id: rhel8_64Guest,
     disks: [{size: 8GiB, datastore: san}, {size: 1GiB, datastore: pmem}], nvdimms: [1GiB]}
  - {name: mv-host, host: esx-a, hardware_version: 19, guest_id: rhel8_64Guest,
     disks: [{size: 8GiB, datastore: san}, {size: 1GiB, datastore: pmem}], nvdimms: [2GiB]}
  - {name: st-1, host: esx-b, disks: [{size: 1GiB, datastore: san}]}
"""


def disks(v: vim.VirtualMachine) -> list[vim.vm.device.VirtualDisk]:
    return sorted(pc.devices(v, vim.vm.device.VirtualDisk), key=lambda d: d.key)


def test_relocate_onto_pmem_by_profile_and_back(si) -> None:
    v = pc.vm(si, "mv-loc")  # powered on: live Storage vMotion
    a = v.runtime.host
    pds = pc.pmem_datastore(a)
    san = pc.datastore(si, "san")
    nfs = pc.datastore(si, "nfs")
    free_p, free_s, free_n = (
        a.summary.quickStats.availablePMemCapacity,
        san.summary.freeSpace,
        nfs.summary.freeSpace,
    )
    d2 = disks(v)[1]
    # the documented shape: deviceChange edit + PMem profile, no locator (GOVH RelocateSpec.deviceChange)
    spec = vim.vm.RelocateSpec(
        deviceChange=[
            vim.vm.device.VirtualDeviceSpec(
                operation="edit",
                device=d2,
                profile=[vim.vm.DefinedProfileSpec(profileId=pc.PMEM_PROFILE_ID)],
            )
        ]
    )
    pc.ok(v.RelocateVM_Task(spec))
    d2 = disks(v)[1]
    assert (
        d2.backing.datastore == pds and d2.backing.fileName == f"[{pds.name}] mv-loc/mv-loc_1.vmdk"
    )
    assert isinstance(d2.backing, vim.vm.device.VirtualDisk.LocalPMemBackingInfo)
    assert a.summary.quickStats.availablePMemCapacity == free_p - 2048
    assert san.summary.freeSpace == free_s + 2 * GiB
    assert pds in v.datastore
    # and back off PMem, onto another datastore
    pc.ok(
        v.RelocateVM_Task(
            vim.vm.RelocateSpec(
                disk=[vim.vm.RelocateSpec.DiskLocator(diskId=d2.key, datastore=nfs)]
            )
        )
    )
    d2 = disks(v)[1]
    assert isinstance(d2.backing, vim.vm.device.VirtualDisk.FlatVer2BackingInfo)
    assert d2.backing.fileName == "[nfs] mv-loc/mv-loc_1.vmdk"
    assert a.summary.quickStats.availablePMemCapacity == free_p
    assert nfs.summary.freeSpace == free_n - 2 * GiB
    assert pds not in v.datastore and nfs in v.datastore
    assert v.runtime.powerState == "poweredOn"


def test_relocate_device_change_with_pmem_profile(si) -> None:
    v = pc.vm(si, "mv-dc")
    a = v.runtime.host
    free_p = a.summary.quickStats.availablePMemCapacity
    d1 = disks(v)[0]
    spec = vim.vm.RelocateSpec(
        deviceChange=[
            vim.vm.device.VirtualDeviceSpec(
                operation="edit",
                device=d1,
                profile=[vim.vm.DefinedProfileSpec(profileId=pc.PMEM_PROFILE_ID)],
            )
        ]
    )
    pc.ok(v.RelocateVM_Task(spec))
    d1 = disks(v)[0]
    assert d1.backing.datastore == pc.pmem_datastore(a)
    assert a.summary.quickStats.availablePMemCapacity == free_p - 4096
    assert disks(v)[1].backing.fileName.startswith("[san]")


def test_relocate_home_move(si) -> None:
    v = pc.vm(si, "mv-home")
    nfs = pc.datastore(si, "nfs")
    pc.ok(v.RelocateVM_Task(vim.vm.RelocateSpec(datastore=nfs)))
    assert v.summary.config.vmPathName == "[nfs] mv-home/mv-home.vmx"
    assert v.config.files.vmPathName == "[nfs] mv-home/mv-home.vmx"
    assert (
        disks(v)[0].backing.fileName == "[nfs] mv-home/mv-home.vmdk"
    )  # disks follow the home without locators
    assert [d.name for d in v.datastore] == ["nfs"]


def test_relocate_refusals_leave_state_unchanged(si) -> None:
    v = pc.vm(si, "mv-bad")
    before = [
        (d.key, d.backing.fileName)
        for d in v.config.hardware.device
        if hasattr(d.backing, "fileName")
    ]
    a = pc.host(si, "esx-a")
    free_p = a.summary.quickStats.availablePMemCapacity
    # the VM home on PMem: spec.datastore names the PMem datastore directly
    info = pc.fails(
        v.RelocateVM_Task(vim.vm.RelocateSpec(datastore=pc.pmem_datastore(a))),
        vim.fault.InvalidDeviceSpec,
    )
    assert "PMem" in pc.reason(info)
    # a locator naming a PMem datastore (here another host's): pMemDatastoreSetDirectly
    other = pc.pmem_datastore(pc.host(si, "esx-b"))
    d = disks(v)[0]
    info = pc.fails(
        v.RelocateVM_Task(
            vim.vm.RelocateSpec(
                disk=[vim.vm.RelocateSpec.DiskLocator(diskId=d.key, datastore=other)]
            )
        ),
        vim.fault.InvalidDeviceSpec,
    )
    assert pc.fault_keys(info) == ["com.vmware.vim.vpxd.vmprov.pMemDatastoreSetDirectly"]
    # a host without PMem while the VM has NVDIMMs
    pc.fails(
        v.RelocateVM_Task(vim.vm.RelocateSpec(host=pc.host(si, "esx-n"))),
        vim.fault.InsufficientResourcesFault,
    )
    # not enough space on the target datastore
    info = pc.fails(
        v.RelocateVM_Task(
            vim.vm.RelocateSpec(
                disk=[
                    vim.vm.RelocateSpec.DiskLocator(
                        diskId=d.key, datastore=pc.datastore(si, "tiny")
                    )
                ]
            )
        ),
        vim.fault.InsufficientStorageSpace,
    )
    assert "tiny" in pc.reason(info)
    # a datastore the target host cannot reach
    pc.fails(
        v.RelocateVM_Task(vim.vm.RelocateSpec(datastore=pc.datastore(si, "local-s"))),
        vim.fault.InvalidDatastore,
    )
    after = [
        (d.key, d.backing.fileName)
        for d in v.config.hardware.device
        if hasattr(d.backing, "fileName")
    ]
    assert after == before
    assert a.summary.quickStats.availablePMemCapacity == free_p


def test_relocate_host_moves_pmem_and_checks_capacity(si) -> None:
    v = pc.vm(si, "mv-host")
    a, b, s = pc.host(si, "esx-a"), pc.host(si, "esx-b"), pc.host(si, "esx-s")
    fa, fb = a.summary.quickStats.availablePMemCapacity, b.summary.quickStats.availablePMemCapacity
    pc.ok(v.RelocateVM_Task(vim.vm.RelocateSpec(host=b)))
    assert v.runtime.host == b
    assert a.summary.quickStats.availablePMemCapacity == fa + 3072
    assert b.summary.quickStats.availablePMemCapacity == fb - 3072
    (nv,) = pc.devices(v, vim.vm.device.VirtualNVDIMM)
    assert nv.backing.datastore == pc.pmem_datastore(b)
    # esx-s has 8 GiB PMem but does not see san: refused before any PMem check
    pc.fails(v.RelocateVM_Task(vim.vm.RelocateSpec(host=s)), vim.fault.InvalidDatastore)


def test_async_task_states_and_progress_via_wait_for_updates(make_sim, tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        "hosts: [{name: h1, pmem: 64GiB}]\ndatastores: [{name: d1, capacity: 1TiB}, {name: d2, capacity: 1TiB}]\n"
        "vms:\n  - {name: v1, host: h1, disks: [{size: 2GiB, datastore: d1}]}\n"
    )
    sim = make_sim("--copy-rate", "2GiB/s", inventory=inv)  # a 2 GiB move lasts ~1 s
    si = pc.connect(sim)
    v = pc.vm(si, "v1")
    t0 = time.monotonic()
    task = v.RelocateVM_Task(vim.vm.RelocateSpec(datastore=pc.datastore(si, "d2")))
    assert time.monotonic() - t0 < 0.5  # returns at once
    pcol = si.content.propertyCollector
    f = pcol.CreateFilter(
        vmodl.query.PropertyCollector.FilterSpec(
            objectSet=[vmodl.query.PropertyCollector.ObjectSpec(obj=task)],
            propSet=[
                vmodl.query.PropertyCollector.PropertySpec(
                    type=vim.Task, pathSet=["info.state", "info.progress"]
                )
            ],
        ),
        True,
    )
    states, progress, version = [], [], ""
    while "success" not in states and "error" not in states:
        res = pcol.WaitForUpdatesEx(
            version, vmodl.query.PropertyCollector.WaitOptions(maxWaitSeconds=5)
        )
        assert res is not None
        version = res.version
        for fs in res.filterSet:
            for ou in fs.objectSet:
                for ch in ou.changeSet:
                    if ch.name == "info.state":
                        states.append(ch.val)
                    elif ch.name == "info.progress" and ch.val is not None:
                        progress.append(ch.val)
    f.Destroy()
    assert states[-1] == "success" and "running" in states
    assert len(set(progress)) >= 4 and progress == sorted(progress)
    assert time.monotonic() - t0 >= 0.9


def max_overlap(tasks: list[vim.Task]) -> int:
    """The largest number of tasks running at once, from the server's start/complete times."""
    events = []
    for t in tasks:
        events += [(t.info.startTime, 1), (t.info.completeTime, -1)]
    cur = best = 0
    for _, d in sorted(events, key=lambda e: (e[0], e[1])):
        cur += d
        best = max(best, cur)
    return best


def test_svmotion_limits_two_per_host(make_sim, tmp_path: Path) -> None:
    vms = "".join(
        f"  - {{name: q{i}, host: h1, disks: [{{size: 1GiB, datastore: d{i}}}]}}\n"
        for i in range(5)
    )
    dss = "".join(
        f"  - {{name: d{i}, capacity: 1TiB}}\n  - {{name: e{i}, capacity: 1TiB}}\n"
        for i in range(5)
    )
    inv = tmp_path / "inv.yaml"
    inv.write_text(f"hosts: [{{name: h1}}]\ndatastores:\n{dss}vms:\n{vms}")
    sim = make_sim("--copy-rate", "2GiB/s", inventory=inv)  # each move ~0.5 s
    si = pc.connect(sim)
    tasks = [
        pc.vm(si, f"q{i}").RelocateVM_Task(vim.vm.RelocateSpec(datastore=pc.datastore(si, f"e{i}")))
        for i in range(5)
    ]
    max_running, saw_queued = 0, False
    while True:
        st = [t.info.state for t in tasks]
        max_running = max(max_running, st.count("running"))
        saw_queued |= "queued" in st
        if all(s in ("success", "error") for s in st):
            break
        time.sleep(0.03)
    assert st == ["success"] * 5
    assert max_overlap(tasks) == 2 and saw_queued and max_running >= 2
    start = sorted(t.info.startTime for t in tasks)
    assert start[2] > start[0]  # the 3rd started only after a slot freed


def test_svmotion_limits_eight_per_datastore(make_sim, tmp_path: Path) -> None:
    hosts = "".join(f"  - {{name: h{i}}}\n" for i in range(6))
    vms = "".join(
        f"  - {{name: w{i}, host: h{i % 6}, disks: [{{size: 1GiB, datastore: src}}]}}\n"
        for i in range(10)
    )
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        f"hosts:\n{hosts}datastores:\n  - {{name: src, capacity: 1TiB}}\n  - {{name: dst, capacity: 1TiB}}\nvms:\n{vms}"
    )
    sim = make_sim("--copy-rate", "2GiB/s", inventory=inv)
    si = pc.connect(sim)
    dst = pc.datastore(si, "dst")
    tasks = [
        pc.vm(si, f"w{i}").RelocateVM_Task(vim.vm.RelocateSpec(datastore=dst)) for i in range(10)
    ]
    max_running = 0
    while True:
        st = [t.info.state for t in tasks]
        max_running = max(max_running, st.count("running"))
        if all(s in ("success", "error") for s in st):
            break
        time.sleep(0.03)
    assert st == ["success"] * 10
    assert max_overlap(tasks) == 8 and max_running >= 6


def test_tasks_on_one_vm_run_in_order(si) -> None:
    v = pc.vm(si, "st-1")
    t1 = v.PowerOnVM_Task()
    t2 = v.PowerOffVM_Task()
    t3 = v.ReconfigVM_Task(vim.vm.ConfigSpec(annotation="third"))
    for t in (t1, t2, t3):
        pc.ok(t)
    assert t1.info.completeTime <= t2.info.startTime and t2.info.completeTime <= t3.info.startTime
    assert v.runtime.powerState == "poweredOff"


def test_fault_injection_nth_and_vm(make_sim, tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        "hosts: [{name: h1}]\ndatastores: [{name: d1, capacity: 1TiB}, {name: d2, capacity: 1TiB}]\n"
        "vms:\n"
        + "".join(
            f"  - {{name: {n}, host: h1, disks: [{{size: 1GiB, datastore: d1}}]}}\n"
            for n in ("legacy-1", "legacy-2", "app-1")
        )
    )
    sim = make_sim(
        "--fault",
        "method=ReconfigVM_Task,nth=2,fault=InsufficientResourcesFault,message=boom",
        "--fault",
        "vm=app-*,fault=TaskInProgress",
        "--fault",
        "RelocateVM_Task:1",
        "--fault",
        "method=PowerOnVM_Task,vm=legacy-2,at=50,fault=InvalidState",
        inventory=inv,
    )
    si = pc.connect(sim)
    l1, l2, app = (pc.vm(si, n) for n in ("legacy-1", "legacy-2", "app-1"))
    spec = vim.vm.ConfigSpec(annotation="x")
    pc.ok(l1.ReconfigVM_Task(spec))
    info = pc.fails(l1.ReconfigVM_Task(spec), vim.fault.InsufficientResourcesFault)
    assert info.error.msg == "boom"
    pc.ok(l1.ReconfigVM_Task(spec))
    pc.fails(app.PowerOnVM_Task(), vim.fault.TaskInProgress)
    pc.fails(app.ReconfigVM_Task(spec), vim.fault.TaskInProgress)
    d2 = pc.datastore(si, "d2")
    pc.fails(l2.RelocateVM_Task(vim.vm.RelocateSpec(datastore=d2)), vmodl.fault.SystemError)
    assert l2.config.files.vmPathName.startswith("[d1]")  # unchanged
    pc.ok(l2.RelocateVM_Task(vim.vm.RelocateSpec(datastore=d2)))
    info = pc.fails(l2.PowerOnVM_Task(), vim.fault.InvalidState)
    assert info.progress == 50
    assert l2.runtime.powerState == "poweredOff"
