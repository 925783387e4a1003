"""``pmemctl validate SPEC...``: offline checks of spec files."""

from __future__ import annotations

from pathlib import Path

import click

from pmemctl.cli.app import App
from pmemctl.cli.options import output_option
from pmemctl.cli.views.validate import validate_view
from pmemctl.errors import ExitCode


@click.command("validate")
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@output_option
@click.pass_obj
def command(app: App, specs: tuple[Path, ...], output: str) -> int:
    """Check spec files without contacting vCenter.

    Every problem in every file is listed at once as FILE:LINE:COL: message.
    Exits 0 when all specs are valid and 1 otherwise.
    """
    from pmemctl.spec.load import validate_paths

    diagnostics = validate_paths([str(p) for p in specs])
    validate_view(app, output).result(specs, diagnostics)
    return ExitCode.ERROR if diagnostics else ExitCode.OK
