"""take_snapshot against pmemsim: demo-estate values, round trips, and the 5,000-VM contract."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pmemctl.inventory.model import Inventory
from pmemctl.status import build_status
from pmemctl.vsphere.pbm import find_pmem_policy_id
from pmemctl.vsphere.session import Connection, ConnectionSettings, connect
from pmemctl.vsphere.snapshot import take_snapshot
from tests import simproc

GiB = 1024


def settings_for(sim: simproc.PmemSim) -> ConnectionSettings:
    p = sim.parts
    assert p.hostname and p.port
    return ConnectionSettings(host=p.hostname, port=p.port, user=sim.user,
                              password=sim.password, ca_file=str(sim.cert))


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0)
            for k in sorted(set(after) | set(before)) if after.get(k, 0) != before.get(k, 0)}


@pytest.fixture(scope="module")
def demo_inventory(demo_sim: simproc.PmemSim) -> Iterator[Inventory]:
    with connect(settings_for(demo_sim)) as conn:
        yield take_snapshot(conn, all_devices=True)


def test_hosts_and_clusters(demo_inventory: Inventory) -> None:
    hosts = {h.name: h for h in demo_inventory.hosts.values()}
    assert sorted(hosts) == ["esx-01", "esx-02", "esx-03", "esx-10"]
    assert {n: h.cluster for n, h in hosts.items()} == {
        "esx-01": "Prod", "esx-02": "Prod", "esx-03": "Prod", "esx-10": None}
    assert {n: h.pmem_capacity_mb for n, h in hosts.items()} == {
        "esx-01": 512 * GiB, "esx-02": 512 * GiB, "esx-03": 0, "esx-10": 128 * GiB}
    assert hosts["esx-01"].pmem_free_mb == 512 * GiB
    # cache-01 holds an 8 GiB NVDIMM and a 16 GiB PMem disk on esx-10
    assert hosts["esx-10"].pmem_free_mb == (128 - 24) * GiB
    assert hosts["esx-03"].pmem_datastore is None
    # a real ESXi reports pMemSupported=true without PMem (pyVmomi's recorded ESXi 8.0.3 host)
    assert hosts["esx-03"].pmem_supported and hosts["esx-03"].pmem_free_mb == 0
    for name in ("esx-01", "esx-02", "esx-10"):
        h = hosts[name]
        assert h.pmem_supported and h.connected and not h.maintenance
        assert h.pmem_datastore is not None and h.pmem_datastore.startswith("PMemDS-")
        assert h.pmem_datastore in h.datastores


def test_datastores(demo_inventory: Inventory) -> None:
    ds = {d.name: d for d in demo_inventory.datastores.values()}
    pmem = {n: d for n, d in ds.items() if d.is_pmem}
    assert len(pmem) == 3
    for d in pmem.values():
        assert len(d.hosts) == 1  # host-local
    assert ds["san-01"].type == "VMFS"
    assert ds["san-01"].capacity_mb == 8 * 1024 * GiB
    assert ds["nfs-01"].type == "NFS"
    assert ds["nfs-01"].hosts == ("esx-01", "esx-02", "esx-03")


def test_vms_folders_and_light_fields(demo_inventory: Inventory) -> None:
    vms = demo_inventory.vms
    assert sorted(vms) == ["app-01", "cache-01", "legacy-sql-01", "legacy-sql-02",
                           "legacy-sql-03", "redis-01", "redis-02", "web-01"]
    assert {n: v.folder for n, v in vms.items()} == {
        "app-01": "Apps", "cache-01": "", "legacy-sql-01": "Legacy", "legacy-sql-02": "Legacy",
        "legacy-sql-03": "Legacy", "redis-01": "Databases", "redis-02": "Databases",
        "web-01": "Apps"}
    r1 = vms["redis-01"]
    assert (r1.host, r1.cluster, r1.hardware_version, r1.guest_id, r1.power_state) == (
        "esx-01", "Prod", 14, "rhel8_64Guest", "poweredOff")
    assert r1.home_datastore == "san-01"
    assert vms["web-01"].snapshots == 1
    assert vms["legacy-sql-01"].hardware_version == 11
    assert vms["cache-01"].cluster is None


def test_cache_01_devices(demo_inventory: Inventory) -> None:
    vm = demo_inventory.vms["cache-01"]
    host = demo_inventory.host_named("esx-10")
    assert vm.devices_loaded
    assert [(n.label, n.size_mb) for n in vm.nvdimms] == [("NVDIMM 1", 8 * GiB)]
    assert vm.nvdimm_controller_key is not None
    assert vm.nvdimms[0].controller_key == vm.nvdimm_controller_key
    assert [(d.label, d.size_mb, d.datastore, d.pmem) for d in vm.disks] == [
        ("Hard disk 1", 20 * GiB, "san-01", False),
        ("Hard disk 2", 16 * GiB, host.pmem_datastore, True),
    ]
    assert vm.uses_pmem
    assert host.pmem_datastore in vm.datastores


def test_legacy_disks(demo_inventory: Inventory) -> None:
    vm = demo_inventory.vms["legacy-sql-02"]
    assert [(d.label, d.size_mb, d.datastore, d.pmem, d.backing) for d in vm.disks] == [
        ("Hard disk 1", 60 * GiB, "san-01", False, "flat"),
        ("Hard disk 2", 120 * GiB, "nfs-01", False, "flat"),
    ]


def test_guests(demo_inventory: Inventory) -> None:
    guests = demo_inventory.guests
    assert set(guests) == {"otherGuest64", "rhel8_64Guest", "sles15_64Guest", "ubuntu64Guest",
                           "windows9Server64Guest"}
    assert guests["ubuntu64Guest"].pmem_supported
    assert guests["rhel8_64Guest"].pmem_supported


def test_about(demo_inventory: Inventory) -> None:
    assert demo_inventory.about.api_version == "7.0.3.0"
    assert demo_inventory.about.instance_uuid


def test_status_round_trips(demo_sim: simproc.PmemSim) -> None:
    """`status`: login, one light pass, one device pass, one guest query, logout."""
    before = demo_sim.stats()
    with connect(settings_for(demo_sim)) as conn:
        inv = take_snapshot(conn)
    calls = delta(before, demo_sim.stats())
    assert calls == {"CreateContainerView": 1, "DestroyView": 1, "Login": 1, "Logout": 1,
                     "QueryConfigOptionEx": 1, "RetrieveProperties": 1,
                     "RetrievePropertiesEx": 1, "RetrieveServiceContent": 1}
    # Only the VM with something on a PMem datastore got its devices read.
    assert [n for n, v in inv.vms.items() if v.devices_loaded] == ["cache-01"]
    assert [v["name"] for v in build_status(inv)["vms"]] == ["cache-01"]


def test_pmem_policy(demo_sim: simproc.PmemSim) -> None:
    with connect(settings_for(demo_sim)) as conn:
        assert find_pmem_policy_id(conn) == "c268da1b-b343-49f7-a468-b1deeb7078e0"


def write_estate(tmp_path: Path) -> Path:
    path = tmp_path / "big.yaml"
    path.write_text(
        "datacenter: DC0\n"
        "generate: {clusters: 10, hosts_per_cluster: 20, vms_per_host: 25, pmem_per_host: 512GiB}\n"
    )
    return path


def test_5000_vms_50_selected(make_sim: Callable[..., simproc.PmemSim], tmp_path: Path) -> None:
    """The contract: ≤ 12 SOAP calls for 50 of 5,000 VMs at vCenter's 100-object pages (which
    pmemsim enforces): the light pass is one RetrieveProperties, which has no paging, and the
    50 selected VMs are one page. Well under 300 MB. Wall time is printed, never asserted: it
    belongs to benchmarks/plan_roundtrips.py.
    """
    sim = make_sim(inventory=write_estate(tmp_path))
    chosen: list[str] = []

    def want(inv: Inventory) -> list[str]:
        names = sorted(inv.vms)
        chosen.extend(names[::100][:50])
        return chosen

    before = sim.stats()
    # No tracemalloc here: it triples the time of pyVmomi's XML parsing.
    # ru_maxrss is the whole test process's peak (pytest included), in KiB.
    start = time.perf_counter()
    with connect(settings_for(sim)) as conn:
        inv = take_snapshot(conn, want)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    calls = delta(before, sim.stats())
    total = sum(calls.values())
    print(f"\n5,000 VMs / 50 selected: {total} SOAP requests {calls}, {elapsed:.2f} s, "
          f"peak RSS of the test process {peak / 2**20:.0f} MiB")
    assert len(inv.vms) == 5000
    assert len(inv.hosts) == 200
    assert len(chosen) == 50
    assert sum(v.devices_loaded for v in inv.vms.values()) == 50
    assert all(inv.vms[n].disks for n in chosen)
    assert total <= 12, calls
    assert calls.get("RetrieveProperties") == 1, calls  # the light pass, every object
    assert "ContinueRetrievePropertiesEx" not in calls, calls
    assert peak < 300 * 2**20


def test_paged_reads_only_when_asked_cost_a_round_trip_per_page(
        make_sim: Callable[..., simproc.PmemSim], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """PMEMCTL_PAGED_READS=1: the light pass pages at 100 objects, and reads the same estate."""
    sim = make_sim(inventory=write_estate(tmp_path))
    with connect(settings_for(sim)) as conn:
        unpaged = take_snapshot(conn, lambda inv: sorted(inv.vms)[::100][:50])
    monkeypatch.setenv("PMEMCTL_PAGED_READS", "1")
    before = sim.stats()
    with connect(settings_for(sim)) as conn:
        paged = take_snapshot(conn, lambda inv: sorted(inv.vms)[::100][:50])
    calls = delta(before, sim.stats())
    assert "RetrieveProperties" not in calls
    # about 5,450 objects in the light pass: 55 pages of 100
    assert 50 <= calls.get("ContinueRetrievePropertiesEx", 0) <= 60, calls
    assert paged == unpaged


def test_empty_selection_skips_device_pass(demo_sim: simproc.PmemSim) -> None:
    before = demo_sim.stats()
    with connect(settings_for(demo_sim)) as conn:
        inv: Inventory = take_snapshot(conn, lambda inv: [])
        assert isinstance(conn, Connection)
    calls = delta(before, demo_sim.stats())
    assert calls.get("RetrieveProperties") == 1  # the light pass; no selected pass
    assert "RetrievePropertiesEx" not in calls
    assert "QueryConfigOptionEx" not in calls
    assert not any(v.devices_loaded for v in inv.vms.values())


def test_paging_gives_the_same_inventory(
    demo_sim: simproc.PmemSim, demo_inventory: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small pages (as a busy vCenter sends) go through ContinueRetrievePropertiesEx, and the
    paged light pass reads what the unpaged one (``demo_inventory``) does."""
    monkeypatch.setattr("pmemctl.vsphere.snapshot.MAX_OBJECTS", 3)
    monkeypatch.setenv("PMEMCTL_PAGED_READS", "1")
    before = demo_sim.stats()
    with connect(settings_for(demo_sim)) as conn:
        inv = take_snapshot(conn, all_devices=True)
    calls = delta(before, demo_sim.stats())
    assert calls["ContinueRetrievePropertiesEx"] >= 5
    assert inv == demo_inventory


def test_scoped_snapshot_reads_only_the_clusters_vms(demo_sim: simproc.PmemSim) -> None:
    """A spec about cluster Prod: the VM pass starts at the cluster, not the root folder."""
    from pmemctl.inventory.model import Scope

    before = demo_sim.stats()
    with connect(settings_for(demo_sim)) as conn:
        inv = take_snapshot(conn, lambda light: ["redis-01"], scope=Scope(clusters=("Prod",)))
    calls = delta(before, demo_sim.stats())
    assert "cache-01" not in inv.vms  # on standalone esx-10
    assert {"redis-01", "legacy-sql-01", "web-01"} <= set(inv.vms)
    assert len(inv.hosts) == 4  # hosts, datastores, folders: still all of them
    assert inv.vms["redis-01"].devices_loaded and inv.vms["redis-01"].power_state
    assert calls["CreateContainerView"] == 2 and calls["DestroyView"] == 2
    assert calls["RetrieveProperties"] == 2  # skeleton, the cluster's VMs (light, unpaged)
    assert calls["RetrievePropertiesEx"] == 1  # redis-01's devices (selected, paged)


def test_light_pass_reads_selection_fields_only(demo_sim: simproc.PmemSim) -> None:
    """VMs outside the selection carry only what selection needs."""
    with connect(settings_for(demo_sim)) as conn:
        inv = take_snapshot(conn, lambda light: ["redis-01"])
    web = inv.vms["web-01"]
    assert (web.host, web.cluster, web.folder, web.datacenter) == ("esx-02", "Prod", "Apps", "DC0")
    assert (web.power_state, web.hardware_version, web.snapshots, web.datastores) == ("", 0, 0, ())
    r1 = inv.vms["redis-01"]
    assert (r1.power_state, r1.hardware_version, r1.home_datastore) == (
        "poweredOff", 14, "san-01")
