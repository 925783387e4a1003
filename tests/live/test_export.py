"""`pmemctl export`: the estate as a pmemsim inventory, served again and exported again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests import simproc
from tests.live.applykit import run

MakeSim = Callable[..., simproc.PmemSim]

# Two datacenters with what the format holds: HA admission control, escaped
# names, nested folders, local datastores, NVDIMMs, vPMemDisks, a VM without
# Tools, snapshots, and names shared between datacenters.
MULTI = """
datacenters:
  - name: East
    local_datastores: 2TiB
    clusters:
      - name: C1
        ha: {pmem_admission_control: true, pmem_failover_percent: 25}
        hosts: [{name: esx-1, pmem: 512GiB}, {name: esx-2, pmem: 256GiB}]
      - name: C2
        ha: {pmem_admission_control: true}
        hosts: [{name: esx-3, pmem: 128GiB}]
    hosts: [{name: esx-9}]
    datastores:
      - {name: san, capacity: 8TiB}
      - {name: "nfs/a", type: NFS41, capacity: 1TiB, hosts: [esx-1, esx-9]}
    vms:
      - {name: "web/01", host: esx-1, folder: "Web/Front", hardware_version: 19,
         guest_id: rhel8_64Guest, power: poweredOn, cpus: 4, memory: 16GiB,
         disks: [{size: 40GiB, datastore: san}, {size: 1536MiB, datastore: "nfs/a"}],
         nvdimms: [8GiB, 4GiB]}
      - {name: db-01, host: esx-2, folder: Db, guest_id: sles15_64Guest,
         disks: [{size: 16GiB, datastore: pmem}, {size: 10GiB, datastore: datastore1 (1)}],
         home: san, tools: false}
      - {name: old-01, host: esx-9, hardware_version: 11, snapshots: 2,
         disks: [{size: 20GiB, datastore: "nfs/a"}]}
  - name: West
    hosts: [{name: esx-1, pmem: 64GiB}]
    datastores: [{name: san, capacity: 2TiB}]
    vms:
      - {name: db-01, host: esx-1, folder: Db, disks: [{size: 30GiB, datastore: san}]}
"""


def _export(sim: simproc.PmemSim, out: Path, *args: str) -> str:
    r = run(sim, "export", "-o", str(out), *args)
    assert r.exit_code == 0, r.output
    return out.read_text()


def _round_trip(make_sim: MakeSim, tmp_path: Path, first: simproc.PmemSim, *args: str) -> str:
    one = _export(first, tmp_path / "one.yaml", *args)
    again = make_sim(inventory=tmp_path / "one.yaml")
    two = _export(again, tmp_path / "two.yaml", *args)
    assert two == one
    return one


def test_demo_export_served_again_exports_the_same_file(
        demo_sim: simproc.PmemSim, make_sim: MakeSim, tmp_path: Path) -> None:
    text = _round_trip(make_sim, tmp_path, demo_sim)
    doc = yaml.safe_load(text)
    vms = {vm["name"]: vm for vm in doc["vms"]}
    assert len(vms) == 8
    assert vms["cache-01"]["nvdimms"] == ["8GiB"]
    assert vms["cache-01"]["disks"] == [{"size": "20GiB", "datastore": "san-01"},
                                        {"size": "16GiB", "datastore": "pmem"}]
    assert vms["web-01"]["snapshots"] == 1
    assert (vms["redis-02"]["hardware_version"], vms["redis-02"]["power"],
            vms["redis-02"]["folder"]) == (13, "poweredOn", "Databases")
    assert doc["clusters"][0]["hosts"][0] == {"name": "esx-01", "pmem": "512GiB"}
    assert {d["name"]: d.get("hosts") for d in doc["datastores"]} == {
        "nfs-01": ["esx-01", "esx-02", "esx-03"], "san-01": None}


def test_multi_datacenter_export_round_trips(make_sim: MakeSim, tmp_path: Path) -> None:
    (tmp_path / "multi.yaml").write_text(MULTI)
    text = _round_trip(make_sim, tmp_path, make_sim(inventory=tmp_path / "multi.yaml"))
    doc = yaml.safe_load(text)
    east, west = doc["datacenters"]
    assert (east["name"], west["name"]) == ("East", "West")
    c1 = east["clusters"][0]
    assert c1["ha"]["pmem_admission_control"] is True
    assert c1["ha"]["pmem_failover_percent"] == 25
    assert "pmem_failover_percent" not in east["clusters"][1]["ha"]  # computed by vCenter
    vms = {(vm.get("folder"), vm["name"]): vm for vm in east["vms"]}
    web = vms[("Web/Front", "web/01")]  # names unescaped, folders nested
    assert (web["cpus"], web["memory"], web["nvdimms"]) == (4, "16GiB", ["8GiB", "4GiB"])
    assert web["disks"][1] == {"size": "1536MiB", "datastore": "nfs/a"}
    db = vms[("Db", "db-01")]
    assert db["tools"] is False and db["home"] == "san"
    assert db["disks"][0]["datastore"] == "pmem"
    assert vms[(None, "old-01")]["snapshots"] == 2
    ds = {d["name"]: d for d in east["datastores"]}
    assert ds["datastore1 (1)"]["hosts"] == ["esx-2"]
    assert ds["nfs/a"]["type"] == "NFS41"
    assert west["vms"][0]["name"] == "db-01"


def test_anonymized_export_keeps_the_shape_and_no_name(
        make_sim: MakeSim, tmp_path: Path) -> None:
    (tmp_path / "multi.yaml").write_text(MULTI)
    sim = make_sim(inventory=tmp_path / "multi.yaml")
    plain = yaml.safe_load(_export(sim, tmp_path / "plain.yaml"))
    text = _round_trip(make_sim, tmp_path, sim, "--anonymize")
    for name in ("East", "West", "C1", "esx-", "san", "nfs", "web", "db-01", "old-01", "Front"):
        assert name not in text
    anon = yaml.safe_load(text)
    # Same counts and sizes, consistent renames: both datacenters' esx-1 are host-01.
    assert [len(d["vms"]) for d in anon["datacenters"]] == [len(d["vms"])
                                                           for d in plain["datacenters"]]
    assert anon["datacenters"][0]["clusters"][0]["hosts"][0] == {"name": "host-01",
                                                                 "pmem": "512GiB"}
    assert anon["datacenters"][1]["hosts"] == [{"name": "host-01", "pmem": "64GiB"}]
    sizes = sorted(d["size"] for dc in anon["datacenters"] for vm in dc["vms"]
                   for d in vm["disks"])
    assert sizes == sorted(d["size"] for dc in plain["datacenters"] for vm in dc["vms"]
                           for d in vm["disks"])
    # db-01 is in both datacenters: one name, so it stays one name.
    assert sorted(vm["name"] for dc in anon["datacenters"] for vm in dc["vms"]) == [
        "vm-0001", "vm-0002", "vm-0002", "vm-0003"]
    assert anon["datacenters"][1]["vms"][0]["name"] == "vm-0002"


def test_scope_keeps_a_cluster_or_folder_and_what_it_needs(
        make_sim: MakeSim, tmp_path: Path) -> None:
    (tmp_path / "multi.yaml").write_text(MULTI)
    sim = make_sim(inventory=tmp_path / "multi.yaml")
    doc = yaml.safe_load(_export(sim, tmp_path / "c1.yaml", "--scope", "C1"))
    east = doc  # one datacenter left: the short form
    assert east["datacenter"] == "East"
    assert [vm["name"] for vm in east["vms"]] == ["db-01", "web/01"]
    assert [c["name"] for c in east["clusters"]] == ["C1"]
    assert "hosts" not in east  # esx-9 holds no VM in scope
    doc = yaml.safe_load(_export(sim, tmp_path / "db.yaml", "--scope", "Db"))
    assert [dc["name"] for dc in doc["datacenters"]] == ["East", "West"]
    # The served scope loads and exports to itself.
    again = make_sim(inventory=tmp_path / "db.yaml")
    assert _export(again, tmp_path / "db2.yaml") == (tmp_path / "db.yaml").read_text()


def test_unknown_scope_is_refused_and_writes_nothing(
        demo_sim: simproc.PmemSim, tmp_path: Path) -> None:
    r = run(demo_sim, "export", "-o", str(tmp_path / "x.yaml"), "--scope", "Nope")
    assert r.exit_code == 64
    assert "--scope matches no cluster or VM folder: Nope" in r.output
    assert not (tmp_path / "x.yaml").exists()


@pytest.mark.parametrize("args", [(), ("--anonymize",)])
def test_export_to_stdout_is_the_file(demo_sim: simproc.PmemSim, tmp_path: Path,
                                      args: tuple[str, ...]) -> None:
    r = run(demo_sim, "export", *args)
    assert r.exit_code == 0
    assert r.stdout == _export(demo_sim, tmp_path / "f.yaml", *args)


def test_export_reads_the_estate_in_one_paged_pass(make_sim: MakeSim, tmp_path: Path) -> None:
    # 2 clusters x 3 hosts x 40 VMs: 240 VMs and ~20 other objects, 3 pages of 100.
    (tmp_path / "gen.yaml").write_text(
        "generate: {clusters: 2, hosts_per_cluster: 3, vms_per_host: 40, pmem_per_host: 64GiB}\n")
    sim = make_sim(inventory=tmp_path / "gen.yaml")
    before = sim.stats()
    text = _export(sim, tmp_path / "gen-out.yaml")
    after = sim.stats()
    calls = {m: n - before.get(m, 0) for m, n in after.items() if n != before.get(m, 0)}
    assert calls == {"RetrieveServiceContent": 1, "Login": 1, "CreateContainerView": 1,
                     "RetrievePropertiesEx": 1, "ContinueRetrievePropertiesEx": 2,
                     "DestroyView": 1, "Logout": 1}
    assert len(yaml.safe_load(text)["vms"]) == 240


def test_a_disk_on_a_datastore_its_host_cannot_reach_is_left_out_with_a_note(
        demo_sim: simproc.PmemSim, make_sim: MakeSim, tmp_path: Path) -> None:
    # On a real vCenter a mount can be inaccessible (an NFS server down): such a
    # host is not among the datastore's hosts in the file, so a disk of a VM on
    # it must not name that datastore, or pmemsim refuses to load the file.
    from pmemctl.inventory.simfile import to_yaml
    from pmemctl.vsphere.export import EXPORT_PROPS, build_estate
    from pmemctl.vsphere.session import connect
    from pmemctl.vsphere.snapshot import _pass, _Raw
    from tests.live.applykit import settings_for

    raw = _Raw()
    with connect(settings_for(demo_sim)) as conn:
        _pass(conn, [conn.content.rootFolder], EXPORT_PROPS, raw, paged=True)
        nfs = next(p for p in raw.datastores.values() if p.get("name") == "nfs-01")
        esx02 = next(m for m, p in raw.hosts.items() if p.get("name") == "esx-02")
        for mount in nfs["host"]:
            if mount.key._moId == esx02:
                mount.mountInfo.accessible = False
    estate = build_estate(raw)
    assert any("legacy-sql-02" in n and "nfs-01" in n and "left out" in n for n in estate.notes)
    path = tmp_path / "estate.yaml"
    path.write_text(to_yaml(estate))
    served = make_sim(inventory=path)  # pmemsim loads it: no disk names an unreachable store
    assert run(served, "status").exit_code == 0
