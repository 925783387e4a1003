"""Exact rendered text for a small plan, a blocked plan and empty plans; stable JSON."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from pmemctl.plan.model import Plan, Problem
from pmemctl.plan.planner import make_plan
from pmemctl.plan.render import plan_to_json, render_plan, summary_line
from tests.unit.builders import disk, entry, host, inventory, nvdimm, spec, vm


def rendered(plan: Plan) -> str:
    """Render as the CLI does under NO_COLOR at a fixed width; table padding is trimmed."""
    console = Console(file=io.StringIO(), width=100, no_color=True, markup=False, highlight=False)
    render_plan(plan, console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def small_plan() -> Plan:
    inv = inventory(
        hosts=[host("esx-01"), host("esx-02", free_gb=100)],
        vms=[
            vm("redis-01", power="poweredOn", tools_running=True, disks=[disk()]),
            vm("redis-02", host="esx-02", disks=[disk(size_gb=20)]),
        ],
    )
    s = spec(entry(match="redis-*", nvdimms_gb=[16], disks={"*": "pmem"}), power_off=True,
             nvdimm_snapshot_mode="independent_persistent")  # no backup warning in this table
    return make_plan(s, inv)


SMALL = """\
VM redis-01 (host esx-01)
    Action         Target        Before → After           !   Reason
────────────────────────────────────────────────────────────────────────────────────────────────────
⏻   power_off      redis-01      poweredOn → poweredOff   !   needs power off for NVDIMM changes:
                                                              guest shutdown (timeout 300 s), then
                                                              power off
+   add_nvdimm     NVDIMM 1      none → 16 GiB            !   spec wants NVDIMM 1 of 16 GiB
→   migrate_disk   Hard disk 1   san-01 → PMemDS-esx-01       spec wants Hard disk 1 on pmem
⏻   power_on       redis-01      poweredOff → poweredOn   !   was powered on before pmemctl powered
                                                              it off; then VMware Tools (timeout 300
                                                              s)

VM redis-02 (host esx-02)
    Action         Target        Before → After           !   Reason
────────────────────────────────────────────────────────────────────────────────────────────
+   add_nvdimm     NVDIMM 1      none → 16 GiB                spec wants NVDIMM 1 of 16 GiB
→   migrate_disk   Hard disk 1   san-01 → PMemDS-esx-02       spec wants Hard disk 1 on pmem

PMem per host
Host     Capacity   Free before            Free after
───────────────────────────────────────────────────────────────
esx-01   512 GiB    512 GiB (524288 MiB)   456 GiB (466944 MiB)
esx-02   512 GiB    100 GiB (102400 MiB)   64 GiB (65536 MiB)

Plan: 6 changes for 2 VMs (3 disruptive). PMem: esx-01 512 GiB → 456 GiB free, esx-02 100 GiB → 64 GiB free.
"""


BLOCKED = """\
VM app-01: BLOCKED
    Action    Target   Before → After   !   Reason
───────────────────────────────────────────────────────────────────────────────
✗   BLOCKED                                 host esx-03 has no PMem (VM app-01)

VM legacy-sql-01 (host esx-01): BLOCKED
    Action          Target        Before → After           !   Reason
────────────────────────────────────────────────────────────────────────────────────────────────────
-   remove_nvdimm   NVDIMM 2      16 GiB → none            !   spec lists fewer NVDIMMs; removing
                                                               NVDIMM 2 destroys its data
~   grow_nvdimm     NVDIMM 1      16 GiB → 64 GiB          !   spec wants NVDIMM 1 at 64 GiB
→   migrate_disk    Hard disk 1   san-01 → PMemDS-esx-01       spec wants Hard disk 1 on pmem
✗   BLOCKED                                                    removing NVDIMM 2 (16 GiB) of VM
                                                               legacy-sql-01 destroys its data; set
                                                               options.allow_data_loss: true
✗   BLOCKED                                                    VM legacy-sql-01 is vmx-11; NVDIMMs
                                                               need vmx-14 or later (set
                                                               options.upgrade_hardware: true)
✗   BLOCKED                                                    VM legacy-sql-01 is powered on;
                                                               removing NVDIMM 2 needs it powered
                                                               off (set options.power_off: true)
✗   BLOCKED                                                    host esx-01: not enough PMem: the
                                                               plan needs 92 GiB (94208 MB), 32 GiB
                                                               (32768 MB) free (for VM
                                                               legacy-sql-01)

PMem per host
Host     Capacity   Free before          Free after
─────────────────────────────────────────────────────────────
esx-01   512 GiB    32 GiB (32768 MiB)   -60 GiB (-61440 MiB)

Warning: VM legacy-sql-01: guest OS windows9Server64Guest is unknown here; cannot check that it supports NVDIMMs

Plan: 3 changes for 1 VM (2 disruptive). PMem: esx-01 32 GiB → -60 GiB free.
Blocked by 6 problems; apply will refuse this plan:
Error: spec.yaml:12:5: match(name=web-*) selects no VM
Error: host esx-03 has no PMem (VM app-01)
Error: removing NVDIMM 2 (16 GiB) of VM legacy-sql-01 destroys its data; set options.allow_data_loss: true
Error: VM legacy-sql-01 is vmx-11; NVDIMMs need vmx-14 or later (set options.upgrade_hardware: true)
Error: VM legacy-sql-01 is powered on; removing NVDIMM 2 needs it powered off (set options.power_off: true)
Error: host esx-01: not enough PMem: the plan needs 92 GiB (94208 MB), 32 GiB (32768 MB) free (for VM legacy-sql-01)
"""


def blocked_plan() -> Plan:
    inv = inventory(
        hosts=[host("esx-01", free_gb=32), host("esx-03", pmem_gb=0)],
        vms=[
            vm(
                "legacy-sql-01",
                hw=11,
                guest_id="windows9Server64Guest",
                power="poweredOn",
                nvdimms=[nvdimm("NVDIMM 1", 16), nvdimm("NVDIMM 2", 16)],
                disks=[disk(size_gb=60)],
            ),
            vm("app-01", host="esx-03", disks=[disk(size_gb=20)]),
        ],
    )
    s = spec(
        entry(name="legacy-sql-01", nvdimms_gb=[64], disks={"*": "pmem"}, line=4),
        entry(name="app-01", disks={"*": "pmem"}, line=9),
        entry(match="web-*", line=12),
    )
    return make_plan(s, inv)


def test_small_plan() -> None:
    assert rendered(small_plan()) == SMALL


def test_blocked_plan() -> None:
    assert rendered(blocked_plan()) == BLOCKED


def test_empty_plan() -> None:
    inv = inventory(vms=[vm(nvdimms=[nvdimm()], disks=[disk(datastore="PMemDS-esx-01")])])
    plan = make_plan(spec(entry(name="db-01", nvdimms_gb=[16], disks={"*": "pmem"})), inv)
    assert rendered(plan) == "No changes. The estate matches the spec.\n"


def test_empty_but_blocked_plan() -> None:
    plan = Plan(problems=(Problem(None, "spec.yaml:3:5: VM 'nope' not found"),))
    assert rendered(plan) == (
        "No changes planned.\n"
        "Blocked by 1 problem; apply will refuse this plan:\n"
        "Error: spec.yaml:3:5: VM 'nope' not found\n"
    )


def test_summary_line_without_pmem_movement() -> None:
    inv = inventory(vms=[vm(disks=[disk()])])
    plan = make_plan(spec(entry(name="db-01", disks={"Hard disk 2": ("san-01", 1)})), inv)
    assert summary_line(plan) == "Plan: 1 change for 1 VM."


def test_plan_to_json_is_sorted_and_round_trips() -> None:
    plan = blocked_plan()
    text = plan_to_json(plan)
    data = json.loads(text)
    assert text == json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)
    assert list(data) == sorted(data)
    assert data["format_version"] == 1
    assert Plan.from_json(data) == plan


def test_a_large_plan_is_one_folded_table_with_the_summary_first() -> None:
    from pmemctl.plan.render import FOLD_VMS

    n = FOLD_VMS + 1
    inv = inventory(hosts=[host("esx-01", free_gb=4096)],
                    vms=[vm(f"db-{i:02d}", disks=[disk(size_gb=1)]) for i in range(n)])
    plan = make_plan(spec(entry(match="db-*", disks={"*": "pmem"})), inv)
    text = rendered(plan)
    lines = text.splitlines()
    assert lines[0] == summary_line(plan)
    assert text.count(summary_line(plan)) == 1
    assert "VM db-00 (host esx-01)" not in text  # no per-VM heading or table
    header = next(line for line in lines if "Action" in line)
    assert header.split()[:3] == ["VM", "(host)", "Action"]
    assert sum(line.startswith("db-") for line in lines) == n  # each VM named once
    assert text.index("db-00 (esx-01)") < text.index("db-01 (esx-01)")
    assert "PMem per host" in text


def test_a_folded_plan_renders_no_rich_table_per_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deterministic, where a timing test flaked on a loaded machine: the folded changes go
    through the one-pass Grid; rich lays out only the PMem-per-host table, whatever the size."""
    from rich.table import Table

    from pmemctl.plan.render import FOLD_VMS

    layouts: list[int] = []
    real = Table.__rich_console__

    def counting(self: Table, *a: object, **k: object) -> object:
        layouts.append(self.row_count)
        return real(self, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(Table, "__rich_console__", counting)
    for n in (FOLD_VMS + 1, FOLD_VMS * 20):
        layouts.clear()
        inv = inventory(hosts=[host("esx-01", free_gb=1 << 20)],
                        vms=[vm(f"db-{i:04d}", disks=[disk(size_gb=1)]) for i in range(n)])
        out = rendered(make_plan(spec(entry(match="db-*", disks={"*": "pmem"})), inv))
        assert layouts == [1], layouts  # one host row: the PMem table only
        assert out.count("migrate_disk") == n
