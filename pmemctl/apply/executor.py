"""Run a Plan against vCenter: one thread, many tasks, one property filter.

The loop::

    while work remains:
        for each step the scheduler allows:  journal intent → submit → journal task id
        wait ≤ 1 s on the TaskWatcher        (WaitForUpdatesEx on one filter)
        for each finished task:              journal outcome → advance that VM's job

One thread is enough because vCenter (and pmemsim) run tasks asynchronously:
a submit returns the task at once, and a single WaitForUpdatesEx reports
every task. It also keeps pyVmomi's stub, which is not safe to share
carelessly between threads, on one thread. vCenter is reached only through
the :class:`~pmemctl.vsphere.api.VSphere` protocol, so the same loop runs on
:class:`pmemctl.testing.FakeVSphere` in fake time. The 1 s wait keeps Ctrl-C and
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
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from pmemctl.apply.events import Event, Hook, NullHook
from pmemctl.apply.journal import Journal, JournalWriteError
from pmemctl.apply.records import (
    TASK_DESCRIPTION_IDS,
    CreatedDevice,
    DiskUndo,
    MigrateUndo,
    PowerUndo,
    ReconfigureUndo,
    Undo,
    UpgradeUndo,
    iso_time,
    undo_to_json,
)
from pmemctl.apply.scheduler import Limits, Outcome, Scheduler, Step, StepKind
from pmemctl.errors import PmemctlError
from pmemctl.inventory.model import OWED_POWER_ON_FIELD, Inventory
from pmemctl.plan.model import Change, Plan
from pmemctl.plan.payloads import AddNvdimm, CreateDisk, MigrateDisk, PowerOff, PowerOn
from pmemctl.plan.power import describe_power_off
from pmemctl.spec.model import OnFailure
from pmemctl.vsphere.actions import OffProfile, OntoShape, upgrade_version
from pmemctl.vsphere.api import DeviceInfo, VSphere, VSphereFault, Watcher
from pmemctl.vsphere.faults import FaultReport
from pmemctl.vsphere.retry import SIGNALS, Cancelled, LostReply, NetworkError
from pmemctl.vsphere.tasks import TaskState, Update

#: Seconds without any update while tasks run before their states are read directly.
QUIET_POLL_S = 10.0

#: Faults that mean the step's goal already holds (UpgradeVM on a VM at that version).
_DONE_FAULTS = {StepKind.UPGRADE: {"AlreadyUpgraded"}}
# A power operation refused because the VM is already in the state it asks for
# has reached its goal: after a kill, the killed run's guest shutdown may land
# between the resume's snapshot and its PowerOffVM_Task.
_DONE_POWER_STATE = {StepKind.POWER_OFF: "poweredOff", StepKind.POWER_ON: "poweredOn"}


def _goal_holds(kind: StepKind, report: FaultReport) -> bool:
    """True when ``report`` refused a step whose goal already holds (see _DONE_FAULTS)."""
    if report.name in _DONE_FAULTS.get(kind, ()):
        return True
    return (report.name == "InvalidPowerState" and kind in _DONE_POWER_STATE
            and report.existing_state == _DONE_POWER_STATE[kind])


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
    # VMs this run powered off that it did not power back on → why (the report says).
    still_off: dict[str, str] = field(default_factory=dict)

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

    vsphere: VSphere
    inventory: Inventory
    pmem_policy_id: str
    disk_policies: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # PBM fallbacks, shown with the plan
    # Logs in again after NotAuthenticated (session expired or terminated); None: never.
    relogin: Callable[[], None] | None = None
    # Checks the session and logs in again when it ended; True when it had to.
    check_session: Callable[[], bool] | None = None


@dataclass
class _Run:
    step: Step
    step_id: str
    started: float
    vm_moid: str
    task_id: str | None = None
    shutdown_deadline: float | None = None
    tools_deadline: float | None = None  # powered on, waiting for VMware Tools
    powered_on_at: float | None = None
    progress: int | None = None
    fault: str | None = None
    message: str | None = None
    seen: bool = False  # the task's queue time is journaled (task_seen)


def undo_state(step: Step, inventory: Inventory,
               disk_policies: dict[tuple[str, int], list[str]] | None = None) -> Undo | None:
    """The state needed to undo a step, captured before it runs (journaled with the intent).

    It comes from the snapshot the plan was made from (and, for disks, the
    policies PBM reported), so a rollback can put things back as they were.
    """
    vm = inventory.vms.get(step.vm)
    if vm is None:
        return None
    if step.kind in (StepKind.MIGRATE, StepKind.MOVE):
        files = {d.key: d.file_name for d in vm.disks}
        disks = []
        for c in step.changes:
            p = c.payload
            if not isinstance(p, MigrateDisk):
                continue  # a migrate_vm: rollback reads the hosts from the change itself
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


def created_devices(before: Sequence[DeviceInfo],
                    after: Sequence[DeviceInfo]) -> tuple[CreatedDevice, ...]:
    """The NVDIMMs and disks in ``after`` whose keys ``before`` did not have."""
    known = {d.key for d in before}
    return tuple(CreatedDevice(d.kind, d.key, d.label, d.size_mb) for d in after
                 if d.key not in known and d.kind in ("nvdimm", "disk"))


class Executor:
    """Runs one plan; create a new one per run."""

    def __init__(self, ctx: ExecContext, plan: Plan, options: ExecOptions,
                 journal: Journal, hook: Hook | None = None) -> None:
        self.ctx = ctx
        self.vs = ctx.vsphere
        self.clock = ctx.vsphere.clock
        self.plan = plan
        self.options = options
        self.journal = journal
        self.hook: Hook = hook or NullHook()
        self.sched = Scheduler.from_plan(plan, options.limits, options.on_failure)
        self._runs: dict[str, _Run] = {}  # task id or vm moid (shutdown) → run
        self._by_step: dict[int, _Run] = {}  # running steps by id(step)
        self._failed: dict[int, _Run] = {}
        self._interrupts = 0
        self._devices: dict[str, list[DeviceInfo]] | None = None
        self._moved_mb = 0
        self._relogged = False  # True from a re-login until a call succeeds again
        self._last_heard = 0.0  # clock time of the watcher's last update
        self._marked: set[str] = set()  # VMs this run marked as owed a power-on
        self.watcher: Watcher | None = None

    # -- public -------------------------------------------------------------

    def run(self) -> ApplyResult:
        """Execute the plan; returns per-change outcomes. Never raises for task faults."""
        t0 = self._last_heard = self.clock.monotonic()
        left: list[str] = []
        w = self.vs.watch(progress=self.options.progress)
        self.watcher = w
        with _sigint(self.interrupt), contextlib.closing(w):
            try:
                left = self._loop(w)
            except JournalWriteError as e:
                # The disk under the journal is full (or failing): nothing new may
                # start, since nothing new could be recorded; VMs this run shut
                # down must not stay off because of it.
                raise self._journal_lost(w, e) from None
            except NetworkError as e:
                # vCenter is gone (the retries are spent, or it went silent):
                # nothing more can be done or learnt; say what is done.
                raise self._network_lost(e) from None
            except Cancelled:
                # Ctrl-C ended a retry's wait or a read vCenter did not answer:
                # as a second Ctrl-C, the running tasks are journaled and reported.
                self._interrupts = max(self._interrupts, 2)
                left = sorted(r.task_id for r in self._by_step.values() if r.task_id)
            finally:
                SIGNALS.cancel = False
        result = self._result(self.clock.monotonic() - t0, left)
        if self._interrupts:
            self.journal.write("interrupted", running=left, summary=result.summary())
        else:
            self.journal.write("run_end", summary=result.summary(),
                               elapsed_s=round(result.elapsed_s, 3))
        for r in result.results:
            if r.outcome is Outcome.SKIPPED:
                self._emit("skipped", vm=r.change.vm, action=r.change.action.value,
                           target=r.change.target, message=r.message)
        return result

    def _loop(self, w: Watcher) -> list[str]:
        """Submit and wait until the plan is done; the task ids left running on a second Ctrl-C."""
        while True:
            # Ctrl-C also ends the power-ons a stop by failure still submits.
            if self._interrupts and (not self.sched.stopped or self.sched.power_back):
                self.sched.stop()
                self._emit("stopping", message=f"{len(self._by_step)} task(s) still running")
            if self._interrupts >= 2:
                return [r.task_id for r in self._by_step.values() if r.task_id]
            for step in self.sched.take_ready():
                self._start(step)
            if self.sched.finished:
                return []
            updates = self._wait(w)
            for u in updates:
                if u.task is not None:
                    self._on_task(u.task)
                else:
                    self._on_vm(u)
            self._poll_if_quiet(bool(updates))
            self._check_deadlines()

    def _poll_if_quiet(self, heard: bool) -> None:
        """Read the running tasks' states directly when the watcher has been quiet a while.

        An update can be lost on the way (a reply cut by a reset connection, a
        retried WaitForUpdatesEx): a task that finished would then be waited
        for forever. One RetrievePropertiesEx every ``QUIET_POLL_S`` of silence
        is the insurance.
        """
        now = self.clock.monotonic()
        if heard:
            self._last_heard = now
            return
        running = sorted(t for t, r in self._runs.items() if r.task_id == t)
        if not running or now - self._last_heard < QUIET_POLL_S:
            return
        self._last_heard = now
        for ts in self.vs.task_states(running).values():
            if ts.finished:
                self._on_task(ts)

    def _powered_off_by_this_run(self) -> list[Step]:
        """The power-on steps still owed to VMs whose power-off this run completed."""
        owed = []
        by_vm: dict[str, dict[StepKind, Step]] = {}
        for step in self.sched.steps:
            by_vm.setdefault(step.vm, {})[step.kind] = step
        for steps in by_vm.values():
            off, on = steps.get(StepKind.POWER_OFF), steps.get(StepKind.POWER_ON)
            if off is not None and off.outcome is Outcome.DONE and on is not None \
                    and on.outcome is not Outcome.DONE:
                owed.append(on)
        return owed

    def _still_off(self) -> dict[str, str]:
        """Why each VM this run powered off is still off (the marker stays on it)."""
        out: dict[str, str] = {}
        for job in self.sched.jobs:
            on = next((s for s in job.steps if s.kind is StepKind.POWER_ON), None)
            if not job.powered_off_by_us or (on is not None and on.outcome is Outcome.DONE):
                continue
            failed = next((s for s in job.steps if s.outcome is Outcome.FAILED), None)
            run = self._failed.get(id(failed)) if failed is not None else None
            if failed is not None and failed is on and run is not None \
                    and run.fault == "ToolsTimeout":
                continue  # powered on; only its guest is not back (the failure says so)
            if failed is not None and failed is on:
                why = f"its power-on failed ({run.fault if run else 'error'})"
            elif failed is not None:
                why = (f"its own {failed.label} failed ({run.fault if run else 'error'}); fix "
                       "that and run apply again, or power it on by hand")
            elif on is None:
                why = "the plan powers it off and not on"
            elif self._interrupts:
                why = "interrupted before its power-on; run apply again to power it on"
            else:
                why = "its power-on did not start"
            out[job.vm] = why
        return out

    def _journal_lost(self, w: Watcher, error: JournalWriteError) -> JournalWriteError:
        """Stop, power back on the VMs this run shut down, and say which; nothing is journaled.

        The power-ons are submitted without journal records (they could not be
        written); vCenter queues each behind the tasks still running on its VM.
        Returns the error to raise, its message extended with what was done.
        """
        self.sched.stop()
        self._emit("stopping", message=f"the journal cannot be written ({error}); no new "
                                       "work; powering back on the VMs this run shut down")
        tasks: dict[str, str] = {}
        failed: list[str] = []
        for step in self._powered_off_by_this_run():
            moid = step.changes[0].vm_moid
            try:
                task = self.vs.power_on(moid)
            except VSphereFault:
                failed.append(step.vm)
                continue
            w.add_task(task)
            tasks[task] = step.vm
        on: list[str] = []
        if tasks:
            states = w.wait_all(set(tasks), self.options.max_wait_s)
            for tid, vm in sorted(tasks.items(), key=lambda kv: kv[1]):
                ts = states.get(tid)
                (on if ts is not None and ts.state == "success" else failed).append(vm)
        moids = {s.vm: s.changes[0].vm_moid for s in self.sched.steps}
        for vm in on:
            # A marker left set would power the VM on again in a later run.
            with contextlib.suppress(VSphereFault):
                self.vs.set_owed_power_on(moids[vm], "")
        for vm in on:
            self._emit("done", vm=vm, action="power_on", target=vm,
                       message="powered back on (not journaled)")
        parts = [str(error)]
        if on:
            parts.append("powered back on: " + ", ".join(on))
        if failed:
            parts.append("STILL POWERED OFF (power them on by hand): " + ", ".join(sorted(failed)))
        out = JournalWriteError("; ".join(parts), path=error.path,
                                record_type=error.record_type, errno_=error.errno)
        out.powered_on, out.still_off = tuple(on), tuple(sorted(failed))
        return out

    def _network_lost(self, error: NetworkError) -> NetworkError:
        """The error that ends a run vCenter stopped answering: what happened, what is
        done, what to do. Journals the tasks left running (best effort: the disk may be
        fine while the network is not), as a second Ctrl-C does."""
        running = sorted(r.task_id for r in self._by_step.values() if r.task_id)
        with contextlib.suppress(JournalWriteError):
            self.journal.write("interrupted", running=running, network=str(error))
        done = sum(1 for s in self.sched.steps if s.outcome is Outcome.DONE)
        failed = sum(1 for s in self.sched.steps if s.outcome is Outcome.FAILED)
        parts = [str(error), f"done in this run: {done} of {len(list(self.sched.steps))} step(s)"
                 + (f", {failed} failed" if failed else "")]
        if running:
            parts.append("still running on vCenter, not waited for: " + ", ".join(running))
        parts.append("run apply again to resume: it waits for running tasks and finds a task "
                     "whose reply was lost in the VM's recentTask, never submitting it twice")
        out = NetworkError("; ".join(parts), cause=error.cause, method=error.method)
        out.complete = True
        return out

    # -- sessions -----------------------------------------------------------

    def _with_session(self, call: Callable[[], Any]) -> Any:
        """``call()``; after ``NotAuthenticated``, log in once and call it again.

        vCenter ends idle sessions after 30 minutes, and an admin may end
        one by hand. A refused call did nothing on the server (it failed
        authentication before any work), so calling it again is safe.
        """
        try:
            result = call()
        except VSphereFault as e:
            if e.name != "NotAuthenticated" or self.ctx.relogin is None or self._relogged:
                raise
            self._relogin()
            result = call()
        self._relogged = False
        return result

    def _relogin(self) -> None:
        assert self.ctx.relogin is not None
        self._relogged = True
        self.ctx.relogin()
        self._after_relogin()

    def _after_relogin(self) -> None:
        self.journal.write("relogin")
        self._emit("warning", message="the vCenter session had ended; logged in again")
        # A session's private property collectors end with it (whether a submit
        # or a wait found out): start the watcher over; every task it re-adds
        # reports its current state.
        if self.watcher is not None:
            self._reopen(self.watcher)

    def _reopen(self, w: Watcher) -> None:
        """Start the watcher over; a step whose task vCenter forgot ends, for the re-plan."""
        for task in sorted(w.reopen()):
            run = self._runs.pop(task, None)
            if run is not None:
                # A restarted vCenter forgets its tasks: whether this one's work
                # happened is for the next plan to see, never for a re-submit.
                self._fail(run, "TaskLost",
                           f"vCenter no longer knows {task} (it restarted?); the next run "
                           "re-plans from what is there: run apply again")

    def _wait(self, w: Watcher) -> list[Update]:
        try:
            updates = w.wait(self.options.max_wait_s)
        except VSphereFault as e:
            if e.name == "NotAuthenticated":
                if self.ctx.relogin is None or self._relogged:
                    raise
                self._relogin()
            elif e.name in ("RequestCanceled", "ManagedObjectNotFound"):
                # A session that ends while a WaitForUpdatesEx is pending cancels
                # the wait rather than failing it NotAuthenticated; after a vCenter
                # restart the watcher's private collector no longer exists at all.
                # Either way: check the session, then start the watcher over.
                if self.ctx.check_session is None or self._relogged:
                    raise
                if self.ctx.check_session():
                    self._relogged = True
                    self._after_relogin()
                else:
                    self._reopen(w)  # someone cancelled our wait: its collector may be gone
            else:
                raise
            updates = w.wait(self.options.max_wait_s)
        self._relogged = False
        return updates

    # -- signals ------------------------------------------------------------

    def interrupt(self) -> None:
        """What Ctrl-C does (SIGINT is routed here during :meth:`run`).

        Once: submit nothing new, wait for running tasks. Twice: stop waiting.
        Safe from a signal handler: it only counts; the loop acts on it. It
        also ends a wait to retry a network call at once; and a second one
        abandons a read vCenter is not answering (a submit is always let
        finish: its reply holds the task id, bounded by ``--timeout``).
        """
        self._interrupts += 1
        SIGNALS.cancel = True
        if self._interrupts >= 2 and SIGNALS.reading:
            raise Cancelled("interrupted while vCenter did not answer")

    # -- starting -----------------------------------------------------------

    def _start(self, step: Step) -> None:
        vm_inv = self.ctx.inventory.vms.get(step.vm)
        step_id = self.journal.next_step_id()
        self.journal.write("intent", step=step_id, vm=step.vm, kind=step.kind.value,
                           changes=[c.to_json() for c in step.changes],
                           undo=undo_to_json(step.changes[0].vm_moid or None,
                                             undo_state(step, self.ctx.inventory,
                                                        self.ctx.disk_policies)))
        run = _Run(step=step, step_id=step_id, started=self.clock.monotonic(),
                   vm_moid=vm_inv.moid if vm_inv else "")
        self._by_step[id(step)] = run
        try:
            if vm_inv is None:
                raise PmemctlError(f"VM {step.vm} is not in the inventory")
            task = self._with_session(lambda: self._submit(run))
        except LostReply as e:
            # Sent, reply lost: the task may run. Never send it again; the intent
            # is journaled, so the next run finds the task in the VM's recentTask.
            raise LostReply(f"the reply to {e.method} for VM {step.vm} was lost ({e.cause}); "
                            "the task may be running", cause=e.cause, method=e.method,
                            original=e.original) from None
        except NetworkError:
            raise  # not a fault of this step: the run ends (see run())
        except VSphereFault as e:
            if _goal_holds(run.step.kind, e.report):
                # e.g. AlreadyUpgraded: the goal holds. A VM found on already
                # still has its Tools waited for, as after its own power-on.
                if not self._await_tools(run):
                    self._done(run)
                return
            self._fail_report(run, e.report)
            return
        except PmemctlError as e:
            self._fail(run, type(e).__name__, str(e))
            return
        # The progress says how the VM goes down, as the plan did.
        p = step.changes[0].payload
        how = describe_power_off(p) if isinstance(p, PowerOff) else None
        if task is None:  # a guest shutdown: no task, wait on the VM's power state
            self._emit_step("started", run, message=how)
            return
        self._track(run, task)
        if isinstance(p, PowerOff) and p.method == "guest":
            how = "guest shutdown refused (VMware Tools not running); powering off"
        self._emit_step("started", run, message=how)

    def _track(self, run: _Run, task: str) -> None:
        assert self.watcher is not None
        self.watcher.add_task(task)
        run.task_id = task
        self._runs[task] = run
        # The VM and the descriptionId, with the queue time once the watcher
        # reports it (task_seen), let a resumed run tell this task from one
        # that got the same id from a restarted vCenter.
        desc = TASK_DESCRIPTION_IDS.get(run.step.kind.value, (None,))[0]
        self.journal.write("submitted", step=run.step_id, task=run.task_id,
                           vm_moid=run.vm_moid or None, description_id=desc)

    def _submit(self, run: _Run) -> str | None:
        step, vm, ctx = run.step, run.vm_moid, self.ctx
        if step.kind is StepKind.UPGRADE:
            return self.vs.upgrade(vm, upgrade_version(step.changes[0]))
        if step.kind is StepKind.POWER_ON:
            return self.vs.power_on(vm)
        if step.kind is StepKind.POWER_OFF:
            self._mark_owed(run)
            return self._power_off(run)
        if self._needs_devices(step):
            self._devices_of(vm)  # the specs edit the devices as vCenter has them
        if step.kind is StepKind.RECONFIGURE:
            return self.vs.reconfigure(vm, step.changes, ctx.pmem_policy_id)
        return self.vs.relocate(vm, step.changes, ctx.pmem_policy_id,
                                onto=self.options.onto_shape, off=self.options.off_profile)

    def _needs_devices(self, step: Step) -> bool:
        # Reconfigures edit live devices; migrations check that each disk is still
        # the one the plan saw (key and backing), and the device_change shape
        # edits the disk as vCenter has it. One read for the whole run.
        return step.kind in (StepKind.RECONFIGURE, StepKind.MIGRATE)

    def _devices_of(self, moid: str) -> list[DeviceInfo]:
        if self._devices is None:
            # One RetrievePropertiesEx for every VM whose devices this run edits.
            moids = sorted({s.changes[0].vm_moid for s in self.sched.steps
                            if self._needs_devices(s) and s.changes[0].vm_moid})
            self._devices = self.vs.read_devices(moids)
        return self._devices.get(moid, [])

    def _mark_owed(self, run: _Run) -> None:
        """Record on the VM itself, BEFORE powering it off, that pmemctl owes it a power-on.

        The journal alone is not enough: a later run with another journal path
        would not know. The custom field lives in vCenter, so any later
        ``plan``, ``apply`` or ``rollback`` reads it in its snapshot. The journal
        record comes first, so a kill between the two leaves a trace either way.
        A VM that cannot be marked is not powered off (the step fails).
        """
        value = f"{self.journal.run_id} {self.journal.path.resolve()}"
        self.journal.write("owed_marked", step=run.step_id, vm=run.step.vm, value=value)
        try:
            self.vs.set_owed_power_on(run.vm_moid, value)
            self._marked.add(run.step.vm)
        except VSphereFault as e:
            if e.name == "NotAuthenticated":
                raise  # _with_session logs in again and retries the whole submit
            raise PmemctlError(
                f"not powered off: pmemctl could not record on the VM that it owes it a "
                f"power-on (custom field {OWED_POWER_ON_FIELD}: {e.report.text()}); the "
                "user needs the Global.SetCustomValue privilege") from e

    def _clear_owed(self, run: _Run) -> None:
        """The power-on succeeded: the VM owes nothing any more (best effort, warned)."""
        vm = self.ctx.inventory.vms.get(run.step.vm)
        if run.step.vm not in self._marked and not (vm and vm.owed_power_on):
            return  # nothing to clear: spare the call
        try:
            self._with_session(lambda: self.vs.set_owed_power_on(run.vm_moid, ""))
        except VSphereFault as e:
            self._emit("warning", vm=run.step.vm,
                       message=f"powered on, but the marker {OWED_POWER_ON_FIELD} could not be "
                               f"cleared ({e.name}); a later run that finds this VM off will "
                               "power it on; clear the custom attribute in the vSphere Client")
            return
        self.journal.write("owed_cleared", step=run.step_id, vm=run.step.vm)

    def _power_off(self, run: _Run) -> str | None:
        p = run.step.changes[0].payload
        assert isinstance(p, PowerOff)
        # The planner chose the method: a guest shutdown needs running VMware Tools.
        if p.method == "guest" and self.vs.shutdown_guest(run.vm_moid) is None:
            assert self.watcher is not None
            timeout = p.timeout_s
            run.shutdown_deadline = self.clock.monotonic() + timeout
            self._runs[run.vm_moid] = run
            self.watcher.add_vm(run.vm_moid)
            self.journal.write("shutdown_requested", step=run.step_id, timeout_s=timeout)
            return None
        return self.vs.power_off(run.vm_moid)

    # -- progress -----------------------------------------------------------

    def _on_task(self, ts: TaskState) -> None:
        run = self._runs.get(ts.id)
        if run is None:
            return
        if not ts.finished:
            if not run.seen and ts.queue_time is not None:
                run.seen = True
                self.journal.write("task_seen", step=run.step_id, task=ts.id,
                                   queue_time=iso_time(ts.queue_time))
            if ts.progress is not None and ts.progress != run.progress:
                run.progress = ts.progress
                self._emit_step("progress", run)
            return
        del self._runs[ts.id]
        if ts.state == "success" or _goal_holds(run.step.kind, ts.report):
            if self._await_tools(run):  # a VM found on already counts as powered on here
                return
            self._done(run)
        else:
            self._fail_report(run, ts.report)

    def _await_tools(self, run: _Run) -> bool:
        """After a power-on the plan wants Tools for: wait for them (True), else False.

        The step, and with it the VM's slot under ``parallel.down``, ends only
        once the guest reports ``guestToolsRunning``: a rolling change takes the
        next VM down only when this one is back, not merely powered on.
        """
        p = run.step.changes[0].payload
        if run.step.kind is not StepKind.POWER_ON or not isinstance(p, PowerOn) \
                or not p.wait_tools or self.watcher is None:
            return False
        now = self.clock.monotonic()
        run.powered_on_at, run.tools_deadline = now, now + p.tools_timeout_s
        self._runs[run.vm_moid] = run
        self.watcher.add_vm(run.vm_moid)  # its first update says where Tools are now
        self.journal.write("powered_on", step=run.step_id, task=run.task_id,
                           tools_timeout_s=p.tools_timeout_s)
        self._emit_step("progress", run, message="powered on; waiting for VMware Tools "
                                                 f"(timeout {p.tools_timeout_s} s)")
        return True

    def _on_vm(self, u: Update) -> None:
        run = self._runs.get(u.obj_id)
        if run is None:
            return
        if run.tools_deadline is not None:
            if u.tools == "guestToolsRunning":
                del self._runs[u.obj_id]
                run.tools_deadline = None
                assert self.watcher is not None
                self.watcher.discard_vm(u.obj_id)
                self._done(run)
            return
        if u.power_state is not None:
            self._on_power(u.obj_id, u.power_state)

    def _tools_timed_out(self, run: _Run) -> None:
        """The guest never reported Tools running: fail the power-on (the VM is on)."""
        p = run.step.changes[0].payload
        assert isinstance(p, PowerOn)
        run.tools_deadline = None
        assert self.watcher is not None
        self.watcher.discard_vm(run.vm_moid)
        self._clear_owed(run)  # powered on: the VM owes nothing, whatever its guest does
        self._fail(run, "ToolsTimeout",
                   f"VM {run.step.vm} is powered on, but VMware Tools did not report running "
                   f"within {p.tools_timeout_s} s (guest.toolsRunningStatus): the guest may "
                   "not have booted; check its console. pmemctl counts it as still down "
                   "(no other VM takes its place under parallel.down); raise "
                   "options.tools_timeout_s for slow guests")

    def _on_power(self, vm_moid: str, state: str) -> None:
        run = self._runs.get(vm_moid)
        if run is None or run.shutdown_deadline is None:
            return
        if state == "poweredOff":
            del self._runs[vm_moid]
            assert self.watcher is not None
            self.watcher.discard_vm(vm_moid)
            self._done(run)

    def _check_deadlines(self) -> None:
        now = self.clock.monotonic()
        for key, run in list(self._runs.items()):
            if run.tools_deadline is not None and now >= run.tools_deadline:
                del self._runs[key]
                self._tools_timed_out(run)
                continue
            if run.shutdown_deadline is not None and now >= run.shutdown_deadline:
                # The guest did not shut down in time: a hard power off, as documented.
                del self._runs[key]
                run.shutdown_deadline = None
                assert self.watcher is not None
                self.watcher.discard_vm(run.vm_moid)
                self._emit_step("progress", run, message="guest shutdown timed out; powering off")
                try:
                    task = self.vs.power_off(run.vm_moid)
                except VSphereFault as e:
                    if _goal_holds(run.step.kind, e.report):
                        self._done(run)  # the guest went down after all
                    else:
                        self._fail(run, e.report.name, e.report.text())
                    continue
                self._track(run, task)

    def _done(self, run: _Run) -> None:
        elapsed = self.clock.monotonic() - run.started
        extra: dict[str, Any] = {}
        if run.step.kind is StepKind.RECONFIGURE:
            created = self._read_created(run)
            if created is not None:
                extra["created"] = [c.to_json() for c in created]
        if run.powered_on_at is not None:
            extra["tools_s"] = round(self.clock.monotonic() - run.powered_on_at, 3)
        self.journal.write("done", step=run.step_id, task=run.task_id,
                           elapsed_s=round(elapsed, 3), **extra)
        if run.step.kind is StepKind.POWER_ON:
            self._clear_owed(run)
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
            after = self._with_session(lambda: self.vs.read_devices([moid]).get(moid))
        except Exception:  # best effort: the step succeeded on vCenter either way
            return None
        if after is None:
            return None
        assert self._devices is not None
        self._devices[moid] = after  # later steps of this VM edit the devices as they are now
        return created_devices(before, after)

    def _fail_report(self, run: _Run, report: FaultReport) -> None:
        self._fail(run, report.name, report.text(), report.keys)

    def _fail(self, run: _Run, fault: str, message: str,
              fault_keys: tuple[str, ...] = ()) -> None:
        elapsed = self.clock.monotonic() - run.started
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
            self.hook.event(Event(kind=kind, time=self.clock.time(), **kw))

    def _emit_step(self, kind: str, run: _Run, elapsed: float | None = None,
                   message: str | None = None) -> None:
        self._emit(kind, vm=run.step.vm, action=run.step.label, target=run.step.target,
                   task=run.task_id, elapsed_s=elapsed, progress=run.progress,
                   fault=run.fault, message=message or run.message, size_mb=run.step.size_mb,
                   changes=len(run.step.changes))

    def _result(self, elapsed: float, left: list[str]) -> ApplyResult:
        res = ApplyResult(elapsed_s=elapsed, interrupted=bool(self._interrupts),
                          left_running=left, moved_mb=self._moved_mb,
                          still_off=self._still_off())
        for step in self.sched.steps:
            run = self._failed.get(id(step)) or self._by_step.get(id(step))
            note = self.sched.notes.get(step.vm) if step.outcome is Outcome.SKIPPED else None
            for c in step.changes:
                res.results.append(ChangeResult(
                    change=c, outcome=step.outcome, task=run.task_id if run else None,
                    fault=run.fault if run else None,
                    message=run.message if run else note))
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


def exec_context(vs: VSphere, plan: Plan, inventory: Inventory) -> ExecContext:
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
            policy = vs.pmem_policy_id()
        except NetworkError as e:  # PBM's endpoint down (404, reset, silent): not fatal
            warnings.append(f"PBM (storage policies) did not answer ({e.cause}); using the "
                            f"fixed PMem policy id {policy}")
        except PmemctlError as e:
            warnings.append(f"{e}; using the fixed PMem policy id {policy}")
        except Exception as e:  # PBM is a second endpoint: any transport or vmodl fault
            warnings.append(f"PBM (storage policies) did not answer ({_short(e)}); using the "
                            f"fixed PMem policy id {policy}")
    # The disks' current policies, for the journal's undo state (rollback restores them).
    pairs = sorted({(c.vm_moid, c.payload.disk_key) for c in plan.changes
                    if isinstance(c.payload, MigrateDisk) and c.vm_moid
                    and not c.payload.rollback})
    policies = vs.disk_policies(pairs) if pairs else {}
    if policies is None:
        warnings.append("PBM did not report the disks' current storage policies; a rollback "
                        "will give disks it moves back the target datastore's default policy")
    return ExecContext(vsphere=vs, inventory=inventory, pmem_policy_id=policy,
                       disk_policies=policies or {}, warnings=warnings)


def _short(e: BaseException) -> str:
    if isinstance(e, VSphereFault):
        return e.name
    return f"{type(e).__name__}: {e}"[:200]


def apply_plan(vs: VSphere, plan: Plan, inventory: Inventory, options: ExecOptions, *,
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
        ctx = exec_context(vs, plan, inventory)
    return Executor(ctx, plan, options, journal, hook).run()
