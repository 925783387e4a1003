"""``pmemctl validate SPEC...``: offline checks of spec files."""

from __future__ import annotations

from pathlib import Path

import click

from pmemctl.cli.app import App
from pmemctl.cli.options import output_option
from pmemctl.errors import ExitCode


@click.command("validate")
@click.argument("specs", nargs=-1, required=True, type=click.Path(path_type=Path))
@output_option
@click.pass_obj
def command(app: App, specs: tuple[Path, ...], output: str) -> None:
    """Check spec files without contacting vCenter.

    Every problem in every file is listed at once as FILE:LINE:COL: message.
    Exits 0 when all specs are valid and 1 otherwise.
    """
    from pmemctl.spec.load import validate_paths

    diagnostics = validate_paths([str(p) for p in specs])
    if output == "json":
        app.emit_json(
            {
                "valid": not diagnostics,
                "problems": [
                    {"file": d.file, "line": d.line, "column": d.column, "message": d.message}
                    for d in diagnostics
                ],
            }
        )
    else:
        for d in diagnostics:
            app.console.print(str(d), soft_wrap=True)
        if not diagnostics:
            for p in specs:
                app.console.print(f"{p}: valid")
        else:
            files = len({d.file for d in diagnostics})
            noun = "problem" if len(diagnostics) == 1 else "problems"
            app.err.print(f"{len(diagnostics)} {noun} in {files} of {len(specs)} spec file(s).")
    raise SystemExit(ExitCode.ERROR if diagnostics else ExitCode.OK)
