"""``validate``: every problem of every spec, or that each spec is valid."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pmemctl.cli.views import View

if TYPE_CHECKING:
    from pmemctl.cli.app import App
from pmemctl.errors import Diagnostic


class ValidateView(View, ABC):
    """What ``validate`` shows."""

    @abstractmethod
    def result(self, specs: Sequence[Path], diagnostics: Sequence[Diagnostic]) -> None:
        """Show the outcome of validating ``specs`` (``diagnostics`` empty: all valid)."""


class ValidateTable(ValidateView):
    """``FILE:LINE:COL: message`` per problem on stdout, the count on stderr."""

    def result(self, specs: Sequence[Path], diagnostics: Sequence[Diagnostic]) -> None:
        """Print one line per problem, or ``SPEC: valid`` per spec."""
        for d in diagnostics:
            self.app.console.print(str(d), soft_wrap=True)
        if not diagnostics:
            for p in specs:
                self.app.console.print(f"{p}: valid", soft_wrap=True)
            return
        files = len({d.file for d in diagnostics})
        noun = "problem" if len(diagnostics) == 1 else "problems"
        self.app.err.print(f"{len(diagnostics)} {noun} in {files} of {len(specs)} spec file(s).")


class ValidateJSON(ValidateView):
    """``{"valid", "problems": [{"file", "line", "column", "message"}]}``."""

    output = "json"

    def result(self, specs: Sequence[Path], diagnostics: Sequence[Diagnostic]) -> None:
        """Write the document."""
        self.app.emit_json({
            "valid": not diagnostics,
            "problems": [{"file": d.file, "line": d.line, "column": d.column,
                          "message": d.message} for d in diagnostics],
        })


def validate_view(app: App, output: str) -> ValidateView:
    """The ``validate`` view for ``--output``."""
    return ValidateJSON(app) if output == "json" else ValidateTable(app)
