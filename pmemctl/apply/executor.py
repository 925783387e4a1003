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

from pyVmomi import vmodl

from pmemctl.apply.journal import Journal
from pmemctl.apply.scheduler import Limits, Outcome, Scheduler, Step, StepKind
from pmemctl.errors import PmemctlError
from pmemctl.inventory.model import Inventory
from pmemctl.plan.model import Action, Change, Plan
from pmemctl.vsphere import actions
from pmemctl.vsphere.pbm import default_policy_ids, find_pmem_policy_id
from pmemctl.vsphere.tasks import TaskState, TaskWatcher, fault_message, fault_name


@dataclass(frozen=True)
class Event:
    """Something the progress display or a log may want to show."""

    kind: str  # started | progress | done | failed | skipped | stopping | interrupted | waiting
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
    """How to run: limits, failure policy, shutdown timeout, wait granularity."""

    limits: Limits = field(default_factory=Limits)
    on_failure: str = "stop"
    shutdown_timeout_s: int = 300
    max_wait_s: int = 1
    progress: bool = True  # watch task.info.progress (a live display shows it)


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
    default_policies: dict[str, str] = field(default_factory=dict)  # datastore name → id
    disk_policies: dict[tuple[str, int], list[str]] = field(default_factory=dict)

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
               disk_policies: dict[tuple[str, int], list[str]] | None = None) -> dict[str, Any]:
    """The state needed to undo a step, captured before it runs (journaled with the intent)."""
    vm = inventory.vms.get(step.vm)
    undo: dict[str, Any] = {"vm_moid": vm.moid if vm else None}
    if vm is None:
        return undo
    if step.kind is StepKind.MIGRATE:
        disks = {d.key: d for d in vm.disks}
        undo["disks"] = []
        for c in step.changes:
            key = int(c.detail["key"])
            disk = disks.get(key)
            src = str(c.detail.get("from_datastore") or (disk.datastore if disk else ""))
            # Datastores are keyed by moid; plans carry the moid (older saved plans: by name).
            ds = inventory.datastores.get(str(c.detail.get("from_datastore_moid") or "")) \
                or inventory.datastore_named(src, vm.datacenter or None)
            undo["disks"].append({
                "key": key, "label": c.target, "datastore": src,
                "datastore_moid": ds.moid if ds else None,
                "pmem": bool(c.detail.get("from_pmem", disk.pmem if disk else False)),
                "file_name": disk.file_name if disk else "",
                "policy_ids": (disk_policies or {}).get((vm.moid, key), []),
                "to_datastore": c.detail.get("to_datastore"),
            })
    elif step.kind is StepKind.RECONFIGURE:
        undo["nvdimm_keys_before"] = [n.key for n in vm.nvdimms]
        undo["disk_keys_before"] = [d.key for d in vm.disks]
        undo["nvdimm_sizes_before"] = {n.label: n.size_mb for n in vm.nvdimms}
    elif step.kind is StepKind.UPGRADE:
        undo["hardware_version_before"] = vm.hardware_version
    elif step.kind in (StepKind.POWER_OFF, StepKind.POWER_ON):
        undo["power_state_at_snapshot"] = vm.power_state  # before this run touched it
    return undo


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
                for u in w.wait(self.options.max_wait_s):
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

    # -- signals ------------------------------------------------------------

    def _on_sigint(self) -> None:
        self._interrupts += 1

    # -- starting -----------------------------------------------------------

    def _start(self, step: Step) -> None:
        vm_inv = self.ctx.inventory.vms.get(step.vm)
        step_id = self.journal.next_step_id()
        self.journal.write("intent", step=step_id, vm=step.vm, kind=step.kind.value,
                           changes=[c.to_json() for c in step.changes],
                           undo=undo_state(step, self.ctx.inventory, self.ctx.disk_policies))
        run = _Run(step=step, step_id=step_id, started=time.monotonic(),
                   vm=actions.vm_ref(self.ctx.stub, vm_inv.moid) if vm_inv else None)
        self._by_step[id(step)] = run
        try:
            if vm_inv is None:
                raise PmemctlError(f"VM {step.vm} is not in the inventory")
            task = self._submit(run)
        except vmodl.MethodFault as e:
            self._fail(run, fault_name(e), fault_message(e))
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
        names = _datastore_moids(step.changes, ctx.inventory)
        if step.kind is StepKind.UPGRADE:
            return actions.submit_reconfigure(vm, actions.upgrade_spec(step.changes[0]))
        if step.kind is StepKind.POWER_ON:
            return actions.submit_power_on(vm)
        if step.kind is StepKind.POWER_OFF:
            return self._power_off(run)
        if step.kind is StepKind.RECONFIGURE:
            devices = self._devices_of(vm._moId)
            spec = actions.reconfigure_spec(step.changes, devices, ctx.pmem_policy_id, names,
                                            ctx.stub)
            return actions.submit_reconfigure(vm, spec)
        spec = actions.relocate_spec(step.changes, ctx.pmem_policy_id, names,
                                     ctx.default_policies, ctx.stub)
        return actions.submit_relocate(vm, spec)

    def _devices_of(self, moid: str) -> list[Any]:
        if self._devices is None:
            # One RetrievePropertiesEx for every VM that will be reconfigured in this run.
            moids = sorted({self.ctx.inventory.vms[s.vm].moid for s in self.sched.steps
                            if s.kind is StepKind.RECONFIGURE and s.vm in self.ctx.inventory.vms})
            self._devices = actions.fetch_devices(self.ctx.content, moids)
        return self._devices.get(moid, [])

    def _power_off(self, run: _Run) -> Any:
        c = run.step.changes[0]
        vm_inv = self.ctx.inventory.vms[run.step.vm]
        graceful = bool(c.detail.get("graceful", True)) and vm_inv.tools_running
        if graceful and actions.request_guest_shutdown(run.vm) is None:
            assert self.watcher is not None
            timeout = int(c.detail.get("timeout_s", self.options.shutdown_timeout_s))
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
        if ts.state == "success":
            self._done(run)
        else:
            self._fail(run, fault_name(ts.error), fault_message(ts.error))

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
        self.journal.write("done", step=run.step_id, task=run.task_id,
                           elapsed_s=round(elapsed, 3))
        self._moved_mb += run.step.size_mb
        self._by_step.pop(id(run.step), None)
        self.sched.finish(run.step, ok=True)
        self._emit_step("done", run, elapsed=elapsed)

    def _fail(self, run: _Run, fault: str, message: str) -> None:
        elapsed = time.monotonic() - run.started
        run.fault, run.message = fault, message
        self.journal.write("failed", step=run.step_id, task=run.task_id, fault=fault,
                           message=message)
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
        c.action is Action.ADD_NVDIMM
        or (c.action is Action.CREATE_DISK and c.detail.get("pmem"))
        or (c.action is Action.MIGRATE_DISK and c.detail.get("to_pmem"))
        for c in plan.changes
    )


def exec_context(conn: Any, plan: Plan, inventory: Inventory) -> ExecContext:
    """Look up what the specs need from PBM, only when the plan needs it.

    Side Effects:
        PBM calls: the PMem policy id when the plan attaches it; the default
        policies of datastores that disks move onto when they leave PMem.
    """
    policy = inventory.pmem_policy_id
    if needs_pmem_policy(plan):
        # On failure the well-known system id (the inventory default) is the fallback.
        with contextlib.suppress(PmemctlError):
            policy = find_pmem_policy_id(conn)
    off_pmem = sorted({str(c.detail["to_datastore"]) for c in plan.changes
                       if c.action is Action.MIGRATE_DISK and not c.detail.get("to_pmem")})
    defaults: dict[str, str] = {}
    by_name = _datastore_moids(list(plan.changes), inventory)
    moids = {by_name[n]: n for n in off_pmem if n in by_name}
    if moids:
        for moid, pid in default_policy_ids(conn, sorted(moids)).items():
            if pid:
                defaults[moids[moid]] = pid
    # The disks' current policies, for the journal's undo state (rollback restores them).
    pairs = sorted({(inventory.vms[c.vm].moid, int(c.detail["key"])) for c in plan.changes
                    if c.action is Action.MIGRATE_DISK and c.vm in inventory.vms
                    and not c.detail.get("rollback")})
    return ExecContext(content=conn.content, inventory=inventory, pmem_policy_id=policy,
                       default_policies=defaults,
                       disk_policies=actions.disk_policies(conn, pairs))


def apply_plan(conn: Any, plan: Plan, inventory: Inventory, options: ExecOptions, *,
               journal: Journal, hook: Hook | None = None) -> ApplyResult:
    """Library entry point: execute ``plan`` (already shown and confirmed).

    The caller has written ``run_start`` to ``journal``; this writes the
    ``plan`` record, every step record and ``run_end`` (or ``interrupted``).
    """
    journal.write("plan", plan_fingerprint=inventory.fingerprint(sorted({c.vm for c in
                                                                          plan.changes})),
                  changes=len(plan.changes), vms=sorted({c.vm for c in plan.changes}))
    ctx = exec_context(conn, plan, inventory)
    return Executor(ctx, plan, options, journal, hook).run()


def _datastore_moids(changes: list[Change] | tuple[Change, ...],
                     inventory: Inventory) -> dict[str, str]:
    """Datastore name -> moid for the changes: the planner's resolved moids.

    The planner resolves names within each VM's datacenter and puts the
    moids in ``detail``; names that are unique in the inventory stand in for
    saved plans written before it did.
    """
    counts: dict[str, list[str]] = {}
    for d in inventory.datastores.values():
        counts.setdefault(d.name, []).append(d.moid)
    out = {n: m[0] for n, m in counts.items() if len(m) == 1}
    for c in changes:
        for key in ("to_datastore", "from_datastore", "datastore"):
            moid = c.detail.get(f"{key}_moid")
            if moid and c.detail.get(key):
                out[str(c.detail[key])] = str(moid)
    return out
