"""Warnings reach the person once, on stderr, never in stdout's results (pmemsim at API 9.0)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import simproc
from tests.live import applykit as k

MakeSim = Callable[..., simproc.PmemSim]
DEPRECATION = "VMware deprecated every PMem API"


@pytest.fixture(autouse=True)
def _journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))


@pytest.fixture(scope="module")
def sim90() -> simproc.PmemSim:
    with simproc.start("--api-version", "9.0") as sim:
        yield sim  # type: ignore[misc]


def _spec(tmp_path: Path, gib: int) -> Path:
    return k.spec(tmp_path, f"""
        vms:
          - name: redis-01
            nvdimms: [{gib}GiB]
    """)


def _only_in_warnings_key(doc: dict[str, object]) -> None:
    """JSON keeps the warning where the contract has it, the ``warnings`` key, once."""
    warnings = doc.pop("warnings")
    assert isinstance(warnings, list)
    assert sum(DEPRECATION in w for w in warnings) == 1, warnings
    assert DEPRECATION not in json.dumps(doc)


@pytest.mark.parametrize("output", ["table", "json"])
def test_plan_shows_the_deprecation_once_on_stderr(sim90: simproc.PmemSim, tmp_path: Path,
                                                   output: str) -> None:
    r = k.run(sim90, "plan", str(_spec(tmp_path, 16)), "-o", output)
    assert r.exit_code == 0, r.output
    assert r.stderr.count(DEPRECATION) == 1, r.stderr
    if output == "json":
        _only_in_warnings_key(json.loads(r.stdout))
    else:
        assert DEPRECATION not in r.stdout and "Warning" not in r.stdout


@pytest.mark.parametrize(("output", "gib"), [("table", 8), ("json", 16)])
def test_apply_shows_the_deprecation_once_on_stderr(sim90: simproc.PmemSim, tmp_path: Path,
                                                    output: str, gib: int) -> None:
    r = k.run(sim90, "apply", str(_spec(tmp_path, gib)), "--yes", "-o", output)
    assert r.exit_code == 0, r.output
    assert r.stderr.count(DEPRECATION) == 1, r.stderr
    if output == "json":
        docs = [json.loads(line) for line in r.stdout.splitlines()]
        assert docs[0]["event"] == "plan"
        _only_in_warnings_key(docs[0])
        assert DEPRECATION not in json.dumps(docs[1:])
        assert docs[-1]["event"] == "summary" and docs[-1]["done"] == 1
    else:
        assert DEPRECATION not in r.stdout and "Warning" not in r.stdout
        assert "Apply complete: 1 done, 0 failed." in r.stdout
