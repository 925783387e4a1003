"""apply/rollback on pmemsim: rollback, and the terminal (display, confirmation) on a real pty."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests import simproc
from tests.live import applykit as k

MakeSim = Callable[..., simproc.PmemSim]
GiB = 1024


@pytest.fixture(autouse=True)
def _journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))


REDIS = """
    vms:
      - name: redis-01
        nvdimms: [16GiB]
"""


def test_rollback_moves_disks_back_and_is_idempotent(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim("--copy-rate", "2TiB/s")
    spec = k.spec(tmp_path, """
        vms:
          - name: legacy-sql-02
            disks: {"*": pmem}
          - name: redis-01
            nvdimms: [16GiB]
    """)
    assert k.run(sim, "apply", str(spec), "--yes").exit_code == 0
    jfile = k.journal_file(tmp_path)
    r = k.run(sim, "rollback", str(jfile))
    assert r.exit_code == 1 and "no terminal to confirm on" in r.stderr
    r = k.run(sim, "rollback", str(jfile), "--yes")
    assert r.exit_code == 0, r.output
    assert "kept NVDIMM 1 (16 GiB), created by apply; pass --allow-data-loss" in r.output
    assert "Rollback complete: 2 done, 0 failed." in r.output
    vm = k.estate(sim).vms["legacy-sql-02"]
    assert {d.label: d.datastore for d in vm.disks} == {"Hard disk 1": "san-01",
                                                         "Hard disk 2": "nfs-01"}
    assert not any(d.pmem for d in vm.disks)
    assert list(jfile.parent.glob("*.rollback-*.jsonl"))
    # Now remove the NVDIMM too; the disks are already back.
    r = k.run(sim, "rollback", str(jfile), "--yes", "--allow-data-loss")
    assert r.exit_code == 0, r.output
    assert "already back on san-01" in r.output
    assert k.estate(sim).vms["redis-01"].nvdimms == ()
    r = k.run(sim, "rollback", str(jfile), "--yes", "--allow-data-loss")
    assert r.exit_code == 0 and "Nothing to roll back." in r.output


def test_terminal_gets_the_live_display(make_sim: MakeSim, tmp_path: Path) -> None:
    # util-linux `script` runs pmemctl on a pseudo-terminal, as a person would.
    import os
    import shlex
    import shutil
    import subprocess

    if shutil.which("script") is None:
        pytest.skip("needs util-linux script for a pseudo-terminal")
    sim = make_sim("--copy-rate", "200GiB/s")
    spec = k.spec(tmp_path, """
        vms:
          - name: legacy-sql-01
            disks: {"*": pmem}
    """)
    cmd = shlex.join([str(k.PMEMCTL), "apply", str(spec), "--yes", *k.conn_args(sim)])
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    p = subprocess.run(["script", "-qec", cmd, "/dev/null"], capture_output=True, text=True,
                       env=env, timeout=60, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Changes" in p.stdout and "2/2" in p.stdout  # the overall bar
    assert "180 GiB of 180 GiB moved" in p.stdout
    assert "Apply complete: 2 done, 0 failed." in p.stdout


def test_terminal_confirmation(make_sim: MakeSim, tmp_path: Path) -> None:
    import os
    import shlex
    import shutil
    import subprocess

    if shutil.which("script") is None:
        pytest.skip("needs util-linux script for a pseudo-terminal")
    sim = make_sim()
    spec = k.spec(tmp_path, REDIS)
    cmd = shlex.join([str(k.PMEMCTL), "apply", str(spec), *k.conn_args(sim)])
    env = {**os.environ, "TERM": "dumb", "COLUMNS": "120"}

    def answer(text: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["script", "-qec", cmd, "/dev/null"], input=text,
                              capture_output=True, text=True, env=env, timeout=60, check=False)

    no = answer("n\n")
    assert "Apply this 1 change to vcenter 127.0.0.1? [y/N]" in no.stdout
    assert "Apply cancelled." in no.stdout and no.returncode == 1
    assert k.estate(sim).vms["redis-01"].nvdimms == ()
    yes = answer("y\n")
    assert yes.returncode == 0, yes.stdout
    assert len(k.estate(sim).vms["redis-01"].nvdimms) == 1
