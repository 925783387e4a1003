"""Journals keyed by vCenter host and port, ``pmemctl journals [SPEC]``, ``rollback --last``.

In-process on FakeVSphere; the journal directory is the test's own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmemctl.apply.journal import Journal, default_journal_path
from pmemctl.apply.journals import journal_for, latest_journal, list_journals
from pmemctl.errors import UsageError
from pmemctl.testing import FakeVSphere
from pmemctl.vsphere.session import ConnectionSettings
from tests.unit import builders as b
from tests.unit import fakecli as k

pytestmark = pytest.mark.unit

MIGRATE = """
    vms:
      - name: legacy-sql-03
        disks: {"*": pmem}
"""


@pytest.fixture
def jdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "journals"
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(d))
    return d


def estate(port: int = 443) -> FakeVSphere:
    return FakeVSphere(b.inventory(
        hosts=[b.host("esx-01")],
        vms=[b.vm("legacy-sql-03", hw=13, disks=[b.disk(size_gb=60)])]),
        settings=ConnectionSettings(host="127.0.0.1", port=port, user="u", password="p"))


def test_the_journal_name_covers_host_and_port(jdir: Path) -> None:
    spec = jdir.parent / "spec.yaml"
    a = journal_for(spec, "127.0.0.1", 8989)
    assert a != journal_for(spec, "127.0.0.1", 8990)
    assert a == journal_for(spec, "127.0.0.1", 8989)
    assert a == default_journal_path(spec, "127.0.0.1", 8989)
    assert a.parent == jdir and a.name.startswith("spec-")


def _legacy(spec: Path, port: int | None) -> Path:
    path = default_journal_path(spec, "127.0.0.1")  # the host-only name of earlier pmemctl
    with Journal(path) as j:
        j.write("run_start", command="apply", spec=str(spec.resolve()), vcenter="127.0.0.1",
                vcenter_port=port)
    return path


def test_a_host_only_journal_of_earlier_pmemctl_is_still_resumed(jdir: Path) -> None:
    spec = jdir.parent / "spec.yaml"
    legacy = _legacy(spec, 8989)
    assert journal_for(spec, "127.0.0.1", 8989) == legacy
    # ... but never for the other vCenter on the same address.
    assert journal_for(spec, "127.0.0.1", 8990) == default_journal_path(spec, "127.0.0.1", 8990)


def test_a_host_only_journal_without_a_port_is_resumed(jdir: Path) -> None:
    spec = jdir.parent / "spec.yaml"
    legacy = _legacy(spec, None)
    assert journal_for(spec, "127.0.0.1", 443) == legacy


def test_two_vcenters_on_one_address_get_two_journals(tmp_path: Path, jdir: Path) -> None:
    spec = k.spec(tmp_path, MIGRATE)
    one, two = estate(8989), estate(8990)
    assert k.run(one, "apply", str(spec), "--yes").exit_code == 0
    assert k.run(two, "apply", str(spec), "--yes").exit_code == 0
    files = sorted(jdir.glob("*.jsonl"))
    assert len(files) == 2
    ports = sorted(json.loads(f.read_text().splitlines()[0])["vcenter_port"] for f in files)
    assert ports == [8989, 8990]


def test_journals_lists_them_newest_first_as_a_table_and_json(tmp_path: Path,
                                                              jdir: Path) -> None:
    spec = k.spec(tmp_path, MIGRATE)
    other = k.spec(tmp_path, MIGRATE, name="other.yaml")
    vs = estate(8989)
    assert k.run(vs, "apply", str(spec), "--yes").exit_code == 0
    assert k.run(estate(8990), "apply", str(other), "--yes").exit_code == 0
    r = k.run(vs, "journals", "-o", "json")
    assert r.exit_code == 0, r.output
    listed = json.loads(r.stdout)["journals"]
    assert [Path(j["spec"]).name for j in listed] == ["other.yaml", "spec.yaml"]
    first = listed[1]
    assert first["command"] == "apply" and first["status"] == "done"
    assert first["vcenter"] == "127.0.0.1" and first["vcenter_port"] == 8989
    assert first["steps_done"] == 1 and first["runs"] == 1
    r = k.run(vs, "journals", str(spec), "-o", "json")
    assert [Path(j["spec"]).name for j in json.loads(r.stdout)["journals"]] == ["spec.yaml"]
    r = k.run(vs, "journals", str(spec))
    assert r.exit_code == 0
    assert "127.0.0.1:8989" in r.stdout and "done" in r.stdout
    assert "other" not in r.stdout


def test_journals_in_an_empty_directory(jdir: Path) -> None:
    r = k.run(estate(), "journals")
    assert r.exit_code == 0 and r.stdout == "No journals.\n"
    assert json.loads(k.run(estate(), "journals", "-o", "json").stdout) == {"journals": []}


def test_an_unreadable_journal_is_listed_with_its_error(jdir: Path) -> None:
    jdir.mkdir()
    (jdir / "junk.jsonl").write_text("not json\nnor this\n")
    [info] = list_journals()
    assert info.status == "unreadable" and "not a pmemctl journal" in (info.error or "")


def test_a_killed_run_is_listed_as_killed(tmp_path: Path, jdir: Path) -> None:
    spec = tmp_path / "spec.yaml"
    with Journal(journal_for(spec, "vc", 443)) as j:
        j.write("run_start", command="apply", spec=str(spec.resolve()), vcenter="vc",
                vcenter_port=443)
    [info] = list_journals(spec)
    assert info.status == "killed" and info.last_run


def test_rollback_last_picks_the_newest_apply_journal_of_the_spec(tmp_path: Path,
                                                                 jdir: Path) -> None:
    spec = k.spec(tmp_path, MIGRATE)
    vs = estate(8989)
    assert k.run(vs, "apply", str(spec), "--yes").exit_code == 0
    assert vs.inventory.vms["legacy-sql-03"].disks[0].pmem
    r = k.run(vs, "rollback", "--last", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    assert "Rolling back " in r.stderr and str(spec) in r.stderr
    assert not vs.inventory.vms["legacy-sql-03"].disks[0].pmem
    # The rollback's own journal is listed with the apply's, and is not "the last apply".
    infos = list_journals(spec)
    assert sorted(i.command for i in infos) == ["apply", "rollback"]
    assert latest_journal(spec) == next(i.path for i in infos if i.command == "apply")


def test_rollback_needs_exactly_one_of_journal_and_last(tmp_path: Path, jdir: Path) -> None:
    vs = estate()
    assert k.run(vs, "rollback").exit_code == 64
    r = k.run(vs, "rollback", str(tmp_path / "j.jsonl"), "--last", str(tmp_path / "s.yaml"))
    assert r.exit_code == 64 and "one of them" in r.stderr
    assert vs.calls == []


def test_rollback_last_without_a_journal_says_so(tmp_path: Path, jdir: Path) -> None:
    r = k.run(estate(), "rollback", "--last", str(tmp_path / "spec.yaml"), "--yes")
    assert r.exit_code == 64 and "no apply journal of" in r.stderr
    with pytest.raises(UsageError):
        latest_journal(tmp_path / "spec.yaml")


def test_a_journal_a_run_holds_is_listed_as_running(tmp_path: Path, jdir: Path) -> None:
    spec = tmp_path / "spec.yaml"
    with Journal(journal_for(spec, "vc", 443)) as j:  # holds the lock, as a running apply does
        j.write("run_start", command="apply", spec=str(spec.resolve()), vcenter="vc",
                vcenter_port=443)
        [info] = list_journals(spec)
        assert info.status == "running"
    [info] = list_journals(spec)
    assert info.status == "killed"  # the lock is gone and no run_end was written


def test_rollback_last_takes_the_newest_journal_of_the_connected_vcenter(tmp_path: Path,
                                                                         jdir: Path) -> None:
    spec = k.spec(tmp_path, MIGRATE)
    one, two = estate(8989), estate(8990)
    assert k.run(one, "apply", str(spec), "--yes").exit_code == 0
    assert k.run(two, "apply", str(spec), "--yes").exit_code == 0  # the newest
    r = k.run(one, "rollback", "--last", str(spec), "--yes")
    assert r.exit_code == 0, r.output
    assert "against 127.0.0.1:8989" in r.stderr
    assert not one.inventory.vms["legacy-sql-03"].disks[0].pmem
    assert two.inventory.vms["legacy-sql-03"].disks[0].pmem
    with pytest.raises(UsageError, match=r"against 127\.0\.0\.1:9999"):
        latest_journal(spec, host="127.0.0.1", port=9999)
