"""Run a Plan against vCenter: one thread, many tasks, one property filter.

The loop::

    while work remains:
        for each step the scheduler allows:  journal intent → submit → journal task id
        wait ≤ 1 s on the TaskWatcher        (WaitForUpdatesEx on one filter)
        for each finished task:              journal outcome → advance that VM's job

One thread is enough because vCenter (and pmemsim) run tasks asynchronously:
a submit returns the task at once, and a single WaitForUpdatesEx reports
every task. It also keeps pyVmomi's stub, which is not safe to share
carelessly between threads, on one thread. The 1 s wait keeps Ctrl-C and
new submissions responsive.

Failures are reported with the vim fault class and its message, the VM, and
per change what was done and what was not. ``on_failure=stop`` submits
nothing new after a failure (running tasks are still waited for);
``continue`` skips only the failed VM's remaining steps, but still powers
that VM back on when pmemctl powered it off (see :mod:`.scheduler`).

Ctrl-C (SIGINT) once: stop submitting, wait for running tasks. Twice: stop
waiting; the task ids still running on vCenter are journaled and reported.
Either way the journal is intact and the caller raises
:class:`~pmemctl.errors.Interrupted`.

The executor never prints: it emits :class:`Event` values to a hook.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any, Protocol

from pyVmomi import vim, vmodl

from pmemctl.apply.journal import Journal
from pmemctl.apply.records import (
    CreatedDevice,
    DiskUndo,
    MigrateUndo,
    PowerUndo,
    ReconfigureUndo,
    Undo,
    UpgradeUndo,
    undo_to_json,
)
from pmemctl.apply.scheduler import Limits, Outcome, Scheduler, Step, StepKind
from pmemctl.errors import PmemctlError
from pmemctl.inventory.model import Inventory
from pmemctl.plan.model import Change, Plan
from pmemctl.plan.payloads import AddNvdimm, CreateDisk, MigrateDisk, PowerOff
from pmemctl.spec.model import OnFailure
from pmemctl.vsphere import actions
from pmemctl.vsphere.actions import OffProfile, OntoShape
from pmemctl.vsphere.faults import describe
from pmemctl.vsphere.pbm import find_pmem_policy_id
from pmemctl.vsphere.tasks import TaskState, TaskWatcher, fault_message, fault_name

#: Faults that mean the step's goal already holds (UpgradeVM on a VM at that version).
_DONE_FAULTS = {StepKind.UPGRADE: {"AlreadyUpgraded"}}


@dataclass(frozen=True)
class Event:
    """Something the progress display or a log may want to show."""

    # started | progress | done | failed | skipped | stopping | interrupted | waiting | warning
    kind: str
    vm: str = ""
    action: str = ""
    target: str = ""
    task: str | None = None
    time: float = 0.0
    elapsed_s: float | None = None
    progress: int | None = None
    fault: str | None = None
    message: str | None = None
    size_mb: int = 0
    changes: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON Lines shape for ``--output json``; empty fields are left out."""
        out: dict[str, Any] = {"event": self.kind}
        for k in ("vm", "action", "target", "task", "elapsed_s", "progress", "fault",
                  "message"):
            v = getattr(self, k)
            if v not in (None, ""):
                out[k] = round(v, 3) if isinstance(v, float) else v
        out["time"] = round(self.time, 3)
        return out


class Hook(Protocol):
    """Receives executor events (progress display, JSON log, tests)."""

    def event(self, e: Event) -> None:
        """Handle one event; must not raise."""


class NullHook:
    """A hook that ignores everything."""

    def event(self, e: Event) -> None:
        """Ignore ``e``."""


@dataclass(frozen=True)
class ExecOptions:
    """How to run, beyond what the plan decided: the spec's limits and failure policy as
    the flags override them, the call shapes for this vCenter, and how to wait.

    The rest of the spec's :class:`~pmemctl.spec.model.Options` (power off,
    upgrade, data loss, shutdown timeout, snapshot mode) shaped the plan
    itself and is in its payloads.
    """

    limits: Limits = field(default_factory=Limits)
    on_failure: OnFailure = OnFailure.STOP
    max_wait_s: int = 1
    progress: bool = True  # watch task.info.progress (a live display shows it)
    onto_shape: OntoShape = "device_change"  # how disks go onto PMem (actions.relocate_spec)
    off_profile: OffProfile = "default"  # the profile disks leaving PMem get


@dataclass(frozen=True)
class ChangeResult:
    """The fate of one change."""

    change: Change
    outcome: Outcome
    task: str | None = None
    fault: str | None = None
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON shape used in ``apply --output json`` summaries."""
        return {"vm": self.change.vm, "action": self.change.action.value,
                "target": self.change.target, "outcome": self.outcome.value,
                "task": self.task, "fault": self.fault, "message": self.message}


@dataclass
class ApplyResult:
    """What a run did, change by change."""

    results: list[ChangeResult] = field(default_factory=list)
    elapsed_s: float = 0.0
    interrupted: bool = False
    left_running: list[str] = field(default_factory=list)  # task ids still running on vCenter
    moved_mb: int = 0

    def count(self, outcome: Outcome) -> int:
        """Number of changes with that outcome."""
        return sum(1 for r in self.results if r.outcome is outcome)

    @property
    def ok(self) -> bool:
        """True when every change is done."""
        return all(r.outcome is Outcome.DONE for r in self.results)

    @property
    def failures(self) -> list[ChangeResult]:
        """Changes whose step failed."""
        return [r for r in self.results if r.outcome is Outcome.FAILED]

    def summary(self) -> dict[str, int]:
        """Counts per outcome, for the journal and the JSON report."""
        return {o.value: self.count(o) for o in Outcome if o is not Outcome.RUNNING}


@dataclass
class ExecContext:
    """What the executor needs from the session and the snapshot."""

    content: Any  # vim.ServiceInstanceContent
    inventory: Inventory
    pmem_policy_id: str
    disk_policies: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # PBM fallbacks, shown with the plan
    # Logs in again after NotAuthenticated (session expired or terminated); None: never.
    relogin: Callable[[], None] | None = None
    # Checks the session and logs in again when it ended; True when it had to.
    check_session: Callable[[], bool] | None = None

    @property
    def stub(self) -> Any:
        """The SOAP stub morefs are bound to."""
        return self.content.propertyCollector._stub


@dataclass
class _Run:
    step: Step
    step_id: str
    started: float
    vm: Any
    task_id: str | None = None
    shutdown_deadline: float | None = None
    progress: int | None = None
    fault: str | None = None
    message: str | None = None


def undo_state(step: Step, inventory: Inventory,
               disk_policies: dict[tuple[str, int], list[str]] | None = None) -> Undo | None:
    """The state needed to undo a step, captured before it runs (journaled with the intent).

    It comes from the snapshot the plan was made from (and, for disks, the
    policies PBM reported), so a rollback can put things back as they were.
    """
    vm = inventory.vms.get(step.vm)
    if vm is None:
        return None
    if step.kind is StepKind.MIGRATE:
        files = {d.key: d.file_name for d in vm.disks}
        disks = []
        for c in step.changes:
            p = c.payload
            assert isinstance(p, MigrateDisk)
            disks.append(DiskUndo(
                key=p.disk_key, label=c.target, datastore=p.source.name,
                datastore_moid=p.source.moid or None, pmem=p.source.pmem,
                file_name=files.get(p.disk_key, ""),
                policy_ids=tuple((disk_policies or {}).get((vm.moid, p.disk_key), [])),
                to_datastore=p.target.name))
        return MigrateUndo(disks=tuple(disks))
    if step.kind is StepKind.RECONFIGURE:
        return ReconfigureUndo(nvdimm_keys_before=tuple(n.key for n in vm.nvdimms),
                               disk_keys_before=tuple(d.key for d in vm.disks))
    if step.kind is StepKind.UPGRADE:
        return UpgradeUndo(hardware_version_before=vm.hardware_version)
    return PowerUndo(power_state_at_snapshot=vm.power_state)  # before this run touched it


def created_devices(before: list[Any], after: list[Any]) -> tuple[CreatedDevice, ...]:
    """The NVDIMMs and disks in ``after`` whose keys ``before`` did not have."""
    known = {d.key for d in before}
    out = []
    for d in after:
        if d.key in known:
            continue
        label = str(getattr(getattr(d, "deviceInfo", None), "label", "") or "")
        if isinstance(d, actions.vim.vm.device.VirtualNVDIMM):
            out.append(CreatedDevice("nvdimm", int(d.key), label, int(d.capacityInMB or 0)))
        elif isinstance(d, actions.vim.vm.device.VirtualDisk):
            out.append(CreatedDevice("disk", int(d.key), label,
                                     int(d.capacityInKB or 0) // 1024))
    return tuple(out)


class Executor:
    """Runs one plan; create a new one per run."""

    def __init__(self, ctx: ExecContext, plan: Plan, options: ExecOptions,
                 journal: Journal, hook: Hook | None = None) -> None:
        self.ctx = ctx
        self.plan = plan
        self.options = options
        self.journal = journal
        self.hook: Hook = hook or NullHook()
        self.sched = Scheduler.from_plan(plan, options.limits, options.on_failure)
        self._runs: dict[str, _Run] = {}  # task id or vm moid (shutdown) → run
        self._by_step: dict[int, _Run] = {}  # running steps by id(step)
        self._failed: dict[int, _Run] = {}
        self._interrupts = 0
        self._devices: dict[str, list[Any]] | None = None
        self._moved_mb = 0
        self._relogged = False  # True from a re-login until a call succeeds again
        self.watcher: TaskWatcher | None = None

    # -- public -------------------------------------------------------------

    def run(self) -> ApplyResult:
        """Execute the plan; returns per-change outcomes. Never raises for task faults."""
        t0 = time.monotonic()
        left: list[str] = []
        with _sigint(self._on_sigint), \
                TaskWatcher(self.ctx.content, progress=self.options.progress) as w:
            self.watcher = w
            while True:
                if self._interrupts and not self.sched.stopped:
                    self.sched.stop()
                    self._emit("stopping", message=f"{len(self._by_step)} task(s) still running")
                if self._interrupts >= 2:
                    left = [r.task_id for r in self._by_step.values() if r.task_id]
                    break
                for step in self.sched.take_ready():
                    self._start(step)
                if self.sched.finished:
                    break
                for u in self._wait(w):
                    if u.task is not None:
                        self._on_task(u.task)
                    elif u.power_state is not None:
                        self._on_power(u.obj_id, u.power_state)
                self._check_deadlines()
        result = self._result(time.monotonic() - t0, left)
        if self._interrupts:
            self.journal.write("interrupted", running=left, summary=result.summary())
        else:
            self.journal.write("run_end", summary=result.summary(),
                               elapsed_s=round(result.elapsed_s, 3))
        for r in result.results:
            if r.outcome is Outcome.SKIPPED:
                self._emit("skipped", vm=r.change.vm, action=r.change.action.value,
                           target=r.change.target)
        return result

    # -- sessions -----------------------------------------------------------

    def _with_session(self, call: Callable[[], Any]) -> Any:
        """``call()``; after ``NotAuthenticated``, log in once and call it again.

        vCenter ends idle sessions after 30 minutes, and an admin may end
        one by hand. A refused call did nothing on the server (it failed
        authentication before any work), so calling it again is safe.
        """
        try:
            result = call()
        except vim.fault.NotAuthenticated:
            if self.ctx.relogin is None or self._relogged:
                raise
            self._relogin()
            result = call()
        self._relogged = False
        return result

    def _relogin(self) -> None:
        assert self.ctx.relogin is not None
        self._relogged = True
        self.ctx.relogin()
        self.journal.write("relogin")
        self._emit("warning", message="the vCenter session had ended; logged in again")

    def _wait(self, w: TaskWatcher) -> list[Any]:
        try:
            updates = w.wait(self.options.max_wait_s)
        except vim.fault.NotAuthenticated:
            if self.ctx.relogin is None or self._relogged:
                raise
            self._relogin()
            updates = self._wait_again(w)
        except vmodl.fault.RequestCanceled:
            # A session that ends while a WaitForUpdatesEx is pending cancels the
            # wait rather than failing it NotAuthenticated.
            if self.ctx.check_session is None or self._relogged:
                raise
            if self.ctx.check_session():
                self._relogged = True
                self.journal.write("relogin")
                self._emit("warning", message="the vCenter session had ended; logged in again")
            updates = self._wait_again(w)
        self._relogged = False
        return updates

    def _wait_again(self, w: TaskWatcher) -> list[Any]:
        # A session's private property collectors end with it: start the
        # watcher over; every task it re-adds reports its current state.
        w.reopen()
        return w.wait(self.options.max_wait_s)

    # -- signals ------------------------------------------------------------

    def _on_sigint(self) -> None:
        self._interrupts += 1

    # -- starting -----------------------------------------------------------

    def _start(self, step: Step) -> None:
        vm_inv = self.ctx.inventory.vms.get(step.vm)
        step_id = self.journal.next_step_id()
        self.journal.write("intent", step=step_id, vm=step.vm, kind=step.kind.value,
                           changes=[c.to_json() for c in step.changes],
                           undo=undo_to_json(step.changes[0].vm_moid or None,
                                             undo_state(step, self.ctx.inventory,
                                                        self.ctx.disk_policies)))
        run = _Run(step=step, step_id=step_id, started=time.monotonic(),
                   vm=actions.vm_ref(self.ctx.stub, vm_inv.moid) if vm_inv else None)
        self._by_step[id(step)] = run
        try:
            if vm_inv is None:
                raise PmemctlError(f"VM {step.vm} is not in the inventory")
            task = self._with_session(lambda: self._submit(run))
        except vmodl.MethodFault as e:
            if fault_name(e) in _DONE_FAULTS.get(run.step.kind, ()):
                self._done(run)  # e.g. AlreadyUpgraded: the goal holds
                return
            self._fail(run, fault_name(e), fault_message(e), describe(e).keys)
            return
        except PmemctlError as e:
            self._fail(run, type(e).__name__, str(e))
            return
        if task is None:  # a guest shutdown: no task, wait on the VM's power state
            self._emit_step("started", run, message="guest shutdown requested")
            return
        self._track(run, task)
        self._emit_step("started", run)

    def _track(self, run: _Run, task: Any) -> None:
        assert self.watcher is not None
        run.task_id = self.watcher.add(task)
        self._runs[run.task_id] = run
        self.journal.write("submitted", step=run.step_id, task=run.task_id)

    def _submit(self, run: _Run) -> Any:
        step, vm, ctx = run.step, run.vm, self.ctx
        if step.kind is StepKind.UPGRADE:
            return actions.submit_upgrade(vm, actions.upgrade_version(step.changes[0]))
        if step.kind is StepKind.POWER_ON:
            return actions.submit_power_on(vm)
        if step.kind is StepKind.POWER_OFF:
            return self._power_off(run)
        if step.kind is StepKind.RECONFIGURE:
            devices = self._devices_of(vm._moId)
            spec = actions.reconfigure_spec(step.changes, devices, ctx.pmem_policy_id, ctx.stub)
            return actions.submit_reconfigure(vm, spec)
        devices = self._devices_of(vm._moId) if self._needs_devices(step) else []
        spec = actions.relocate_spec(step.changes, devices, ctx.pmem_policy_id,
                                     onto=self.options.onto_shape, off=self.options.off_profile,
                                     stub=ctx.stub)
        return actions.submit_relocate(vm, spec)

    def _needs_devices(self, step: Step) -> bool:
        # Reconfigures edit live devices; so do migrations onto PMem in the
        # device_change shape (the edit carries the disk as vCenter has it).
        if step.kind is StepKind.RECONFIGURE:
            return True
        return (step.kind is StepKind.MIGRATE and self.options.onto_shape == "device_change"
                and any(isinstance(c.payload, MigrateDisk) and c.payload.to_pmem
                        for c in step.changes))

    def _devices_of(self, moid: str) -> list[Any]:
        if self._devices is None:
            # One RetrievePropertiesEx for every VM whose devices this run edits.
            moids = sorted({s.changes[0].vm_moid for s in self.sched.steps
                            if self._needs_devices(s) and s.changes[0].vm_moid})
            self._devices = actions.fetch_devices(self.ctx.content, moids)
        return self._devices.get(moid, [])

    def _power_off(self, run: _Run) -> Any:
        p = run.step.changes[0].payload
        assert isinstance(p, PowerOff)
        # The planner chose the method: a guest shutdown needs running VMware Tools.
        if p.method == "guest" and actions.request_guest_shutdown(run.vm) is None:
            assert self.watcher is not None
            timeout = p.timeout_s
            run.shutdown_deadline = time.monotonic() + timeout
            self._runs[str(run.vm._moId)] = run
            self.watcher.add(run.vm)
            self.journal.write("shutdown_requested", step=run.step_id, timeout_s=timeout)
            return None
        return actions.submit_power_off(run.vm)

    # -- progress -----------------------------------------------------------

    def _on_task(self, ts: TaskState) -> None:
        run = self._runs.get(ts.id)
        if run is None:
            return
        if not ts.finished:
            if ts.progress is not None and ts.progress != run.progress:
                run.progress = ts.progress
                self._emit_step("progress", run)
            return
        del self._runs[ts.id]
        if ts.state == "success" or fault_name(ts.error) in _DONE_FAULTS.get(run.step.kind, ()):
            self._done(run)
        else:
            self._fail(run, fault_name(ts.error), fault_message(ts.error),
                       describe(ts.error).keys)

    def _on_power(self, vm_moid: str, state: str) -> None:
        run = self._runs.get(vm_moid)
        if run is None or run.shutdown_deadline is None:
            return
        if state == "poweredOff":
            del self._runs[vm_moid]
            assert self.watcher is not None
            self.watcher.discard(run.vm)
            self._done(run)

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        for key, run in list(self._runs.items()):
            if run.shutdown_deadline is not None and now >= run.shutdown_deadline:
                # The guest did not shut down in time: a hard power off, as documented.
                del self._runs[key]
                run.shutdown_deadline = None
                assert self.watcher is not None
                self.watcher.discard(run.vm)
                self._emit_step("progress", run, message="guest shutdown timed out; powering off")
                try:
                    task = actions.submit_power_off(run.vm)
                except vmodl.MethodFault as e:
                    self._fail(run, fault_name(e), fault_message(e))
                    continue
                self._track(run, task)

    def _done(self, run: _Run) -> None:
        elapsed = time.monotonic() - run.started
        extra: dict[str, Any] = {}
        if run.step.kind is StepKind.RECONFIGURE:
            created = self._read_created(run)
            if created is not None:
                extra["created"] = [c.to_json() for c in created]
        self.journal.write("done", step=run.step_id, task=run.task_id,
                           elapsed_s=round(elapsed, 3), **extra)
        self._moved_mb += run.step.size_mb
        self._by_step.pop(id(run.step), None)
        self.sched.finish(run.step, ok=True)
        self._emit_step("done", run, elapsed=elapsed)

    def _read_created(self, run: _Run) -> tuple[CreatedDevice, ...] | None:
        """The devices a reconfigure added, read back so rollback never has to guess.

        One RetrievePropertiesEx. A failed read journals no list (rollback
        then compares device keys with those before the step, as format 1
        journals need), and never fails the step, which is done.
        """
        moid = run.step.changes[0].vm_moid
        before = self._devices_of(moid) if moid else []
        try:
            after = self._with_session(
                lambda: actions.fetch_devices(self.ctx.content, [moid]).get(moid))
        except Exception:  # best effort: the step succeeded on vCenter either way
            return None
        if after is None:
            return None
        assert self._devices is not None
        self._devices[moid] = after  # later steps of this VM edit the devices as they are now
        return created_devices(before, after)

    def _fail(self, run: _Run, fault: str, message: str,
              fault_keys: tuple[str, ...] = ()) -> None:
        elapsed = time.monotonic() - run.started
        run.fault, run.message = fault, message
        extra = {"fault_keys": list(fault_keys)} if fault_keys else {}
        self.journal.write("failed", step=run.step_id, task=run.task_id, fault=fault,
                           message=message, **extra)
        self._by_step.pop(id(run.step), None)
        self._failed[id(run.step)] = run
        self.sched.finish(run.step, ok=False)
        self._emit_step("failed", run, elapsed=elapsed)

    # -- events and results -------------------------------------------------

    def _emit(self, kind: str, **kw: Any) -> None:
        # A display bug must never stop an apply half-way.
        with contextlib.suppress(Exception):
            self.hook.event(Event(kind=kind, time=time.time(), **kw))

    def _emit_step(self, kind: str, run: _Run, elapsed: float | None = None,
                   message: str | None = None) -> None:
        self._emit(kind, vm=run.step.vm, action=run.step.label, target=run.step.target,
                   task=run.task_id, elapsed_s=elapsed, progress=run.progress,
                   fault=run.fault, message=message or run.message, size_mb=run.step.size_mb,
                   changes=len(run.step.changes))

    def _result(self, elapsed: float, left: list[str]) -> ApplyResult:
        res = ApplyResult(elapsed_s=elapsed, interrupted=bool(self._interrupts),
                          left_running=left, moved_mb=self._moved_mb)
        for step in self.sched.steps:
            run = self._failed.get(id(step)) or self._by_step.get(id(step))
            for c in step.changes:
                res.results.append(ChangeResult(
                    change=c, outcome=step.outcome, task=run.task_id if run else None,
                    fault=run.fault if run else None, message=run.message if run else None))
        return res


@contextmanager
def _sigint(callback: Callable[[], None]) -> Iterator[None]:
    """Route SIGINT to ``callback`` instead of KeyboardInterrupt (main thread only).

    A KeyboardInterrupt raised in the middle of a SOAP call or a journal
    write could lose the task id of a submitted task; a flag checked by the
    loop cannot.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        callback()

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def needs_pmem_policy(plan: Plan) -> bool:
    """True when some change attaches the PMem policy (NVDIMM add, vPMemDisk, onto PMem)."""
    return any(
        isinstance(c.payload, AddNvdimm)
        or (isinstance(c.payload, CreateDisk) and c.payload.pmem)
        or (isinstance(c.payload, MigrateDisk) and c.payload.to_pmem)
        for c in plan.changes
    )


def exec_context(conn: Any, plan: Plan, inventory: Inventory) -> ExecContext:
    """Look up what the specs need from PBM, only when the plan needs it.

    PBM trouble never aborts: the PMem policy id falls back to the fixed
    system id (the same on every vCenter seen: community.vmware,
    Dell's Puppet provider, govmomi's PBM simulator) and the disks' current
    policies to none, each with a warning in :attr:`ExecContext.warnings`.

    Side Effects:
        PBM calls: the PMem policy id when the plan attaches it; the current
        policies of the disks that migrate (journaled for rollback).
    """
    policy = inventory.pmem_policy_id
    warnings: list[str] = []
    if needs_pmem_policy(plan):
        try:
            policy = find_pmem_policy_id(conn)
        except PmemctlError as e:
            warnings.append(f"{e}; using the fixed PMem policy id {policy}")
        except Exception as e:  # PBM is a second endpoint: any transport or vmodl fault
            warnings.append(f"PBM (storage policies) did not answer ({_short(e)}); using the "
                            f"fixed PMem policy id {policy}")
    # The disks' current policies, for the journal's undo state (rollback restores them).
    pairs = sorted({(c.vm_moid, c.payload.disk_key) for c in plan.changes
                    if isinstance(c.payload, MigrateDisk) and c.vm_moid
                    and not c.payload.rollback})
    policies = actions.disk_policies(conn, pairs) if pairs else {}
    if policies is None:
        warnings.append("PBM did not report the disks' current storage policies; a rollback "
                        "will give disks it moves back the target datastore's default policy")
    return ExecContext(content=conn.content, inventory=inventory, pmem_policy_id=policy,
                       disk_policies=policies or {}, warnings=warnings)


def _short(e: BaseException) -> str:
    if isinstance(e, vmodl.MethodFault):
        return fault_name(e)
    return f"{type(e).__name__}: {e}"[:200]


def apply_plan(conn: Any, plan: Plan, inventory: Inventory, options: ExecOptions, *,
               journal: Journal, hook: Hook | None = None,
               ctx: ExecContext | None = None) -> ApplyResult:
    """Library entry point: execute ``plan`` (already shown and confirmed).

    The caller has written ``run_start`` to ``journal``; this writes the
    ``plan`` record, every step record and ``run_end`` (or ``interrupted``).
    ``ctx`` is :func:`exec_context`'s answer when the caller already asked
    (to show its warnings with the plan); otherwise it is looked up here.
    """
    journal.write("plan", plan_fingerprint=inventory.fingerprint(sorted({c.vm for c in
                                                                          plan.changes})),
                  changes=len(plan.changes), vms=sorted({c.vm for c in plan.changes}))
    if ctx is None:
        ctx = exec_context(conn, plan, inventory)
    return Executor(ctx, plan, options, journal, hook).run()
