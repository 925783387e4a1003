"""``pmemctl status``: PMem per host and the VMs that use it."""

from __future__ import annotations

import click

from pmemctl.cli.app import App
from pmemctl.cli.options import connection_options, output_option


@click.command("status")
@output_option
@connection_options
@click.pass_obj
def command(app: App, output: str) -> None:
    """Show PMem capacity, use and consumers per host, and each PMem VM's devices."""
    from pmemctl.status import build_status, render_status
    from pmemctl.vsphere.snapshot import take_snapshot

    with app.connect() as conn, app.status("Reading inventory"):
        inventory = take_snapshot(conn)
    status = build_status(inventory)
    if output == "json":
        app.emit_json(status)
    else:
        render_status(status, app.console)
