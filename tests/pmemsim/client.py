"""pyVmomi helpers for the pmemsim live tests (tests/live/test_pmemsim_*.py)."""

from __future__ import annotations

import ssl
import time
from typing import Any

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim, vmodl

PMEM_PROFILE_ID = "c268da1b-b343-49f7-a468-b1deeb7078e0"
GiB = 1 << 30
MiB = 1 << 20


def connect(sim: Any) -> vim.ServiceInstance:
    """Log in to a running pmemsim, verifying its certificate."""
    ctx = ssl.create_default_context(cafile=str(sim.cert))
    return SmartConnect(
        host=sim.parts.hostname,
        port=sim.parts.port,
        user=sim.user,
        pwd=sim.password,
        sslContext=ctx,
    )


def disconnect(si: vim.ServiceInstance) -> None:
    Disconnect(si)


def objects(si: vim.ServiceInstance, kind: type) -> dict[str, Any]:
    """Every managed object of a type, by name."""
    c = si.content
    view = c.viewManager.CreateContainerView(c.rootFolder, [kind], True)
    try:
        return {o.name: o for o in view.view}
    finally:
        view.Destroy()


def vm(si: vim.ServiceInstance, name: str) -> vim.VirtualMachine:
    return objects(si, vim.VirtualMachine)[name]


def host(si: vim.ServiceInstance, name: str) -> vim.HostSystem:
    return objects(si, vim.HostSystem)[name]


def datastore(si: vim.ServiceInstance, name: str) -> vim.Datastore:
    return objects(si, vim.Datastore)[name]


def pmem_datastore(h: vim.HostSystem) -> vim.Datastore:
    (ds,) = [d for d in h.datastore if d.summary.type == "PMEM"]
    return ds


def wait(task: vim.Task, timeout: float = 30) -> vim.TaskInfo:
    """Poll a task until it ends; return its info (state success or error)."""
    end = time.monotonic() + timeout
    while True:
        info = task.info
        if info.state in ("success", "error"):
            return info
        if time.monotonic() > end:
            raise TimeoutError(f"task {task} still {info.state}")
        time.sleep(0.02)


def ok(task: vim.Task) -> vim.TaskInfo:
    info = wait(task)
    assert info.state == "success", (info.error and reason(info), info.error)
    return info


def fails(task: vim.Task, fault: type) -> vim.TaskInfo:
    """Assert the task ends in error with the given fault class."""
    info = wait(task)
    assert info.state == "error", "task succeeded but should have failed"
    assert isinstance(info.error, fault), (type(info.error).__name__, reason(info))
    return info


def reason(info: vim.TaskInfo) -> str:
    """Why a task failed: ``faultMessage[].message`` (vCenter puts the reason there,
    ``localizedMessage`` is generic), joined, else ``localizedMessage``."""
    msgs = [m.message for m in (info.error.faultMessage or []) if m.message]
    return " ".join(msgs) or info.error.msg


def fault_keys(info: vim.TaskInfo) -> list[str]:
    """The ``faultMessage[].key`` values of a failed task."""
    return [m.key for m in (info.error.faultMessage or [])]


def devices(v: vim.VirtualMachine, kind: type) -> list[Any]:
    return [d for d in v.config.hardware.device if isinstance(d, kind)]


def nvdimm_spec(size_mb: int, *, controller: bool, profile: bool = True) -> vim.vm.ConfigSpec:
    """The ConfigSpec CV/PUP send to add one NVDIMM (and the controller)."""
    changes = []
    ctl_key = -27001
    if controller:
        changes.append(
            vim.vm.device.VirtualDeviceSpec(
                operation="add",
                device=vim.vm.device.VirtualNVDIMMController(
                    key=ctl_key, deviceInfo=vim.Description()
                ),
            )
        )
    dimm = vim.vm.device.VirtualDeviceSpec(
        operation="add",
        fileOperation="create",
        device=vim.vm.device.VirtualNVDIMM(
            key=-28001,
            controllerKey=ctl_key if controller else 13000,
            capacityInMB=size_mb,
            deviceInfo=vim.Description(),
            backing=vim.vm.device.VirtualNVDIMM.BackingInfo(),
        ),
    )
    if profile:
        dimm.profile = [vim.vm.DefinedProfileSpec(profileId=PMEM_PROFILE_ID)]
    changes.append(dimm)
    return vim.vm.ConfigSpec(deviceChange=changes)


def disk_add_spec(
    v: vim.VirtualMachine,
    size_gib: int,
    *,
    pmem_profile: bool = False,
    local_pmem: bool = False,
    file_name: str = "",
) -> vim.vm.ConfigSpec:
    (scsi,) = devices(v, vim.vm.device.ParaVirtualSCSIController)
    if local_pmem:
        backing = vim.vm.device.VirtualDisk.LocalPMemBackingInfo(diskMode="persistent")
    else:
        backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            diskMode="persistent", fileName=file_name
        )
    disk = vim.vm.device.VirtualDisk(
        key=-101, controllerKey=scsi.key, capacityInKB=size_gib * 1024 * 1024, backing=backing
    )
    change = vim.vm.device.VirtualDeviceSpec(operation="add", fileOperation="create", device=disk)
    if pmem_profile:
        change.profile = [vim.vm.DefinedProfileSpec(profileId=PMEM_PROFILE_ID)]
    return vim.vm.ConfigSpec(deviceChange=[change])


def view_filter_spec(
    view: vim.view.ContainerView, kind: type, props: list[str]
) -> vmodl.query.PropertyCollector.FilterSpec:
    """A FilterSpec reading ``props`` of every ``kind`` object in a ContainerView."""
    return vmodl.query.PropertyCollector.FilterSpec(
        objectSet=[
            vmodl.query.PropertyCollector.ObjectSpec(
                obj=view,
                skip=True,
                selectSet=[
                    vmodl.query.PropertyCollector.TraversalSpec(
                        name="v", path="view", skip=False, type=vim.view.ContainerView
                    )
                ],
            )
        ],
        propSet=[vmodl.query.PropertyCollector.PropertySpec(type=kind, pathSet=props)],
    )


def retrieve(
    si: vim.ServiceInstance, kind: type, props: list[str], max_objects: int = 0
) -> tuple[list[Any], int]:
    """ContainerView + paged RetrievePropertiesEx; returns (objects, pages)."""
    c = si.content
    view = c.viewManager.CreateContainerView(c.rootFolder, [kind], True)
    pc = c.propertyCollector
    spec = view_filter_spec(view, kind, props)
    opts = vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=max_objects or None)
    res = pc.RetrievePropertiesEx([spec], opts)
    out = list(res.objects)
    pages = 1
    while res.token:
        res = pc.ContinueRetrievePropertiesEx(res.token)
        out.extend(res.objects)
        pages += 1
    view.Destroy()
    return out, pages
