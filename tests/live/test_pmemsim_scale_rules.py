"""pmemsim at vCenter scale: page caps, WaitForUpdatesEx truncation and latency, session idle
timeout, several datacenters, name escaping, HA PMem admission control.

Every rule here is vCenter's, with its source in tests/pmemsim/README.md.
"""

from __future__ import annotations

import ssl
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
