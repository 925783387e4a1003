"""Host maintenance mode: ``EnterMaintenanceMode_Task`` and ``ExitMaintenanceMode_Task``.

The calls are the ones community.vmware's ``vmware_maintenancemode`` module
sends (``host.EnterMaintenanceMode_Task(timeout, evacuatePoweredOffVms,
maintenanceSpec)``, ``host.ExitMaintenanceMode_Task(timeout)``), without a
vSAN ``maintenanceSpec``. ``evacuatePoweredOffVms`` stays false: a drain
moves what must move itself, and "powered-off virtual machines do not need
to be moved" (vSphere API, EnterMaintenanceModeRequestType). vCenter ends
the task with a ``Timedout`` fault when VMs still run on the host after
``timeout`` seconds; pmemctl always gives one, so it never waits for ever.
"""

from __future__ import annotations

from typing import Any

from pyVmomi import vmodl

from pmemctl.errors import PmemctlError
from pmemctl.vsphere.actions import host_ref
from pmemctl.vsphere.api import VSphere, VSphereFault
from pmemctl.vsphere.faults import describe
from pmemctl.vsphere.tasks import TaskState


def _host(vs: VSphere, moid: str) -> Any:
    conn = getattr(vs, "conn", None)
    if conn is None:
        raise PmemctlError("maintenance mode needs a vCenter connection")
    return host_ref(conn.stub, moid)


def _run(vs: VSphere, submit: Any) -> TaskState:
    try:
        task = submit()
    except vmodl.MethodFault as e:
        raise VSphereFault(describe(e)) from e
    task_id = str(task._moId)
    w = vs.watch(progress=False)
    try:
        w.add_task(task_id)
        # The task ends by itself: vCenter fails it with Timedout after timeout_s.
        done = w.wait_all({task_id}, max_wait_s=5)
    finally:
        w.close()
    return done.get(task_id, TaskState(id=task_id, state="error"))


def enter_maintenance(vs: VSphere, host_moid: str, timeout_s: int) -> TaskState:
    """Start ``EnterMaintenanceMode_Task`` and wait for it to end (success or fault).

    Raises:
        VSphereFault: vCenter refused the call itself.
    """
    host = _host(vs, host_moid)
    return _run(vs, lambda: host.EnterMaintenanceMode_Task(
        timeout=timeout_s, evacuatePoweredOffVms=False))


def exit_maintenance(vs: VSphere, host_moid: str, timeout_s: int = 300) -> TaskState:
    """Start ``ExitMaintenanceMode_Task`` and wait for it to end.

    Raises:
        VSphereFault: vCenter refused the call itself.
    """
    host = _host(vs, host_moid)
    return _run(vs, lambda: host.ExitMaintenanceMode_Task(timeout=timeout_s))
