"""The journal: fsync per record, torn last line tolerated, corruption refused, no secrets."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pmemctl.apply import journal as jmod
from pmemctl.apply.journal import Journal, JournalError, default_journal_path, read_journal


def _write_run(path: Path) -> Journal:
    j = Journal(path, run_id="r1")
    j.write("run_start", command="apply", vcenter="vc.example.com")
    sid = j.next_step_id()
    j.write("intent", step=sid, vm="db-01", kind="migrate", changes=[], undo={"disks": []})
    j.write("submitted", step=sid, task="task-12")
    return j


def test_every_record_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(jmod.os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    j = Journal(tmp_path / "j.jsonl", run_id="r1")
    base = len(synced)  # the directory fsync on create
    assert base >= 1
    for i in range(3):
        j.write("note", n=i)
    j.close()
    assert len(synced) - base == 3


def test_round_trip_and_pending(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    _write_run(p).close()
    st = read_journal(p)
    assert [r.run for r in st.runs] == ["r1"]
    [step] = st.pending
    assert step.task == "task-12" and step.vm == "db-01"
    j = Journal(p, run_id="r2")
    j.write("run_start", command="apply")
    j.write("done", step=step.step, task="task-12", resumed=True)
    j.close()
    st = read_journal(p)
    assert st.pending == [] and [s.outcome for s in st.steps] == ["done"]


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    _write_run(p).close()
    with p.open("ab") as f:
        f.write(b'{"v": 1, "type": "done", "step": "r1/1", "ta')  # SIGKILL mid-write
    st = read_journal(p)
    assert st.torn_tail
    assert st.pending[0].task == "task-12"  # the torn "done" never happened
    # A new run repairs the tail and appends cleanly; the old tear is then tolerated,
    # also before the new run has written anything.
    j = Journal(p, run_id="r2")
    assert read_journal(p).pending[0].task == "task-12"
    j.write("run_start", command="apply")
    j.close()
    st = read_journal(p)
    assert [r.run for r in st.runs] == ["r1", "r2"]


def test_corruption_in_the_middle_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    _write_run(p).close()
    lines = p.read_text().splitlines()
    lines[1] = lines[1][:10]
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(JournalError, match=r"j.jsonl:2: corrupt"):
        read_journal(p)


def test_record_for_unknown_step_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    with Journal(p, run_id="r1") as j:
        j.write("done", step="nope/1", task="task-1")
    with pytest.raises(JournalError, match="unknown step"):
        read_journal(p)


def test_no_secrets(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    with Journal(p) as j:
        with pytest.raises(JournalError):
            j.write("run_start", password="hunter2")
        with pytest.raises(JournalError):
            j.write("run_start", vcenter="https://user:hunter2@vc/sdk")
        j.write("run_start", vcenter="vc.example.com", options={"power_off": True})
    text = p.read_text()
    assert "hunter2" not in text
    assert json.loads(text.splitlines()[0])["vcenter"] == "vc.example.com"


def test_default_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PMEMCTL_JOURNAL_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    a = default_journal_path(tmp_path / "spec.yaml", "vc1")
    assert a.parent == tmp_path / "state" / "pmemctl" / "journals"
    assert a.name.startswith("spec-") and a.suffix == ".jsonl"
    assert a == default_journal_path(tmp_path / "spec.yaml", "vc1")
    assert a != default_journal_path(tmp_path / "spec.yaml", "vc2")
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "j"))
    assert default_journal_path(tmp_path / "spec.yaml", "vc1").parent == tmp_path / "j"


def test_file_is_private(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    Journal(p).close()
    assert p.stat().st_mode & 0o077 == 0


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "j.jsonl"
    with Journal(p), pytest.raises(JournalError, match="in use by another pmemctl run"):
        Journal(p)
    Journal(p).close()  # free again once the first one is closed
