"""``pmemctl validate SPEC...``: offline checks of spec files."""

from __future__ import annotations

from pathlib import Path

import click

from pmemctl.cli.app import App
from pmemctl.cli.options import output_choice
from pmemctl.cli.views.validate import validate_view
from pmemctl.errors import ExitCode


@click.command("validate")
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@output_choice("table", "json", "github")
@click.pass_obj
def command(app: App, specs: tuple[Path, ...], output: str) -> int:
    """Check spec files (or every *.yaml below a directory) without contacting vCenter.

    Every problem in every file is listed at once as FILE:LINE:COL: message;
    `-o github` writes them as GitHub Actions annotations, `-o json` as
    {file, line, col, message} objects. Exits 0 when all specs are valid and
    1 otherwise.
    """
    from pmemctl.spec.discover import expand_spec_paths
    from pmemctl.spec.load import validate_paths

    files, empty_dirs = expand_spec_paths(specs)
    diagnostics = empty_dirs + validate_paths(files)
    validate_view(app, output).result([Path(f) for f in files], diagnostics)
    return ExitCode.ERROR if diagnostics else ExitCode.OK
