"""``journals``: the journals on this machine, newest first."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from pmemctl.cli.views import View

if TYPE_CHECKING:
    from pmemctl.apply.journals import JournalInfo
    from pmemctl.cli.app import App


def _when(t: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t)) if t is not None else "-"


def _vcenter(i: JournalInfo) -> str:
    if not i.vcenter:
        return "-"
    return f"{i.vcenter}:{i.vcenter_port}" if i.vcenter_port is not None else i.vcenter


class JournalsView(View, ABC):
    """What ``journals`` shows."""

    @abstractmethod
    def journals(self, infos: list[JournalInfo]) -> None:
        """Show ``infos`` (newest first)."""


class JournalsTable(JournalsView):
    """One row per journal; the path last, folded, never cut (it is copied into commands)."""

    def journals(self, infos: list[JournalInfo]) -> None:
        """Print the table, or a line saying there is none."""
        from rich import box
        from rich.table import Table

        if not infos:
            self.app.console.print("No journals.")
            return
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
        for h in ("Last run", "Command", "Status", "Steps", "vCenter", "Journal"):
            table.add_column(h, overflow="fold")
        for i in infos:
            steps = f"{i.done} done" + (f", {i.failed} failed" if i.failed else "")
            table.add_row(_when(i.last_time), i.command, i.status, steps, _vcenter(i),
                          str(i.path))
        self.app.console.print(table)
        for i in infos:
            if i.error:
                self.app.warn(f"{i.path}: {i.error}")


class JournalsJSON(JournalsView):
    """``{"journals":[…]}`` (README "pmemctl journals")."""

    output = "json"

    def journals(self, infos: list[JournalInfo]) -> None:
        """Write the document."""
        self.app.emit_json({"journals": [i.to_json() for i in infos]})


def journals_view(app: App, output: str) -> JournalsView:
    """The ``journals`` view for ``--output``."""
    return JournalsJSON(app) if output == "json" else JournalsTable(app)
