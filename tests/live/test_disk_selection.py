"""Disk keys and VM selection end to end on pmemsim: data disks only, evacuation by
selector, custom attributes, and new vPMemDisks that converge."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import simproc
from tests.live import applykit as k

MakeSim = Callable[..., simproc.PmemSim]

# Three app VMs with an OS disk and data disks on san-01 (one with only its OS
# disk), owned by two teams; a VM outside the selection on the same host.
BULK = """
clusters:
  - name: Prod
    hosts: [{name: esx-01, pmem: 256GiB}, {name: esx-02, pmem: 256GiB}]
datastores: [{name: san-01, capacity: 4TiB}, {name: san-02, capacity: 4TiB}]
vms:
  - {name: app-01, host: esx-01, guest_id: rhel8_64Guest, power: poweredOn,
     attributes: {team: db},
     disks: [{size: 16GiB, datastore: san-01}, {size: 4GiB, datastore: san-01},
             {size: 2GiB, datastore: san-01}]}
  - {name: App-02, host: esx-02, guest_id: rhel8_64Guest, power: poweredOn,
     attributes: {team: db, tier: gold},
     disks: [{size: 16GiB, datastore: san-01}, {size: 8GiB, datastore: san-02}]}
  - {name: app-03, host: esx-01, guest_id: rhel8_64Guest, attributes: {team: db},
     disks: [{size: 16GiB, datastore: san-01}]}
  - {name: app-04-test, host: esx-02, guest_id: rhel8_64Guest, attributes: {team: db},
     disks: [{size: 16GiB, datastore: san-01}, {size: 4GiB, datastore: san-01}]}
  - {name: web-01, host: esx-01, guest_id: rhel8_64Guest, attributes: {team: web},
     disks: [{size: 16GiB, datastore: san-01}, {size: 4GiB, datastore: san-01}]}
"""

# esx-01 is to be serviced: its VMs hold vPMemDisks next to SAN disks; esx-02's
# PMem disk must stay where it is.
EVACUATE = """
clusters:
  - name: Prod
    hosts: [{name: esx-01, pmem: 256GiB}, {name: esx-02, pmem: 256GiB}]
datastores: [{name: san-01, capacity: 4TiB}]
vms:
  - {name: db-01, host: esx-01, guest_id: rhel8_64Guest, power: poweredOn,
     disks: [{size: 16GiB, datastore: san-01}, {size: 8GiB, datastore: pmem},
             {size: 4GiB, datastore: pmem}]}
  - {name: db-02, host: esx-01, guest_id: rhel8_64Guest,
     disks: [{size: 8GiB, datastore: pmem}]}
  - {name: db-03, host: esx-01, guest_id: rhel8_64Guest,
     disks: [{size: 16GiB, datastore: san-01}]}
  - {name: db-09, host: esx-02, guest_id: rhel8_64Guest, power: poweredOn,
     disks: [{size: 16GiB, datastore: san-01}, {size: 8GiB, datastore: pmem}]}
"""


@pytest.fixture(autouse=True)
def _journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))


def plan_json(sim: simproc.PmemSim, spec: Path) -> dict[str, Any]:
    r = k.run(sim, "plan", str(spec), "-o", "json")
    assert r.exit_code in (0, 1), r.output
    data: dict[str, Any] = json.loads(r.stdout)
    return data


def placement(sim: simproc.PmemSim) -> dict[tuple[str, str], str]:
    """(VM, disk label) -> "pmem" or the datastore name."""
    return {(v.name, d.label): "pmem" if d.pmem else d.datastore
            for v in k.estate(sim).vms.values() for d in v.disks}


def test_bulk_migration_of_data_disks_only(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(inventory=k.inventory_file(tmp_path, BULK))
    before = placement(sim)
    spec = k.spec(tmp_path, """
        vms:
          - match: {name: 'app-*', exclude: '*-test'}
            disks: {"number:2-": pmem}
    """)
    plan = plan_json(sim, spec)
    assert plan["problems"] == []
    # 'app-*' is case-sensitive (App-02 is not selected), app-04-test is
    # excluded, and app-03 has only its OS disk: a note, not a problem.
    assert [(c["vm"], c["action"], c["target"]) for c in plan["changes"]] == [
        ("app-01", "migrate_disk", "Hard disk 2"),
        ("app-01", "migrate_disk", "Hard disk 3"),
    ]
    assert "VM app-03: no disk matches 'number:2-'; skipped" in plan["warnings"]
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    after = placement(sim)
    assert after[("app-01", "Hard disk 1")] == "san-01"  # the OS disk stayed
    assert after[("app-01", "Hard disk 2")] == after[("app-01", "Hard disk 3")] == "pmem"
    untouched = {key: where for key, where in before.items() if key[0] != "app-01"}
    assert {key: after[key] for key in untouched} == untouched
    again = plan_json(sim, spec)
    assert (again["changes"], again["problems"]) == ([], [])


def test_bulk_migration_by_custom_attribute_and_keep(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(inventory=k.inventory_file(tmp_path, BULK))
    spec = k.spec(tmp_path, """
        vms:
          - match: {name: '*', attributes: {team: db}, exclude: ['*-test']}
            disks: {"*": pmem, "Hard disk 1": keep}
    """)
    plan = plan_json(sim, spec)
    assert plan["problems"] == []
    # customValue selects the db team's VMs (web-01 is the web team's); listed
    # case-insensitively: App-02 between app-01 and app-03.
    assert [(c["vm"], c["target"]) for c in plan["changes"]] == [
        ("app-01", "Hard disk 2"), ("app-01", "Hard disk 3"), ("App-02", "Hard disk 2")]
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    after = placement(sim)
    assert after[("App-02", "Hard disk 2")] == "pmem"
    assert after[("App-02", "Hard disk 1")] == after[("app-04-test", "Hard disk 2")] == "san-01"
    assert after[("web-01", "Hard disk 2")] == "san-01"
    assert plan_json(sim, spec)["changes"] == []
    # Narrowed to a host, the VMs are read from that host's view, attributes too.
    scoped = k.spec(tmp_path, """
        vms:
          - match: {name: '*', host: esx-02, attributes: {team: db, tier: gold}}
            disks: {"*": pmem}
    """, name="scoped.yaml")
    data = plan_json(sim, scoped)
    assert data["problems"] == []
    # app-04-test (team db, no tier) on the same host is not selected.
    assert [(c["vm"], c["target"]) for c in data["changes"]] == [("App-02", "Hard disk 1")]
    gold = k.spec(tmp_path, """
        vms:
          - match: {name: '*', attributes: {team: db, tier: silver}}
            nvdimms: []
    """, name="gold.yaml")
    assert [p["message"] for p in plan_json(sim, gold)["problems"]] == [
        f"{gold}:4:5: match(name=*, team=db, tier=silver) selects no VM"]


def test_evacuation_of_a_hosts_pmem_disks_by_selector(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(inventory=k.inventory_file(tmp_path, EVACUATE))
    before = placement(sim)
    spec = k.spec(tmp_path, """
        vms:
          - match: {name: '*', host: esx-01}
            disks: {"on:pmem": san-01}
    """)
    plan = plan_json(sim, spec)
    assert plan["problems"] == []
    assert [(c["vm"], c["target"], c["after"]) for c in plan["changes"]] == [
        ("db-01", "Hard disk 2", "san-01"), ("db-01", "Hard disk 3", "san-01"),
        ("db-02", "Hard disk 1", "san-01")]
    assert all(c["payload"]["policy"]["kind"] == "target_default" for c in plan["changes"])
    r = k.run(sim, "apply", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    after = placement(sim)
    assert not [key for key, where in after.items() if key[0] != "db-09" and where == "pmem"]
    assert after[("db-09", "Hard disk 2")] == "pmem"  # another host's PMem disk stays
    assert {key: after[key] for key in before if key[0] in ("db-03", "db-09")} == \
        {key: before[key] for key in before if key[0] in ("db-03", "db-09")}
    again = plan_json(sim, spec)
    # A finished evacuation is quiet: nothing to do, no notes.
    assert (again["changes"], again["problems"], again["warnings"]) == ([], [], [])


def test_a_new_vpmemdisk_is_created_once(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(inventory=k.inventory_file(tmp_path, EVACUATE))
    wrong = k.spec(tmp_path, """
        options: {power_off: true}
        vms:
          - name: db-03
            disks: {"Hard disk 5": {storage: pmem, size: 4GiB}}
    """)
    r = k.run(sim, "apply", str(wrong), "--yes")
    assert r.exit_code == 1, r.output
    assert "vSphere will call a new disk 'Hard disk 2'" in r.output
    assert len(k.estate(sim).vms["db-03"].disks) == 1  # nothing created
    right = k.spec(tmp_path, """
        options: {power_off: true}
        vms:
          - name: db-03
            disks: {"Hard disk 2": {storage: pmem, size: 4GiB}}
    """, name="right.yaml")
    r = k.run(sim, "apply", str(right), "--yes")
    assert r.exit_code == 0, r.output
    disks = k.estate(sim).vms["db-03"].disks
    assert [(d.label, d.pmem, d.size_mb) for d in disks] == [
        ("Hard disk 1", False, 16384), ("Hard disk 2", True, 4096)]
    again = plan_json(sim, right)
    assert (again["changes"], again["problems"]) == ([], [])


ROOT = Path(__file__).parents[2]


def test_the_playbooks_plan_what_their_comments_say(demo_sim: simproc.PmemSim) -> None:
    data = plan_json(demo_sim, ROOT / "playbooks" / "data-disks-to-pmem.yaml")
    assert data["problems"] == []
    # legacy-sql-01/02 move Hard disk 2 only; legacy-sql-03 has only its OS disk.
    assert [(c["vm"], c["target"], c["after"].startswith("PMemDS-")) for c in data["changes"]] \
        == [("legacy-sql-01", "Hard disk 2", True), ("legacy-sql-02", "Hard disk 2", True)]
    assert "VM legacy-sql-03: no disk matches 'number:2-'; skipped" in data["warnings"]


def test_the_evacuation_playbook_moves_only_pmem_disks(make_sim: MakeSim, tmp_path: Path) -> None:
    # The demo estate has no vPMemDisk on esx-01: run it on the evacuation estate.
    sim = make_sim(inventory=k.inventory_file(tmp_path, EVACUATE))
    data = plan_json(sim, ROOT / "playbooks" / "evacuate-pmem-disks.yaml")
    assert data["problems"] == []
    assert [(c["vm"], c["target"], c["after"]) for c in data["changes"]] == [
        ("db-01", "Hard disk 2", "san-01"), ("db-01", "Hard disk 3", "san-01"),
        ("db-02", "Hard disk 1", "san-01")]


def test_vm_names_compare_as_typed_or_escaped(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim(inventory=k.inventory_file(tmp_path, """
        hosts: [{name: esx-01, pmem: 64GiB}]
        datastores: [{name: san-01, capacity: 1TiB}]
        vms:
          - {name: "web/01", host: esx-01, disks: [{size: 4GiB, datastore: san-01}]}
          - {name: "100%", host: esx-01, disks: [{size: 4GiB, datastore: san-01}]}
    """))
    spec = k.spec(tmp_path, """
        vms:
          - name: web%2f01
            disks: {"*": pmem}
          - match: {name: '100%25'}
            disks: {"*": pmem}
    """)
    data = plan_json(sim, spec)
    assert data["problems"] == []
    assert [c["vm"] for c in data["changes"]] == ["100%", "web/01"]
