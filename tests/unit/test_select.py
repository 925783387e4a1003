"""select_vms: names, globs, cluster/folder/host narrowing, merging and conflicts."""

from __future__ import annotations

import pytest

from pmemctl.inventory.model import Scope
from pmemctl.plan.model import Problem
from pmemctl.plan.select import select_vms, spec_scope
from pmemctl.spec.model import DiskTarget, VmEntry
from tests.unit.builders import GIB, entry, host, inventory, spec, vm


def _light_inventory():  # type: ignore[no-untyped-def]
    """VMs without devices: select_vms must work before device lists are read."""
    return inventory(
        hosts=[host("esx-01"), host("esx-02"), host("esx-10", cluster=None)],
        vms=[
            vm("redis-01", folder="Databases", devices_loaded=False),
            vm("redis-02", host="esx-02", folder="Databases", devices_loaded=False),
            vm("legacy-sql-01", folder="Legacy", devices_loaded=False),
            vm("legacy-sql-02", host="esx-02", folder="Prod/Legacy", devices_loaded=False),
            vm("cache-01", host="esx-10", cluster=None, devices_loaded=False),
            vm("Redis-03", folder="Databases", devices_loaded=False),
        ],
    )


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (entry(name="redis-01"), ["redis-01"]),
        (entry(match="redis-*"), ["redis-01", "redis-02"]),  # case-sensitive: not Redis-03
        # listed case-insensitively sorted, as vSphere clients list names
        (entry(match="*"), sorted(_light_inventory().vms, key=str.casefold)),
        (entry(match="*", cluster="Prod"),
         sorted(set(_light_inventory().vms) - {"cache-01"}, key=str.casefold)),
        (entry(match="*", cluster="P*"),
         sorted(set(_light_inventory().vms) - {"cache-01"}, key=str.casefold)),
        (entry(match="*", folder="Legacy"), ["legacy-sql-01"]),  # full path, not a suffix
        (entry(match="*", folder="/Legacy/"), ["legacy-sql-01"]),  # slashes ignored
        (entry(match="*", folder="*Legacy"), ["legacy-sql-01", "legacy-sql-02"]),
        (entry(match="*", folder="Prod/*"), ["legacy-sql-02"]),
        (entry(match="*", folder=""), ["cache-01"]),  # the root folder
        (entry(match="*", on_host="esx-02"), ["legacy-sql-02", "redis-02"]),
        (entry(match="redis-*", on_host="esx-0[12]", cluster="Prod"), ["redis-01", "redis-02"]),
    ],
)
def test_selectors(selector, expected) -> None:  # type: ignore[no-untyped-def]
    selection = select_vms(spec(selector), _light_inventory())
    assert selection.names == expected
    assert selection.problems == ()


def test_missing_name_and_empty_match_are_problems_with_locations() -> None:
    s = spec(
        entry(name="nope", line=3),
        entry(match="db-*", cluster="Prod", line=12),
        entry(match="*", on_host="esx-99", line=20),
    )
    selection = select_vms(s, _light_inventory())
    assert selection.names == []
    assert selection.problems == (
        Problem(None, "spec.yaml:3:5: VM 'nope' not found"),
        Problem(None, "spec.yaml:12:5: match(name=db-*, cluster=Prod) selects no VM"),
        Problem(None, "spec.yaml:20:5: match(name=*, host=esx-99) selects no VM"),
    )


def test_agreeing_entries_merge() -> None:
    s = spec(
        entry(match="redis-*", nvdimms_gb=[16], disks={"*": "pmem"}, line=3),
        entry(name="redis-01", nvdimms_gb=[16], disks={"Hard disk 2": ("pmem", 10)}, line=9),
        entry(name="redis-01", disks={"Hard disk 2": "pmem"}, line=14),  # size merges
    )
    selection = select_vms(s, _light_inventory())
    assert selection.problems == ()
    redis = selection.vms["redis-01"]
    assert redis.nvdimms == (16 * GIB,)
    assert redis.disk_targets() == {
        "*": DiskTarget("pmem"),
        "Hard disk 2": DiskTarget("pmem", 10 * GIB),
    }
    assert [str(loc) for loc in redis.sources] == [
        "spec.yaml:3:5",
        "spec.yaml:9:5",
        "spec.yaml:14:5",
    ]
    assert selection.vms["redis-02"].disk_targets() == {"*": DiskTarget("pmem")}


def test_entry_without_nvdimms_does_not_clear_them() -> None:
    s = spec(entry(name="redis-01", nvdimms_gb=[8]), entry(match="redis-*"))
    assert select_vms(s, _light_inventory()).vms["redis-01"].nvdimms == (8 * GIB,)


def test_explicit_empty_nvdimms_conflicts_with_a_list() -> None:
    s = spec(entry(name="redis-01", nvdimms_gb=[], line=2), entry(match="redis-0*", nvdimms_gb=[8]))
    (problem,) = select_vms(s, _light_inventory()).problems
    assert problem.message == (
        "VM 'redis-01' is selected by spec.yaml:2:5 and spec.yaml:1:5, "
        "which disagree on nvdimms ([] vs [8 GiB])"
    )


def test_conflicts_name_both_locations() -> None:
    s = spec(
        entry(match="redis-*", nvdimms_gb=[16], disks={"Hard disk 1": "pmem"}, line=3),
        entry(name="redis-01", nvdimms_gb=[32], disks={"Hard disk 1": "san-01"}, line=9),
        entry(name="redis-01", disks={"Hard disk 1": ("pmem", 20)}, line=15),
        entry(name="redis-01", disks={"Hard disk 1": ("pmem", 30)}, line=21),
    )
    selection = select_vms(s, _light_inventory())
    assert [p.message for p in selection.problems] == [
        "VM 'redis-01' is selected by spec.yaml:3:5 and spec.yaml:9:5, "
        "which disagree on nvdimms ([16 GiB] vs [32 GiB])",
        "VM 'redis-01' is selected by spec.yaml:3:5 and spec.yaml:9:5, "
        "which disagree on disk 'Hard disk 1' (pmem vs san-01)",
        "VM 'redis-01' is selected by spec.yaml:3:5 and spec.yaml:21:5, "
        "which disagree on disk 'Hard disk 1' (pmem, 20 GiB vs pmem, 30 GiB)",
    ]
    assert {p.vm for p in selection.problems} == {"redis-01"}


def test_star_and_explicit_label_do_not_conflict() -> None:
    s = spec(
        entry(match="redis-*", disks={"*": "pmem"}),
        entry(name="redis-01", disks={"Hard disk 1": "san-01"}),
    )
    selection = select_vms(s, _light_inventory())
    assert selection.problems == ()
    assert selection.vms["redis-01"].disk_targets() == {
        "*": DiskTarget("pmem"),
        "Hard disk 1": DiskTarget("san-01"),
    }


@pytest.mark.parametrize(("entries", "scope"), [
    ([entry(name="redis-01")], None),
    ([entry(match="redis-*")], None),
    ([entry(match="*", cluster="Prod")], Scope(clusters=("Prod",))),
    ([entry(match="*", cluster="Prod", on_host="esx-01")], Scope(hosts=("esx-01",))),
    ([entry(match="*", folder="Legacy"), entry(match="*", cluster="Prod*")],
     Scope(clusters=("Prod*",), folders=("Legacy",))),
    ([entry(match="*", cluster="Prod"), entry(name="cache-01")], None),
])
def test_spec_scope(entries: list[VmEntry], scope: Scope | None) -> None:
    assert spec_scope(spec(*entries)) == scope
