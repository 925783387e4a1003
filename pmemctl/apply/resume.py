"""Resume after a killed run: settle what is still running, then re-plan.

The algorithm, run by ``apply`` before it plans:

1. **Journaled tasks without an outcome** (the run died after submitting):
   read their state in ONE RetrievePropertiesEx. A task vCenter no longer
   knows is journaled as ``unknown`` (re-planning will tell whether its work
   happened). So is a task whose VM, ``descriptionId`` or queue time differs
   from what the journal recorded (:func:`foreign_task`): a restarted vCenter
   hands out ids from the start again, and ``task-8`` may now be another
   client's task, whose success says nothing about ours. Tasks still
   queued or running are **waited for, never issued again**; each outcome
   is journaled against the old step.
2. **Tasks the journal never heard of** (killed between the submit and the
   journal write of the task id): after the snapshot, read the selected
   VMs' ``recentTask`` lists once (one RetrievePropertiesEx) and wait for
   their queued/running tasks. This also covers a task someone else started
   on those VMs, which re-planning must not race either.
3. **Re-snapshot and re-plan.** The planner compares the spec with what is
   there now, so work that completed is not planned again: no NVDIMM or disk
   is created twice, no disk migrated twice.
4. **Power owed:** a VM that pmemctl powered off in an earlier run, that no
   later step powered on, and that is still off gets a ``power_on`` at the end
   of its work (:func:`pending_power_ons`, pure). The earlier run is found in
   this journal OR in the VM's ``pmemctl.owed-power-on`` custom field (set
   before every power off, cleared after the power on), so a re-run with
   another journal path still owes it.
"""

from __future__ import annotations

from contextlib import closing
from dataclasses import dataclass, field, replace

from pmemctl.apply.events import Event, Hook, NullHook
from pmemctl.apply.journal import Journal, JournalState, StepRecord
from pmemctl.apply.records import description_ids, iso_time
from pmemctl.apply.scheduler import StepKind
from pmemctl.errors import ApplyError
from pmemctl.inventory.model import Inventory, PowerState
from pmemctl.plan.model import Action, Change, Plan
from pmemctl.plan.payloads import PowerOn
from pmemctl.vsphere.api import VSphere, VSphereFault
from pmemctl.vsphere.tasks import TaskState

POWERED_OFF = PowerState.OFF

#: How long a resume waits for tasks an earlier run left running (a Storage
#: vMotion of a large disk takes hours), before it stops with a clear message.
RESUME_WAIT_S = 6 * 3600.0
#: How often that wait also reads the tasks directly (not only the watcher).
RECHECK_S = 30.0


class ResumeTimeout(ApplyError):
    """Tasks left running by an earlier run did not finish within the resume's deadline."""


@dataclass
class Settled:
    """What resuming found and did."""

    waited: list[str] = field(default_factory=list)  # task ids waited for
    finished: dict[str, str] = field(default_factory=dict)  # task id → success | error
    gone: list[str] = field(default_factory=list)  # tasks vCenter no longer knows

    @property
    def anything(self) -> bool:
        """True when there was something to settle."""
        return bool(self.waited or self.finished or self.gone)


def settle_journal(vs: VSphere, journal: Journal, state: JournalState,
                   hook: Hook | None = None, max_wait_s: int = 1) -> Settled:
    """Step 1: resolve every journaled task that has no outcome; wait for the running ones."""
    hook = hook or NullHook()
    pending = {s.task: s for s in state.pending if s.task}
    out = Settled()
    if not pending:
        return out
    journal.write("resume", pending=sorted(pending))
    known = vs.task_states(sorted(pending))
    for tid, step in pending.items():
        ts = known.get(tid)
        why = "task no longer known to vCenter" if ts is None else foreign_task(step, ts)
        if why is not None:
            known.pop(tid, None)
            journal.write("unknown", step=step.step, task=tid,
                          message=f"{why}; re-planning decides")
            out.gone.append(tid)
    running = {t for t, ts in known.items() if not ts.finished}
    if running:
        out.waited = sorted(running)
        _wait(vs, running, hook, {t: pending[t].vm for t in running}, max_wait_s=max_wait_s,
              states=known)
    for tid, ts in known.items():
        step = pending[tid]
        if ts.state == "success":
            journal.write("done", step=step.step, task=tid, resumed=True)
        else:
            journal.write("failed", step=step.step, task=tid, resumed=True,
                          fault=ts.report.name, message=ts.report.text())
        out.finished[tid] = ts.state
    return out


def foreign_task(step: StepRecord, ts: TaskState) -> str | None:
    """Why the server's ``ts`` is not the task ``step`` submitted; None when it is.

    Each of the VM, the ``descriptionId`` and the queue time is compared when
    both the journal and the server have it (journals of older pmemctl have
    only the VM; a run killed before the watcher's first report has no queue
    time). Any difference means the id was handed out again.
    """
    theirs = []
    if step.vm_moid and ts.entity_moid and ts.entity_moid != step.vm_moid:
        theirs.append(f"VM {ts.entity_moid}, not {step.vm_moid}")
    if (step.description_id and ts.description_id
            and ts.description_id not in description_ids(step.description_id)):
        theirs.append(f"{ts.description_id}, not {step.description_id}")
    queued = iso_time(ts.queue_time)
    if step.queue_time and queued and queued != step.queue_time:
        theirs.append(f"queued {queued}, not {step.queue_time}")
    if not theirs:
        return None
    return (f"{ts.id} on vCenter is another task ({'; '.join(theirs)}): the id was reused, "
            "as after a vCenter restart")


def settle_vms(vs: VSphere, inventory: Inventory, vm_names: list[str],
               hook: Hook | None = None, max_wait_s: int = 1) -> list[str]:
    """Step 2: wait for queued/running tasks on the selected VMs; returns their ids."""
    hook = hook or NullHook()
    moids = {inventory.vms[n].moid: n for n in vm_names if n in inventory.vms}
    running = vs.running_vm_tasks(set(moids))
    if not running:
        return []
    ids = {t.id for t in running}
    _wait(vs, ids, hook, {}, max_wait_s=max_wait_s, states={t.id: t for t in running})
    return sorted(ids)


def _wait(vs: VSphere, ids: set[str], hook: Hook, vms: dict[str, str], *, max_wait_s: int,
          states: dict[str, TaskState], deadline_s: float | None = None) -> None:
    """Wait for tasks an earlier run (or someone) left running, never forever.

    ``states`` is what the caller just read (a task already finished is not
    waited for). The watcher reports changes; every :data:`RECHECK_S` the
    tasks are also read directly, since a task that finished while nobody
    watched (or that vCenter purged) may never send an update. Past the
    deadline the run stops with :class:`ResumeTimeout`: nothing was issued
    again, and the journal still holds the tasks for the next run.
    """
    left = {t for t in ids if t in states and not states[t].finished}
    if not left:
        return
    for tid in sorted(left):
        hook.event(Event(kind="waiting", vm=vms.get(tid, ""), task=tid, time=vs.clock.time(),
                         message="still running from an earlier run; waiting, not re-issuing"))
    clock = vs.clock
    limit = RESUME_WAIT_S if deadline_s is None else deadline_s
    end, recheck = clock.monotonic() + limit, clock.monotonic() + RECHECK_S
    with closing(vs.watch(progress=True)) as w:
        for tid in left:
            w.add_task(tid)
        while left:
            now = clock.monotonic()
            if now >= end:
                names = ", ".join(f"{t}" + (f" ({vms[t]})" if vms.get(t) else "")
                                  for t in sorted(left))
                raise ResumeTimeout(
                    f"waited {limit:.0f} s for task(s) an earlier run left running and they "
                    f"have not finished: {names}. Nothing was issued again; see them in the "
                    "vSphere Client (Recent Tasks), and run apply again once they end")
            for u in w.wait(max_wait_s):
                if u.task is not None and u.task.id in left:
                    states[u.task.id] = u.task
                    if u.task.finished:
                        left.discard(u.task.id)
            if left and clock.monotonic() >= recheck:
                recheck = clock.monotonic() + RECHECK_S
                read = vs.task_states(sorted(left))
                for tid in sorted(left):
                    if tid not in read:
                        left.discard(tid)  # vCenter forgot it: re-planning decides
                    elif read[tid].finished:
                        states[tid] = read[tid]
                        left.discard(tid)


def pending_power_ons(state: JournalState, plan: Plan, inventory: Inventory) -> Plan:
    """Step 4 (pure): append a ``power_on`` for VMs pmemctl left powered off.

    A VM qualifies when it is powered off now, the plan has no ``power_on``
    for it already, and either the journal's latest power step for it is a
    ``power_off`` that completed (or never got an outcome: killed during a
    guest shutdown) or the VM carries the owed-power-on marker (any run, any
    journal: :attr:`~pmemctl.inventory.model.VM.owed_power_on`).
    """
    last_power: dict[str, StepKind] = {}
    for s in state.steps:
        # A power off without an outcome was cut short by a kill (a guest
        # shutdown has no task to settle): if the VM is off now, pmemctl did it.
        unresolved_off = s.kind is StepKind.POWER_OFF and s.outcome is None
        if (s.outcome == "done" or unresolved_off) and s.kind in (StepKind.POWER_OFF,
                                                                   StepKind.POWER_ON):
            last_power[s.vm] = s.kind
    why = {n: "pmemctl powered it off in an earlier run that did not power it back on"
           for n, k in last_power.items() if k is StepKind.POWER_OFF}
    runs = {r.run for r in state.runs}
    for name, marked in inventory.vms.items():
        run_id, _, journal = marked.owed_power_on.partition(" ")
        # A marker from a run in this journal says no more than the journal,
        # which also knows whether a later step powered the VM on.
        if marked.owed_power_on and name not in why and run_id not in runs:
            why[name] = (f"pmemctl powered it off in run {run_id} (journal {journal or '?'}) "
                         "and still owes it a power-on (marker on the VM)")
    planned_on = {c.vm for c in plan.changes if c.action is Action.POWER_ON}
    extra: list[Change] = []
    for vm_name, reason in sorted(why.items()):
        vm = inventory.vms.get(vm_name)
        if vm is None or vm.power_state != POWERED_OFF or vm_name in planned_on:
            continue
        extra.append(Change(
            vm=vm_name, action=Action.POWER_ON, target=vm_name, before=POWERED_OFF,
            after="poweredOn", disruptive=False, reason=reason,
            payload=PowerOn(owed=True), vm_moid=vm.moid, host=vm.host,
            host_moid=vm.host_moid))
    if not extra:
        return plan
    return replace(plan, changes=plan.changes + tuple(extra))


def clear_paid_markers(vs: VSphere, inventory: Inventory, plan: Plan) -> list[str]:
    """Clear the owed-power-on marker of VMs that are on and that the plan leaves alone.

    A run killed after its power-on was submitted (or before it cleared the
    marker) leaves a marker on a VM that is on again: the debt is paid, and a
    marker left there would power the VM on in some later run after an admin
    shut it down. Only VMs with no change in the plan: a VM still shutting
    down (a guest shutdown has no task to settle) still needs its work, so
    the plan powers it off again and marks it anew. Best effort; returns the
    VMs cleared.

    Side Effects:
        One ``SetField`` per such VM.
    """
    touched = {c.vm for c in plan.changes}
    cleared = []
    for name, vm in sorted(inventory.vms.items()):
        if vm.owed_power_on and vm.power_state == PowerState.ON and name not in touched:
            try:
                vs.set_owed_power_on(vm.moid, "")
            except VSphereFault:
                continue  # still marked: the next run tries again
            cleared.append(name)
    return cleared
