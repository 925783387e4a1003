"""``plan|apply --skip-blocked`` in-process on FakeVSphere: exit codes, what runs, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pmemctl.testing import FakeVSphere, Fault
from tests.unit import builders as b
from tests.unit import fakecli as k

pytestmark = pytest.mark.unit

# redis-02 is powered on and needs a power cycle nobody agreed to: blocked.
SPEC = """
    vms:
      - name: redis-01
        nvdimms: [16GiB]
      - name: redis-02
        nvdimms: [16GiB]
      - name: legacy-sql-03
        disks: {"*": pmem}
"""


@pytest.fixture(autouse=True)
def _journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))


def estate() -> FakeVSphere:
    return FakeVSphere(b.inventory(
        hosts=[b.host("esx-01"), b.host("esx-02")],
        vms=[b.vm("redis-01", disks=[b.disk()]),
             b.vm("redis-02", host="esx-02", power="poweredOn", tools_running=True,
                  disks=[b.disk()]),
             b.vm("legacy-sql-03", disks=[b.disk(size_gb=60)])]))


def test_apply_runs_the_rest_and_exits_1(tmp_path: Path) -> None:
    vs = estate()
    r = k.run(vs, "apply", str(k.spec(tmp_path, SPEC)), "--yes", "--skip-blocked")
    assert r.exit_code == 1, r.output
    assert sorted(k.submitted(vs)) == ["reconfigure redis-01: add_nvdimm NVDIMM 1 16384 MB",
                                       "relocate legacy-sql-03: Hard disk 1 -> PMemDS-esx-01"]
    assert "Apply complete: 2 done, 0 failed." in r.stdout
    assert ("Skipped 1 blocked VM, left untouched: redis-02 (exit 1).\n"
            "  redis-02: VM redis-02 is powered on; adding NVDIMM 1 needs it powered off "
            "(set options.power_off: true)\n") in r.stdout
    # The report comes last, where CI logs are read.
    assert r.stdout.rstrip().endswith("(set options.power_off: true)")


def test_without_the_flag_nothing_runs(tmp_path: Path) -> None:
    vs = estate()
    r = k.run(vs, "apply", str(k.spec(tmp_path, SPEC)), "--yes")
    assert r.exit_code == 1 and "apply will refuse this plan" in r.stdout
    assert "Hint: --skip-blocked (options.skip_blocked) applies the 2 VMs" in r.stdout
    assert k.submitted(vs) == []


def test_a_failure_among_the_rest_is_reported_with_the_skipped(tmp_path: Path) -> None:
    vs = estate()
    vs.fail("relocate", Fault("InsufficientResourcesFault", "Insufficient resources."),
            vm="legacy-sql-03")
    r = k.run(vs, "apply", str(k.spec(tmp_path, SPEC)), "--yes", "--skip-blocked",
              "--on-failure", "continue")
    assert r.exit_code == 1
    assert "Apply failed: 1 done, 1 failed." in r.stdout
    assert "Skipped 1 blocked VM, left untouched: redis-02" in r.stdout


def test_json_summary_lists_the_skipped(tmp_path: Path) -> None:
    vs = estate()
    r = k.run(vs, "apply", str(k.spec(tmp_path, SPEC)), "--yes", "--skip-blocked", "-o", "json")
    assert r.exit_code == 1
    docs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [s["vm"] for s in docs[0]["skipped"]] == ["redis-02"]
    assert docs[0]["problems"] == []
    assert docs[-1]["event"] == "summary" and docs[-1]["done"] == 2
    assert docs[-1]["skipped"] == [{
        "vm": "redis-02", "host": "esx-02",
        "reasons": ["VM redis-02 is powered on; adding NVDIMM 1 needs it powered off "
                    "(set options.power_off: true)"]}]


def test_nothing_left_but_the_skipped_still_exits_1(tmp_path: Path) -> None:
    vs = estate()
    spec = k.spec(tmp_path, """
        vms:
          - name: redis-02
            nvdimms: [16GiB]
    """)
    r = k.run(vs, "apply", str(spec), "--yes", "--skip-blocked")
    assert r.exit_code == 1
    assert "No changes planned. Skipped 1 blocked VM: redis-02." in r.stdout
    assert "Skipped 1 blocked VM, left untouched: redis-02 (exit 1)." in r.stdout
    assert k.submitted(vs) == []


def test_plan_exits_1_even_with_detailed_exitcode(tmp_path: Path) -> None:
    vs = estate()
    r = k.run(vs, "plan", str(k.spec(tmp_path, SPEC)), "--skip-blocked", "--detailed-exitcode")
    assert r.exit_code == 1
    assert "VM redis-02 (host esx-02): BLOCKED, skipped (apply leaves it untouched)" in r.stdout
    everything_fine = k.spec(tmp_path, """
        vms:
          - name: redis-01
            nvdimms: [16GiB]
    """, name="fine.yaml")
    r = k.run(vs, "plan", str(everything_fine), "--skip-blocked", "--detailed-exitcode")
    assert r.exit_code == 2  # nothing skipped: the flag changes nothing


@pytest.mark.parametrize("command", ["plan", "apply"])
def test_json_error_object_says_skipped(tmp_path: Path, command: str) -> None:
    vs = estate()
    extra = ["--yes"] if command == "apply" else []
    r = k.run(vs, command, str(k.spec(tmp_path, SPEC)), "--skip-blocked", "-o", "json", *extra)
    assert r.exit_code == 1
    err = json.loads(r.stderr.splitlines()[-1])["error"]
    assert (err["code"], err["exit_code"]) == ("skipped", 1)
    assert err["message"] == "1 blocked VM skipped, left untouched: redis-02"
    assert [s["vm"] for s in err["skipped"]] == ["redis-02"]
    # Table mode writes no JSON.
    r = k.run(vs, command, str(k.spec(tmp_path, SPEC)), "--skip-blocked", *extra)
    assert "{" not in r.stderr


def test_markdown_and_show_carry_the_skipped(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pmemctl.cli import cli

    vs = estate()
    spec = str(k.spec(tmp_path, SPEC))
    r = k.run(vs, "plan", spec, "--skip-blocked", "-o", "markdown")
    assert r.exit_code == 1
    assert ("⏭️ **Skipped 1 blocked VM; apply leaves them untouched and exits 1:**\n\n"
            "- <code>redis-02</code>: VM redis-02 is powered on; adding NVDIMM 1 needs it "
            "powered off (set options.power\\_off: true)\n") in r.stdout
    out = tmp_path / "plan.json"
    assert k.run(vs, "plan", spec, "--skip-blocked", "--out", str(out)).exit_code == 1
    shown = CliRunner().invoke(cli, ["show", str(out)])
    assert shown.exit_code == 1
    assert "VM redis-02 (host esx-02): BLOCKED, skipped" in shown.stdout
