"""`pmemctl rehearse` and `pmemctl sim`: pmemsim built from the package's own source, served."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from pmemctl.cli import cli

ROOT = Path(__file__).resolve().parents[2]
PMEMSIM = ROOT / "tests" / "pmemsim"
DEMO = PMEMSIM / "demo.yaml"
REDIS = ROOT / "playbooks" / "redis-nvdimm.yaml"


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    # A cache of this session's own (the build is tested, not the user's
    # cache), with the checkout's warm Go build cache so it takes seconds.
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))
    mp.setenv("GOCACHE", str(PMEMSIM / ".build" / "gocache"))
    mp.setenv("XDG_STATE_HOME", str(tmp_path_factory.getbasetemp() / "state"))
    yield
    mp.undo()


def _rehearse(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(cli, ["rehearse", *args], catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr


def test_rehearsal_applies_replans_and_reports_the_makespan() -> None:
    code, out, err = _rehearse(str(REDIS), "--estate", str(DEMO), "--copy-rate", "1GiB/s")
    assert code == 0, out + err
    assert "Plan: 5 changes for 2 VMs (4 disruptive)." in out
    assert "Rehearsal complete: 5 done, 0 failed." in out
    assert "Re-plan after the apply:\nNo changes. The estate matches the spec." in out
    assert "Makespan measured by pmemsim: " in out
    assert out.rstrip().endswith(
        "Rehearsal converged: the spec applies cleanly and a second run has nothing to do.")
    # The claims on the simulator's VMs are not left behind.
    locks = Path(os.environ["XDG_STATE_HOME"]) / "pmemctl" / "locks"
    assert not locks.exists() or list(locks.iterdir()) == []


def test_rehearsal_json_ends_with_the_measurement() -> None:
    code, out, _err = _rehearse(str(REDIS), "--estate", str(DEMO), "-o", "json")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["event"] for r in (records[0], records[-2], records[-1])] == [
        "plan", "summary", "rehearsal"]
    last = records[-1]
    assert last["converged"] is True
    assert last["replan"]["format_version"] == 1 and last["replan"]["changes"] == []
    # redis-01: one reconfigure; redis-02: upgrade, reconfigure, power on (the
    # power off is a guest shutdown, not a task).
    assert last["tasks"] >= 4 and last["failed_tasks"] == 0
    assert last["makespan_s"] > 0
    assert last["soap_requests"] > 10


def test_a_blocked_plan_does_not_converge(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("apiVersion: pmemctl/v1\nvms:\n  - name: redis-02\n    nvdimms: [16GiB]\n")
    code, out, _err = _rehearse(str(spec), "--estate", str(DEMO))
    assert code == 1
    assert "Rehearsal did NOT converge" in out
    assert "Rehearsal complete" not in out  # nothing was applied


def test_a_bad_estate_is_refused_with_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "estate.yaml"
    bad.write_text("vms:\n  - {name: a, host: nope}\n")
    code, out, err = _rehearse(str(REDIS), "--estate", str(bad))
    assert code == 64
    assert (f"Error: pmemsim refused its input: {bad}:2: vms[0].host: unknown host \"nope\" "
            "in datacenter DC0; nothing was started") in err
    assert out == ""


def test_a_bad_spec_is_refused_before_pmemsim_starts(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("apiVersion: pmemctl/v1\nvms:\n  - name: redis-02\n    nvdimm: [16GiB]\n")
    code, _out, err = _rehearse(str(spec), "--estate", str(tmp_path / "missing.yaml"))
    assert code == 64  # the missing estate is found first
    assert "--estate" in err
    code, _out, err = _rehearse(str(spec), "--estate", str(DEMO))
    assert code == 1
    assert f"{spec}:4:5:" in err


def _pmemctl(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "pmemctl", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def test_sim_serves_the_demo_and_stops_on_sigterm(tmp_path: Path) -> None:
    p = _pmemctl("sim", "--listen", "127.0.0.1:0", "--cert-out", str(tmp_path / "ca.pem"))
    try:
        assert p.stdout is not None
        url = p.stdout.readline().strip()
        assert url.startswith("https://user:pass@127.0.0.1:")
        r = CliRunner().invoke(cli, ["status", "--url", url, "--ca-file",
                                     str(tmp_path / "ca.pem"), "-o", "json"])
        assert r.exit_code == 0, r.output
        assert {h["name"] for h in json.loads(r.stdout)["hosts"]} == {
            "esx-01", "esx-02", "esx-03", "esx-10"}
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=15)
    assert p.returncode == 0
    built = list((Path(os.environ["XDG_CACHE_HOME"]) / "pmemctl").glob("pmemsim-*/pmemsim"))
    assert len(built) == 1


def test_sim_passes_pmemsims_flag_errors_through() -> None:
    p = _pmemctl("sim", "--no-such-flag")
    _out, err = p.communicate(timeout=60)
    assert p.returncode == 2
    assert "no-such-flag" in err


def test_sim_names_the_debian_packages_it_misses(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path / "empty"), "PMEMSIM_GOPATH": str(tmp_path / "none"),
           "PATH": str(tmp_path / "nobin")}
    p = _pmemctl("sim", "--build-only", env=env)
    _out, err = p.communicate(timeout=60)
    assert p.returncode == 1
    assert ("Error: cannot build pmemsim: missing the Debian package(s) golang-go, "
            "golang-github-vmware-govmomi-dev, golang-gopkg-yaml.v3-dev") in err
    assert "apt-get install -y golang-go golang-github-vmware-govmomi-dev " \
           "golang-gopkg-yaml.v3-dev" in err
    assert not (tmp_path / "empty" / "pmemctl").exists() or not list(
        (tmp_path / "empty" / "pmemctl").rglob("pmemsim"))


def test_a_failed_step_does_not_converge_and_the_replan_shows_what_is_left() -> None:
    code, out, _err = _rehearse(str(REDIS), "--estate", str(DEMO), "--on-failure", "continue",
                                "--fault", "method=ReconfigVM_Task,vm=redis-01")
    assert code == 1
    assert "1 failed" in out
    replan = out.split("Re-plan after the apply:", 1)[1]
    assert "redis-01" in replan and "add_nvdimm" in replan and "redis-02" not in replan
    assert "Rehearsal did NOT converge" in out
    assert "1 failed;" in out.split("Makespan measured by pmemsim:", 1)[1]
