"""``pmemctl export``: write the estate as a pmemsim inventory, to rehearse against."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from pmemctl.cli.app import App
from pmemctl.cli.options import connection_options
from pmemctl.errors import ExitCode, UsageError


@click.command("export")
@click.option("--scope", "scopes", multiple=True, metavar="CLUSTER|FOLDER",
              help="Only the VMs under this cluster or VM folder (glob; repeatable), with "
                   "their hosts and datastores.")
@click.option("--anonymize", is_flag=True,
              help="Rename datacenters, clusters, hosts, datastores, folders and VMs "
                   "consistently (dc-01, host-01, ds-01, vm-0001, ...); sizes are kept.")
@click.option("--out", "-o", "out", type=click.Path(path_type=Path), metavar="FILE",
              help="Write the inventory here (default: stdout).")
@connection_options
@click.pass_obj
def command(app: App, scopes: tuple[str, ...], anonymize: bool, out: Path | None) -> int:
    """Write the estate as a pmemsim inventory (tests/pmemsim/README.md, "Inventory").

    Reads vCenter in one PropertyCollector pass. Serve the file with
    `pmemctl sim --inventory FILE`, or rehearse a spec on it with
    `pmemctl rehearse SPEC --estate FILE`. What pmemsim cannot hold
    (templates, RDMs, suspended VMs, ...) is left out or adjusted, each
    with a warning.
    """
    from pmemctl.inventory.simfile import all_notes, scoped, to_yaml
    from pmemctl.inventory.simfile import anonymize as anonymized
    from pmemctl.vsphere.export import read_estate

    with app.connect() as conn, app.status("Reading the estate"):
        estate = read_estate(conn)
    estate, unmatched = scoped(estate, scopes)
    if unmatched:
        raise UsageError("--scope matches no cluster or VM folder: " + ", ".join(unmatched)
                         + "; nothing was written")
    for note in all_notes(estate):
        app.warn(note)
    text = to_yaml(anonymized(estate) if anonymize else estate)
    if out is None:
        click.echo(text.encode("utf-8"), nl=False)
        return ExitCode.OK
    _write(out, text)
    n = sum(len(dc.vms) for dc in estate.datacenters)
    app.info(f"Wrote {out}: {len(estate.datacenters)} datacenter(s), {n} VM(s)")
    return ExitCode.OK


def _write(path: Path, text: str) -> None:
    # Written whole or not at all: a half-written inventory would load as a
    # smaller estate.
    directory = path.parent if str(path.parent) else Path()
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
