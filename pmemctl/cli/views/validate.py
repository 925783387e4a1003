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
        self.summary(specs, diagnostics)

    def summary(self, specs: Sequence[Path], diagnostics: Sequence[Diagnostic]) -> None:
        """``SPEC: valid`` per spec when all are, else the count of problems on stderr."""
        if not diagnostics:
            for p in specs:
                self.app.console.print(f"{p}: valid", soft_wrap=True)
            return
        files = len({d.file for d in diagnostics})
        noun = "problem" if len(diagnostics) == 1 else "problems"
        self.app.err.print(f"{len(diagnostics)} {noun} in {files} of {len(specs)} spec file(s).")


class ValidateJSON(ValidateView):
    """``{"valid", "files", "problems": [{"file", "line", "col", "column", "message"}]}``.

    ``col`` is the name the pipelines issue asked for; ``column`` stays, as
    the contract had it. ``files`` lists what was checked (directories expanded).
    """

    output = "json"

    def result(self, specs: Sequence[Path], diagnostics: Sequence[Diagnostic]) -> None:
        """Write the document."""
        from pmemctl.cli.errjson import diagnostic_json

        self.app.emit_json({
            "valid": not diagnostics,
            "problems": [diagnostic_json(d) for d in diagnostics],
            "files": [str(p) for p in specs],
        })


def escape_data(text: str) -> str:
    """A workflow command's message, escaped as @actions/core does (``escapeData``).

    Source: actions/toolkit ``packages/core/src/command.ts``: ``%``, CR and LF
    are percent-encoded, so a message never ends the command early.
    """
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property (``file=…``), as ``escapeProperty`` there: also ``:`` ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


class ValidateGitHub(ValidateView):
    """``::error file=F,line=L,col=C::message`` per problem: GitHub Actions annotations.

    The runner reads workflow commands from stdout and pins each one to the
    line of the pull request's diff it names.
    """

    output = "github"

    def result(self, specs: Sequence[Path], diagnostics: Sequence[Diagnostic]) -> None:
        """One workflow command per problem; the valid files and the count as in the table."""
        for d in diagnostics:
            self.app.console.print(
                f"::error file={escape_property(d.file)},line={d.line},col={d.column}::"
                f"{escape_data(d.message)}", soft_wrap=True)
        ValidateTable(self.app).summary(specs, diagnostics)


def validate_view(app: App, output: str) -> ValidateView:
    """The ``validate`` view for ``--output``."""
    if output == "github":
        return ValidateGitHub(app)
    return ValidateJSON(app) if output == "json" else ValidateTable(app)
