"""Run the ``pmemctl`` CLI in-process on a :class:`pmemctl.testing.FakeVSphere`.

The App's ``vsphere`` factory is the seam: plan, apply and rollback use the
fake instead of connecting to vCenter; everything else (flags, the journal,
views, exit codes) is the CLI's own path. stdin is not a terminal.
"""

from __future__ import annotations

import textwrap
from contextlib import nullcontext
from pathlib import Path

from click.testing import CliRunner, Result

from pmemctl.cli import cli
from pmemctl.cli.app import App
from pmemctl.testing import FakeVSphere
from tests.live.applykit import journal_file, records  # noqa: F401 -- one copy of the journal readers


def run(vs: FakeVSphere, command: str, *args: str, input: str | None = None) -> Result:
    """``pmemctl COMMAND ARGS`` with ``vs`` as vCenter (``vs.calls`` records what it did)."""
    runner = CliRunner()
    with runner.isolation():  # the App sizes its consoles as for a pipe, as `pmemctl` would
        app = App(vsphere=lambda _vcenter: nullcontext(vs))
    return runner.invoke(cli, [command, *args], input=input, obj=app, catch_exceptions=False)


def spec(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    """Write a spec (``apiVersion`` added) and return its path."""
    p = tmp_path / name
    p.write_text("apiVersion: pmemctl/v1\n" + textwrap.dedent(text))
    return p




def submitted(vs: FakeVSphere) -> list[str]:
    """The calls that change the estate (reads, policies and watches left out).

    The owed-power-on markers (``mark``/``clear``) are left out too: they are
    pmemctl's bookkeeping, asserted by the tests about them.
    """
    reads = ("read_devices", "task_states", "running_vm_tasks", "pmem_policy_id",
             "disk_policies", "snapshot", "watch", "mark ", "clear ")
    return [c for c in vs.calls if not c.startswith(reads)]
