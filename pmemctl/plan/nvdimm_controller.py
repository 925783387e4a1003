"""The NVDIMM controller goes with the VM's last NVDIMM, in apply and in rollback.

pmemctl adds the controller with a VM's first NVDIMM (``add_nvdimm``
payload ``add_controller``), as the vSphere Client and community.vmware do.
The controller is not something a user manages: ansible-collections/vmware.vmware
``plugins/module_utils/vm/parameter_handlers/device_linked/_nvdimms.py``
("one controller must exist when any NVDIMM is present and the user cannot
manage the controller in the UI ... this handler manages the controller and
the NVDIMMs together") wants a controller only while NVDIMMs are wanted.
When a spec removes every NVDIMM (``nvdimms: []``), or a rollback removes
every NVDIMM the run created on a VM whose controller that run added, the
controller is removed in the same ``ReconfigVM_Task``: a controller with no
NVDIMM serves nothing, and the VM is left as it was before its first
NVDIMM. vCenter refuses to remove it while NVDIMMs remain
(tests/pmemsim/README.md, ReconfigVM_Task rules), so it is always the last
device change of that reconfigure and only when no NVDIMM is left.

Pure: plan-level helpers over inventory facts, used by the planner and by
rollback.
"""

from __future__ import annotations

from dataclasses import replace

from pmemctl.inventory.model import VM
from pmemctl.plan.model import Change
from pmemctl.plan.payloads import RemoveNvdimm


def controller_key(vm: VM) -> int | None:
    """The device key of ``vm``'s NVDIMM controller, if it has one the snapshot saw."""
    if vm.nvdimm_controller_key is not None:
        return vm.nvdimm_controller_key
    return next((n.controller_key for n in vm.nvdimms if n.controller_key is not None), None)


def with_controller_removal(change: Change, key: int) -> Change:
    """``change`` (a ``remove_nvdimm``) also removing the NVDIMM controller ``key``."""
    p = change.payload
    assert isinstance(p, RemoveNvdimm), change.action
    return replace(change, payload=replace(p, remove_controller_key=key),
                   reason=change.reason + "; the NVDIMM controller goes with the last NVDIMM")
