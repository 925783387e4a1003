"""Typed, frozen desired-state models for a pmemctl spec (``apiVersion: pmemctl/v1``).

:mod:`pmemctl.spec.load` builds these from YAML and records where each value
came from, so that later problems (a ``match`` selecting nothing, two entries
that disagree) can still be reported as ``FILE:LINE:COL``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

API_VERSION = "pmemctl/v1"
# ConfigSpec.pmem.snapshotMode values (vSphere 7.0 U3+, VirtualMachineVirtualPMemSnapshotMode).
NVDIMM_SNAPSHOT_MODES = ("independent_persistent", "independent_eraseonrevert")
# How apply moves a disk onto PMem: auto = what `pmemctl probe` found for the
# vCenter, else device_change (RelocateSpec.deviceChange with the PMem policy);
# locator = a DiskLocator naming the PMem datastore.
PMEM_MIGRATION_SHAPES = ("auto", "device_change", "locator")
PMEM = "pmem"  # the storage keyword: the PMem datastore of the VM's host
KEEP = "keep"  # the storage keyword: leave this disk where it is (see pmemctl.spec.disksel)


@dataclass(frozen=True)
class Location:
    """Where a value was written: file, 1-based line and column."""

    file: str = "<spec>"
    line: int = 1
    column: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class OnFailure(str, Enum):
    """What apply does after a failed step. The value is the spec's word."""

    STOP = "stop"  # submit nothing new; running tasks are waited for
    CONTINUE = "continue"  # go on with the VMs that do not depend on the failed work

    def __str__(self) -> str:
        # Messages and tables print vSphere's word, not "PowerState.ON".
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


@dataclass(frozen=True)
class Parallel:
    """Concurrency limits for apply (vCenter's own Storage vMotion limits by default).

    The one type for them: the scheduler's ``Limits`` is this class.
    ``total`` caps steps in flight; ``per_host`` and ``per_datastore`` cap
    Storage vMotions (see :mod:`pmemctl.apply.scheduler`); ``down`` caps the
    VMs pmemctl holds powered off at once (None: only ``total`` bounds them).
    """

    total: int = 8
    per_host: int = 2
    per_datastore: int = 8
    down: int | None = None


@dataclass(frozen=True)
class Options:
    """What pmemctl may do on the user's behalf. Everything risky is off by default."""

    power_off: bool = False
    upgrade_hardware: bool = False
    allow_data_loss: bool = False
    parallel: Parallel = field(default_factory=Parallel)
    on_failure: OnFailure = OnFailure.STOP
    shutdown_timeout_s: int = 300  # guest shutdown before a hard power off
    # May a VM without running VMware Tools be powered off hard (no guest shutdown)?
    hard_power_off: bool = False
    # After a power-on, how long to wait for guest.toolsRunningStatus to say running.
    tools_timeout_s: int = 300
    # The version ``upgrade_hardware: vmx-19`` names; None: ``true`` (vmx-14 where needed).
    upgrade_hardware_to: int | None = None
    nvdimm_snapshot_mode: str | None = None  # one of NVDIMM_SNAPSHOT_MODES; None: leave unset
    pmem_migration_shape: str = "auto"  # one of PMEM_MIGRATION_SHAPES (the executor reads it)
    # Plan and apply the VMs without problems; list the others as skipped (apply exits 1).
    skip_blocked: bool = False


@dataclass(frozen=True)
class DiskTarget:
    """Where one disk should live.

    ``storage`` is :data:`PMEM` or a datastore name. ``size_mb`` is set when the
    disk should be created if the VM has no disk with that label.
    """

    storage: str
    size_mb: int | None = None

    @property
    def is_pmem(self) -> bool:
        """True when the target is the host-local PMem datastore."""
        return self.storage == PMEM

    @property
    def is_keep(self) -> bool:
        """True for ``keep``: the disk stays as it is, whatever else covers it."""
        return self.storage == KEEP


@dataclass(frozen=True)
class Match:
    """A selector: a glob on the VM name, optionally narrowed by cluster, folder and host.

    ``host`` (an extension) selects the VMs registered on one ESXi host, so an
    admin can evacuate a host's disks off PMem before maintenance.
    ``exclude`` are globs on the VM name that drop VMs again; ``attributes``
    are (custom attribute name, glob on its value) pairs, all of which a VM
    must have (see pmemctl.plan.select).
    """

    name: str
    cluster: str | None = None
    folder: str | None = None
    host: str | None = None
    exclude: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class VmEntry:
    """One entry under ``vms:``: exactly one of ``name`` / ``match`` is set.

    ``nvdimms`` is None when the key is absent (leave NVDIMMs alone) and a
    tuple (possibly empty) when present: the complete list the VM should have.
    ``disks`` maps a disk key (a label, ``"*"``, a glob or a selector, see
    :mod:`pmemctl.spec.disksel`) to its target.
    """

    name: str | None = None
    match: Match | None = None
    nvdimms: tuple[int, ...] | None = None
    disks: tuple[tuple[str, DiskTarget], ...] = ()
    location: Location = field(default_factory=Location)

    @property
    def selector(self) -> str:
        """A short human description of what this entry selects."""
        if self.name is not None:
            return self.name
        assert self.match is not None
        parts = [f"name={self.match.name}"]
        if self.match.cluster:
            parts.append(f"cluster={self.match.cluster}")
        if self.match.folder:
            parts.append(f"folder={self.match.folder}")
        parts += [f"exclude={g}" for g in self.match.exclude]
        parts += [f"{k}={v}" for k, v in self.match.attributes]
        return "match(" + ", ".join(parts) + ")"


@dataclass(frozen=True)
class Spec:
    """A whole spec file."""

    vms: tuple[VmEntry, ...] = ()
    options: Options = field(default_factory=Options)
    vcenter: str | None = None
    path: str = "<spec>"
