"""One apply or rollback run, from a logged-in session to an :class:`ApplyResult`.

The commands are thin: they parse flags, connect, render and confirm. What
happens between connecting and the summary is here, in two phases with the
confirmation in between::

    run = ApplyRun(conn, load_source(path), exec_options(...))   # locks the journal
    plan = run.prepare(hook, status)        # settle, snapshot, plan, owed power-ons
    ... show the plan, stop if blocked or empty, confirm ...
    result = run.execute(progress_hook, live=...)
    run.close()

:class:`RollbackRun` has the same shape over :func:`~.rollback.rollback_plan`.
Both share :class:`RunJournal` (a locked journal whose ``run_start`` is
written on first use) and :func:`read_settled` (snapshot, wait for tasks
already running on the VMs, snapshot again).

Nothing here prints or reads stdin: events go to a :class:`~.executor.Hook`,
and the only other seam is ``status``, a context-manager factory the CLI uses
for its "Reading inventory" spinner.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from pmemctl import __version__
from pmemctl.apply.claims import Claims, default_lock_dir
from pmemctl.apply.events import Hook
from pmemctl.apply.executor import (
    ApplyResult,
    ExecContext,
    ExecOptions,
    apply_plan,
    exec_context,
)
from pmemctl.apply.journal import (
    Journal,
    JournalError,
    JournalState,
    new_run_id,
    read_journal,
)
from pmemctl.apply.journals import journal_for
from pmemctl.apply.resume import (
    clear_paid_markers,
    owed_by_journal,
    pending_power_ons,
    settle_journal,
    settle_vms,
)
from pmemctl.apply.rollback import RollbackPlan, journal_vms, rollback_plan
from pmemctl.apply.scheduler import Limits
from pmemctl.apply.shapes import for_vcenter
from pmemctl.errors import PmemctlError, StalePlanError, UsageError
from pmemctl.inventory.model import Inventory, Scope
from pmemctl.plan.model import Plan
from pmemctl.plan.payloads import MigrateDisk
from pmemctl.plan.planner import make_plan
from pmemctl.plan.savefile import SavedPlan, check_fresh, is_plan_file, load_plan
from pmemctl.plan.select import select_vms, spec_scope
from pmemctl.spec.load import load_spec
from pmemctl.spec.model import OnFailure, Options, Spec
from pmemctl.vsphere.api import VSphere

#: Wraps a slow step with a message ("Reading inventory"); the CLI shows a spinner.
Status = Callable[[str], AbstractContextManager[Any]]

#: Rollback's default ``--parallel`` (it has no spec to take one from).
ROLLBACK_PARALLEL = 8

#: A pause this long (the confirmation prompt) may have outlived the session:
#: check it before submitting. vCenter ends API sessions idle for 30 minutes.
SESSION_CHECK_AFTER_S = 60.0
#: A plan shown this long ago is checked against the estate again before it runs.
REPLAN_AFTER_S = 300.0


def no_status(message: str) -> AbstractContextManager[Any]:
    """A :data:`Status` that shows nothing (library callers, tests)."""
    return nullcontext()


def vcenter_identity(conn: VSphere) -> dict[str, Any]:
    """What a journal's ``run_start`` records of the vCenter: host, port and instance UUID.

    The host alone does not identify a vCenter (two behind one name, a port
    forward, a rebuilt appliance); ``about.instanceUuid`` does.
    """
    return {"vcenter": conn.settings.host, "vcenter_port": conn.settings.port,
            "instance_uuid": conn.about.instance_uuid or None}


def check_same_vcenter(state: JournalState, conn: VSphere, path: Path) -> None:
    """Refuse to act on a journal written against another vCenter.

    A vCenter is its instance UUID: when the journal and the connection both
    know it, it alone decides (the same vCenter may be reached under another
    name or port: a DNS alias, a proxy, a load balancer). Without it (journals
    written before pmemctl recorded it) the host and port must match. A
    rollback against the wrong vCenter would move or delete another estate's
    disks.

    Raises:
        UsageError: a run in the journal talked to another vCenter.
    """
    uuid = conn.about.instance_uuid or None
    for r in state.runs:
        pairs: list[tuple[str, object, object]]
        if r.instance_uuid and uuid:
            pairs = [("instance UUID", r.instance_uuid, uuid)]
        else:
            pairs = [("host", r.vcenter, conn.settings.host),
                     ("port", r.vcenter_port, conn.settings.port)]
        diff = [f"{what} {w} (connected: {h})" for what, w, h in pairs
                if w is not None and h is not None and str(w).lower() != str(h).lower()]
        if diff:
            raise UsageError(
                f"journal {path} was written against another vCenter: " + ", ".join(diff)
                + f" (run {r.run}). Nothing was changed; connect to the vCenter the journal "
                "names (--url/--server)")


def migration_mb(plan: Plan) -> int:
    """MiB the plan's disk migrations move (the live display's "moved" total)."""
    return sum(c.payload.size_mb for c in plan.changes if isinstance(c.payload, MigrateDisk))


# -- shared by apply and rollback ---------------------------------------------


class RunJournal:
    """A locked journal whose ``run_start`` record is written on first use.

    Opening locks the file, so a second run on the same journal is refused
    before it plans; the ``run_start`` is written only once there is work
    (settling a killed run's tasks, or executing), so a run that finds
    nothing to do leaves the journal as it was. Use as a context manager.

    Side Effects:
        Creates and locks the file (see :class:`~.journal.Journal`); the
        first :meth:`started` appends and fsyncs ``run_start``.
    """

    def __init__(self, path: Path, run_start: dict[str, Any], run_id: str | None = None) -> None:
        self.path = path
        self._run_start = run_start
        self._journal = Journal(path, run_id=run_id)
        self._started = False

    @property
    def run_id(self) -> str:
        """The id of this run (its records' ``run``)."""
        return self._journal.run_id

    def started(self) -> Journal:
        """The journal, with ``run_start`` written (the first call writes it)."""
        if not self._started:
            self._started = True
            self._journal.write("run_start", **self._run_start)
        return self._journal

    def close(self) -> None:
        """Release the lock and close the file (removing it if this run created it empty)."""
        if not self._started:
            self._journal.discard_if_unused()
        self._journal.close()

    def __enter__(self) -> RunJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_settled(conn: VSphere, want: Callable[[Inventory], list[str]], hook: Hook,
                 status: Status = no_status, scope: Scope | None = None) -> Inventory:
    """Snapshot; wait for tasks already running on the wanted VMs; snapshot again if any.

    A run (apply or rollback) killed mid-task may have left tasks running on
    these VMs, as may someone else: planning over them would issue the same
    work twice.

    Side Effects:
        One or two snapshots (:meth:`~pmemctl.vsphere.api.VSphere.snapshot`); a
        RetrievePropertiesEx for the VMs' recent tasks, and a wait (with
        ``waiting`` events to ``hook``) when some are running.
    """
    with status("Reading inventory"):
        inventory = conn.snapshot(want, scope=scope)
    if settle_vms(conn, inventory, want(inventory), hook):
        inventory = conn.snapshot(want, scope=scope)
    return inventory


# -- the plan both plan and apply show -----------------------------------------


def prepare(conn: VSphere, source: ApplySource, journal: JournalState, hook: Hook,
            status: Status = no_status, *, settle: bool = False) -> tuple[Inventory, Plan]:
    """Read the estate and make the plan that ``apply`` would run: ``plan`` shows the same.

    One path for both commands, so ``plan`` shows exactly what ``apply``
    does, including the power-ons an earlier, killed run still owes (read
    from ``journal``). ``settle`` (apply) first waits for tasks already
    running on the VMs and reads again; ``plan`` changes nothing and waits
    for nothing.

    Side Effects:
        Snapshots the estate (read-only); with ``settle``, see :func:`read_settled`.

    Raises:
        StalePlanError: a saved plan no longer matches the estate.
        InventoryError: a selected VM is ambiguous or unknown.
    """
    # A spec narrowed to clusters, hosts or folders reads only there.
    scope = spec_scope(source.spec) if source.spec is not None else None
    want = _with_owed(source.want, journal)
    if settle:
        inventory = read_settled(conn, want, hook, status, scope)
    else:
        with status("Reading inventory"):
            inventory = conn.snapshot(want, scope=scope)
    if source.saved is not None:
        check_fresh(source.saved, inventory)
        plan = source.saved.plan
    else:
        assert source.spec is not None
        plan = make_plan(source.spec, inventory)
    plan = pending_power_ons(journal, plan, inventory)
    if settle:  # apply only: plan changes nothing
        clear_paid_markers(conn, inventory, plan)
    return inventory, plan


def _with_owed(want: Callable[[Inventory], list[str]],
               journal: JournalState) -> Callable[[Inventory], list[str]]:
    """``want`` plus the VMs the journal owes a power-on, so a resumed plan shows it.

    The spec may no longer select a VM an earlier run of it powered off (it
    was edited, or a glob no longer matches): its power state is read all
    the same, and :func:`~.resume.pending_power_ons` adds its power-on. A
    scoped read (``host:``/``cluster:``/``folder:``) still reads only its
    scope; a VM outside it keeps its marker for a later run.
    """
    owed = owed_by_journal(journal)
    if not owed:
        return want

    def with_owed(light: Inventory) -> list[str]:
        names = want(light)
        return names + sorted(n for n in owed if n in light.vms and n not in names)
    return with_owed


# -- apply --------------------------------------------------------------------


@dataclass(frozen=True)
class ApplySource:
    """What ``apply`` was pointed at: a spec, or a saved plan and the spec it came from."""

    path: Path
    spec_path: Path
    options: Options
    vcenter: str | None
    spec: Spec | None = None
    saved: SavedPlan | None = None

    def want(self, light: Inventory) -> list[str]:
        """The VMs whose devices to read: the saved plan's, else the spec's selection."""
        if self.saved is not None:
            return list(self.saved.vm_names)
        assert self.spec is not None
        return select_vms(self.spec, light).names


def load_source(path: Path) -> ApplySource:
    """Read ``path`` as a saved plan (``plan --out``) or else as a spec.

    A saved plan's spec is read only for its ``vcenter``; when it has moved
    or changed, the connection flags must say where to connect.

    Side Effects:
        Reads ``path`` (and, for a saved plan, the spec it names).

    Raises:
        SpecError: the spec or the plan file is invalid.
    """
    if is_plan_file(path):
        saved = load_plan(path)
        spec_path = Path(saved.spec_path)
        return ApplySource(path=path, spec_path=spec_path, options=saved.options,
                           vcenter=_spec_vcenter(spec_path), saved=saved)
    spec = load_spec(path)
    return ApplySource(path=path, spec_path=path, options=spec.options, vcenter=spec.vcenter,
                       spec=spec)


def exec_options(options: Options, *, parallel: int | None = None, per_host: int | None = None,
                 per_datastore: int | None = None, on_failure: str | None = None,
                 max_down: int | None = None) -> ExecOptions:
    """The spec's (or saved plan's) options, overridden by whichever flags were given."""
    limits = Limits(
        total=parallel or options.parallel.total,
        per_host=per_host or options.parallel.per_host,
        per_datastore=per_datastore or options.parallel.per_datastore,
        down=max_down or options.parallel.down,
    )
    # The shutdown timeout is in each power-off payload: the planner decided it.
    return ExecOptions(limits=limits,
                       on_failure=OnFailure(on_failure) if on_failure else options.on_failure)


class ApplyRun:
    """One apply of a spec or saved plan; use as a context manager (it holds the journal lock).

    Attributes:
        journal_path: ``journal_path`` as given, else the default for the
            spec and this vCenter, which is what lets a later run resume.
        plan, inventory: set by :meth:`prepare`.

    Side Effects:
        Opens and locks the journal (see :class:`RunJournal`).

    Raises:
        JournalError: the journal is locked by another run, or unreadable.
    """

    def __init__(self, conn: VSphere, source: ApplySource, options: ExecOptions,
                 journal_path: Path | None = None) -> None:
        self.conn = conn
        self.source = source
        self.options = options
        host = conn.settings.host
        self.journal_path = journal_path or journal_for(source.spec_path, host,
                                                        conn.settings.port)
        shapes, self._shape_notes = for_vcenter(host, conn.settings.port,
                                                conn.about.instance_uuid,
                                                source.options.pmem_migration_shape)
        self.options = replace(options, onto_shape=shapes.onto, off_profile=shapes.off)
        self.plan: Plan | None = None
        self.inventory: Inventory | None = None
        self.ctx: ExecContext | None = None
        self._planned_at = 0.0
        self._claims: Claims | None = None
        self._journal = RunJournal(self.journal_path, {
            "command": "apply", "version": __version__,
            "spec": str(Path(source.spec_path).resolve()),
            "spec_sha256": _sha256(source.spec_path), "source": str(source.path),
            **vcenter_identity(conn),
            "options": {**asdict(source.options), "limits": asdict(options.limits),
                        "on_failure": options.on_failure,
                        "call_shapes": asdict(shapes)},
        })

    def prepare(self, hook: Hook, status: Status = no_status) -> Plan:
        """Settle a killed run's tasks, read the estate and plan; returns the plan to show.

        The plan includes the power-ons an earlier run owes and, first among
        its warnings, the connection's. Nothing is changed on vCenter.

        Side Effects:
            Reads the journal; when it has tasks without an outcome, writes
            ``run_start`` and their outcomes (waiting for the running ones).
            Snapshots the estate (see :func:`read_settled`).

        Raises:
            StalePlanError: a saved plan no longer matches the estate.
            InventoryError: a selected VM is ambiguous or unknown.
            UsageError: the journal was written against another vCenter.
            VmBusyError: another pmemctl run on this machine has claimed a VM
                the plan changes (the claims are held until :meth:`close`).
        """
        since = time.time()  # before any read: see _claim
        state = read_journal(self.journal_path)
        # Resuming another vCenter's journal would settle its task ids and owe
        # power-ons to VMs of the same name here.
        check_same_vcenter(state, self.conn, self.journal_path)
        if state.pending:
            settle_journal(self.conn, self._journal.started(), state, hook)
        inventory, plan = self._read_and_plan(hook, status)
        if not plan.blocked and not plan.empty:
            inventory, plan = self._claim(plan, inventory, since, hook, status)
        self.ctx = None
        if not plan.blocked and not plan.empty:
            # PBM look-ups now, not after the prompt: their fallbacks are warnings
            # the user should read with the plan.
            self.ctx = exec_context(self.conn, plan, inventory)
        extra = (*self._shape_notes, *(self.ctx.warnings if self.ctx else ()))
        self.plan = replace(plan, warnings=tuple(self.conn.warnings) + plan.warnings + extra)
        self.inventory = inventory
        self._planned_at = self.conn.clock.monotonic()
        return self.plan

    def _claim(self, plan: Plan, inventory: Inventory, since: float, hook: Hook,
               status: Status) -> tuple[Inventory, Plan]:
        """Claim every VM the plan touches; plan again if another run let one go meanwhile.

        A run whose claim on a VM ended after ``since`` (or that died holding
        it) may have changed that VM after this plan read it: planning again
        keeps this run from doing that work a second time.

        Raises:
            VmBusyError: another pmemctl run on this machine holds one of them.
        """
        if self._claims is None:
            self._claims = Claims(directory=default_lock_dir(self.conn.settings.host,
                                                             self.conn.settings.port),
                                  run=self._journal.run_id)
        self._claims.add(_plan_vms(plan), journal=self.journal_path, since=since)
        if self._claims.recent:
            self._claims.recent.clear()
            inventory, plan = self._read_and_plan(hook, status)
            self._claims.add(_plan_vms(plan), journal=self.journal_path, since=since)
        return inventory, plan

    def _read_and_plan(self, hook: Hook, status: Status) -> tuple[Inventory, Plan]:
        return prepare(self.conn, self.source, read_journal(self.journal_path), hook, status,
                       settle=True)

    def execute(self, hook: Hook, *, live: bool = False) -> ApplyResult:
        """Run the prepared plan (the caller has shown and confirmed it).

        ``live`` asks the executor to watch task progress (a live display
        shows it). Task faults are results, not exceptions. After a long
        pause (the prompt) the session is checked and renewed, and the plan
        is made again from a fresh read: when it differs from the one shown,
        nothing runs.

        Side Effects:
            Writes ``run_start`` (unless settling did), then every step to the
            journal; submits the plan's tasks to vCenter and waits for them.

        Raises:
            StalePlanError: the estate changed while the plan was shown.
            SessionError: the session ended and logging in again failed.
        """
        assert self.plan is not None and self.inventory is not None, "prepare() first"
        paused = self.conn.clock.monotonic() - self._planned_at
        if paused > SESSION_CHECK_AFTER_S:
            self.conn.ensure_session()
        if paused > REPLAN_AFTER_S:
            self._recheck(hook, paused)
        ctx = self.ctx or exec_context(self.conn, self.plan, self.inventory)
        ctx.relogin, ctx.check_session = self.conn.relogin, self.conn.ensure_session
        return apply_plan(self.conn, self.plan, self.inventory,
                          replace(self.options, progress=live),
                          journal=self._journal.started(), hook=hook, ctx=ctx)

    def _recheck(self, hook: Hook, paused: float) -> None:
        assert self.plan is not None
        inventory, plan = self._read_and_plan(hook, no_status)
        if plan.problems or change_keys(plan) != change_keys(self.plan):
            raise StalePlanError(
                f"the estate changed in the {paused / 60:.0f} min the plan waited for "
                f"confirmation: {plan_diff(self.plan, plan)}. Nothing was changed; run apply "
                "again to review the new plan")
        self.inventory = inventory
        if self.ctx is not None:
            self.ctx.inventory = inventory

    def close(self) -> None:
        """Release the VM claims and the journal."""
        if self._claims is not None:
            self._claims.release()
            self._claims = None
        self._journal.close()

    def __enter__(self) -> ApplyRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plan_vms(plan: Plan) -> dict[str, str]:
    """VM name by moid, every VM the plan changes (the VMs to claim)."""
    return {c.vm_moid or c.vm: c.vm for c in plan.changes}


def change_keys(plan: Plan) -> list[tuple[str, str, str, str | None, str | None]]:
    """What makes two plans the same plan: each change's VM, action, target, before, after."""
    return sorted((c.vm, c.action.value, c.target, c.before, c.after) for c in plan.changes)


def plan_diff(old: Plan, new: Plan, limit: int = 3) -> str:
    """A short account of how ``new`` differs from ``old`` (for the stale-plan error)."""
    a, b = set(change_keys(old)), set(change_keys(new))

    def say(keys: set[tuple[str, str, str, str | None, str | None]]) -> str:
        items = sorted(keys)
        text = ", ".join(f"{vm} {act} {tgt}" for vm, act, tgt, _, _ in items[:limit])
        return text + (f" and {len(items) - limit} more" if len(items) > limit else "")

    parts = []
    if a - b:
        parts.append("no longer needed: " + say(a - b))
    if b - a:
        parts.append("now needed: " + say(b - a))
    if new.problems:
        parts.append("now blocked: " + new.problems[0].message)
    return "; ".join(parts) or "the changes are the same but the estate moved"


def _spec_vcenter(spec_path: Path) -> str | None:
    try:
        return load_spec(spec_path).vcenter
    except (PmemctlError, OSError):
        return None  # the spec moved or changed: connection flags must say where


def _sha256(path: str | Path) -> str | None:
    try:
        return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


# -- rollback -----------------------------------------------------------------


@dataclass(frozen=True)
class RollbackSource:
    """An apply journal to undo: its state, the VMs it touched and its vCenter."""

    path: Path
    state: JournalState
    vms: tuple[str, ...]
    vcenter: str | None

    def want(self, light: Inventory) -> list[str]:
        """The VMs whose devices to read: the ones the journal touched."""
        return list(self.vms)


def load_rollback(path: Path) -> RollbackSource:
    """Read the apply journal at ``path``.

    Side Effects:
        Reads ``path``.

    Raises:
        UsageError: there is no file at ``path``.
        JournalError: the journal is damaged (other than a torn last line),
            or the file holds something other than a pmemctl journal.
    """
    if not path.is_file():
        raise UsageError(f"no journal at {path}")
    state = read_journal(path)
    # An empty journal is a run that found nothing to do; a non-empty file with
    # no run in it is the wrong file, and "nothing to roll back" would mislead.
    if not state.runs and path.read_bytes().strip():
        raise JournalError(f"{path} is not a pmemctl journal (it has no run_start record)")
    vcenter = next((r.vcenter for r in state.runs if r.vcenter), None)
    return RollbackSource(path=path, state=state, vms=tuple(journal_vms(state)), vcenter=vcenter)


class RollbackRun:
    """One rollback of an apply journal, journaled to a NEW file next to it.

    Attributes:
        journal_path: the rollback's own journal,
            ``<journal-stem>.rollback-<run>.jsonl``; set by :meth:`execute`.
        rollback: the reverse plan and notes; set by :meth:`prepare`.
    """

    def __init__(self, conn: VSphere, source: RollbackSource, *,
                 allow_data_loss: bool = False, parallel: int | None = None) -> None:
        check_same_vcenter(source.state, conn, source.path)
        self.conn = conn
        self.source = source
        self.allow_data_loss = allow_data_loss
        shapes, _ = for_vcenter(conn.settings.host, conn.settings.port, conn.about.instance_uuid)
        self.options = ExecOptions(limits=Limits(total=parallel or ROLLBACK_PARALLEL),
                                   onto_shape=shapes.onto, off_profile=shapes.off)
        self.journal_path: Path | None = None
        self.rollback: RollbackPlan | None = None
        self.inventory: Inventory | None = None
        self._planned_at = 0.0

    def prepare(self, hook: Hook, status: Status = no_status) -> RollbackPlan:
        """Read the estate and build the reverse plan; nothing is changed on vCenter.

        Side Effects:
            Snapshots the estate (see :func:`read_settled`).
        """
        self.inventory = read_settled(self.conn, self.source.want, hook, status)
        self.rollback = rollback_plan(self.source.state, self.inventory,
                                      allow_data_loss=self.allow_data_loss)
        self._planned_at = self.conn.clock.monotonic()
        return self.rollback

    def execute(self, hook: Hook, *, live: bool = False) -> ApplyResult:
        """Run the prepared reverse plan (the caller has shown and confirmed it).

        Side Effects:
            Creates the rollback journal (:attr:`journal_path`) and writes
            ``run_start`` and every step to it; submits the tasks to vCenter
            and waits for them.
        """
        assert self.rollback is not None and self.inventory is not None, "prepare() first"
        run_id = new_run_id()
        src = self.source.path
        self.journal_path = src.with_name(f"{src.stem}.rollback-{run_id}.jsonl")
        start = {"command": "rollback", "version": __version__, "journal": str(src.resolve()),
                 **vcenter_identity(self.conn),
                 "options": {"allow_data_loss": self.allow_data_loss}}
        if self.conn.clock.monotonic() - self._planned_at > SESSION_CHECK_AFTER_S:
            self.conn.ensure_session()
        ctx = exec_context(self.conn, self.rollback.plan, self.inventory)
        ctx.relogin, ctx.check_session = self.conn.relogin, self.conn.ensure_session
        with RunJournal(self.journal_path, start, run_id=run_id) as journal:
            return apply_plan(self.conn, self.rollback.plan, self.inventory,
                              replace(self.options, progress=live),
                              journal=journal.started(), hook=hook, ctx=ctx)
