"""apply failure paths on pmemsim, injected with --fault: a task that fails after progress.

The CLI's own failure handling (stop, the owed power-on, submit faults, plan
after a failed run) is tested on FakeVSphere in tests/unit/test_apply_cli.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests import simproc
from tests.live import applykit as k

MakeSim = Callable[..., simproc.PmemSim]
LEGACY = """
    vms:
      - match: {name: "legacy-sql-*"}
        disks: {"*": pmem}
"""


@pytest.fixture(autouse=True)
def _journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))


def test_failure_mid_task_after_progress(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim("--copy-rate", "200GiB/s", "--fault",
                   "method=RelocateVM_Task,vm=legacy-sql-03,fault=SystemError,at=50,"
                   "message=host esx-01 lost its PMem datastore")
    spec = k.spec(tmp_path, LEGACY)
    r = k.run(sim, "apply", str(spec), "--yes", "--on-failure", "continue")
    assert r.exit_code == 1, r.output
    assert "legacy-sql-03: migrate_disk Hard disk 1: FAILED: SystemError: " \
           "host esx-01 lost its PMem datastore" in r.output
