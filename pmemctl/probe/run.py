"""Run every probe step on its own throw-away VMs, and always delete them.

Each step is independent: a refusal is a row, an unexpected error in one
step becomes error rows for that step and the next step still runs. The VMs
of a step are destroyed as soon as the step ends (and again at the very end,
also on Ctrl-C), so at most one step's VMs exist at a time.
"""

from __future__ import annotations

import datetime
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pmemctl.errors import Interrupted
from pmemctl.inventory.model import version_tuple
from pmemctl.probe.lab import Lab
from pmemctl.probe.result import STEP_SHAPES, ProbeResult, ProbeStep
from pmemctl.probe.steps import STEPS, StepContext
from pmemctl.vsphere.pbm import find_pmem_policy_id
from pmemctl.vsphere.tasks import fault_message, fault_name

if TYPE_CHECKING:
    from pmemctl.probe.target import ProbeTarget
    from pmemctl.vsphere.session import Connection

VM_PREFIX = "pmemctl-probe"
MAX_VMS = 7  # 2 (upgrade) + 2 (onto, worst case) + 1 (off) + 1 (vPMemDisk) + 1 (NVDIMM)

STEP_TITLES = {
    "upgrade": "hardware upgrade (UpgradeVM_Task vs ReconfigVM_Task)",
    "onto_pmem": "Storage vMotion onto PMem (deviceChange vs disk locator)",
    "off_pmem": "Storage vMotion off PMem (no profile, DefaultProfileSpec, EmptyProfileSpec)",
    "new_pmem_disk": "new vPMemDisk (powered off, powered on)",
    "nvdimm_snapshot": "snapshot of an NVDIMM VM (without, with pmem.snapshotMode)",
    "page_size": "RetrievePropertiesEx page sizes",
}


def new_prefix(token: str | None = None) -> str:
    """``pmemctl-probe-<token>``; a random 6-hex-digit token unless one is given."""
    return f"{VM_PREFIX}-{token or secrets.token_hex(3)}"


@dataclass
class ProbeReport:
    """A finished probe: the result, and any VM that could not be destroyed."""

    result: ProbeResult
    left_behind: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every step answered (accepted, refused or skipped) and every VM is gone."""
        return not self.left_behind and not any(s.errored for s in self.result.steps)


class ProbeInterrupted(Interrupted):
    """Ctrl-C during the probe; the VMs were cleaned up (or are listed)."""




def _complete(name: str, rows: list[ProbeStep], error: BaseException | None) -> list[ProbeStep]:
    """Every shape of ``name`` exactly once, in order; missing shapes become error/skip rows."""
    by_shape = {r.shape: r for r in rows if r.name == name}
    out = []
    for shape in STEP_SHAPES[name]:
        if shape in by_shape:
            out.append(by_shape[shape])
        elif error is not None:
            kind = fault_name(error) if hasattr(error, "_wsdlName") else type(error).__name__
            msg = fault_message(error) if hasattr(error, "_wsdlName") else str(error)
            out.append(ProbeStep(name, shape, None, fault=kind,
                                 note=f"unexpected error: {msg}"))
        else:
            out.append(ProbeStep(name, shape, None, note="skipped"))
    return out


def run_probe(conn: Connection, target: ProbeTarget, *, prefix: str | None = None,
              on_step: Callable[[int, int, str], None] | None = None) -> ProbeReport:
    """Run the six steps on throw-away VMs named ``<prefix>-<role>``.

    Side Effects:
        Creates, changes and destroys VMs named ``prefix-*`` on
        ``target.host``; one PBM look-up for the PMem policy id.

    Raises:
        ProbeInterrupted: Ctrl-C (after clean-up; the message lists any VM left).
        InventoryError: vCenter has no PMem storage policy.
    """
    ctx = StepContext(find_pmem_policy_id(conn), version_tuple(conn.about.api_version))
    lab = Lab(conn, target, prefix or new_prefix())
    steps: list[ProbeStep] = []
    left: list[str] = []
    try:
        for i, (name, step) in enumerate(STEPS, 1):
            if on_step is not None:
                on_step(i, len(STEPS), STEP_TITLES[name])
            rows: list[ProbeStep] = []
            error: Exception | None = None
            try:
                rows = step(lab, ctx)
            except Exception as e:  # one step's surprise must not stop the others
                error = e
            finally:
                left += lab.cleanup()
            steps += _complete(name, rows, error)
    except KeyboardInterrupt:
        left += lab.cleanup()
        where = f"; not deleted: {'; '.join(left)}" if left else "; every probe VM was deleted"
        raise ProbeInterrupted(f"probe interrupted{where}") from None
    finally:
        left += lab.cleanup()  # a no-op unless something above escaped
    about = conn.about
    result = ProbeResult(
        vcenter=f"{conn.settings.host}:{conn.settings.port}",
        instance_uuid=about.instance_uuid, api_version=about.api_version,
        recorded_at=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        steps=tuple(steps))
    return ProbeReport(result=result, left_behind=left)
