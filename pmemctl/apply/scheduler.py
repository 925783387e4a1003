"""Pure scheduling: a Plan becomes per-VM jobs of ordered steps, started within limits.

A *job* is everything one VM needs, as strictly sequential *steps*::

    power_off → upgrade → reconfigure → migrate → power_on

The power off comes before the upgrade (the issue lists them the other way
round, as does ``ACTION_ORDER``): vSphere changes the hardware version only
of a powered-off VM (``InvalidPowerState`` otherwise), and the planner
orders them the same way.

``reconfigure`` carries every NVDIMM add/grow/remove and new disk of the VM
(one ReconfigVM_Task); ``migrate`` carries every disk migration of the VM
(one RelocateVM_Task with one disk locator per disk).

Limits (decided here):

* ``total`` counts every running step of every kind: it bounds the number of
  vCenter tasks pmemctl has in flight, which is what a user means by
  "--parallel".
* ``per_host`` and ``per_datastore`` count only ``migrate`` steps. They mirror
  vCenter's Storage vMotion cost model (2 per host, 8 per datastore), which
  charges migrations only; a reconfigure or power operation is sub-second
  and vCenter does not queue it against those resources. A migration is
  charged to its VM's host once and to every datastore it reads from or
  writes to once (source AND destination, as vCenter does).

* ``down`` (``parallel.down``, ``--max-down``; unset: no cap of its own)
  counts VMs, not steps: the VMs pmemctl holds powered off. A VM takes a
  slot when its power-off starts and gives it back when its power-on is done
  (which, for a guest that had VMware Tools, is when they run again); a
  power-off that failed gives it back too (the VM stayed on). A VM whose
  power-on failed keeps its slot: it is still down as far as its service is
  concerned. A VM a killed run left off (an owed power-on) holds one from
  the start. A job waits for a slot only before its power-off, so a VM that
  is down always finishes its own work first. When nothing runs and only
  slots that will never be given back keep jobs waiting, those jobs are
  skipped (``notes`` says why) rather than waited for.

Order: jobs are ranked by the MiB their migration moves, largest first
(longest-processing-time first), so that the long copies start early and the
makespan stays close to the lower bound; ties keep the plan's VM order.

Nothing here imports pyVmomi: the executor feeds outcomes back in and asks
what may start next.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum

from pmemctl.plan.model import ACTION_ORDER, Action, Change, Plan
from pmemctl.plan.payloads import MigrateDisk, PowerOn
from pmemctl.spec.model import OnFailure, Parallel


class StepKind(str, Enum):
    """One vCenter operation per step, declared in execution order."""

    POWER_OFF = "power_off"
    UPGRADE = "upgrade"
    RECONFIGURE = "reconfigure"
    MIGRATE = "migrate"
    POWER_ON = "power_on"


_KIND_OF = {
    Action.UPGRADE_HARDWARE: StepKind.UPGRADE,
    Action.POWER_OFF: StepKind.POWER_OFF,
    Action.ADD_NVDIMM: StepKind.RECONFIGURE,
    Action.GROW_NVDIMM: StepKind.RECONFIGURE,
    Action.REMOVE_NVDIMM: StepKind.RECONFIGURE,
    Action.CREATE_DISK: StepKind.RECONFIGURE,
    Action.REMOVE_DISK: StepKind.RECONFIGURE,
    Action.MIGRATE_DISK: StepKind.MIGRATE,
    Action.POWER_ON: StepKind.POWER_ON,
}
_STEP_ORDER = list(StepKind)


class Outcome(str, Enum):
    """What became of a step (and of each of its changes)."""

    PENDING = "not_started"  # a JSON value and key: no spaces
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # depended on failed work of the same VM

    @property
    def text(self) -> str:
        """The outcome as prose ("not started")."""
        return self.value.replace("_", " ")


# One type for the limits: the spec's ``options.parallel`` (see the module
# docstring for what each one counts).
Limits = Parallel


@dataclass
class Step:
    """One vCenter operation for one VM, covering one or more changes."""

    vm: str
    kind: StepKind
    changes: tuple[Change, ...]
    host: str
    outcome: Outcome = Outcome.PENDING

    @property
    def datastores(self) -> tuple[str, ...]:
        """Datastores a migration reads from or writes to, by moid (empty for other kinds).

        By moid: two datastores of one name in two datacenters are two
        datastores to vCenter's limits.
        """
        if self.kind is not StepKind.MIGRATE:
            return ()
        keys: set[str] = set()
        for c in self.changes:
            if isinstance(c.payload, MigrateDisk):
                for ref in (c.payload.source, c.payload.target):
                    keys.add(ref.moid or ref.name)
        return tuple(sorted(k for k in keys if k))

    @property
    def size_mb(self) -> int:
        """MiB a migration copies (0 for other kinds)."""
        if self.kind is not StepKind.MIGRATE:
            return 0
        return sum(c.payload.size_mb for c in self.changes if isinstance(c.payload, MigrateDisk))

    @property
    def label(self) -> str:
        """A short human name: the action, or ``reconfigure``/``migrate`` for groups."""
        if len(self.changes) == 1:
            return self.changes[0].action.value
        return self.kind.value

    @property
    def target(self) -> str:
        """What the step touches, e.g. ``NVDIMM 1, Hard disk 2``."""
        return ", ".join(c.target for c in self.changes)


@dataclass
class Job:
    """All steps of one VM, run strictly in order."""

    vm: str
    steps: list[Step]
    order: int  # position in the plan, for stable tie-breaking
    powered_off_by_us: bool = False

    @property
    def migrate_mb(self) -> int:
        """MiB this job's migration copies: the LPT rank."""
        return sum(s.size_mb for s in self.steps)

    def step_of(self, kind: StepKind) -> Step | None:
        """This job's step of that kind, if it has one."""
        return next((s for s in self.steps if s.kind is kind), None)

    @property
    def down(self) -> bool:
        """True while this job holds a ``parallel.down`` slot (see the module docstring)."""
        off, on = self.step_of(StepKind.POWER_OFF), self.step_of(StepKind.POWER_ON)
        if on is not None and on.outcome is Outcome.DONE:
            return False
        if off is None:  # an owed power-on: the VM was left off by a killed run
            return on is not None and isinstance(on.changes[0].payload, PowerOn) \
                and on.changes[0].payload.owed
        return off.outcome in (Outcome.RUNNING, Outcome.DONE)

    def next_step(self) -> Step | None:
        """The first step not yet started, if no step is running or failed."""
        for s in self.steps:
            if s.outcome is Outcome.RUNNING:
                return None
            if s.outcome is Outcome.PENDING:
                return s
        return None


def build_jobs(plan: Plan) -> list[Job]:
    """Group a plan's changes into one job per VM, ranked largest migration first."""
    by_vm: dict[str, list[Change]] = {}
    for c in plan.changes:
        by_vm.setdefault(c.vm, []).append(c)
    jobs: list[Job] = []
    for order, (vm, changes) in enumerate(by_vm.items()):
        changes.sort(key=lambda c: ACTION_ORDER[c.action])  # stable: keeps plan order within
        steps: list[Step] = []
        for kind in _STEP_ORDER:
            group = tuple(c for c in changes if _KIND_OF[c.action] is kind)
            if not group:
                continue
            host = group[0].host_moid or group[0].host
            steps.append(Step(vm=vm, kind=kind, changes=group, host=host))
        jobs.append(Job(vm=vm, steps=steps, order=order))
    jobs.sort(key=lambda j: (-j.migrate_mb, j.order))
    return jobs


@dataclass
class Scheduler:
    """Decides which steps may start, given what runs; fed outcomes by the executor.

    ``on_failure`` is ``"stop"`` (no new work after any failure, except the
    power-ons owed to OTHER VMs that pmemctl powered off and whose own work
    did not fail: they would otherwise stay off for work that will not run)
    or ``"continue"`` (only the failed VM's remaining steps are skipped,
    except a ``power_on`` owed because pmemctl powered that VM off: a VM left
    off is an outage that the failed change no longer justifies).
    """

    jobs: list[Job]
    limits: Limits = field(default_factory=Limits)
    on_failure: OnFailure = OnFailure.STOP
    stopped: bool = False  # set by a failure under "stop", or by Ctrl-C
    power_back: bool = False  # stopped by a failure: still power on the VMs we powered off
    # Why a job's steps were skipped, by VM, when the scheduler itself decided it.
    notes: dict[str, str] = field(default_factory=dict)
    _running: list[Step] = field(default_factory=list)

    @classmethod
    def from_plan(cls, plan: Plan, limits: Limits | None = None,
                  on_failure: OnFailure = OnFailure.STOP) -> Scheduler:
        """A scheduler over :func:`build_jobs` of ``plan``."""
        return cls(jobs=build_jobs(plan), limits=limits or Limits(), on_failure=on_failure)

    @property
    def running(self) -> tuple[Step, ...]:
        """Steps started and not yet finished."""
        return tuple(self._running)

    @property
    def steps(self) -> Iterable[Step]:
        """Every step of every job, in job rank order."""
        for j in self.jobs:
            yield from j.steps

    def stop(self) -> None:
        """Start nothing new (Ctrl-C, or a failure under ``stop``), power-ons included."""
        self.stopped = True
        self.power_back = False

    def _fits(self, step: Step, hosts: Counter[str], stores: Counter[str]) -> bool:
        if len(self._running) >= self.limits.total:
            return False
        if step.kind is not StepKind.MIGRATE:
            return True
        if hosts[step.host] >= self.limits.per_host:
            return False
        return all(stores[d] < self.limits.per_datastore for d in step.datastores)

    def _owed_back(self, job: Job) -> Step | None:
        """After a stop by a failure: the job's power-on, when pmemctl powered the VM
        off, none of its steps failed and none runs; its other pending steps are
        skipped then (they are the new work the stop forbids)."""
        if not job.powered_off_by_us:
            return None
        if any(s.outcome in (Outcome.FAILED, Outcome.RUNNING) for s in job.steps):
            return None
        on = next((s for s in job.steps if s.kind is StepKind.POWER_ON
                   and s.outcome is Outcome.PENDING), None)
        if on is not None:
            for s in job.steps:
                if s.outcome is Outcome.PENDING and s is not on:
                    s.outcome = Outcome.SKIPPED
        return on

    def take_ready(self) -> list[Step]:
        """Mark and return every step that may start now, best first."""
        if self.stopped:
            if not self.power_back:
                return []
            back: list[Step] = []
            for job in self.jobs:
                on = self._owed_back(job)
                if on is None or len(self._running) >= self.limits.total:
                    continue
                on.outcome = Outcome.RUNNING
                self._running.append(on)
                back.append(on)
            return back
        hosts: Counter[str] = Counter()
        stores: Counter[str] = Counter()
        for s in self._running:
            if s.kind is StepKind.MIGRATE:
                hosts[s.host] += 1
                stores.update(s.datastores)
        down = sum(j.down for j in self.jobs)
        cap = self.limits.down
        started: list[Step] = []
        waiting: list[Job] = []  # held back by the down cap alone
        for job in self.jobs:
            if len(self._running) >= self.limits.total:
                break
            step = job.next_step()
            if step is None or not self._fits(step, hosts, stores):
                continue
            if step.kind is StepKind.POWER_OFF and cap is not None and down >= cap:
                waiting.append(job)
                continue
            step.outcome = Outcome.RUNNING
            self._running.append(step)
            started.append(step)
            if step.kind is StepKind.POWER_OFF:
                down += 1
            if step.kind is StepKind.MIGRATE:
                hosts[step.host] += 1
                stores.update(step.datastores)
        if waiting and not started and not self._running:
            self._skip_stuck(waiting)
        return started

    def _skip_stuck(self, waiting: list[Job]) -> None:
        """Nothing runs, so no slot will be given back: skip the jobs that wait for one."""
        held = sorted(j.vm for j in self.jobs if j.down)
        for job in waiting:
            for s in job.steps:
                if s.outcome is Outcome.PENDING:
                    s.outcome = Outcome.SKIPPED
            self.notes[job.vm] = (
                f"not powered off: parallel.down is {self.limits.down} and "
                f"{', '.join(held)} still count as down (a power-on or its VMware Tools "
                "failed); bring them back, then run apply again")

    def finish(self, step: Step, ok: bool) -> None:
        """Record a running step's outcome and what it means for the rest of its job."""
        self._running.remove(step)
        step.outcome = Outcome.DONE if ok else Outcome.FAILED
        job = self._job(step.vm)
        if ok:
            if step.kind is StepKind.POWER_OFF:
                job.powered_off_by_us = True
            return
        if self.on_failure is OnFailure.STOP:
            self.stop()
            self.power_back = True
            return
        for s in job.steps:
            if s.outcome is Outcome.PENDING:
                owed_power_on = s.kind is StepKind.POWER_ON and job.powered_off_by_us
                if not owed_power_on:
                    s.outcome = Outcome.SKIPPED

    def _job(self, vm: str) -> Job:
        for j in self.jobs:
            if j.vm == vm:
                return j
        raise KeyError(vm)

    @property
    def finished(self) -> bool:
        """True when nothing runs and nothing more will start."""
        if self._running:
            return False
        if self.stopped:
            return not (self.power_back and any(self._owed_back(j) for j in self.jobs))
        return all(j.next_step() is None for j in self.jobs)

    def counts(self) -> dict[str, int]:
        """Changes per outcome value (``done``, ``failed``, ...)."""
        out: Counter[str] = Counter()
        for s in self.steps:
            out[s.outcome.value] += len(s.changes)
        return dict(out)
