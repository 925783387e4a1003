"""``probe``: what it will do, its steps as they run, and the result."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING

from pmemctl.cli.views import View

if TYPE_CHECKING:
    from pmemctl.cli.app import App
    from pmemctl.probe.run import ProbeReport
    from pmemctl.probe.target import ProbeTarget


class ProbeView(View, ABC):
    """What ``probe`` shows."""

    def intro(self, target: ProbeTarget, *, prefix: str, max_vms: int) -> None:
        """Say what will be created and deleted, before asking (stderr, even with --quiet)."""
        self.app.err.print(
            f"pmemctl probe will create up to {max_vms} throw-away VMs named {prefix}-* on host "
            f"{target.host_name}, with their homes and 64 MiB thin disks on "
            f"{target.datastore_name} and small vPMemDisks and a 16 MiB NVDIMM on "
            f"{target.pmem_datastore_name}. It powers "
            "one on, snapshots one, moves disks onto and off PMem, and deletes every VM it "
            "created (Destroy_Task) when its step ends, also on failure or Ctrl-C. No other VM "
            "is touched.", soft_wrap=True)

    def step(self, i: int, n: int, title: str) -> None:
        """``[i/n] title`` on stderr unless --quiet."""
        self.app.info(f"[{i}/{n}] {title}")

    @abstractmethod
    def result(self, report: ProbeReport, *, saved: Path, cassette: Path | None) -> None:
        """Show the result, where it was saved, and what needs a person."""

    def _report_warnings(self, report: ProbeReport) -> None:
        for vm in report.left_behind:
            self.app.warn(f"probe VM not deleted, delete it by hand: {vm}")
        errored = [f"{s.name}/{s.shape}" for s in report.result.steps if s.errored]
        if not report.ok and errored:
            self.app.warn(f"no answer for {', '.join(errored)} (see the notes above)")


class ProbeTable(ProbeView):
    """The table of call shapes, then what apply will use."""

    def result(self, report: ProbeReport, *, saved: Path, cassette: Path | None) -> None:
        """Print the table; where things were saved and the warnings to stderr."""
        from pmemctl.probe.render import render_result

        render_result(report.result, self.app.console)
        self.app.info(f"Result saved to {saved}")
        if cassette is not None:
            self.app.info(f"Cassette written to {cassette}")
        self._report_warnings(report)


class ProbeJSON(ProbeView):
    """``{"result": <probe result>, "saved", "cassette", "left_behind"}``."""

    output = "json"

    def result(self, report: ProbeReport, *, saved: Path, cassette: Path | None) -> None:
        """Write the document; the warnings to stderr."""
        self.app.emit_json({"result": report.result.to_json(), "saved": str(saved),
                            "cassette": str(cassette) if cassette else None,
                            "left_behind": report.left_behind})
        self._report_warnings(report)


def probe_view(app: App, output: str) -> ProbeView:
    """The ``probe`` view for ``--output``."""
    return ProbeJSON(app) if output == "json" else ProbeTable(app)
