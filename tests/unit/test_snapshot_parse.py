"""Snapshot parsing against pyVmomi objects built here (no server): names, datacenters, HA, NVDIMMs."""

from __future__ import annotations

from typing import Any

import pytest
from pyVmomi import vim

from pmemctl.inventory.model import About, NvdimmOption, Scope, unescape_name
from pmemctl.vsphere.snapshot import (
    _build_light,
    _parse_devices,
    _Raw,
    _selected_fields,
    ha_pmem,
    nvdimm_option,
    scope_roots,
)

GIB = 1024


def ref(kind: Any, moid: str) -> Any:
    return kind(moid)


class Estate:
    """Two datacenters, each with a host, a datastore1 and a PMem datastore."""

    def __init__(self) -> None:
        self.raw = _Raw()
        for dc in ("1", "2"):
            dc_ref, vmf, hostf, dsf = (ref(vim.Datacenter, f"datacenter-{dc}"),
                                        ref(vim.Folder, f"group-v{dc}"),
                                        ref(vim.Folder, f"group-h{dc}"),
                                        ref(vim.Folder, f"group-s{dc}"))
            self.raw.add(dc_ref, {"name": f"DC{dc}", "vmFolder": vmf})
            for f in (vmf, hostf, dsf):
                self.raw.add(f, {"name": "vm", "parent": dc_ref})
            cluster = ref(vim.ClusterComputeResource, f"domain-c{dc}")
            self.raw.add(cluster, {"name": f"Prod%2f{dc}", "parent": hostf})
            host = ref(vim.HostSystem, f"host-{dc}")
            ds1 = ref(vim.Datastore, f"datastore-1{dc}")
            pmem = ref(vim.Datastore, f"datastore-2{dc}")
            self.raw.add(host, {
                "name": f"esx-0{dc}", "parent": cluster, "datastore": [ds1, pmem],
                "hardware.persistentMemoryInfo": vim.host.PersistentMemoryInfo(
                    capacityInMB=512 * GIB),
                "summary.quickStats.availablePMemCapacity": 400 * GIB,
                "capability.pMemSupported": True,
            })
            mount = [vim.Datastore.HostMount(key=host,
                                             mountInfo=vim.host.MountInfo(accessible=True))]
            self.raw.add(ds1, {"name": "datastore1", "parent": dsf, "summary.type": "VMFS",
                               "summary.capacity": 2**40, "summary.freeSpace": 2**39,
                               "host": mount})
            self.raw.add(pmem, {"name": f"PMemDS-{dc}", "parent": dsf, "summary.type": "PMEM",
                                "summary.capacity": 2**39, "summary.freeSpace": 2**38,
                                "host": mount})
            sub = ref(vim.Folder, f"group-v1{dc}")
            self.raw.add(sub, {"name": "a%2fb%25c", "parent": vmf})
            self.raw.add(ref(vim.VirtualMachine, f"vm-{dc}"), {
                "name": f"web%5c0{dc}", "parent": sub, "runtime.host": host})


@pytest.mark.parametrize(("raw", "shown"), [
    ("a%2fb", "a/b"), ("a%5cb", "a\\b"), ("100%25", "100%"), ("A%2F%5C", "A/\\"),
    ("%252f", "%2f"), ("plain", "plain"), ("50%", "50%"),
])
def test_unescape_name(raw: str, shown: str) -> None:
    assert unescape_name(raw) == shown


def test_two_datastore1_in_two_datacenters_both_exist() -> None:
    inv, names, dups = _build_light(Estate().raw, About())
    same = inv.datastores_named("datastore1")
    assert [(d.moid, d.datacenter) for d in same] == [("datastore-11", "DC1"),
                                                      ("datastore-12", "DC2")]
    assert inv.datastore_named("datastore1") is None  # ambiguous without a datacenter
    ds = inv.datastore_named("datastore1", "DC2")
    assert ds is not None and ds.moid == "datastore-12" and ds.host_moids == ("host-2",)
    host = inv.hosts["host-2"]
    assert (host.datacenter, host.cluster, host.pmem_datastore, host.pmem_datastore_moid) == (
        "DC2", "Prod/2", "PMemDS-2", "datastore-22")
    vm = inv.vms["web\\02"]
    assert (vm.datacenter, vm.folder, vm.host, vm.host_moid, vm.cluster) == (
        "DC2", "a/b%c", "esx-02", "host-2", "Prod/2")
    assert not vm.devices_loaded and vm.power_state == ""
    assert names["web\\01"] == "vm-1" and dups == {}


def test_scope_roots_match_unescaped_names() -> None:
    raw = Estate().raw
    assert scope_roots(raw, Scope(clusters=("Prod/1",))) == ["domain-c1"]
    assert scope_roots(raw, Scope(hosts=("esx-0*",))) == ["host-1", "host-2"]
    assert scope_roots(raw, Scope(folders=("a/b%c",))) == ["group-v11", "group-v12"]
    assert scope_roots(raw, Scope(folders=("nope",))) == []


def test_selected_fields_and_disk_moids() -> None:
    inv, _, _ = _build_light(Estate().raw, About())
    disk = vim.vm.device.VirtualDisk(
        key=2000, capacityInKB=40 * GIB * 1024, controllerKey=1000, unitNumber=0,
        deviceInfo=vim.Description(label="Hard disk 1", summary=""),
        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
            fileName="[datastore1] web/web.vmdk", datastore=ref(vim.Datastore, "datastore-12")))
    got = _selected_fields({
        "runtime.powerState": "poweredOn", "config.version": "vmx-19",
        "config.files.vmPathName": "[data%2fstore] web/web.vmx",
        "datastore": [ref(vim.Datastore, "datastore-12")],
        "config.hardware.device": [disk],
    }, inv.datastores)
    assert (got["power_state"], got["hardware_version"], got["home_datastore"]) == (
        "poweredOn", 19, "data/store")
    assert got["datastore_moids"] == ("datastore-12",)
    (d,) = got["disks"]
    assert (d.datastore, d.datastore_moid, d.size_mb) == ("datastore1", "datastore-12", 40 * GIB)


def nvdimm(capacity: int, configured: int | None = None) -> Any:
    dev = vim.vm.device.VirtualNVDIMM(key=8000, capacityInMB=capacity, controllerKey=27000,
                                      deviceInfo=vim.Description(label="NVDIMM 1", summary=""))
    if configured is not None:
        dev.configuredCapacityInMB = configured
    return dev


@pytest.mark.parametrize(("capacity", "configured", "size", "accessible"), [
    (16384, None, 16384, True),      # before 7.0.2: capacityInMB only
    (16384, 16384, 16384, True),
    (0, 16384, 16384, False),        # backing inaccessible: capacity reads 0
    (0, None, 0, False),
])
def test_nvdimm_size(capacity: int, configured: int | None, size: int, accessible: bool) -> None:
    (n,) = _parse_devices([nvdimm(capacity, configured)], {})["nvdimms"]
    assert (n.size_mb, n.accessible) == (size, accessible)


def test_nvdimm_option_from_config_option() -> None:
    option = vim.vm.ConfigOption(hardwareOptions=vim.vm.VirtualHardwareOption(
        virtualDeviceOption=[
            vim.vm.device.VirtualDeviceOption(),
            vim.vm.device.VirtualNVDIMMOption(
                capacityInMB=vim.option.LongOption(min=4, max=6 * 1024 * 1024, defaultValue=4),
                growable=True, hotGrowable=False, granularityInMB=4),
        ]))
    assert nvdimm_option(option) == NvdimmOption(min_mb=4, max_mb=6 * 1024 * 1024,
                                                 granularity_mb=4, growable=True,
                                                 hot_growable=False)
    assert nvdimm_option(vim.vm.ConfigOption()) is None


def das(policy: Any, enabled: bool = True, admission: bool = True) -> Any:
    return vim.cluster.ConfigInfoEx(dasConfig=vim.cluster.DasConfigInfo(
        enabled=enabled, admissionControlEnabled=admission, admissionControlPolicy=policy))


def percent(pct: int | None, on: bool = True, auto: bool = False) -> Any:
    return vim.cluster.FailoverResourcesAdmissionControlPolicy(
        cpuFailoverResourcesPercent=25, memoryFailoverResourcesPercent=25,
        pMemAdmissionControlEnabled=on, pMemFailoverResourcesPercent=pct,
        autoComputePMemFailoverResourcesPercent=auto)


def test_ha_percentage_policy() -> None:
    warnings: list[str] = []
    got = ha_pmem("Prod", das(percent(25)), None, warnings)
    assert got.pct == 25 and warnings == []
    assert got.reason == ("vSphere HA on cluster Prod reserves 25% of each host's PMem for "
                          "failover (PMem admission control)")


@pytest.mark.parametrize("config", [
    das(percent(25, on=False)),         # PMem admission control off
    das(percent(25), enabled=False),    # HA off
    das(percent(25), admission=False),  # admission control off
    vim.cluster.ConfigInfoEx(),         # no HA config at all
    None,                               # a plain ComputeResource
])
def test_ha_reserves_nothing_unless_everything_is_on(config: Any) -> None:
    assert ha_pmem("Prod", config, None, []).pct == 0


def test_ha_auto_computed_percentage_comes_from_the_summary() -> None:
    summary = vim.ClusterComputeResource.Summary(admissionControlInfo=(
        vim.cluster.FailoverResourcesAdmissionControlInfo(
            currentCpuFailoverResourcesPercent=50, currentMemoryFailoverResourcesPercent=50,
            currentPMemFailoverResourcesPercent=10)))
    assert ha_pmem("Prod", das(percent(None, auto=True)), summary, []).pct == 10


def test_ha_unknown_percentage_is_a_warning() -> None:
    warnings: list[str] = []
    policy = vim.cluster.FailoverLevelAdmissionControlPolicy(failoverLevel=1,
                                                             pMemAdmissionControlEnabled=True)
    assert ha_pmem("Prod", das(policy), None, warnings).pct == 0
    assert warnings == [
        "cluster Prod: vSphere HA PMem admission control is on, but vCenter reports no PMem "
        "failover percentage; PMem free on its hosts may be less than shown"]


def test_ha_dedicated_failover_host_has_no_usable_pmem() -> None:
    estate = Estate()
    policy = vim.cluster.FailoverHostAdmissionControlPolicy(
        failoverHosts=[ref(vim.HostSystem, "host-1")], pMemAdmissionControlEnabled=True)
    estate.raw.computes["domain-c1"]["configurationEx"] = das(policy)
    estate.raw.computes["domain-c2"]["configurationEx"] = das(percent(20))
    inv, _, _ = _build_light(estate.raw, About())
    h1, h2 = inv.hosts["host-1"], inv.hosts["host-2"]
    assert (h1.ha_pmem_reserved_pct, h1.pmem_usable_mb) == (100, 0)
    assert "dedicated vSphere HA failover host of cluster Prod/1" in h1.ha_pmem_reason
    # 20% of 512 GiB is 102.4 GiB held back from the 400 GiB free
    assert h2.ha_pmem_reserved_mb == 512 * GIB * 20 // 100
    assert h2.pmem_usable_mb == 400 * GIB - 512 * GIB * 20 // 100
