"""Helpers for the apply/rollback live tests: run the CLI, read the estate, write specs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from pmemctl.apply.journal import JournalState, read_journal
from pmemctl.cli import cli
from pmemctl.inventory.model import Inventory
from pmemctl.vsphere.session import ConnectionSettings, connect
from pmemctl.vsphere.snapshot import take_snapshot
from tests import simproc

ROOT = Path(__file__).resolve().parents[2]
PMEMCTL = ROOT / ".venv" / "bin" / "pmemctl"


def conn_args(sim: simproc.PmemSim) -> list[str]:
    """Connection flags for the CLI."""
    return ["--url", sim.url, "--ca-file", str(sim.cert)]


def settings_for(sim: simproc.PmemSim) -> ConnectionSettings:
    """Library connection settings for the sim."""
    p = sim.parts
    assert p.hostname and p.port
    return ConnectionSettings(host=p.hostname, port=p.port, user=sim.user,
                              password=sim.password, ca_file=str(sim.cert))


def run(sim: simproc.PmemSim, command: str, *args: str, input: str | None = None) -> Result:
    """Run ``pmemctl COMMAND ARGS`` in-process (stdin is not a terminal)."""
    return CliRunner().invoke(cli, [command, *args, *conn_args(sim)], input=input,
                              catch_exceptions=False)


def spawn(sim: simproc.PmemSim, command: str, *args: str, env: dict[str, str] | None = None,
          ) -> subprocess.Popen[str]:
    """Start ``pmemctl`` as a subprocess (for signals)."""
    exe = [str(PMEMCTL)] if PMEMCTL.exists() else [sys.executable, "-m", "pmemctl"]
    return subprocess.Popen([*exe, command, *args, *conn_args(sim)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True)


def estate(sim: simproc.PmemSim) -> Inventory:
    """A full snapshot (devices of every VM)."""
    with connect(settings_for(sim)) as conn:
        return take_snapshot(conn, all_devices=True)


def spec(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    """Write a spec (``apiVersion`` added) and return its path."""
    p = tmp_path / name
    p.write_text("apiVersion: pmemctl/v1\n" + textwrap.dedent(text))
    return p


def inventory_file(tmp_path: Path, text: str) -> Path:
    """Write a pmemsim inventory YAML."""
    p = tmp_path / "estate.yaml"
    p.write_text(textwrap.dedent(text))
    return p


def journal(tmp_path: Path) -> JournalState:
    """The one journal in ``tmp_path/journals``."""
    files = sorted((tmp_path / "journals").glob("*.jsonl"))
    files = [f for f in files if ".rollback-" not in f.name]
    assert len(files) == 1, files
    return read_journal(files[0])


def journal_file(tmp_path: Path) -> Path:
    """The apply journal path in ``tmp_path/journals``."""
    files = [f for f in sorted((tmp_path / "journals").glob("*.jsonl"))
             if ".rollback-" not in f.name]
    assert len(files) == 1, files
    return files[0]


def records(path: Path) -> list[dict[str, Any]]:
    """Every record of a journal file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Per-method request counts between two /pmemsim/stats readings."""
    return {k: after.get(k, 0) - before.get(k, 0)
            for k in sorted(set(after) | set(before)) if after.get(k, 0) != before.get(k, 0)}
