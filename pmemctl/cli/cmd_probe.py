"""``pmemctl probe``: prove on a real vCenter which PMem call shapes it accepts.

Flow: refuse early without a terminal unless --yes → start the recording
(--record) → connect → check the host and datastore (read-only) → say what
will be created and deleted, confirm → run the steps (each on throw-away VMs,
always destroyed) → save the result → print the table. Exit 0 when every
step answered and every VM is gone, 1 when a step hit an unexpected error or
a VM could not be deleted (the result is saved all the same), 64 for bad
input (nothing is created), 130 on Ctrl-C (after clean-up).
"""

# ruff: noqa: PLR0917

from __future__ import annotations

from pathlib import Path

import click

from pmemctl.cli.app import App
from pmemctl.cli.options import connection_options, output_option
from pmemctl.cli.views.probe import probe_view
from pmemctl.errors import ExitCode, PmemctlError

_REFUSAL = ("not probing: no terminal to confirm on. The probe creates and deletes throw-away "
            "VMs; run again with --yes to let it.")


@click.command("probe")
@click.option("--host", "esx_host", required=True, metavar="HOST",
              help="The ESXi host with PMem to create the probe VMs on.")
@click.option("--datastore", required=True, metavar="DATASTORE",
              help="A shared (non-PMem) datastore the host mounts, for the VM homes and disks.")
@click.option("--record", type=click.Path(path_type=Path, dir_okay=False), metavar="CASSETTE",
              help="Write a scrubbed vcrpy cassette of the session (no password, no cookies).")
@click.option("--anonymize", is_flag=True,
              help="With --record: rename hosts, datastores, the vCenter and the user "
                   "consistently in the cassette.")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE",
              help="Result file (default: $XDG_STATE_HOME/pmemctl/probe/<vcenter>_<port>.json, "
                   "where apply looks for it).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@output_option
@connection_options
@click.pass_obj
def command(app: App, esx_host: str, datastore: str, record: Path | None, anonymize: bool,
            out: Path | None, yes: bool, output: str) -> int:
    """Try the PMem call shapes on throw-away VMs and save which ones vCenter accepts.

    Run it once per vCenter before the first production apply. It creates its
    own VMs named pmemctl-probe-<random>-* on HOST (home and a 64 MiB thin
    disk on DATASTORE; small vPMemDisks and a 16 MiB NVDIMM on the host's
    PMem), tries: hardware upgrade, Storage vMotion onto and off PMem, a new
    vPMemDisk powered off and on, snapshots of an NVDIMM VM, and
    PropertyCollector page sizes; then deletes every VM it created, also on
    failure or Ctrl-C. No other VM is touched. apply reads the saved result to
    pick the shapes this vCenter accepts.
    """
    from pmemctl.probe.record import recording
    from pmemctl.probe.result import default_result_path, save_result
    from pmemctl.probe.run import MAX_VMS, new_prefix, run_probe
    from pmemctl.probe.target import find_target

    if anonymize and record is None:
        raise click.UsageError("--anonymize only applies to --record CASSETTE")
    if not yes and not app.interactive:
        raise PmemctlError(_REFUSAL)
    view = probe_view(app, output)
    prefix = new_prefix()
    with recording(record, anonymize) as anon, app.connect() as conn:
        if anon is not None:
            anon.add(conn.settings.host, "vcenter")
        with app.status("Checking host and datastore"):
            target = find_target(conn, esx_host, datastore, anon)
        view.intro(target, prefix=prefix, max_vms=MAX_VMS)
        app.confirm(yes, question=f"Run the probe on vcenter {conn.settings.host}?",
                    refusal=_REFUSAL, cancelled="Probe cancelled; nothing was created.")
        report = run_probe(conn, target, prefix=prefix, on_step=view.step)
        path = save_result(report.result, out or default_result_path(conn.settings.host,
                                                                    conn.settings.port))
    view.result(report, saved=path, cassette=record)
    return ExitCode.OK if report.ok else ExitCode.ERROR
