"""``pmemctl drain HOST`` and ``pmemctl return HOST``: take a PMem host out for maintenance.

``drain`` plans everything that keeps the host from maintenance (vPMemDisks
off PMem, NVDIMM VMs to other PMem hosts of the cluster, other running VMs
vMotioned), shows the placement and each host's PMem before and after,
confirms, runs it through the apply executor with a journal, and with
``--enter-maintenance`` then puts the host into maintenance mode.
``return`` takes the host out of maintenance mode and rolls the drain's
journal back (``pmemctl rollback JOURNAL`` does the same without the exit).
"""

# Imports inside the commands keep `pmemctl --help` fast (no pyVmomi at start-up);
# Click passes every option as a parameter.
# ruff: noqa: PLR0917

from __future__ import annotations

from pathlib import Path

import click

from pmemctl.cli.app import App
from pmemctl.cli.options import connection_options, output_option
from pmemctl.errors import ExitCode

_LIMIT = click.IntRange(min=1)


@click.command("drain")
@click.argument("host")
@click.option("--to-host", "to_hosts", multiple=True, metavar="H",
              help="Place VMs only on these hosts of the cluster (repeatable; default: all).")
@click.option("--datastore", metavar="DS",
              help="Shared datastore for the host's vPMemDisks (default: each VM's home).")
@click.option("--enter-maintenance", is_flag=True,
              help="Then put the host into maintenance mode and wait for it.")
@click.option("--maintenance-timeout", type=_LIMIT, default=600, show_default=True,
              metavar="S", help="Seconds vCenter may take to enter maintenance mode.")
@click.option("--power-off-unplaced", is_flag=True,
              help="Power off (in place) a running VM that fits on no other host; its "
                   "NVDIMMs keep their PMem on the host.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--parallel", type=_LIMIT, metavar="N", help="Tasks in flight in total (default 8).")
@click.option("--journal", "journal_path", type=click.Path(path_type=Path), metavar="PATH",
              help="Journal file (default: <journal dir>/drain-<host>@<vcenter>[:<port>].jsonl).")
@output_option
@connection_options
@click.pass_obj
def command(app: App, host: str, to_hosts: tuple[str, ...], datastore: str | None,
            enter_maintenance: bool, maintenance_timeout: int, power_off_unplaced: bool,
            yes: bool, parallel: int | None, journal_path: Path | None, output: str) -> int:
    """Move everything that keeps HOST from maintenance to other hosts and datastores.

    vPMemDisks move off PMem to --datastore (else the VM's home datastore);
    VMs with NVDIMMs move with their PMem to the best-fitting PMem host of the
    cluster (HA's PMem reservation is kept free); other running VMs are
    vMotioned. Journaled like apply: run it again to resume, `pmemctl return
    HOST` (or `pmemctl rollback JOURNAL`) to bring everything back.
    """
    from pmemctl.apply.drain_run import DrainRun
    from pmemctl.apply.executor import ExecOptions
    from pmemctl.apply.scheduler import Limits
    from pmemctl.cli.views.apply import apply_view, run_exit_code
    from pmemctl.cli.views.drain import show_drain, show_maintenance
    from pmemctl.plan.drain import DrainOptions

    view = apply_view(app, output, verb="Drain")
    opts = DrainOptions(host=host, to_hosts=to_hosts, datastore=datastore,
                        power_off_unplaced=power_off_unplaced)
    exec_opts = ExecOptions(limits=Limits(total=parallel) if parallel else Limits())
    with app.vsphere() as vs, DrainRun(vs, opts, exec_opts, journal_path) as run:
        dp = run.prepare(view.events(), app.status)
        show_drain(view, dp, enter_maintenance=enter_maintenance)
        if dp.plan.blocked:
            from pmemctl.cli.bulk import plan_exit

            return plan_exit(app, dp.plan)  # with its --output json error object
        if dp.plan.empty and not enter_maintenance:
            return ExitCode.OK
        n = len(dp.plan.changes)
        what = f"these {n} changes" if n != 1 else "this 1 change"
        then = f" and put {dp.host} into maintenance mode" if enter_maintenance else ""
        app.confirm(yes, question=f"Drain {dp.host}: apply {what}{then} on vcenter "
                                  f"{vs.settings.host}?",
                    refusal="not draining: no terminal to confirm on. Review the plan above "
                            "and run again with --yes.",
                    cancelled="Drain cancelled.")
        result = None
        if not dp.plan.empty:
            hook, live = view.progress(dp.plan)
            with hook:
                result = run.execute(hook, live=live)
            view.summary(result, journal_label="Journal", journal_path=run.journal_path,
                         extra={"elapsed_s": round(result.elapsed_s, 3), "host": dp.host})
            if not result.ok:
                return run_exit_code(result, verb="Drain", interrupted_hint=(
                    " The journal is intact; run drain again to resume."))
        if enter_maintenance:
            from pmemctl.vsphere.maintenance import enter_maintenance as enter

            state = enter(vs, dp.host_moid, maintenance_timeout)
            return show_maintenance(view, dp.host, state, entering=True)
    return ExitCode.OK  # a failed drain returned above


@click.command("return")
@click.argument("host")
@click.option("--journal", "journal_path", type=click.Path(path_type=Path), metavar="PATH",
              help="The drain's journal (default: the one `pmemctl drain HOST` wrote).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--parallel", type=_LIMIT, metavar="N", help="Tasks in flight in total (default 8).")
@output_option
@connection_options
@click.pass_obj
def return_command(app: App, host: str, journal_path: Path | None, yes: bool,
                   parallel: int | None, output: str) -> int:
    """Bring a drained HOST back: exit maintenance mode, then roll the drain back.

    VMs move back to HOST (their NVDIMMs onto its PMem again) and vPMemDisks
    back onto its PMem, as the drain's journal recorded them; what was moved
    since is left alone and named.
    """
    from pmemctl.apply.drain_run import drain_journal_path
    from pmemctl.apply.run import RollbackRun, load_rollback
    from pmemctl.cli.views.apply import apply_view, run_exit_code
    from pmemctl.cli.views.drain import show_maintenance
    from pmemctl.errors import UsageError

    view = apply_view(app, output, verb="Return")
    with app.vsphere() as vs:
        path = journal_path or drain_journal_path(host, vs.settings.host, vs.settings.port)
        if not path.is_file():
            raise UsageError(f"no drain journal for {host} at {path} (give --journal)")
        src = load_rollback(path)
        run = RollbackRun(vs, src, parallel=parallel)
        # Only the host's state is needed here: a scope of that host keeps the
        # light pass off the rest of the estate's VMs (rollback reads its own).
        import glob

        from pmemctl.inventory.model import Scope

        inv = vs.snapshot(lambda light: [], scope=Scope(hosts=(glob.escape(host),)))
        h = inv.host_named(host)
        if h is None:
            known = ", ".join(sorted(x.name for x in inv.hosts.values())[:10])
            raise UsageError(f"unknown host {host!r} (hosts: {known})")
        if h.maintenance:
            app.confirm(yes, question=f"Take {host} out of maintenance mode and bring its VMs "
                                      "back?",
                        refusal="not returning: no terminal to confirm on. Run again with --yes.",
                        cancelled="Return cancelled.")
            from pmemctl.vsphere.maintenance import exit_maintenance

            code = show_maintenance(view, host, exit_maintenance(vs, h.moid), entering=False)
            if code != ExitCode.OK:
                return code
            yes = True  # one confirmation for the whole return
        rb = run.prepare(view.events(), app.status)
        view.rollback_plan(rb)
        if rb.empty:
            return ExitCode.OK
        app.confirm(yes, question=f"Move these {len(rb.plan.changes)} back to {host}?",
                    refusal="not returning: no terminal to confirm on. Run again with --yes.",
                    cancelled="Return cancelled.")
        hook, live = view.progress(rb.plan)
        with hook:
            result = run.execute(hook, live=live)
    assert run.journal_path is not None
    view.summary(result, journal_label="Return journal", journal_path=run.journal_path)
    return run_exit_code(result, verb="Return")
