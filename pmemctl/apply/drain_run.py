"""One ``pmemctl drain`` run: read the host's estate, plan the drain, run it journaled.

The same phases as :class:`~pmemctl.apply.run.ApplyRun` (prepare, show and
confirm in the CLI, execute), on the same executor and journal, so a drain's
moves are resumed by running it again and undone by ``pmemctl rollback
JOURNAL`` or ``pmemctl return HOST``. The journal's ``run_start`` says
``command: "drain"`` and names the host.
"""

from __future__ import annotations

import glob
import time
from dataclasses import asdict, replace
from pathlib import Path

from pmemctl import __version__
from pmemctl.apply.claims import Claims, default_lock_dir
from pmemctl.apply.events import Hook
from pmemctl.apply.executor import ApplyResult, ExecContext, ExecOptions, apply_plan, exec_context
from pmemctl.apply.journal import default_journal_dir, read_journal
from pmemctl.apply.resume import settle_journal
from pmemctl.apply.run import (
    REPLAN_AFTER_S,
    SESSION_CHECK_AFTER_S,
    RunJournal,
    Status,
    change_keys,
    check_same_vcenter,
    no_status,
    plan_diff,
    read_settled,
    vcenter_identity,
)
from pmemctl.apply.shapes import for_vcenter
from pmemctl.errors import StalePlanError
from pmemctl.inventory.model import Inventory, Scope
from pmemctl.plan.drain import DrainOptions, DrainPlan, make_drain_plan, with_warnings
from pmemctl.vsphere.api import VSphere


def drain_journal_path(host: str, vcenter_host: str, vcenter_port: int | None = None) -> Path:
    """The journal of draining ``host`` on one vCenter: ``drain-<host>@<vcenter>[:port].jsonl``.

    One per host and vCenter (host and port, as apply's journals: two
    vCenters on one address never share one), so ``pmemctl return HOST``
    finds it without being told, and a second drain of the same host resumes
    the first. The port is left out at 443, the name earlier drains used.
    """
    where = vcenter_host if vcenter_port in (None, 443) else f"{vcenter_host}:{vcenter_port}"
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in f"{host}@{where}")
    return default_journal_dir() / f"drain-{safe}.jsonl"


class DrainRun:
    """One drain; use as a context manager (it holds the journal lock)."""

    def __init__(self, conn: VSphere, options: DrainOptions, exec_options: ExecOptions,
                 journal_path: Path | None = None) -> None:
        self.conn = conn
        self.options = options
        self.journal_path = journal_path or drain_journal_path(options.host, conn.settings.host,
                                                               conn.settings.port)
        shapes, self._notes = for_vcenter(conn.settings.host, conn.settings.port,
                                          conn.about.instance_uuid)
        self.exec_options = replace(exec_options, onto_shape=shapes.onto, off_profile=shapes.off)
        self.drain: DrainPlan | None = None
        self.inventory: Inventory | None = None
        self.ctx: ExecContext | None = None
        self._claims: Claims | None = None
        self._planned_at = 0.0
        self._journal = RunJournal(self.journal_path, {
            "command": "drain", "version": __version__, "host": options.host,
            **vcenter_identity(conn),
            "options": {**asdict(options), "limits": asdict(exec_options.limits),
                        "on_failure": exec_options.on_failure, "call_shapes": asdict(shapes)},
        })

    def prepare(self, hook: Hook, status: Status = no_status) -> DrainPlan:
        """Settle a killed drain's tasks, read the host's VMs and plan; nothing is changed.

        Side Effects:
            Reads the journal (and settles its unfinished tasks); snapshots the
            estate with the devices of the host's VMs.
        """
        since = time.time()  # before any read, as apply's claims (claims.py)
        state = read_journal(self.journal_path)
        check_same_vcenter(state, self.conn, self.journal_path)
        if state.pending:
            settle_journal(self.conn, self._journal.started(), state, hook)
        inventory = self._read(hook, status)
        dp = make_drain_plan(inventory, self.options)
        self.ctx = None
        if not dp.plan.blocked and not dp.plan.empty:
            # One writer per VM on this machine, as apply (another run's claim refuses
            # this one; a claim let go since the read means a fresh read).
            self._claims = Claims(directory=default_lock_dir(self.conn.settings.host,
                                                             self.conn.settings.port),
                                  run=self._journal.run_id)
            vms = {c.vm_moid or c.vm: c.vm for c in dp.plan.changes}
            self._claims.add(vms, journal=self.journal_path, since=since)
            if self._claims.recent:
                self._claims.recent.clear()
                inventory = self._read(hook, status)
                dp = make_drain_plan(inventory, self.options)
                self._claims.add({c.vm_moid or c.vm: c.vm for c in dp.plan.changes},
                                 journal=self.journal_path, since=since)
            self.ctx = exec_context(self.conn, dp.plan, inventory)
        extra = (*self.conn.warnings, *self._notes, *(self.ctx.warnings if self.ctx else ()))
        self.drain = with_warnings(dp, tuple(extra))
        self.inventory = inventory
        self._planned_at = self.conn.clock.monotonic()
        return self.drain

    def execute(self, hook: Hook, *, live: bool = False) -> ApplyResult:
        """Run the prepared drain plan (the caller has shown and confirmed it).

        Side Effects:
            Writes ``run_start`` and every step to the journal; submits the tasks.
        """
        assert self.drain is not None and self.inventory is not None, "prepare() first"
        # As apply: a plan that waited long for its confirmation is checked first.
        paused = self.conn.clock.monotonic() - self._planned_at
        if paused > SESSION_CHECK_AFTER_S:
            self.conn.ensure_session()
        if paused > REPLAN_AFTER_S:
            self._recheck(hook, paused)
        ctx = self.ctx or exec_context(self.conn, self.drain.plan, self.inventory)
        ctx.relogin, ctx.check_session = self.conn.relogin, self.conn.ensure_session
        return apply_plan(self.conn, self.drain.plan, self.inventory,
                          replace(self.exec_options, progress=live),
                          journal=self._journal.started(), hook=hook, ctx=ctx)

    def _read(self, hook: Hook, status: Status) -> Inventory:
        # Only the host's VMs are read in full; every host and datastore is read anyway.
        return read_settled(self.conn, self._host_vms, hook, status,
                            Scope(hosts=(glob.escape(self.options.host),)))

    def _host_vms(self, light: Inventory) -> list[str]:
        """The drained host's VMs: the ones read in full."""
        host = light.host_named(self.options.host)
        return [v.name for v in light.vms.values() if host and v.host_moid == host.moid]

    def _recheck(self, hook: Hook, paused: float) -> None:
        assert self.drain is not None
        inventory = self._read(hook, no_status)
        now = make_drain_plan(inventory, self.options).plan
        if now.problems or change_keys(now) != change_keys(self.drain.plan):
            raise StalePlanError(
                f"the estate changed in the {paused / 60:.0f} min the drain plan waited for "
                f"confirmation: {plan_diff(self.drain.plan, now)}. Nothing was changed; run "
                "drain again to review the new plan")
        self.inventory = inventory
        if self.ctx is not None:
            self.ctx.inventory = inventory

    def close(self) -> None:
        """Release the VM claims and the journal."""
        if self._claims is not None:
            self._claims.release()
            self._claims = None
        self._journal.close()

    def __enter__(self) -> DrainRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
