"""build_status from a recorded session: the JSON contract on the demo estate."""

from __future__ import annotations

from pmemctl.status import build_status
from pmemctl.vsphere.session import Connection
from pmemctl.vsphere.snapshot import take_snapshot

GiB = 1024


def test_status_json(replay_conn: Connection) -> None:
    status = build_status(take_snapshot(replay_conn))
    hosts = {h["name"]: h for h in status["hosts"]}
    assert list(hosts) == ["esx-01", "esx-02", "esx-03", "esx-10"]
    pmem_ds = hosts["esx-10"]["pmem_datastore"]
    assert hosts["esx-10"] == {
        "name": "esx-10", "cluster": None, "pmem_capacity_mb": 128 * GiB,
        "pmem_free_mb": 104 * GiB, "pmem_datastore": pmem_ds, "pmem_used_mb": 24 * GiB,
        "pmem_supported": True, "vms": ["cache-01"], "esxi_pmem_support": True,
        "datacenter": "DC0", "maintenance": False,
    }
    assert hosts["esx-03"]["pmem_capacity_mb"] == 0
    assert hosts["esx-03"]["pmem_datastore"] is None
    assert status["vms"] == [{
        "name": "cache-01", "host": "esx-10", "hardware_version": 19,
        "power_state": "poweredOff",
        "nvdimms": [{"label": "NVDIMM 1", "size_mb": 8 * GiB}],
        "disks": [
            {"label": "Hard disk 1", "size_mb": 20 * GiB, "datastore": "san-01", "pmem": False},
            {"label": "Hard disk 2", "size_mb": 16 * GiB, "datastore": pmem_ds, "pmem": True},
        ],
        "cluster": None, "folder": "", "pmem_mb": 24 * GiB,
    }]
