"""How a VM goes down and comes back: the power-off and power-on payloads (pure).

A VM with running VMware Tools gets a guest shutdown, then a hard power off
after ``options.shutdown_timeout_s``; after the power-on pmemctl waits until
the guest reports Tools running again (``guest.toolsRunningStatus``), so that
a rolling change never takes the next VM down while the last one still boots.
A VM without running Tools can only be powered off hard, which needs its own
opt-in, ``options.hard_power_off``.
"""

from __future__ import annotations

from pmemctl.plan.payloads import PowerOff, PowerOn
from pmemctl.spec.model import Options


def power_off_payload(tools_running: bool, options: Options) -> PowerOff | None:
    """The way down for a running VM; None when only a hard power off would do and
    ``options.hard_power_off`` does not allow it."""
    if tools_running:
        return PowerOff(method="guest", timeout_s=options.shutdown_timeout_s)
    if not options.hard_power_off:
        return None
    # timeout_s unused for a hard power off; kept as before (plan JSON compatibility).
    return PowerOff(method="hard", timeout_s=options.shutdown_timeout_s)


def power_on_payload(off: PowerOff, options: Options) -> PowerOn:
    """The way back: wait for VMware Tools when the guest had them running."""
    if off.method == "guest":
        return PowerOn(wait_tools=True, tools_timeout_s=options.tools_timeout_s)
    return PowerOn()


def describe_power_off(off: PowerOff) -> str:
    """``guest shutdown (timeout 300 s), then power off``, or ``hard power off (no VMware
    Tools)``."""
    if off.method == "guest":
        return f"guest shutdown (timeout {off.timeout_s} s), then power off"
    return "hard power off (no VMware Tools)"
