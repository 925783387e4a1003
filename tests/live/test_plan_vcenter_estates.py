"""plan and apply on estates that only real vCenters had before: several datacenters,
escaped names, HA PMem admission control (pmemsim models each; see its README)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import simproc
from tests.live import applykit as k

MakeSim = Callable[..., simproc.PmemSim]

TWO_DCS = """
datacenters:
  - name: East
    local_datastores: true
    clusters: [{name: C1, hosts: [{name: esx-1, pmem: 64GiB}]}]
    datastores: [{name: san, capacity: 2TiB}]
    vms:
      - {name: "web/01", host: esx-1, hardware_version: 14, guest_id: rhel8_64Guest,
         disks: [{size: 8GiB, datastore: pmem}]}
  - name: West
    local_datastores: true
    clusters: [{name: C1, hosts: [{name: esx-1, pmem: 64GiB}]}]
    datastores: [{name: san, capacity: 2TiB}]
    vms:
      - {name: db-01, host: esx-1, hardware_version: 14, guest_id: rhel8_64Guest,
         disks: [{size: 8GiB, datastore: pmem}]}
"""


@pytest.fixture(autouse=True)
def _journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))


def plan_json(sim: simproc.PmemSim, spec: Path) -> dict[str, Any]:
    r = k.run(sim, "plan", str(spec), "-o", "json")
    assert r.exit_code in (0, 1), r.output
    data: dict[str, Any] = json.loads(r.stdout)
    return data


def test_same_datastore_name_resolves_in_the_vms_datacenter(make_sim: MakeSim,
                                                            tmp_path: Path) -> None:
    sim = make_sim(inventory=k.inventory_file(tmp_path, TWO_DCS))
    spec = k.spec(tmp_path, """
        vms:
          - name: "web/01"
            disks: {"Hard disk 1": datastore1}
          - name: db-01
            disks: {"Hard disk 1": datastore1}
    """)
    plan = plan_json(sim, spec)
    assert plan["problems"] == []
    moves = {c["vm"]: c for c in plan["changes"] if c["action"] == "migrate_disk"}
    assert set(moves) == {"web/01", "db-01"}  # the escaped name %2f reads back as "/"
    east, west = moves["web/01"]["payload"]["target"], moves["db-01"]["payload"]["target"]
    assert east["name"] == west["name"] == "datastore1"
    assert east["moid"] != west["moid"]
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    inv = k.estate(sim)
    for name, target in (("web/01", east), ("db-01", west)):
        (disk,) = inv.vms[name].disks
        assert disk.datastore_moid == target["moid"] and not disk.pmem
    # Converged: the second plan is empty.
    assert plan_json(sim, spec)["changes"] == []


def test_unknown_datastore_name_is_a_problem_with_a_did_you_mean(make_sim: MakeSim,
                                                                tmp_path: Path) -> None:
    sim = make_sim(inventory=k.inventory_file(tmp_path, TWO_DCS))
    spec = k.spec(tmp_path, """
        vms:
          - name: db-01
            disks: {"Hard disk 1": SAN}
    """)
    plan = plan_json(sim, spec)
    assert plan["changes"] == []
    (problem,) = plan["problems"]
    assert problem == {"vm": "db-01", "message": "datastore SAN does not exist in datacenter "
                       "West (VM db-01, Hard disk 1); did you mean san?", "vms": ["db-01"]}


HA = """
datacenter: DC0
clusters:
  - name: Prod
    ha: {pmem_admission_control: true, pmem_failover_percent: 50}
    hosts: [{name: esx-01, pmem: 64GiB}, {name: esx-02, pmem: 64GiB}]
datastores: [{name: san-01, capacity: 2TiB}]
vms:
  - {name: redis-01, host: esx-01, hardware_version: 14, guest_id: rhel8_64Guest,
     disks: [{size: 8GiB, datastore: san-01}]}
"""


def test_ha_pmem_reservation_is_not_free(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(inventory=k.inventory_file(tmp_path, HA))
    # 40 GiB fits in 64 GiB of PMem, but not in the 32 GiB HA leaves free.
    plan = plan_json(sim, k.spec(tmp_path, """
        vms:
          - name: redis-01
            nvdimms: [40GiB]
    """))
    assert [p["vm"] for p in plan["problems"]] == ["redis-01"]
    assert "HA admission control" in plan["problems"][0]["message"]
    # 16 GiB fits: the plan says why free PMem is lower than the host's.
    spec = k.spec(tmp_path, """
        vms:
          - name: redis-01
            nvdimms: [16GiB]
    """, name="fits.yaml")
    plan = plan_json(sim, spec)
    assert plan["problems"] == []
    assert any("HA" in w for w in plan["warnings"]), plan["warnings"]
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    assert [n.size_mb for n in k.estate(sim).vms["redis-01"].nvdimms] == [16 * 1024]
