"""``--output json`` errors: one JSON object on stderr whose ``code`` a script can branch on."""

from __future__ import annotations

import fcntl
import json
from pathlib import Path
from typing import Any

import pytest

from pmemctl.cli.errjson import exception_document, wants_json
from pmemctl.testing import FakeVSphere
from tests.unit import builders as b
from tests.unit import fakecli as k

pytestmark = pytest.mark.unit

REDIS = """
    vms:
      - name: redis-01
        nvdimms: [16GiB]
"""


@pytest.fixture(autouse=True)
def _journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))


def estate() -> FakeVSphere:
    return FakeVSphere(b.inventory(
        hosts=[b.host("esx-01")],
        vms=[b.vm("redis-01", hw=14, disks=[b.disk()]),
             b.vm("redis-02", hw=13, power="poweredOn", disks=[b.disk()])]))


def error_of(stderr: str) -> dict[str, Any]:
    """The error object: the last line of stderr, and only that line is JSON."""
    lines = stderr.splitlines()
    assert lines, "nothing on stderr"
    doc = json.loads(lines[-1])
    assert set(doc) == {"error"}
    assert list(doc["error"])[:3] == ["code", "message", "exit_code"]
    return dict(doc["error"])


def test_a_blocked_plan_is_code_blocked_with_its_problems(tmp_path: Path) -> None:
    spec = k.spec(tmp_path, """
        vms:
          - name: redis-02
            nvdimms: [16GiB]
    """)
    r = k.run(estate(), "plan", str(spec), "-o", "json")
    assert r.exit_code == 1
    plan = json.loads(r.stdout)  # the plan document is still on stdout
    err = error_of(r.stderr)
    assert err["code"] == "blocked" and err["exit_code"] == 1
    assert err["problems"] == plan["problems"] and err["problems"][0]["vm"] == "redis-02"


def test_a_blocked_plan_in_table_mode_writes_no_json(tmp_path: Path) -> None:
    spec = k.spec(tmp_path, "vms:\n  - name: redis-02\n    nvdimms: [16GiB]\n")
    r = k.run(estate(), "plan", str(spec))
    assert r.exit_code == 1
    assert "{" not in r.stderr


def test_a_bad_spec_is_spec_invalid_with_located_problems(tmp_path: Path) -> None:
    spec = k.spec(tmp_path, "vms:\n  - name: redis-01\n    nvdimms: [16XB]\n")
    vs = estate()
    r = k.run(vs, "plan", str(spec), "--output", "json")
    assert (r.exit_code, r.stdout) == (1, "")
    err = error_of(r.stderr)
    assert err["code"] == "spec_invalid"
    [p] = err["problems"]
    assert (p["file"], p["line"], p["col"], p["column"]) == (str(spec), 4, 15, 15)
    assert vs.calls == []


@pytest.mark.parametrize("args", [
    ["plan", "x.yaml", "-o", "json", "--bogus"],  # Click's parse error: before any callback
    ["plan", "x.yaml", "--output=json", "--parallel", "3"],
    ["apply", "x.yaml", "-ojson", "--parallel", "0"],
])
def test_usage_errors_are_code_usage_and_exit_64(args: list[str]) -> None:
    r = k.run(estate(), *args)
    assert r.exit_code == 64
    err = error_of(r.stderr)
    assert (err["code"], err["exit_code"]) == ("usage", 64)
    assert "Usage:" not in r.stderr


def test_apply_without_yes_and_without_a_terminal_is_not_confirmed(tmp_path: Path) -> None:
    vs = estate()
    r = k.run(vs, "apply", str(k.spec(tmp_path, REDIS)), "-o", "json")
    assert r.exit_code == 1
    err = error_of(r.stderr)
    assert err["code"] == "not_confirmed"
    assert err["message"].startswith("not applying: no terminal to confirm on")
    assert k.submitted(vs) == []


def test_a_stale_saved_plan_is_stale_plan(tmp_path: Path) -> None:
    vs = estate()
    spec = k.spec(tmp_path, REDIS)
    first, second = tmp_path / "1.json", tmp_path / "2.json"
    assert k.run(vs, "plan", str(spec), "--out", str(first)).exit_code == 0
    assert k.run(vs, "plan", str(spec), "--out", str(second)).exit_code == 0
    assert k.run(vs, "apply", str(second), "--yes").exit_code == 0
    r = k.run(vs, "apply", str(first), "--yes", "-o", "json")
    assert r.exit_code == 1
    assert error_of(r.stderr)["code"] == "stale_plan"


def test_a_journal_held_by_another_run_is_journal_locked(tmp_path: Path) -> None:
    vs = estate()
    journal = tmp_path / "held.jsonl"
    with journal.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a running apply holds
        r = k.run(vs, "apply", str(k.spec(tmp_path, REDIS)), "--yes", "-o", "json",
                  "--journal", str(journal))
    assert r.exit_code == 1
    assert error_of(r.stderr)["code"] == "journal_locked"
    assert k.submitted(vs) == []


def test_a_failed_apply_is_apply_failed(tmp_path: Path) -> None:
    from pmemctl.testing import Fault

    vs = estate()
    vs.fail("reconfigure", Fault("InvalidDeviceSpec", "Invalid configuration for device '0'."),
            vm="redis-01")
    r = k.run(vs, "apply", str(k.spec(tmp_path, REDIS)), "--yes", "-o", "json")
    assert r.exit_code == 1
    err = error_of(r.stderr)
    assert err["code"] == "apply_failed" and "1 failed" in err["message"]


def test_a_bug_is_code_internal() -> None:
    doc = exception_document(ZeroDivisionError("division by zero"), 1)["error"]
    assert doc["code"] == "internal" and doc["type"] == "ZeroDivisionError"
    assert doc["message"].startswith("Internal error (a bug in pmemctl")


def test_ctrl_c_is_code_interrupted_exit_130() -> None:
    doc = exception_document(KeyboardInterrupt(), 130)["error"]
    assert (doc["code"], doc["exit_code"]) == ("interrupted", 130)


@pytest.mark.parametrize(("args", "expected"), [
    (["plan", "s.yaml", "-o", "json"], True),
    (["-o", "json"], True),
    (["plan", "--output=json"], True),
    (["plan", "-ojson"], True),
    (["plan", "s.yaml"], False),
    (["plan", "-o", "table"], False),
    (["plan", "--", "-o", "json"], False),
    (["validate", "json"], False),
])
def test_wants_json_reads_the_raw_command_line(args: list[str], expected: bool) -> None:
    assert wants_json(args) is expected
