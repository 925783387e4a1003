"""Fault reports: vCenter's generic ``msg`` plus the reason from ``faultMessage``/``faultCause``."""

from __future__ import annotations

from typing import Any

from pyVmomi import vim, vmodl

from pmemctl.vsphere.faults import describe, fault_name, fault_text
from pmemctl.vsphere.tasks import fault_message

VPXD = "com.vmware.vim.vpxd.vmprov."


def msg(key: str, text: str = "") -> Any:
    return vmodl.LocalizableMessage(key=key, message=text)


def test_generic_message_gets_the_reason_and_advice() -> None:
    # The shape of the real fault in vmware-archive/rbvmomi#168.
    f = vim.fault.InvalidDeviceSpec(
        msg="Invalid configuration for device '0'.", deviceIndex=0,
        faultMessage=[msg(VPXD + "pMemDatastoreSetDirectly",
                          "Setting a PMem datastore directly for device configuration is not "
                          "supported. Please use storage profile instead.")])
    r = describe(f)
    assert r.name == "InvalidDeviceSpec"
    assert r.keys == (VPXD + "pMemDatastoreSetDirectly",)
    assert r.advice is not None and "pmem_migration_shape: device_change" in r.advice
    assert r.text() == (
        "Invalid configuration for device '0'. (Setting a PMem datastore directly for device "
        "configuration is not supported. Please use storage profile instead. "
        "[com.vmware.vim.vpxd.vmprov.pMemDatastoreSetDirectly]) — " + r.advice)


def test_key_without_text_is_shown_as_the_key() -> None:
    # vmware/pyvmomi-community-samples#677: the key is all the reason there is.
    f = vim.fault.InvalidDeviceSpec(msg="Invalid configuration for device '0'.",
                                    faultMessage=[msg(VPXD + "invalidNVDIMMPolicy")])
    text = fault_text(f)
    assert text.startswith("Invalid configuration for device '0'. "
                           "(com.vmware.vim.vpxd.vmprov.invalidNVDIMMPolicy) — ")
    assert "Host-local PMem Default Storage Policy" in text


def test_fault_cause_chain_is_reported() -> None:
    cause = vim.fault.InsufficientResourcesFault(msg="Insufficient persistent memory")
    f = vmodl.fault.SystemError(msg="A general system error occurred.", reason="x",
                                faultCause=cause)
    r = describe(f)
    assert r.causes == ("InsufficientResourcesFault: Insufficient persistent memory",)
    assert "free some" in (r.advice or "")  # advice from the cause's type
    assert "(InsufficientResourcesFault: Insufficient persistent memory)" in r.text()


def test_specific_message_is_not_repeated() -> None:
    f = vim.fault.InvalidPowerState(msg="The VM must be powered off",
                                    faultMessage=[msg("x.y", "The VM must be powered off")])
    assert fault_message(f) == ("The VM must be powered off — the VM must be powered off for "
                                "this change: set options.power_off: true so pmemctl shuts it "
                                "down and powers it on again")


def test_unknown_fault_keeps_its_text_and_has_no_advice() -> None:
    f = vim.fault.FileLocked(msg="locked")
    assert describe(f).advice is None
    assert fault_text(f) == "locked"
    assert fault_name(f) == "FileLocked"


def test_no_fault() -> None:
    assert fault_name(None) == "UnknownFault"
    assert fault_text(None) == "UnknownFault"


def test_fault_without_any_text_falls_back_to_its_name() -> None:
    assert fault_text(vim.fault.AlreadyUpgraded()).startswith("AlreadyUpgraded")
