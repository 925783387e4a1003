"""``pmemctl rehearse SPEC --estate FILE``: apply SPEC to pmemsim serving a copy of the estate.

Flow: load the spec → start pmemsim on the estate (built on first use) →
plan → apply (no prompt: nothing real is touched) → plan again → the plan,
the outcome, the re-plan and what pmemsim measured → stop pmemsim. Exit 0
only when the apply succeeded and the re-plan has no changes and no
problems (the rehearsal converged); 1 otherwise; 64 bad input; 130 Ctrl-C.
"""

# ruff: noqa: PLR0917

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pmemctl.cli.app import App
from pmemctl.cli.options import output_option
from pmemctl.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from pmemctl.plan.model import Plan
    from pmemctl.rehearse import Measured

_LIMIT = click.IntRange(min=1)


@click.command("rehearse")
@click.argument("spec", type=click.Path(path_type=Path))
@click.option("--estate", required=True, type=click.Path(path_type=Path), metavar="FILE",
              help="pmemsim inventory to rehearse on (`pmemctl export -o FILE`).")
@click.option("--copy-rate", metavar="RATE",
              help="Storage vMotion speed in pmemsim, e.g. 1GiB/s (default: pmemsim's "
                   "100GiB/s); sets the makespan's scale.")
@click.option("--latency-ms", type=click.IntRange(min=0), metavar="N",
              help="pmemsim waits N ms before every request (a remote vCenter).")
@click.option("--api-version", metavar="V", help="vCenter API version pmemsim reports.")
@click.option("--fault", "faults", multiple=True, metavar="SPEC",
              help="Make pmemsim fail tasks (repeatable; pmemsim's --fault, e.g. "
                   "method=ReconfigVM_Task,vm=redis-02): rehearse a failure.")
@click.option("--parallel", type=_LIMIT, metavar="N", help="As apply --parallel.")
@click.option("--per-host", type=_LIMIT, metavar="N", help="As apply --per-host.")
@click.option("--per-datastore", type=_LIMIT, metavar="N", help="As apply --per-datastore.")
@click.option("--on-failure", type=click.Choice(["stop", "continue"]), help="As apply.")
@output_option
@click.pass_obj
def command(app: App, spec: Path, estate: Path, copy_rate: str | None, latency_ms: int | None,
            api_version: str | None, faults: tuple[str, ...], parallel: int | None,
            per_host: int | None, per_datastore: int | None, on_failure: str | None,
            output: str) -> int:
    """Rehearse SPEC on pmemsim serving the estate FILE; exit 0 only if it converges.

    Starts pmemsim on the estate, applies SPEC to it without asking (the
    spec's vcenter and the connection flags are ignored: nothing real is
    touched), plans again to check that nothing is left to do, and prints
    the plan, the outcome and the makespan pmemsim measured (first task
    queued to last task completed) with the requests it served. Then stops
    pmemsim. The journal goes to a temporary directory and is removed.
    """
    from pmemctl.apply.run import ApplyRun, exec_options, load_source
    from pmemctl.cli.views.apply import apply_view, run_exit_code
    from pmemctl.rehearse import claims_cleared, connect_sim, measure
    from pmemctl.sim import serve

    if not estate.is_file():
        raise UsageError(f"--estate {estate}: not a file")
    view = apply_view(app, output, verb="Rehearsal")
    src = load_source(spec)
    if src.saved is not None:
        raise UsageError(f"{spec} is a saved plan; rehearse takes a spec")
    opts = exec_options(src.options, parallel=parallel, per_host=per_host,
                        per_datastore=per_datastore, on_failure=on_failure)
    flags = [f for k, v in (("--copy-rate", copy_rate), ("--api-version", api_version),
                            ("--latency-ms", None if latency_ms is None else str(latency_ms)))
             if v is not None for f in (k, v)]
    flags += [f for spec_ in faults for f in ("--fault", spec_)]
    with app.status("Starting pmemsim"):
        sim = serve.start(*flags, inventory=estate)
    with sim, tempfile.TemporaryDirectory(prefix="pmemctl-rehearse-") as tmp, \
            connect_sim(sim, notify=app.retrying) as vs, claims_cleared(vs), \
            ApplyRun(vs, src, opts, Path(tmp) / "rehearsal.jsonl") as run:
        app.info(f"pmemsim serving {estate} at {vs.settings.endpoint}")
        plan = run.prepare(view.events(), app.status)
        view.plan(plan)
        result = None
        if not plan.blocked and not plan.empty:
            hook, live = view.progress(plan)
            with hook:
                result = run.execute(hook, live=live)
            view.summary(result, journal_label="Journal (removed after the rehearsal)",
                         journal_path=run.journal_path,
                         extra={"elapsed_s": round(result.elapsed_s, 3)})
            # Ctrl-C: exit 130 (pmemsim is stopped on the way out), no re-plan.
            run_exit_code(result, verb="Rehearsal", interrupted_hint=" pmemsim was stopped.")
        replan = run.prepare(view.events(), app.status) if result is not None else plan
        measured = measure(vs, sim)
    converged = (not plan.blocked and (result is None or result.ok)
                 and replan.empty and not replan.blocked)
    _report(app, output, converged=converged, replan=replan, measured=measured,
            applied=result is not None)
    return ExitCode.OK if converged else ExitCode.ERROR


def _report(app: App, output: str, *, converged: bool, replan: Plan, measured: Measured,
            applied: bool) -> None:
    from pmemctl.cli.views.apply import ApplyTable
    from pmemctl.cli.views.plan import render_plan_table
    from pmemctl.plan.render import summary_line

    if output == "json":
        app.emit_json_line({"event": "rehearsal", "converged": converged, **measured.to_json(),
                            "replan": replan.to_json()})
        return
    out = app.console
    if applied:
        out.print("Re-plan after the apply:", soft_wrap=True)
        if replan.empty and not replan.blocked:
            out.print(summary_line(replan), soft_wrap=True)
        else:
            render_plan_table(ApplyTable(app, "Rehearsal"), replan)
    out.print(f"Makespan measured by pmemsim: {measured.makespan_s:.1f} s "
              f"({measured.tasks} task(s), {measured.failed_tasks} failed; "
              f"{measured.soap_requests} SOAP requests)", soft_wrap=True)
    out.print("Rehearsal converged: the spec applies cleanly and a second run has nothing to do."
              if converged else
              "Rehearsal did NOT converge: see the plan, the outcome and the re-plan above.",
              soft_wrap=True)
