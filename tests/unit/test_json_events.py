"""The README's ``apply/rollback -o json`` event table is the contract the code keeps.

Two checks: the table lists exactly the event kinds and texts of
``pmemctl.apply.events.EVENT_KINDS`` with keys from ``EVENT_KEYS``; and
real runs (FakeVSphere, through the CLI) emit only documented events, each
with only the keys the table gives it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pmemctl.apply.events import EVENT_KEYS, EVENT_KINDS
from pmemctl.testing import FakeVSphere, Fault
from tests.unit import builders as b
from tests.unit import fakecli as k

pytestmark = pytest.mark.unit

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _table() -> dict[str, tuple[str, list[str]]]:
    """event -> (when, keys) from the README section."""
    section = README.split("### apply and rollback -o json: event lines", 1)[1]
    section = section.split("\n#", 1)[0]
    rows: dict[str, tuple[str, list[str]]] = {}
    for line in section.splitlines():
        m = re.match(r"^\| `(\w+)` \| (.*?) \| (.*) \|$", line)
        if m and m.group(2) != "when":  # not the header
            rows[m.group(1)] = (m.group(2), re.findall(r"`(\w+)`", m.group(3)))
    return rows


def test_the_readme_table_lists_every_event_kind_with_the_code_s_words() -> None:
    rows = _table()
    assert set(rows) == {"plan", "summary", *EVENT_KINDS}
    for kind, when in EVENT_KINDS.items():
        assert rows[kind][0] == when, kind
        assert set(rows[kind][1]) <= set(EVENT_KEYS), kind
        assert "time" in rows[kind][1], kind  # always there


def test_the_readme_event_keys_are_in_the_order_events_write_them() -> None:
    order = {k: i for i, k in enumerate(EVENT_KEYS)}
    for kind in EVENT_KINDS:
        keys = _table()[kind][1]
        assert keys == sorted(keys, key=order.__getitem__), kind


@pytest.fixture(autouse=True)
def _journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))


def _lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def _check(lines: list[dict[str, Any]], *, rollback: bool = False) -> None:
    rows = _table()
    assert lines[0]["event"] == "plan" and lines[-1]["event"] == "summary"
    assert ("notes" in lines[0]) is rollback
    for rec in lines[1:-1]:
        kind = rec["event"]
        assert kind in EVENT_KINDS, rec
        assert set(rec) <= {"event", *rows[kind][1]}, rec
        assert list(rec) == sorted(rec, key=EVENT_KEYS.index), rec
    summary = lines[-1]
    documented = set(rows["summary"][1]) - {"vm", "action", "target", "outcome", "task",
                                            "fault", "message", "done", "failed", "skipped",
                                            "not_started", "running"}
    counts = {"not_started", "done", "failed", "skipped"}
    extra = set() if rollback else {"elapsed_s", "interrupted", "left_running", "still_off"}
    assert set(summary) == {"event", *counts, *extra, "journal", "results"}
    assert set(summary) - {"event"} - counts <= documented
    for r in summary["results"]:
        assert list(r) == ["vm", "action", "target", "outcome", "task", "fault", "message"]


def test_a_failing_apply_and_its_rollback_write_only_documented_lines(tmp_path: Path) -> None:
    vs = FakeVSphere(b.inventory(
        hosts=[b.host("esx-01")],
        vms=[b.vm("db-01", hw=13, power="poweredOn", tools_running=True, disks=[b.disk()]),
             b.vm("db-02", hw=14, disks=[b.disk(size_gb=60)])]))
    vs.fail("upgrade", Fault("InvalidState", "The operation is not allowed."), vm="db-01")
    spec = k.spec(tmp_path, """
        options: {power_off: true, upgrade_hardware: true, on_failure: continue}
        vms:
          - name: db-01
            nvdimms: [16GiB]
          - name: db-02
            disks: {"*": pmem}
    """)
    journal = tmp_path / "j.jsonl"
    r = k.run(vs, "apply", str(spec), "--yes", "-o", "json", "--journal", str(journal))
    assert r.exit_code == 1, r.output
    lines = _lines(r.stdout)
    _check(lines)
    kinds = {rec["event"] for rec in lines}
    assert {"started", "done", "failed", "skipped"} <= kinds  # the run did reach them
    r = k.run(vs, "rollback", str(journal), "--yes", "-o", "json")
    assert r.exit_code == 0, r.output
    _check(_lines(r.stdout), rollback=True)
