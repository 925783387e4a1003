"""The pmemsim inventory writer: sizes, scope, anonymizing, over-committed datastores."""

from __future__ import annotations

import yaml

from pmemctl.inventory.simfile import (
    Estate,
    SimCluster,
    SimDatacenter,
    SimDatastore,
    SimDisk,
    SimHost,
    SimVM,
    all_notes,
    anonymize,
    format_size,
    scoped,
    to_yaml,
)

GIB = 1 << 30


def _estate() -> Estate:
    return Estate(datacenters=(SimDatacenter(
        name="DC",
        clusters=(SimCluster("Prod"), SimCluster("Test")),
        hosts=(SimHost("esx-b", "Prod", 512 * GIB), SimHost("esx-a", "Prod"),
               SimHost("esx-t", "Test"), SimHost("solo", None)),
        datastores=(SimDatastore("san", "VMFS", 100 * GIB, ("esx-a", "esx-b", "esx-t", "solo")),
                    SimDatastore("small", "NFS", 10 * GIB, ("esx-t",))),
        vms=(SimVM("db-1", "esx-b", folder="Db/Old", cluster="Prod", home="san",
                   disks=(SimDisk(40 * GIB, "san"), SimDisk(16 * GIB, "pmem")),
                   nvdimms_mb=(8192,)),
             SimVM("t-1", "esx-t", cluster="Test", home="small",
                   disks=(SimDisk(30 * GIB, "small"),))),
    ),))


def test_sizes_use_the_largest_exact_unit() -> None:
    assert [format_size(b) for b in (8 << 40, 40 * GIB, 1536 << 20, 1024, 1000)] == [
        "8TiB", "40GiB", "1536MiB", "1KiB", "1000B"]


def test_the_file_is_sorted_and_datastores_on_every_host_name_none() -> None:
    doc = yaml.safe_load(to_yaml(_estate()))
    assert [h["name"] for h in doc["clusters"][0]["hosts"]] == ["esx-a", "esx-b"]
    assert doc["hosts"] == [{"name": "solo"}]
    ds = {d["name"]: d for d in doc["datastores"]}
    assert "hosts" not in ds["san"] and ds["small"]["hosts"] == ["esx-t"]


def test_over_committed_datastore_is_raised_with_a_note() -> None:
    doc = yaml.safe_load(to_yaml(_estate()))
    assert {d["name"]: d["capacity"] for d in doc["datastores"]} == {
        "san": "100GiB", "small": "30GiB"}
    assert all_notes(_estate()) == [
        "datastore small in DC: its disks (counted thick, 30GiB) exceed its capacity (10GiB); "
        "written as 30GiB so pmemsim loads it"]


def test_scope_by_folder_keeps_the_whole_cluster_and_its_datastores() -> None:
    est, unmatched = scoped(_estate(), ["Db"])
    assert unmatched == []
    dc = est.datacenters[0]
    assert [vm.name for vm in dc.vms] == ["db-1"]
    assert sorted(h.name for h in dc.hosts) == ["esx-a", "esx-b"]
    assert [(d.name, d.hosts) for d in dc.datastores] == [("san", ("esx-a", "esx-b"))]
    assert [c.name for c in dc.clusters] == ["Prod"]


def test_scope_reports_what_matches_nothing() -> None:
    assert scoped(_estate(), ["Test", "Nope*"])[1] == ["Nope*"]


def test_anonymize_is_deterministic_consistent_and_keeps_sizes() -> None:
    a, b = to_yaml(anonymize(_estate())), to_yaml(anonymize(_estate()))
    assert a == b
    for name in ("DC", "Prod", "esx", "san", "small", "db-1", "Old", "solo"):
        assert name not in a.split("\n", 1)[1]
    doc = yaml.safe_load(a)
    vm = next(v for v in doc["vms"] if v.get("nvdimms"))
    assert vm["folder"] == "folder-01/folder-02"
    assert vm["disks"] == [{"size": "40GiB", "datastore": "ds-01"},
                           {"size": "16GiB", "datastore": "pmem"}]
    assert vm["home"] == "ds-01" and vm["nvdimms"] == ["8GiB"]
    host = next(h for h in doc["clusters"][0]["hosts"] if h.get("pmem"))
    assert host == {"name": "host-02", "pmem": "512GiB"} and vm["host"] == "host-02"
