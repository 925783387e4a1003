"""``config``: the named vCenters of the config file."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

from pmemctl.cli.views import View

if TYPE_CHECKING:
    from pmemctl.cli.app import App
    from pmemctl.config import Config, Context


def context_json(ctx: Context, current: str | None) -> dict[str, Any]:
    """A context as ``config list -o json`` shows it: where the password comes from, never it."""
    source = (f"env:{ctx.password_env}" if ctx.password_env
              else "command" if ctx.password_command else None)
    return {"name": ctx.name, "current": ctx.name == current, "server": ctx.endpoint,
            "user": ctx.user, "ca_file": ctx.ca_file, "insecure": ctx.insecure,
            "password_from": source}


class ConfigView(View):
    """``config list``, ``current`` and ``use``, as a table or JSON."""

    def __init__(self, app: App, output: str) -> None:
        super().__init__(app)
        self.output = output

    def contexts(self, config: Config) -> None:
        """List every context; the current one is marked ``*``."""
        rows = [context_json(c, config.current) for c in config.contexts.values()]
        if self.output == "json":
            self.app.emit_json({"config": str(config.path), "current": config.current,
                                "contexts": rows})
            return
        if not rows:
            self.app.info(f"No contexts in {config.path}.")
            return
        table = Table(box=None, pad_edge=False)
        for col in ("CURRENT", "NAME", "SERVER", "USER", "PASSWORD FROM"):
            table.add_column(col)
        for r in rows:
            table.add_row("*" if r["current"] else "", r["name"], r["server"], r["user"] or "",
                          r["password_from"] or "")
        self.app.console.print(table)

    def current(self, name: str) -> None:
        """Print the current context's name."""
        self.app.console.print(name)

    def used(self, name: str, config: Config) -> None:
        """Say which context is now current."""
        self.app.info(f"Switched to context {name!r} ({config.path}).")
