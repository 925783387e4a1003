"""Benchmark maths: vCenter's lower bound on a migration makespan, and pmemctl's
scheduler simulated with zero overhead. Benchmarks only: apply never needs it.

The bound treats every vCenter resource (a host's 2 Storage vMotion slots, a
datastore's 8, the run's total) as identical machines and takes the classic
P||Cmax bound on each; the simulation runs :class:`pmemctl.apply.scheduler.Scheduler`
in virtual time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pmemctl.apply.scheduler import Limits, Scheduler, Step, StepKind
from pmemctl.plan.model import Plan


@dataclass(frozen=True)
class Bound:
    """A makespan lower bound and which constraint sets it."""

    seconds: float
    binding: str
    terms: dict[str, float]


def _machine_bound(sizes: list[int], slots: int) -> int:
    """A lower bound, in MiB of copy time, for ``sizes`` on ``slots`` identical slots.

    The classic bound for P||Cmax: the average load ``Σ/slots``, the largest
    job, and ``p[slots-1] + p[slots]`` (sorted descending: two of the
    ``slots + 1`` largest jobs must share a slot).
    """
    if not sizes:
        return 0
    p = sorted(sizes, reverse=True)
    bound = max(-(-sum(p) // slots), p[0])
    if len(p) > slots:
        bound = max(bound, p[slots - 1] + p[slots])
    return bound


def makespan_lower_bound(
    migrations: Sequence[tuple[str, str, tuple[str, ...], int]],
    copy_rate_mb_s: float,
    limits: Limits,
) -> Bound:
    """The least time any schedule needs, given limits and a copy rate.

    ``migrations`` holds one ``(vm, host, datastores, size_mb)`` per migrate
    job (a VM's disks move in one task). Every resource is a set of
    identical slots (2 per host, 8 per datastore, ``total`` overall) and the
    jobs charged to it need at least :func:`_machine_bound` of copy time on
    them; the bound is the maximum over all resources, and says which one
    binds. Each term is a valid bound on its own, so their maximum is too.
    """
    if copy_rate_mb_s <= 0:
        raise ValueError("copy rate must be positive")
    per_host: dict[str, list[int]] = {}
    per_ds: dict[str, list[int]] = {}
    everything: list[int] = []
    for _vm, host, stores, size in migrations:
        per_host.setdefault(host, []).append(size)
        for d in set(stores):
            per_ds.setdefault(d, []).append(size)
        everything.append(size)
    terms: dict[str, float] = {}
    if per_host:
        h = max(sorted(per_host), key=lambda x: _machine_bound(per_host[x], limits.per_host))
        terms[f"host {h} ({limits.per_host} slots)"] = _machine_bound(
            per_host[h], limits.per_host) / copy_rate_mb_s
    if per_ds:
        d = max(sorted(per_ds), key=lambda x: _machine_bound(per_ds[x], limits.per_datastore))
        terms[f"datastore {d} ({limits.per_datastore} slots)"] = _machine_bound(
            per_ds[d], limits.per_datastore) / copy_rate_mb_s
    terms[f"total ({limits.total} slots)"] = _machine_bound(everything, limits.total) / (
        copy_rate_mb_s)
    binding = max(terms, key=lambda k: terms[k])
    return Bound(seconds=terms[binding], binding=binding, terms=terms)


def simulate_makespan(plan: Plan, limits: Limits, copy_rate_mb_s: float,
                      other_step_s: float = 0.0) -> float:
    """The makespan this scheduler achieves with zero overhead, in virtual time.

    Migrations take ``size / rate``; every other step ``other_step_s``. Used
    by the benchmark to separate the schedule's quality (vs the lower bound)
    from per-task overhead (vs this figure).
    """
    sched = Scheduler.from_plan(plan, limits, on_failure="continue")
    now = 0.0
    running: list[tuple[float, int, Step]] = []
    seq = 0
    while True:
        for step in sched.take_ready():
            dur = step.size_mb / copy_rate_mb_s if step.kind is StepKind.MIGRATE \
                else other_step_s
            seq += 1
            running.append((now + dur, seq, step))
        if not running:
            return now
        running.sort(key=lambda r: (r[0], r[1]))
        end, _, step = running.pop(0)
        now = end
        sched.finish(step, ok=True)
