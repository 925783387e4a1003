"""Saved plans: round trip, staleness, malformed files, telling plans from specs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pmemctl.errors import SpecError, StalePlanError
from pmemctl.inventory.model import Inventory
from pmemctl.plan.model import Plan
from pmemctl.plan.planner import make_plan
from pmemctl.plan.savefile import check_fresh, is_plan_file, load_plan, save_plan
from pmemctl.spec.model import Options, Parallel
from tests.unit.builders import GIB, disk, entry, host, inventory, spec, vm


def _estate() -> Inventory:
    return inventory(
        hosts=[host("esx-01"), host("esx-02")],
        vms=[
            vm("db-01", power="poweredOn", disks=[disk()]),
            vm("other-01", host="esx-02", disks=[disk()]),
        ],
    )


def _saved(tmp_path: Path) -> tuple[Path, Plan, Options, Inventory]:
    inv = _estate()
    options = Options(power_off=True, parallel=Parallel(total=4), on_failure="continue")
    plan = make_plan(
        spec(entry(name="db-01", nvdimms_gb=[16], disks={"*": "pmem"}), power_off=True), inv
    )
    path = tmp_path / "plan.json"
    save_plan(path, plan, options, inv, ["db-01"], "spec.yaml")
    return path, plan, options, inv


def test_round_trip(tmp_path: Path) -> None:
    path, plan, options, inv = _saved(tmp_path)
    saved = load_plan(path)
    assert saved.plan == plan
    assert saved.options == options
    assert saved.vm_names == ("db-01",)
    assert saved.spec_path == "spec.yaml"
    assert saved.fingerprint == inv.fingerprint(["db-01"])
    assert saved.created.endswith("+00:00")
    check_fresh(saved, inv)  # unchanged estate: no error
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_file_shape_and_no_secrets(tmp_path: Path) -> None:
    path, plan, _, _ = _saved(tmp_path)
    data = json.loads(path.read_text())
    assert sorted(data) == [
        "created",
        "fingerprint",
        "format_version",
        "kind",
        "objects",
        "options",
        "plan",
        "spec_path",
        "vm_names",
    ]
    assert (data["format_version"], data["kind"]) == (2, "pmemctl-plan")
    assert data["fingerprint"].startswith("sha256:")
    assert data["plan"] == plan.to_json()
    assert data["options"]["parallel"] == {"total": 4, "per_host": 2, "per_datastore": 8,
                                           "down": None}
    assert sorted(data["objects"]) == ["VM db-01", "host esx-01"]
    assert "password" not in path.read_text().lower()


def test_stale_plan_names_what_changed(tmp_path: Path) -> None:
    path, _, _, inv = _saved(tmp_path)
    saved = load_plan(path)
    moved_on = replace(
        inv,
        vms={**inv.vms, "db-01": replace(inv.vms["db-01"], power_state="poweredOff")},
        hosts={**inv.hosts, "host-esx-01": replace(inv.hosts["host-esx-01"], pmem_free_mb=100 * GIB)},
    )
    with pytest.raises(StalePlanError) as exc:
        check_fresh(saved, moved_on)
    assert str(exc.value) == (
        "the estate changed since the plan was made (VM db-01 changed, host esx-01 changed); "
        "run plan again"
    )


def test_vanished_vm_is_stale(tmp_path: Path) -> None:
    path, _, _, inv = _saved(tmp_path)
    gone = replace(inv, vms={"other-01": inv.vms["other-01"]})
    with pytest.raises(StalePlanError, match=r"VM db-01 is gone, host esx-01 is gone"):
        check_fresh(load_plan(path), gone)


def test_changes_elsewhere_do_not_make_a_plan_stale(tmp_path: Path) -> None:
    path, _, _, inv = _saved(tmp_path)
    elsewhere = replace(
        inv,
        vms={**inv.vms, "other-01": replace(inv.vms["other-01"], power_state="poweredOn")},
        hosts={**inv.hosts, "host-esx-02": replace(inv.hosts["host-esx-02"], pmem_free_mb=1)},
    )
    check_fresh(load_plan(path), elsewhere)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "plan.json:1:2: not a pmemctl plan: invalid JSON"),
        ("[1, 2]", "plan.json:1:1: not a pmemctl plan: expected a JSON object"),
        ('{"kind": "terraform"}', "not a pmemctl plan: kind is 'terraform', not 'pmemctl-plan'"),
        (
            '{"kind": "pmemctl-plan", "format_version": 9}',
            "plan file format_version 9 is not supported (this pmemctl reads 2); "
            "run plan again with this version",
        ),
        (  # a plan saved by the pmemctl before typed payloads
            '{"kind": "pmemctl-plan", "format_version": 1}',
            "plan file format_version 1 is not supported (this pmemctl reads 2); "
            "run plan again with this version",
        ),
        (
            '{"kind": "pmemctl-plan", "format_version": 2}',
            "malformed plan file: missing created, spec_path, options, vm_names, fingerprint, plan",
        ),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(text)
    with pytest.raises(SpecError) as exc:
        load_plan(path)
    assert message in str(exc.value)
    assert str(exc.value).startswith(str(path))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["plan"]["changes"][0].update(action="explode"), "unknown action 'explode'"),
        (lambda d: d["options"].update(power_off="yes"), "options.power_off has the wrong type"),
        (lambda d: d["options"]["parallel"].pop("total"), "options.parallel must have exactly"),
        (lambda d: d.update(vm_names="db-01"), "vm_names must be a list of names"),
        (lambda d: d.update(surprise=True), "unknown surprise"),
    ],
)
def test_malformed_contents(tmp_path: Path, edit: object, message: str) -> None:
    path, *_ = _saved(tmp_path)
    data = json.loads(path.read_text())
    edit(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))
    with pytest.raises(SpecError, match=message):
        load_plan(path)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read the plan file"):
        load_plan(tmp_path / "missing.json")


def test_is_plan_file(tmp_path: Path) -> None:
    path, *_ = _saved(tmp_path)
    assert is_plan_file(path)
    yaml_spec = tmp_path / "spec.yaml"
    yaml_spec.write_text("apiVersion: pmemctl/v1\nvms: []\n")
    other_json = tmp_path / "other.json"
    other_json.write_text('{"kind": "something"}')
    broken = tmp_path / "broken.json"
    broken.write_text("{oops")
    assert not is_plan_file(yaml_spec)
    assert not is_plan_file(other_json)
    assert not is_plan_file(broken)
    assert not is_plan_file(tmp_path / "missing.json")
