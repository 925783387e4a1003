"""``pmemctl status``: PMem per host and the VMs that use it."""

from __future__ import annotations

import click

from pmemctl.cli.app import App
from pmemctl.cli.options import connection_options, output_option
from pmemctl.cli.views.status import status_view
from pmemctl.errors import ExitCode


@click.command("status")
@output_option
@connection_options
@click.pass_obj
def command(app: App, output: str) -> int:
    """Show PMem capacity, use and consumers per host, and each PMem VM's devices."""
    from pmemctl.status import build_status
    from pmemctl.vsphere.snapshot import take_snapshot

    with app.connect() as conn, app.status("Reading inventory"):
        inventory = take_snapshot(conn)
    status_view(app, output).status(build_status(inventory))
    return ExitCode.OK
