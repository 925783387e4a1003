"""take_snapshot from a recorded session gives the same values as live pmemsim."""

from __future__ import annotations

from pmemctl.vsphere.session import Connection
from pmemctl.vsphere.snapshot import take_snapshot

GiB = 1024


def test_snapshot_demo_estate(replay_conn: Connection) -> None:
    inv = take_snapshot(replay_conn, all_devices=True)
    assert sorted(h.name for h in inv.hosts.values()) == ["esx-01", "esx-02", "esx-03", "esx-10"]
    assert {h.name: h.pmem_capacity_mb for h in inv.hosts.values()} == {
        "esx-01": 512 * GiB, "esx-02": 512 * GiB, "esx-03": 0, "esx-10": 128 * GiB}
    assert inv.host_named("esx-10").cluster is None
    assert inv.host_named("esx-01").cluster == "Prod"
    pmem_ds = inv.host_named("esx-10").pmem_datastore
    assert pmem_ds is not None and pmem_ds.startswith("PMemDS-")
    assert len(inv.vms) == 8
    assert inv.vms["legacy-sql-01"].folder == "Legacy"
    cache = inv.vms["cache-01"]
    assert [(n.label, n.size_mb) for n in cache.nvdimms] == [("NVDIMM 1", 8 * GiB)]
    assert [(d.label, d.size_mb, d.datastore, d.pmem) for d in cache.disks] == [
        ("Hard disk 1", 20 * GiB, "san-01", False),
        ("Hard disk 2", 16 * GiB, pmem_ds, True),
    ]
    assert inv.guests["ubuntu64Guest"].pmem_supported
    assert inv.about.api_version == "7.0.3.0"


def test_snapshot_selected_vms(replay_conn: Connection) -> None:
    inv = take_snapshot(replay_conn, lambda inv: ["redis-01", "legacy-sql-02"])
    assert sorted(n for n, v in inv.vms.items() if v.devices_loaded) == [
        "legacy-sql-02", "redis-01"]
    assert [d.datastore for d in inv.vms["legacy-sql-02"].disks] == ["san-01", "nfs-01"]
    assert set(inv.guests) == {"rhel8_64Guest", "windows9Server64Guest"}
