"""The pmemctl.vsphere Ansible collection: site.yml on two pmemsim vCenters, and ansible-doc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests import simproc
from tests.live import applykit as k

MakeSim = Callable[..., simproc.PmemSim]
ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "playbooks" / "ansible"
BIN = Path(sys.executable).parent
GiB = 1024
SPEC = """
    vms:
      - name: redis-01
        nvdimms: [16GiB]
      - name: legacy-sql-02
        disks: {"*": pmem}
"""


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "ANSIBLE_HOME": str(tmp_path / "ansible"),
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible" / "tmp"),
            "ANSIBLE_STDOUT_CALLBACK": "results_json", "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_CALLBACK_PLUGINS": str(Path(__file__).parent / "ansible_callbacks"),
            "ANSIBLE_COLLECTIONS_PATH": str(ANSIBLE / "collections"),
            "PMEMCTL_JOURNAL_DIR": str(tmp_path / "journals")}


def _inventory(tmp_path: Path, sims: dict[str, simproc.PmemSim], bad: simproc.PmemSim) -> Path:
    hosts: dict[str, Any] = {}
    # Each vCenter under its own name (pmemsim's certificate has both): the default
    # journal is per spec and vCenter host name.
    for (name, sim), host in zip(sims.items(), ("127.0.0.1", "localhost"), strict=False):
        hosts[name] = {"vcenter_hostname": host, "vcenter_port": sim.parts.port,
                       "vcenter_username": sim.user, "vcenter_password": sim.password,
                       "vcenter_ca_file": str(sim.cert)}
    # A vCenter that refuses the login: it fails, the others go on.
    hosts["vc-bad"] = {**hosts[next(iter(sims))], "vcenter_hostname": bad.parts.hostname,
                       "vcenter_port": bad.parts.port, "vcenter_password": "wrong",
                       "vcenter_ca_file": str(bad.cert)}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump({"vcenters": {"hosts": hosts}}))
    return path


def _play(tmp_path: Path, inventory: Path, spec: Path, *extra: str) -> dict[str, Any]:
    r = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), "-f", "3",
                        str(ANSIBLE / "site.yml"), "-e", f"pmem_spec_file={spec}", *extra],
                       env=_env(tmp_path), capture_output=True, text=True, check=False,
                       timeout=600)
    assert r.stdout.strip(), r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    out["rc"] = r.returncode
    return out


def _task(out: dict[str, Any], host: str) -> dict[str, Any]:
    # The first task that ran on the host is pmem_apply.
    result: dict[str, Any] = out["plays"][0]["tasks"][0]["hosts"][host]
    return result


def test_site_yml_checks_converges_and_is_idempotent_on_two_vcenters(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sims = {"vc-a": make_sim("--copy-rate", "2TiB/s"), "vc-b": make_sim("--copy-rate", "2TiB/s")}
    inventory = _inventory(tmp_path, sims, sims["vc-a"])
    spec = k.spec(tmp_path, SPEC)

    check = _play(tmp_path, inventory, spec, "--check", "--diff")
    for name, sim in sims.items():
        assert check["stats"][name]["changed"] == 1, check["stats"]
        assert check["stats"][name]["failures"] == 0
        task = _task(check, name)
        actions = {c["action"] for c in task["plan"]["changes"]}
        assert {"add_nvdimm", "migrate_disk"} <= actions
        assert "redis-01: add_nvdimm" in task["diff"]["after"]
        assert k.estate(sim).vms["redis-01"].nvdimms == ()  # check mode changed nothing
    assert check["stats"]["vc-bad"]["failures"] == 1
    assert "wrong" not in json.dumps(_task(check, "vc-bad").get("msg", ""))

    real = _play(tmp_path, inventory, spec)
    assert real["rc"] != 0  # vc-bad failed ...
    for name, sim in sims.items():  # ... and did not stop the others
        assert real["stats"][name] == {**real["stats"][name], "changed": 1, "failures": 0}, \
            _task(real, name).get("msg")
        task = _task(real, name)
        assert task["summary"]["failed"] == 0 and task["summary"]["done"] >= 2
        estate = k.estate(sim)
        assert [n.size_mb for n in estate.vms["redis-01"].nvdimms] == [16 * GiB]
        assert all(d.pmem for d in estate.vms["legacy-sql-02"].disks)
        assert Path(task["journal"]).is_file()
    # One journal per vCenter.
    assert len({_task(real, n)["journal"] for n in sims}) == 2

    again = _play(tmp_path, inventory, spec)
    for name in sims:
        assert again["stats"][name]["changed"] == 0, again["stats"]
        assert again["stats"][name]["failures"] == 0
        assert _task(again, name)["changed"] is False


def test_a_blocked_plan_fails_the_task_with_every_problem(make_sim: MakeSim,
                                                           tmp_path: Path) -> None:
    sim = make_sim()
    inventory = _inventory(tmp_path, {"vc-a": sim}, sim)
    spec = k.spec(tmp_path, """
        vms:
          - name: redis-01
            nvdimms: [100TiB]
          - name: no-such-vm
            nvdimms: [1GiB]
    """)
    out = _play(tmp_path, inventory, spec, "--limit", "vc-a")
    task = _task(out, "vc-a")
    assert task["failed"] is True
    assert len(task["problems"]) >= 2, task["problems"]
    assert any("redis-01" in p for p in task["problems"])
    assert any("no-such-vm" in p for p in task["problems"])
    assert k.estate(sim).vms["redis-01"].nvdimms == ()


def test_pmem_info_reports_status_as_facts(demo_sim: simproc.PmemSim, tmp_path: Path) -> None:
    playbook = tmp_path / "info.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "info", "hosts": "localhost", "gather_facts": False, "connection": "local",
        "vars": {"ansible_python_interpreter": sys.executable},
        "tasks": [{"name": "read", "pmemctl.vsphere.pmem_info": {
            "hostname": demo_sim.parts.hostname, "port": demo_sim.parts.port,
            "ca_file": str(demo_sim.cert)}, "register": "pmem"},
            {"name": "unverified", "pmemctl.vsphere.pmem_info": {
                "hostname": demo_sim.parts.hostname, "port": demo_sim.parts.port,
                "validate_certs": False}}]}]))
    env = {**_env(tmp_path), "VMWARE_USER": demo_sim.user, "VMWARE_PASSWORD": demo_sim.password}
    r = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", str(playbook)],
                       env=env, capture_output=True, text=True, check=False,
                       timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    result = json.loads(r.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result["changed"] is False
    assert {h["name"] for h in result["pmem_status"]["hosts"]} >= {"esx-01"}
    assert result["ansible_facts"]["pmem_status"] == result["pmem_status"]
    unverified = json.loads(r.stdout)["plays"][0]["tasks"][1]["hosts"]["localhost"]
    assert unverified["pmem_status"] == result["pmem_status"]
    assert any("TLS certificate verification is disabled" in w
               for w in unverified.get("warnings", [])), unverified
    assert f"\"{demo_sim.password}\"" not in r.stdout  # no_log: Ansible masks it


def test_ansible_doc_shows_both_modules(tmp_path: Path) -> None:
    for module in ("pmem_info", "pmem_apply"):
        r = subprocess.run([str(BIN / "ansible-doc"), f"pmemctl.vsphere.{module}"],
                           env=_env(tmp_path), capture_output=True, text=True, check=False,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        for word in ("hostname", "validate_certs", "VMWARE_HOST", "EXAMPLES", "RETURN"):
            assert word in r.stdout, (module, word)
    r = subprocess.run([str(BIN / "ansible-doc"), "-j", "pmemctl.vsphere.pmem_apply"],
                       env=_env(tmp_path), capture_output=True, text=True, check=False,
                       timeout=120)
    doc = json.loads(r.stdout)["pmemctl.vsphere.pmem_apply"]["doc"]
    assert {"spec", "spec_file", "journal", "password"} <= set(doc["options"])


def test_an_inline_spec_in_check_mode_reports_and_changes_nothing(
        make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim()
    playbook = tmp_path / "inline.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "inline", "hosts": "localhost", "gather_facts": False, "connection": "local",
        "vars": {"ansible_python_interpreter": sys.executable},
        "tasks": [{"name": "apply", "pmemctl.vsphere.pmem_apply": {
            "hostname": sim.parts.hostname, "port": sim.parts.port, "username": sim.user,
            "password": sim.password, "ca_file": str(sim.cert),
            "spec": {"apiVersion": "pmemctl/v1",
                     "vms": [{"name": "redis-01", "nvdimms": [size]}]}}} for size in
            ("16GiB", "8GiB")]}]))
    r = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", str(playbook),
                        "--check", "--diff"], env=_env(tmp_path), capture_output=True, text=True,
                       check=False, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    result = json.loads(r.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result["changed"] is True
    assert "add_nvdimm" in {c["action"] for c in result["plan"]["changes"]}
    assert "redis-01: add_nvdimm" in result["diff"]["after"]
    assert Path(result["journal"]).name.startswith("inline-")
    # Another inline spec, another journal: owed power-ons and rollbacks never mix.
    other = json.loads(r.stdout)["plays"][0]["tasks"][1]["hosts"]["localhost"]
    assert Path(other["journal"]).name.startswith("inline-")
    assert other["journal"] != result["journal"]
    assert k.estate(sim).vms["redis-01"].nvdimms == ()


def test_playbooks_pass_ansible_lint(tmp_path: Path) -> None:
    """The issue: playbooks/ passes ansible-lint (.ansible-lint leaves the pmemctl specs out)."""
    r = subprocess.run([str(BIN / "ansible-lint"), "--offline", "--nocolor", "playbooks/"],
                       cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True,
                       check=False, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Passed" in r.stdout + r.stderr and "0 failure(s)" in r.stdout + r.stderr
    assert "Error loading plugin" not in r.stderr  # the collection resolved, so it was linted
