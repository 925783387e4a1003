"""Turn a vim fault into a report that says why, and one line of advice.

vCenter puts a generic text in ``msg`` ("Invalid configuration for device
'0'.") and the reason in ``faultMessage[].key`` / ``.message`` and in
``faultCause`` (real faults: vmware/pyvmomi-community-samples issue #677,
``com.vmware.vim.vpxd.vmprov.invalidNVDIMMPolicy``; vmware-archive/rbvmomi
issue #168, ``com.vmware.vim.vpxd.vmprov.pMemDatastoreSetDirectly``). A
report that shows only ``msg`` tells the user nothing, so every fault
pmemctl reports goes through :func:`describe`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Advice by faultMessage key (the last dotted part, so vpxd's prefixes may vary).
_KEY_ADVICE = {
    "pMemDatastoreSetDirectly": (
        "this vCenter refuses specs that name the PMem datastore: use "
        "options.pmem_migration_shape: device_change (the default), or run `pmemctl probe`"),
    "invalidNVDIMMPolicy": (
        "the NVDIMM must carry the 'Host-local PMem Default Storage Policy': check that "
        "the policy exists in vCenter and that PBM (/pbm) is reachable"),
    "insufficientPMem": (
        "the host has too little free PMem: free some (remove or shrink NVDIMMs, move "
        "vPMemDisks off PMem) or ask for less"),
    "pmemAdmissionControl": (
        "HA admission control reserves part of the cluster's PMem: lower the reservation "
        "(Reserve Persistent Memory failover capacity) or ask for less"),
    "invalidPowerState": (
        "the VM must be powered off for this change: set options.power_off: true so "
        "pmemctl shuts it down and powers it on again"),
    "snapshotMode": (
        "remove the VM's snapshots first; a snapshot mode can only be set on a VM "
        "without snapshots"),
}

# Advice by fault type, when no key says more.
_TYPE_ADVICE = {
    "InsufficientResourcesFault": _KEY_ADVICE["insufficientPMem"],
    "InsufficientStorageSpace": "the target datastore is full: choose another or free space",
    "InvalidPowerState": _KEY_ADVICE["invalidPowerState"],
    "DeviceUnsupportedForVmVersion": (
        "NVDIMMs need hardware version vmx-14 or later: set options.upgrade_hardware: true"),
    "UnsupportedGuest": "the guest OS does not support PMem: check the VM's guest OS setting",
    "NotAuthenticated": "the vCenter session ended: log in again and re-run to resume",
    "NoPermission": "the vCenter user lacks a privilege for this call: see the fault's privilege",
    "AlreadyUpgraded": "the VM already has this hardware version or a newer one",
    "TaskInProgress": "another task is running on this VM: wait for it and re-run",
    "InvalidDatastore": "the datastore is not mounted on the VM's host",
}

MAX_CAUSES = 5  # faultCause chains are short; bound them anyway


@dataclass(frozen=True)
class FaultReport:
    """What a fault says, taken apart.

    Attributes:
        name: the vim fault class (``InvalidDeviceSpec``).
        message: vCenter's ``msg``/``localizedMessage`` (often generic).
        keys: every ``faultMessage[].key``, the cause's included.
        reasons: the matching ``faultMessage[].message`` texts.
        causes: ``Type: msg`` of each ``faultCause`` down the chain.
        advice: one line saying what to do, when pmemctl knows.
    """

    name: str
    message: str
    keys: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    advice: str | None = None
    pairs: tuple[tuple[str, str], ...] = ()  # (key, message) as vCenter sent them
    # InvalidPowerState.existingState (a required field): the state that refused
    # the operation, so a power-off refused because the VM is already off can
    # count as done.
    existing_state: str = ""

    def text(self) -> str:
        """One line: the message, then why (reasons with their keys, causes), then advice.

        A reason already in the message is not repeated, nor is its key:
        only vCenter's generic messages need the detail.
        """
        head = self.message or self.name
        why = []
        for key, reason in self.pairs:
            if reason and reason in head:
                continue
            why.append(f"{reason} [{key}]" if reason and key else reason or key)
        why += [c for c in self.causes if c not in why]
        parts = [head]
        if why:
            parts.append("(" + "; ".join(dict.fromkeys(why)) + ")")
        if self.advice:
            parts.append("— " + self.advice)
        return " ".join(parts)


def fault_name(fault: Any) -> str:
    """The vim fault class name, e.g. ``InsufficientResourcesFault``."""
    if fault is None:
        return "UnknownFault"
    name = getattr(type(fault), "_wsdlName", None) or type(fault).__name__
    return str(name).rsplit(".", 1)[-1]


def _msg(fault: Any) -> str:
    for attr in ("msg", "localizedMessage"):
        value = getattr(fault, attr, None)
        if value:
            return str(value)
    return ""


def _messages(fault: Any) -> list[tuple[str, str]]:
    out = []
    for m in getattr(fault, "faultMessage", None) or []:
        out.append((str(getattr(m, "key", "") or ""), str(getattr(m, "message", "") or "")))
    return out


def describe(fault: Any) -> FaultReport:
    """Take ``fault`` (a vmodl.MethodFault, or None) apart into a :class:`FaultReport`."""
    if fault is None:
        return FaultReport(name="UnknownFault", message="")
    name = fault_name(fault)
    pairs = _messages(fault)
    causes: list[str] = []
    cause = getattr(fault, "faultCause", None)
    while cause is not None and len(causes) < MAX_CAUSES:
        causes.append(f"{fault_name(cause)}: {_msg(cause)}".rstrip(": "))
        pairs += _messages(cause)
        cause = getattr(cause, "faultCause", None)
    keys = tuple(dict.fromkeys(k for k, _ in pairs if k))
    reasons = tuple(dict.fromkeys(m for _, m in pairs if m))
    message = _msg(fault) or (reasons[0] if reasons else name)
    return FaultReport(name=name, message=message, keys=keys, reasons=reasons,
                       causes=tuple(causes), advice=advice_for(name, keys, causes),
                       pairs=tuple(dict.fromkeys(p for p in pairs if p != ("", ""))),
                       existing_state=str(getattr(fault, "existingState", "") or ""))


def advice_for(name: str, keys: tuple[str, ...] = (), causes: tuple[str, ...] | list[str] = (),
               ) -> str | None:
    """The advice for a fault type and its faultMessage keys (keys win), or None."""
    for key in keys:
        tail = key.rsplit(".", 1)[-1]
        for known, text in _KEY_ADVICE.items():
            if tail.lower() == known.lower():
                return text
    if name in _TYPE_ADVICE:
        return _TYPE_ADVICE[name]
    for c in causes:
        cname = c.split(":", 1)[0]
        if cname in _TYPE_ADVICE:
            return _TYPE_ADVICE[cname]
    return None


def fault_text(fault: Any) -> str:
    """:meth:`FaultReport.text` of ``fault``: what pmemctl prints and journals."""
    return describe(fault).text()
