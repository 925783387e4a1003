"""A blocked VM never looks healthy: BLOCKED rows with its reasons, skipped VMs listed."""

from __future__ import annotations

import io

from rich.console import Console

from pmemctl.plan.model import Plan
from pmemctl.plan.planner import make_plan
from pmemctl.plan.render import BLOCKED, FOLD_VMS, blocked_vms, render_plan, summary_line
from tests.unit.builders import disk, entry, host, inventory, spec, vm
from tests.unit.test_render import rendered


def skip_plan() -> Plan:
    inv = inventory(hosts=[host("esx-01", free_gb=100)], vms=[
        vm("app-01", disks=[disk(size_gb=60)]),
        vm("app-02", disks=[disk(size_gb=60)]),
        vm("redis-01", power="poweredOn"),
    ])
    s = spec(entry(match="app-*", disks={"*": "pmem"}), entry(name="redis-01", nvdimms_gb=[16]),
             skip_blocked=True)
    return make_plan(s, inv)


SKIPPED = """\
VM app-01 (host esx-01)
    Action         Target        Before → After           !   Reason
────────────────────────────────────────────────────────────────────────────────────────────
→   migrate_disk   Hard disk 1   san-01 → PMemDS-esx-01       spec wants Hard disk 1 on pmem

VM app-02 (host esx-01): BLOCKED, skipped (apply leaves it untouched)
    Action         Target        Before → After           !   Reason
────────────────────────────────────────────────────────────────────────────────────────────────────
→   migrate_disk   Hard disk 1   san-01 → PMemDS-esx-01       spec wants Hard disk 1 on pmem
✗   BLOCKED                                                   host esx-01: not enough PMem: the plan
                                                              needs 120 GiB (122880 MB), 100 GiB
                                                              (102400 MB) free (for VMs app-01,
                                                              app-02)

VM redis-01 (host esx-01): BLOCKED, skipped (apply leaves it untouched)
    Action       Target     Before → After   !   Reason
────────────────────────────────────────────────────────────────────────────────────────────────────
+   add_nvdimm   NVDIMM 1   none → 16 GiB    !   spec wants NVDIMM 1 of 16 GiB
✗   BLOCKED                                      VM redis-01 is powered on; adding NVDIMM 1 needs it
                                                 powered off (set options.power_off: true)

PMem per host
Host     Capacity   Free before            Free after
─────────────────────────────────────────────────────────────
esx-01   512 GiB    100 GiB (102400 MiB)   40 GiB (40960 MiB)

Plan: 1 change for 1 VM. PMem: esx-01 100 GiB → 40 GiB free. Skipped 2 blocked VMs: app-02, redis-01.
Skipped 2 blocked VMs; apply leaves them untouched and exits 1:
Skipped: app-02: host esx-01: not enough PMem: the plan needs 120 GiB (122880 MB), 100 GiB (102400 MB) free (for VMs app-01, app-02)
Skipped: redis-01: VM redis-01 is powered on; adding NVDIMM 1 needs it powered off (set options.power_off: true)
"""


def test_skip_blocked_plan_shows_the_skipped_vms_blocked() -> None:
    assert rendered(skip_plan()) == SKIPPED


def test_summary_line_names_the_skipped() -> None:
    assert summary_line(skip_plan()).endswith(" Skipped 2 blocked VMs: app-02, redis-01.")
    only_blocked = make_plan(spec(entry(name="redis-01", nvdimms_gb=[16]), skip_blocked=True),
                             inventory(vms=[vm("redis-01", power="poweredOn")]))
    assert only_blocked.empty and not only_blocked.blocked
    assert summary_line(only_blocked) == "No changes planned. Skipped 1 blocked VM: redis-01."


def test_every_vm_a_problem_involves_is_blocked() -> None:
    inv = inventory(vms=[vm("db-01", disks=[disk(size_gb=400)]),
                         vm("db-02", disks=[disk(size_gb=200)])])
    plan = make_plan(spec(entry(match="db-*", disks={"*": "pmem"})), inv)
    assert sorted(blocked_vms(plan)) == ["db-01", "db-02"]
    text = rendered(plan)
    assert "VM db-01 (host esx-01): BLOCKED" in text
    assert "VM db-02 (host esx-01): BLOCKED" in text


def test_folded_plan_shows_blocked_rows() -> None:
    n = FOLD_VMS + 1
    vms = [vm(f"app-{i:02}", disks=[disk(size_gb=1)]) for i in range(n)]
    vms.append(vm("redis-01", power="poweredOn"))
    plan = make_plan(spec(entry(match="app-*", disks={"*": "pmem"}),
                          entry(name="redis-01", nvdimms_gb=[16])),
                     inventory(vms=vms))
    console = Console(file=io.StringIO(), width=300, no_color=True, markup=False,
                      highlight=False)
    render_plan(plan, console)
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    redis = [line for line in lines if BLOCKED in line and "powered on" in line]
    assert len(redis) == 1 and "✗" in redis[0]
    assert any(line.startswith("redis-01 (esx-01)") for line in lines)
    # The healthy VMs have no BLOCKED row.
    assert not [line for line in lines if line.startswith("app-") and BLOCKED in line]


def test_a_blocked_plan_with_healthy_vms_hints_at_skip_blocked() -> None:
    inv = inventory(vms=[vm("app-01", disks=[disk()]), vm("redis-01", power="poweredOn")])
    entries = (entry(name="app-01", disks={"*": "pmem"}), entry(name="redis-01", nvdimms_gb=[16]))
    hint = ("Hint: --skip-blocked (options.skip_blocked) applies the 1 VM without problems "
            "and lists the blocked.")
    assert rendered(make_plan(spec(*entries), inv)).endswith(hint + "\n")
    # Not when skipping could not unblock it (a typo in the spec), nor once skipping.
    typo = entry(match="typo-*", disks={"*": "pmem"})
    assert hint not in rendered(make_plan(spec(*entries, typo), inv))
    assert hint not in rendered(make_plan(spec(*entries, skip_blocked=True), inv))


def test_a_skipped_vm_owed_a_power_on_says_what_still_runs() -> None:
    from dataclasses import replace

    from pmemctl.plan.model import Action, Change
    from pmemctl.plan.payloads import PowerOn

    inv = inventory(vms=[vm("app-01", disks=[disk()]), vm("redis-01", disks=[disk()])])
    # redis-01's disk names a datastore that does not exist: skipped.
    blocked = make_plan(spec(entry(name="app-01", disks={"*": "pmem"}),
                             entry(name="redis-01", nvdimms_gb=[16], disks={"*": "nas-99"}),
                             skip_blocked=True), inv)
    owed = Change(vm="redis-01", action=Action.POWER_ON, target="redis-01",
                  before="poweredOff", after="poweredOn", disruptive=False,
                  reason="pmemctl powered it off in an earlier run", payload=PowerOn(owed=True),
                  host="esx-01")
    text = rendered(replace(blocked, changes=(*blocked.changes, owed)))
    assert "VM redis-01 (host esx-01): BLOCKED, skipped (apply runs only: power_on redis-01)" \
        in text
    # What it would have had, then what runs, then why it is blocked.
    rows = [line.split()[1] for line in text.split("VM redis-01", 1)[1].splitlines()
            if line[:1] in "+⏻✗" and line.strip()]
    assert rows == ["add_nvdimm", "power_on", "BLOCKED"]


def test_folded_skip_plan_names_the_skipped_vms_host() -> None:
    vms = [vm(f"app-{i:02}", disks=[disk(size_gb=1)]) for i in range(FOLD_VMS + 1)]
    vms.append(vm("db-x", host="esx-02", disks=[disk()]))  # nas-99 does not exist
    plan = make_plan(spec(entry(match="app-*", disks={"*": "pmem"}),
                          entry(name="db-x", disks={"*": "nas-99"}), skip_blocked=True),
                     inventory(hosts=[host("esx-01"), host("esx-02")], vms=vms))
    console = Console(file=io.StringIO(), width=300, no_color=True, markup=False,
                      highlight=False)
    render_plan(plan, console)
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    [row] = [line for line in lines if line.startswith("db-x ")]
    assert row.startswith("db-x (esx-02)") and BLOCKED in row and "nas-99" in row
    assert lines[-1].startswith("Skipped: db-x: datastore nas-99 does not exist")
