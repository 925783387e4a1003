"""``plan``: the changes, PMem per host, and what blocks them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pmemctl.cli.views import View

if TYPE_CHECKING:
    from pmemctl.cli.app import App
    from pmemctl.cli.views.markdown import Source
    from pmemctl.plan.model import Plan


def render_plan_table(view: View, plan: Plan) -> None:
    """The plan's tables on stdout and its warnings on stderr.

    :func:`pmemctl.plan.render.render_plan` prints warnings with the plan;
    here they are taken out and shown through the App, so they go to stderr
    and a warning already shown (the connection's) is not shown again.
    """
    from pmemctl.plan.render import render_plan

    render_plan(replace(plan, warnings=()), view.app.console)
    view.warnings(plan.warnings)


class PlanView(View, ABC):
    """What ``plan`` shows."""

    @abstractmethod
    def plan(self, plan: Plan) -> None:
        """Show ``plan``."""

    def saved(self, path: Path) -> None:
        """Say where ``--out`` saved the plan (stderr, unless --quiet)."""
        self.app.info(f"Saved the plan to {path}; run `pmemctl apply {path}` to execute it.")


class PlanTable(PlanView):
    """Per VM a table of changes, PMem per host, the summary line, the problems."""

    def plan(self, plan: Plan) -> None:
        """Print the tables; warnings to stderr."""
        render_plan_table(self, plan)


class PlanJSON(PlanView):
    """The ``plan`` document (README "JSON contracts"), warnings key included."""

    output = "json"

    def plan(self, plan: Plan) -> None:
        """Write the document; its warnings also to stderr, once."""
        self.app.emit_json(plan.to_json())
        self.warnings(plan.warnings)


class PlanMarkdown(PlanView):
    """The plan as a pull-request comment (:mod:`pmemctl.cli.views.markdown`)."""

    output = "markdown"

    def __init__(self, app: App, max_chars: int | None = None,
                 source: Source | None = None) -> None:
        super().__init__(app)
        from pmemctl.cli.views.markdown import DEFAULT_MAX_CHARS

        self.max_chars = DEFAULT_MAX_CHARS if max_chars is None else max_chars
        self.source = source

    def plan(self, plan: Plan) -> None:
        """Write the document; warnings are in it and on stderr, once."""
        from pmemctl.cli.views.markdown import plan_markdown

        self.app.emit_text(plan_markdown(plan, max_chars=self.max_chars, source=self.source))
        self.warnings(plan.warnings)


def plan_view(app: App, output: str, *, max_chars: int | None = None,
              source: Source | None = None) -> PlanView:
    """The ``plan`` view for ``--output``; ``max_chars`` and ``source`` shape markdown."""
    if output == "markdown":
        return PlanMarkdown(app, max_chars, source)
    return PlanJSON(app) if output == "json" else PlanTable(app)
