"""``status``: PMem per host and the VMs that use it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from pmemctl.cli.views import View

if TYPE_CHECKING:
    from pmemctl.cli.app import App


class StatusView(View, ABC):
    """What ``status`` shows."""

    @abstractmethod
    def status(self, status: dict[str, Any]) -> None:
        """Show ``status`` (:func:`pmemctl.status.build_status`, the JSON contract)."""


class StatusTable(StatusView):
    """The hosts table with usage bars, then each PMem VM's devices."""

    def status(self, status: dict[str, Any]) -> None:
        """Print the tables."""
        from pmemctl.status import render_status

        render_status(status, self.app.console)


class StatusJSON(StatusView):
    """The ``status`` document, as :func:`~pmemctl.status.build_status` made it."""

    output = "json"

    def status(self, status: dict[str, Any]) -> None:
        """Write the document."""
        self.app.emit_json(status)


def status_view(app: App, output: str) -> StatusView:
    """The ``status`` view for ``--output``."""
    return StatusJSON(app) if output == "json" else StatusTable(app)
