"""pmemsim at vCenter scale: page caps, WaitForUpdatesEx truncation and latency, session idle
timeout, several datacenters, name escaping, HA PMem admission control.

Every rule here is vCenter's, with its source in tests/pmemsim/README.md.
"""

from __future__ import annotations

import ssl
import subprocess
import time
from pathlib import Path

import pytest
from pyVmomi import SoapStubAdapter, pbm, vim, vmodl

from tests import simproc
from tests.pmemsim import client as pc

PC = vmodl.query.PropertyCollector

# 250 VMs on one host, for the page and update caps.
INVENTORY = """
hosts:
  - {name: esx-1, pmem: 64GiB}
datastores:
  - {name: san, capacity: 100TiB}
generate: {clusters: 1, hosts_per_cluster: 1, vms_per_host: 250, disk_size: 1GiB, power: poweredOff}
"""


def vm_spec(si: vim.ServiceInstance) -> tuple[vim.view.ContainerView, PC.FilterSpec]:
    c = si.content
    view = c.viewManager.CreateContainerView(c.rootFolder, [vim.VirtualMachine], True)
    return view, pc.view_filter_spec(view, vim.VirtualMachine, ["name"])


def pages_of(collector: PC, spec: PC.FilterSpec, max_objects: int | None) -> list[int]:
    res = collector.RetrievePropertiesEx([spec], PC.RetrieveOptions(maxObjects=max_objects))
    sizes = [len(res.objects)]
    while res.token:
        res = collector.ContinueRetrievePropertiesEx(res.token)
        sizes.append(len(res.objects))
    return sizes


# ---- RetrievePropertiesEx: at most 100 objects per page ----


@pytest.mark.parametrize(
    "max_objects,sizes",
    [(None, [100, 100, 50]), (1000, [100, 100, 50]), (100, [100, 100, 50]), (40, [40] * 6 + [10])],
)
def test_retrieve_properties_ex_pages_at_100(si, max_objects, sizes) -> None:
    view, spec = vm_spec(si)
    assert pages_of(si.content.propertyCollector, spec, max_objects) == sizes
    view.Destroy()


def test_retrieve_properties_is_not_paged(si) -> None:
    view, spec = vm_spec(si)
    assert len(si.content.propertyCollector.RetrieveProperties([spec])) == 250
    view.Destroy()


def test_tokens_belong_to_their_collector(si) -> None:
    view, spec = vm_spec(si)
    priv = si.content.propertyCollector.CreatePropertyCollector()
    res = priv.RetrievePropertiesEx([spec], PC.RetrieveOptions())
    assert len(res.objects) == 100 and res.token
    with pytest.raises(vmodl.fault.InvalidArgument):
        si.content.propertyCollector.ContinueRetrievePropertiesEx(res.token)
    assert len(priv.ContinueRetrievePropertiesEx(res.token).objects) == 100
    priv.Destroy()
    view.Destroy()


def test_max_page_0_is_unlimited(make_sim, tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(INVENTORY)
    si = pc.connect(make_sim("--max-page", "0", inventory=inv))
    _view, spec = vm_spec(si)
    assert pages_of(si.content.propertyCollector, spec, None) == [250]
    assert pages_of(si.content.propertyCollector, spec, 200) == [200, 50]


# ---- WaitForUpdatesEx: 100 ObjectUpdates per call, truncated, at once ----


def drain(collector: PC, version: str, opts: PC.WaitOptions) -> tuple[list[int], list[bool], str]:
    sizes, truncated = [], []
    while True:
        res = collector.WaitForUpdatesEx(version, opts)
        if res is None:
            return sizes, truncated, version
        version = res.version
        sizes.append(sum(len(f.objectSet) for f in res.filterSet))
        truncated.append(bool(res.truncated))
        if not res.truncated:
            return sizes, truncated, version


def test_wait_for_updates_truncates_at_100(si) -> None:
    view, spec = vm_spec(si)
    collector = si.content.propertyCollector.CreatePropertyCollector()
    collector.CreateFilter(spec, partialUpdates=False)
    opts = PC.WaitOptions(maxWaitSeconds=0)
    t0 = time.monotonic()
    sizes, truncated, version = drain(collector, "", opts)
    assert sizes == [100, 100, 50] and truncated == [True, True, False]
    assert time.monotonic() - t0 < 2  # the rest comes at once, no waiting
    # client asks for fewer
    collector2 = si.content.propertyCollector.CreatePropertyCollector()
    collector2.CreateFilter(spec, partialUpdates=False)
    sizes, truncated, _ = drain(
        collector2, "", PC.WaitOptions(maxWaitSeconds=0, maxObjectUpdates=30)
    )
    assert sizes == [30] * 8 + [10] and truncated == [True] * 8 + [False]
    # nothing changed since: maxWaitSeconds=0 returns unset
    assert collector.WaitForUpdatesEx(version, opts) is None
    collector.Destroy()
    collector2.Destroy()
    view.Destroy()


def test_wait_for_updates_returns_a_change_at_once(si) -> None:
    v = pc.vm(si, "vm-c01-h01-01")
    collector = si.content.propertyCollector.CreatePropertyCollector()
    task = v.PowerOnVM_Task()
    collector.CreateFilter(
        PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=task)],
            propSet=[PC.PropertySpec(type=vim.Task, pathSet=["info.state"])],
        ),
        partialUpdates=False,
    )
    version = collector.WaitForUpdatesEx("", PC.WaitOptions(maxWaitSeconds=5)).version
    seen = []
    while not seen or seen[-1] not in ("success", "error"):
        t0 = time.monotonic()
        res = collector.WaitForUpdatesEx(version, PC.WaitOptions(maxWaitSeconds=5))
        assert res is not None
        version = res.version
        seen += [c.val for f in res.filterSet for o in f.objectSet for c in o.changeSet]
    # the task runs ~30 ms: vcsim's 250 ms batching ticker would make this ~220 ms
    assert time.monotonic() - t0 < 0.15
    assert seen[-1] == "success"
    pc.ok(v.PowerOffVM_Task())
    collector.Destroy()


def test_two_sessions_both_get_updates(sim, si) -> None:
    """vcsim 0.24 registered every session's view of the ServiceContent collector under one
    moref, so only the last session to wait got updates."""
    other = pc.connect(sim)
    v = pc.vm(si, "vm-c01-h01-02")
    for s in (si, other):
        vm = pc.vm(s, "vm-c01-h01-02")
        s.content.propertyCollector.CreateFilter(
            PC.FilterSpec(
                objectSet=[PC.ObjectSpec(obj=vm)],
                propSet=[PC.PropertySpec(type=vim.VirtualMachine, pathSet=["runtime.powerState"])],
            ),
            partialUpdates=False,
        )
    versions = [
        s.content.propertyCollector.WaitForUpdatesEx("", PC.WaitOptions(maxWaitSeconds=0)).version
        for s in (si, other)
    ]
    pc.ok(v.PowerOnVM_Task())
    for s, version in zip((si, other), versions, strict=True):
        res = s.content.propertyCollector.WaitForUpdatesEx(
            version, PC.WaitOptions(maxWaitSeconds=5)
        )
        assert res is not None
        vals = [c.val for f in res.filterSet for o in f.objectSet for c in o.changeSet]
        assert "poweredOn" in vals
    pc.ok(v.PowerOffVM_Task())
    pc.disconnect(other)


# ---- session idle timeout ----

SMALL = """
hosts:
  - {name: esx-1, pmem: 64GiB}
datastores:
  - {name: san, capacity: 1TiB}
vms:
  - {name: v1, host: esx-1, disks: [{size: 1GiB, datastore: san}]}
"""


@pytest.fixture
def idle_sim(make_sim, tmp_path: Path) -> simproc.PmemSim:
    inv = tmp_path / "inv.yaml"
    inv.write_text(SMALL)
    return make_sim("--session-idle-timeout", "1s", inventory=inv)


def test_idle_session_expires_with_not_authenticated(idle_sim) -> None:
    si = pc.connect(idle_sim)
    watcher = pc.connect(idle_sim)
    key = si.content.sessionManager.currentSession.key
    for _ in range(4):  # calls keep it alive
        time.sleep(0.5)
        assert si.content.sessionManager.currentSession.key == key
        assert watcher.content.sessionManager.SessionIsActive(key, "user")
    time.sleep(1.5)
    watcher = pc.connect(idle_sim)  # the old watcher was idle too
    assert watcher.content.sessionManager.SessionIsActive(key, "user") is False
    # currentSession reads back unset (pyVim's relogin check), everything else faults
    assert si.content.sessionManager.currentSession is None
    with pytest.raises(vim.fault.NotAuthenticated):
        pc.objects(si, vim.VirtualMachine)
    with pytest.raises(vim.fault.NotAuthenticated):
        si.content.propertyCollector.RetrievePropertiesEx(
            [pc.view_filter_spec(si.content.rootFolder, vim.VirtualMachine, ["name"])],
            PC.RetrieveOptions(),
        )
    assert pc.objects(pc.connect(idle_sim), vim.VirtualMachine).keys() == {"v1"}  # log in again


def test_wait_for_updates_in_progress_is_activity(idle_sim) -> None:
    si = pc.connect(idle_sim)
    collector = si.content.propertyCollector
    v = pc.vm(si, "v1")
    collector.CreateFilter(
        PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=v)],
            propSet=[PC.PropertySpec(type=vim.VirtualMachine, pathSet=["runtime.powerState"])],
        ),
        partialUpdates=False,
    )
    version = collector.WaitForUpdatesEx("", PC.WaitOptions(maxWaitSeconds=0)).version
    assert (
        collector.WaitForUpdatesEx(version, PC.WaitOptions(maxWaitSeconds=3)) is None
    )  # 3 s > 1 s
    assert si.content.sessionManager.currentSession is not None


def test_pbm_with_an_expired_session_faults(idle_sim) -> None:
    si = pc.connect(idle_sim)
    cookie = si._stub.cookie.split('"')[1]
    ctx = ssl.create_default_context(cafile=str(idle_sim.cert))
    stub = SoapStubAdapter(
        host=idle_sim.parts.hostname,
        port=idle_sim.parts.port,
        path="/pbm/sdk",
        version="pbm.version.version11",
        poolSize=0,
        sslContext=ctx,
        requestContext={"vcSessionCookie": cookie},
    )
    content = pbm.ServiceInstance("ServiceInstance", stub).PbmRetrieveServiceContent()
    kind = pbm.profile.ResourceType(resourceType="STORAGE")
    assert content.profileManager.PbmQueryProfile(resourceType=kind)
    time.sleep(2.2)
    with pytest.raises(vim.fault.NotAuthenticated):
        content.profileManager.PbmQueryProfile(resourceType=kind)


def test_terminate_session(sim) -> None:
    a, b = pc.connect(sim), pc.connect(sim)
    key = a.content.sessionManager.currentSession.key
    with pytest.raises(vmodl.fault.InvalidArgument):
        a.content.sessionManager.TerminateSession([key])  # not one's own
    b.content.sessionManager.TerminateSession([key])
    assert b.content.sessionManager.SessionIsActive(key, "user") is False
    assert a.content.sessionManager.currentSession is None
    with pytest.raises(vim.fault.NotAuthenticated):
        pc.vm(a, "vm-c01-h01-01").PowerOnVM_Task()
    with pytest.raises(vim.fault.NotFound):
        b.content.sessionManager.TerminateSession([key])


# ---- several datacenters, escaped names ----

MULTI = """
datacenters:
  - name: East
    local_datastores: true
    clusters:
      - name: C1
        hosts: [{name: esx-1, pmem: 16GiB}, {name: esx-2}]
    datastores:
      - {name: shared, capacity: 1TiB}
    vms:
      - {name: web/01, host: esx-1, folder: "a/b", disks: [{size: 1GiB, datastore: datastore1}]}
      - {name: same, host: esx-2, folder: f1, disks: [{size: 1GiB, datastore: "datastore1 (1)"}]}
      - {name: same, host: esx-2, folder: f2, disks: [{size: 1GiB, datastore: shared}]}
  - name: "West%1"
    local_datastores: 500GiB
    hosts: [{name: esx-1, pmem: 8GiB}]
    datastores:
      - {name: shared, capacity: 2TiB}
    vms:
      - {name: same, host: esx-1, disks: [{size: 1GiB, datastore: shared}]}
"""


@pytest.fixture(scope="module")
def multi_si(tmp_path_factory: pytest.TempPathFactory):
    inv = tmp_path_factory.mktemp("multi") / "inv.yaml"
    inv.write_text(MULTI)
    with simproc.start(inventory=inv) as sim:
        yield pc.connect(sim)


def test_datacenters_scope_names(multi_si) -> None:
    c = multi_si.content
    dcs = {dc.name: dc for dc in c.rootFolder.childEntity}
    assert set(dcs) == {"East", "West%251"}
    east, west = dcs["East"], dcs["West%251"]
    assert sorted(d.name for d in east.datastore if d.summary.type != "PMEM") == [
        "datastore1",
        "datastore1 (1)",
        "shared",
    ]
    assert sorted(d.name for d in west.datastore if d.summary.type != "PMEM") == [
        "datastore1",
        "shared",
    ]
    by_dc = {n: {d.name: d for d in dc.datastore} for n, dc in dcs.items()}
    assert by_dc["East"]["shared"] != by_dc["West%251"]["shared"]
    assert by_dc["East"]["shared"].summary.capacity == 1 << 40
    assert by_dc["West%251"]["datastore1"].summary.capacity == 500 << 30
    assert by_dc["East"]["datastore1"].info.vmfs.local is True
    assert by_dc["East"]["shared"].info.url != by_dc["West%251"]["shared"].info.url
    # host names are per datacenter: two esx-1
    view = c.viewManager.CreateContainerView(c.rootFolder, [vim.HostSystem], True)
    assert sorted(h.name for h in view.view) == ["esx-1", "esx-1", "esx-2"]
    view.Destroy()
    # VM names per folder: three "same"
    view = c.viewManager.CreateContainerView(c.rootFolder, [vim.VirtualMachine], True)
    vms = list(view.view)
    view.Destroy()
    assert sorted(v.name for v in vms) == ["same", "same", "same", "web%2f01"]
    west_same = [v for v in vms if v.name == "same" and v.runtime.host.parent.parent.parent == west]
    assert len(west_same) == 1
    assert west_same[0].config.files.vmPathName == "[shared] same/same.vmx"
    assert west_same[0].datastore[0] == by_dc["West%251"]["shared"]


def test_names_are_escaped_and_found_by_inventory_path(multi_si) -> None:
    c = multi_si.content
    si_ = c.searchIndex
    vm = si_.FindByInventoryPath("East/vm/a/b/web%2f01")  # folder: "a/b" nests
    assert vm is not None and vm.name == "web%2f01"
    assert vm.summary.config.name == "web%2f01" and vm.config.name == "web%2f01"
    assert vm.parent.name == "b"
    assert si_.FindByInventoryPath("East/vm/a/b/web/01") is None
    assert si_.FindByInventoryPath("West%251/vm/same") is not None
    folder = si_.FindByInventoryPath("East/vm/f1")
    new = folder.CreateFolder("x/y\\z%")
    assert new.name == "x%2fy%5cz%25"
    with pytest.raises(vim.fault.DuplicateName):
        folder.CreateFolder("x/y\\z%")


def test_create_vm_names_unique_per_folder(multi_si) -> None:
    c = multi_si.content
    f1 = c.searchIndex.FindByInventoryPath("East/vm/f1")
    pool = c.searchIndex.FindByInventoryPath("East/host/C1").resourcePool
    spec = vim.vm.ConfigSpec(name="same", files=vim.vm.FileInfo(vmPathName="[shared]"))
    pc.fails(f1.CreateVM_Task(config=spec, pool=pool), vim.fault.DuplicateName)
    spec = vim.vm.ConfigSpec(name="a/b", files=vim.vm.FileInfo(vmPathName="[shared]"))
    info = pc.ok(f1.CreateVM_Task(config=spec, pool=pool))
    assert info.result.name == "a%2fb"
    # the home resolves in the folder's datacenter: East's "shared"
    assert info.result.datastore[0].summary.capacity == 1 << 40


@pytest.mark.parametrize(
    "text,where",
    [
        (
            "datacenter: A\ndatacenters: [{name: B}]\n",
            "inv.yaml:1: datacenter: not allowed with datacenters:",
        ),
        ("datacenters: []\n", "inv.yaml:1: datacenters: want at least one"),
        (
            "datacenters:\n  - {name: A}\n  - {name: A}\n",
            "inv.yaml:3: datacenters[1].name: duplicate datacenter",
        ),
        (
            "datacenters:\n  - name: A\n    hosts: [{name: h}]\n    datastores: [{name: d, capacity: 1TiB}]\n"
            "    vms: [{name: v, host: h}, {name: v, host: h}]\n",
            "inv.yaml:5: datacenters[0].vms[1].name: duplicate VM name",
        ),
        (
            "datacenters:\n  - name: A\n    hosts: [{name: h}]\n  - name: B\n    datastores: [{name: d, capacity: 1TiB, hosts: [h]}]\n",
            'inv.yaml:5: datacenters[1].datastores[0].hosts[0]: unknown host "h" in datacenter B',
        ),
        (
            "local_datastores: maybe\nhosts: [{name: h}]\n",
            "inv.yaml:1: local_datastores: want true, false or a capacity",
        ),
        (
            "clusters: [{name: c, ha: {pmem_failover_percent: 10}, hosts: [{name: h}]}]\n",
            "needs pmem_admission_control: true",
        ),
    ],
)
def test_datacenter_inventory_errors(tmp_path: Path, text: str, where: str) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(text)
    r = subprocess.run(
        [str(simproc.RUN), "--listen", "127.0.0.1:0", "--inventory", str(inv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 2 and r.stdout == ""
    assert where in r.stderr.replace(str(tmp_path) + "/", ""), r.stderr


# ---- HA PMem admission control ----

HA = """
clusters:
  - name: HA
    ha: {pmem_admission_control: true, pmem_failover_percent: 25}
    hosts: [{name: esx-h1, pmem: 64GiB}, {name: esx-h2, pmem: 64GiB}]
  - name: Plain
    hosts: [{name: esx-p1, pmem: 64GiB}]
datastores:
  - {name: san, capacity: 1TiB}
vms:
  - {name: ha-vm, host: esx-h1, hardware_version: 19, guest_id: rhel8_64Guest, disks: [{size: 1GiB, datastore: san}]}
  - {name: plain-vm, host: esx-p1, hardware_version: 19, guest_id: rhel8_64Guest, disks: [{size: 1GiB, datastore: san}]}
"""


def test_ha_pmem_admission_control(make_sim, tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(HA)
    si = pc.connect(make_sim(inventory=inv))
    clusters = pc.objects(si, vim.ClusterComputeResource)
    policy = clusters["HA"].configurationEx.dasConfig.admissionControlPolicy
    assert isinstance(policy, vim.cluster.FailoverResourcesAdmissionControlPolicy)
    assert policy.pMemAdmissionControlEnabled is True
    assert policy.pMemFailoverResourcesPercent == 25
    assert policy.autoComputePMemFailoverResourcesPercent is False
    assert clusters["HA"].configurationEx.dasConfig.admissionControlEnabled is True
    assert not clusters["Plain"].configurationEx.dasConfig.admissionControlPolicy
    target = clusters["HA"].environmentBrowser.QueryConfigTarget()
    assert target.availablePersistentMemoryReservationMB == 48 * 1024
    plain = clusters["Plain"].environmentBrowser.QueryConfigTarget()
    assert plain.availablePersistentMemoryReservationMB == 64 * 1024
    # 48 GiB fits, 49 GiB eats into the reserve; without HA 60 GiB fits
    v = pc.vm(si, "ha-vm")
    info = pc.fails(
        v.ReconfigVM_Task(pc.nvdimm_spec(49 * 1024, controller=True)),
        vim.fault.InsufficientResourcesFault,
    )
    assert "reserved by vSphere HA" in info.error.msg
    pc.ok(v.ReconfigVM_Task(pc.nvdimm_spec(48 * 1024, controller=True)))
    assert (
        clusters["HA"].environmentBrowser.QueryConfigTarget().availablePersistentMemoryReservationMB
        == 48 * 1024
    )
    pc.ok(pc.vm(si, "plain-vm").ReconfigVM_Task(pc.nvdimm_spec(60 * 1024, controller=True)))
