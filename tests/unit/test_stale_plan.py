"""A stale saved plan says what really changed; a plan already applied says so."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pmemctl.errors import StalePlanError
from pmemctl.inventory.model import Inventory
from pmemctl.plan.planner import make_plan
from pmemctl.plan.savefile import check_fresh, load_plan, save_plan
from pmemctl.plan.stale import already_applied
from pmemctl.spec.model import Options
from pmemctl.testing import FakeVSphere
from tests.unit import builders as b
from tests.unit import fakecli as k

pytestmark = pytest.mark.unit


def estate() -> Inventory:
    return b.inventory(
        hosts=[b.host("esx-01"), b.host("esx-02")],
        vms=[b.vm("redis-03", hw=14, disks=[b.disk(), b.disk("Hard disk 2", size_gb=20)]),
             b.vm("other-01", host="esx-02", disks=[b.disk()])])


def saved_for(tmp_path: Path, inv: Inventory) -> Path:
    plan = make_plan(b.spec(b.entry(name="redis-03", nvdimms_gb=[16], disks={"*": "pmem"})), inv)
    assert plan.changes and not plan.blocked
    path = tmp_path / "plan.json"
    save_plan(path, plan, Options(), inv, ["redis-03"], "spec.yaml")
    return path


def refusal(tmp_path: Path, now: Inventory) -> str:
    saved = load_plan(saved_for(tmp_path, estate()))
    with pytest.raises(StalePlanError) as exc:
        check_fresh(saved, now)
    return str(exc.value)


def _with_vm(inv: Inventory, name: str, **kw: object) -> Inventory:
    return replace(inv, vms={**inv.vms, name: replace(inv.vms[name], **kw)})  # type: ignore[arg-type]


def test_a_vm_that_moved_names_both_hosts_not_host_gone_or_new(tmp_path: Path) -> None:
    now = _with_vm(estate(), "redis-03", host="esx-02", host_moid="host-esx-02")
    msg = refusal(tmp_path, now)
    assert "(VM redis-03 moved from esx-01 to esx-02); run plan again" in msg
    assert "gone" not in msg and "new" not in msg


def test_a_renamed_vm_says_so(tmp_path: Path) -> None:
    inv = estate()
    vms = dict(inv.vms)
    vms["redis-03-old"] = replace(vms.pop("redis-03"), name="redis-03-old")
    msg = refusal(tmp_path, replace(inv, vms=vms))
    assert "(VM redis-03 was renamed to redis-03-old); run plan again" in msg


def test_another_vm_of_the_same_name_is_not_the_planned_one(tmp_path: Path) -> None:
    now = _with_vm(estate(), "redis-03", moid="vm-99")
    msg = refusal(tmp_path, now)
    assert "VM redis-03 is another VM now (vm-99, was vm-redis-03)" in msg


def test_a_disk_someone_moved_is_named_with_where_it_is(tmp_path: Path) -> None:
    inv = estate()
    disks = (inv.vms["redis-03"].disks[0], b.disk("Hard disk 2", size_gb=20, datastore="nfs-01"))
    msg = refusal(tmp_path, _with_vm(inv, "redis-03", disks=disks))
    assert "VM redis-03: Hard disk 2 is now on nfs-01 (the plan moves it from san-01)" in msg


def test_host_pmem_that_changed_is_named_with_the_figures(tmp_path: Path) -> None:
    inv = estate()
    h = inv.hosts["host-esx-01"]
    now = replace(inv, hosts={**inv.hosts, h.moid: replace(h, pmem_free_mb=100 * b.GIB + 1)})
    msg = refusal(tmp_path, now)
    assert "host esx-01: PMem free is now 100 GiB 1 MiB (the plan saw 512 GiB)" in msg


def test_a_plan_already_applied_says_so_through_the_cli(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))
    vs = FakeVSphere(estate())
    spec = k.spec(tmp_path, """
        vms:
          - name: redis-03
            nvdimms: [16GiB]
            disks: {"*": pmem}
    """)
    plan = tmp_path / "plan.json"
    assert k.run(vs, "plan", str(spec), "--out", str(plan)).exit_code == 0
    assert k.run(vs, "apply", str(plan), "--yes").exit_code == 0
    done = list(k.submitted(vs))
    r = k.run(vs, "apply", str(plan), "--yes")
    assert r.exit_code == 1
    assert "has already been applied (the estate has every change in it)" in r.stderr
    assert k.submitted(vs) == done


def test_a_plan_half_applied_is_not_called_applied(tmp_path: Path) -> None:
    inv = estate()
    plan = load_plan(saved_for(tmp_path, inv)).plan
    pmem = b.disk(datastore="PMemDS-esx-01")
    half = _with_vm(inv, "redis-03", disks=(pmem, inv.vms["redis-03"].disks[1]))
    assert not already_applied(plan, half)
    both = _with_vm(half, "redis-03", disks=(pmem, b.disk("Hard disk 2", size_gb=20,
                                                            datastore="PMemDS-esx-01")),
                    nvdimms=(b.nvdimm(size_gb=16),), nvdimm_controller_key=27000)
    assert already_applied(plan, both)
    assert not already_applied(plan, inv)
