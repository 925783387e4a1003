"""Output for pipelines against pmemsim: the markdown plan, show, and JSON error codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pmemctl.cli import cli
from tests import simproc
from tests.live import applykit as k

ROOT = Path(__file__).parents[2]
REDIS = ROOT / "playbooks" / "redis-nvdimm.yaml"


@pytest.fixture(autouse=True)
def _journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))


def sections(markdown: str) -> str:
    """The per-VM part of a markdown plan (heading and source left out)."""
    return markdown[markdown.index("<details>"):]


def test_the_markdown_plan_of_the_demo_and_show_of_the_saved_plan_agree(
        demo_sim: simproc.PmemSim, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    r = k.run(demo_sim, "plan", str(REDIS), "--output", "markdown", "--out", str(out))
    assert r.exit_code == 0, r.output
    text = r.stdout
    assert text.startswith("<!-- pmemctl-plan -->\n### pmemctl plan\n\n**Plan: ")
    for vm in ("redis-01", "redis-02"):
        assert f"<details><summary><code>{vm}</code> (host " in text
    assert "`add_nvdimm` × 2" in text and "#### PMem per host" in text
    shown = CliRunner().invoke(cli, ["show", str(out), "-o", "markdown"])  # no vCenter
    assert shown.exit_code == 0, shown.output
    assert sections(shown.stdout) == sections(text)


def test_bad_credentials_and_tls_are_told_apart_in_json(demo_sim: simproc.PmemSim) -> None:
    p = demo_sim.parts
    wrong = f"https://{demo_sim.user}:Wr0ng-Secret@{p.hostname}:{p.port}/sdk"
    cases = {
        "bad_credentials": ["--url", wrong, "--ca-file", str(demo_sim.cert)],
        "tls": ["--url", demo_sim.url],  # pmemsim's own certificate, not trusted
    }
    for code, conn in cases.items():
        r = CliRunner().invoke(cli, ["status", "-o", "json", *conn])
        assert (r.exit_code, r.stdout) == (1, ""), r.output
        err = json.loads(r.stderr.splitlines()[-1])["error"]
        assert err["code"] == code, err
        assert "Wr0ng-Secret" not in r.stderr, r.stderr
