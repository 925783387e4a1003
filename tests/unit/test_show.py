"""``pmemctl show PLANFILE``: a saved plan printed without a vCenter, in every rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pmemctl.cli import cli
from pmemctl.cli.views.markdown import MARKER
from pmemctl.testing import FakeVSphere
from tests.unit import builders as b
from tests.unit import fakecli as k

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))
    for var in ("PMEMCTL_URL", "PMEMCTL_SERVER", "PMEMCTL_USER", "PMEMCTL_PASSWORD"):
        monkeypatch.delenv(var, raising=False)


def saved(tmp_path: Path, text: str) -> tuple[Path, dict[str, object]]:
    """``plan --out`` on a fake vCenter; the file and the plan's JSON as plan printed it."""
    vs = FakeVSphere(b.inventory(
        hosts=[b.host("esx-01")],
        vms=[b.vm("db-01", disks=[b.disk()]), b.vm("web-01", hw=13, disks=[b.disk()])]))
    out = tmp_path / "plan.json"
    r = k.run(vs, "plan", str(k.spec(tmp_path, text)), "--out", str(out), "-o", "json")
    assert out.is_file(), r.output
    return out, json.loads(r.stdout)


def show(*args: str) -> tuple[int, str, str]:
    # No vCenter anywhere: no App factory, no PMEMCTL_URL.
    r = CliRunner().invoke(cli, ["show", *args])
    return r.exit_code, r.stdout, r.stderr


DB = 'vms:\n  - name: db-01\n    disks: {"*": pmem}\n'


def test_table_is_the_plan_table_with_where_it_came_from(tmp_path: Path) -> None:
    path, _ = saved(tmp_path, DB)
    code, out, err = show(str(path))
    assert code == 0
    assert "VM db-01 (host esx-01)" in out and "migrate_disk" in out
    assert "Plan: 1 change for 1 VM." in out
    assert err.startswith(f"Saved plan {path}: made 20") and f"from {tmp_path}/spec.yaml" in err


def test_json_is_the_plan_document_plus_the_saved_plan(tmp_path: Path) -> None:
    path, planned = saved(tmp_path, DB)
    code, out, _ = show(str(path), "-o", "json")
    assert code == 0
    doc = json.loads(out)
    saved_plan = doc.pop("saved_plan")
    assert doc["format_version"] == 1
    assert doc["changes"] == planned["changes"] and doc["hosts"] == planned["hosts"]
    assert saved_plan["path"] == str(path) and saved_plan["vm_names"] == ["db-01"]
    assert saved_plan["fingerprint"].startswith("sha256:")
    assert saved_plan["options"]["on_failure"] == "stop"


def test_markdown_says_it_is_the_saved_plan(tmp_path: Path) -> None:
    path, _ = saved(tmp_path, DB)
    code, out, _ = show(str(path), "--output", "markdown")
    assert code == 0
    assert out.startswith(f"{MARKER}\n### pmemctl plan (saved: plan.json)\n\nSaved plan, made 20")
    assert "`pmemctl apply plan.json` runs it" in out
    assert "<summary><code>db-01</code> (host esx-01): 1 change</summary>" in out


def test_detailed_exitcode_says_changes_pending(tmp_path: Path) -> None:
    path, _ = saved(tmp_path, DB)
    assert show(str(path), "--detailed-exitcode")[0] == 2


def test_a_blocked_saved_plan_exits_1_and_says_blocked_in_json(tmp_path: Path) -> None:
    path, _ = saved(tmp_path, "vms:\n  - name: web-01\n    nvdimms: [16GiB]\n")
    code, out, err = show(str(path), "-o", "json")
    assert code == 1
    assert json.loads(out)["problems"][0]["vm"] == "web-01"
    assert json.loads(err.splitlines()[-1])["error"]["code"] == "blocked"


def test_a_file_that_is_no_plan_is_refused_with_its_location(tmp_path: Path) -> None:
    spec = k.spec(tmp_path, DB)
    code, out, err = show(str(spec))
    assert (code, out) == (1, "")
    assert err.startswith(f"{spec}:1:1: not a pmemctl plan")
    code, _, err = show(str(spec), "-o", "json")
    assert code == 1
    assert json.loads(err)["error"]["code"] == "spec_invalid"


def test_plan_on_a_plan_file_points_to_show(tmp_path: Path) -> None:
    path, _ = saved(tmp_path, DB)
    r = k.run(FakeVSphere(b.inventory()), "plan", str(path))
    assert r.exit_code == 64
    assert f"show it with `pmemctl show {path}`" in r.stderr
