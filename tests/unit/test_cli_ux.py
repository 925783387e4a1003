"""Small things a new user hit: -q anywhere, Ctrl-C at the prompt, no empty journals.

In-process on FakeVSphere (tests/unit/fakecli.py): these are the CLI's own
logic and need no server.
"""

from __future__ import annotations

import io
from contextlib import nullcontext
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from pmemctl.cli import cli
from pmemctl.cli.app import App
from pmemctl.testing import FakeVSphere
from tests.unit import builders as b
from tests.unit import fakecli as k

pytestmark = pytest.mark.unit

MIGRATE = """
    vms:
      - name: legacy-sql-03
        disks: {"*": pmem}
"""


@pytest.fixture(autouse=True)
def _journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "journals"
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(d))
    return d


def estate() -> FakeVSphere:
    return FakeVSphere(b.inventory(
        hosts=[b.host("esx-01")],
        vms=[b.vm("legacy-sql-03", hw=13, disks=[b.disk(size_gb=60)])]))


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_before_or_after_the_command_leaves_only_the_summary(tmp_path: Path,
                                                                  where: str) -> None:
    vs = estate()
    spec = str(k.spec(tmp_path, MIGRATE))
    args = ["apply", spec, "--yes"]
    argv = ["-q", *args] if where == "before" else [*args, "-q"]
    runner = CliRunner()
    with runner.isolation():
        app = App(vsphere=lambda _vc: nullcontext(vs))
    r = runner.invoke(cli, argv, obj=app, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert r.stdout == "Apply complete: 1 done, 0 failed.\n"
    assert r.stderr == ""  # no "Journal: …" note
    assert k.submitted(vs) == ["relocate legacy-sql-03: Hard disk 1 -> PMemDS-esx-01"]


def test_without_quiet_the_plan_and_steps_are_shown(tmp_path: Path) -> None:
    # The other side of the test above: quiet really removes something.
    r = k.run(estate(), "apply", str(k.spec(tmp_path, MIGRATE)), "--yes")
    assert r.exit_code == 0, r.output
    assert "Plan: 1 change for 1 VM." in r.stdout and ": started (task-1)" in r.stdout
    assert "Journal: " in r.stderr


def test_quiet_plan_prints_the_summary_line_and_the_problems(tmp_path: Path) -> None:
    vs = FakeVSphere(b.inventory(hosts=[b.host("esx-01")],
                                 vms=[b.vm("db-01", hw=13, disks=[b.disk()])]))
    spec = k.spec(tmp_path, "vms:\n  - name: db-01\n    nvdimms: [16GiB]\n")
    r = k.run(vs, "plan", str(spec), "-q")
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    assert lines[0].startswith("Plan: ")
    assert all(line.startswith("Error: ") for line in lines[1:]) and len(lines) > 1


class _CtrlC(io.RawIOBase):
    """stdin on which reading raises KeyboardInterrupt, as Ctrl-C at a prompt does."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: object) -> int:
        raise KeyboardInterrupt


def _apply_on_a_terminal(vs: FakeVSphere, spec: Path, stdin: object,
                         monkeypatch: pytest.MonkeyPatch) -> Result:
    monkeypatch.setattr(App, "interactive", property(lambda self: True))
    runner = CliRunner()
    with runner.isolation():
        app = App(vsphere=lambda _vc: nullcontext(vs))
    return runner.invoke(cli, ["apply", str(spec)], input=stdin, obj=app,  # type: ignore[arg-type]
                         catch_exceptions=False)


def test_ctrl_c_at_the_confirmation_prompt_exits_130_and_changes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _journals: Path) -> None:
    vs = estate()
    r = _apply_on_a_terminal(vs, k.spec(tmp_path, MIGRATE), io.BufferedReader(_CtrlC()),
                             monkeypatch)
    assert r.exit_code == 130, r.output
    assert "Apply cancelled (Ctrl-C); nothing was changed" in r.stderr
    assert "Aborted." not in r.stderr
    assert k.submitted(vs) == []
    assert list(_journals.glob("*")) == []  # and no empty journal left behind


def test_no_at_the_prompt_cancels_with_exit_1_and_leaves_no_journal(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _journals: Path) -> None:
    vs = estate()
    r = _apply_on_a_terminal(vs, k.spec(tmp_path, MIGRATE), "n\n", monkeypatch)
    assert r.exit_code == 1
    assert "Apply cancelled." in r.stderr
    assert k.submitted(vs) == [] and list(_journals.glob("*")) == []


def test_end_of_input_at_the_prompt_is_a_cancel_not_an_interrupt(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = _apply_on_a_terminal(estate(), k.spec(tmp_path, MIGRATE), "", monkeypatch)
    assert r.exit_code == 1
    assert "Apply cancelled (no answer)" in r.stderr


def test_a_refused_apply_leaves_no_empty_journal(tmp_path: Path, _journals: Path) -> None:
    vs = estate()
    r = k.run(vs, "apply", str(k.spec(tmp_path, MIGRATE)))  # no terminal, no --yes
    assert r.exit_code == 1 and "not applying" in r.stderr
    assert list(_journals.glob("*")) == []


def test_an_existing_journal_is_kept_when_a_later_run_is_refused(tmp_path: Path,
                                                                 _journals: Path) -> None:
    vs = estate()
    spec = k.spec(tmp_path, MIGRATE)
    journal = _journals / "mine.jsonl"
    _journals.mkdir()
    journal.write_bytes(b"")  # the user's own (empty) file: not ours to delete
    r = k.run(vs, "apply", str(spec), "--journal", str(journal))
    assert r.exit_code == 1
    assert journal.exists()
