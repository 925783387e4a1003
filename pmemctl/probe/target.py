"""Find and check what the probe will use: the PMem host and the shared datastore.

Read-only, and done before anything is created, so bad input changes
nothing. One ``CreateContainerView`` + ``RetrievePropertiesEx`` over hosts
and datastores (names, mounts, types), then a few reads to find the host's
resource pool and its datacenter's VM folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyVmomi import vim as _vim
from pyVmomi import vmodl as _vmodl

from pmemctl.errors import UsageError
from pmemctl.vsphere.collector import retrieve

if TYPE_CHECKING:
    from pmemctl.vsphere.cassette import Anonymizer
    from pmemctl.vsphere.session import Connection

vim: Any = _vim  # pyVmomi's stubs leave constructors untyped
vmodl: Any = _vmodl

_HOST_PROPS = ["name", "datastore", "runtime.connectionState", "runtime.inMaintenanceMode"]
_DS_PROPS = ["name", "summary.type", "summary.accessible"]


@dataclass(frozen=True)
class ProbeTarget:
    """Where the probe VMs go. Morefs are live pyVmomi objects bound to the session."""

    host_name: str
    host: Any
    datastore_name: str
    datastore: Any
    pmem_datastore_name: str
    pmem_datastore: Any
    pool: Any
    folder: Any


def _by_kind(conn: Connection) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    content = conn.content
    view = content.viewManager.CreateContainerView(
        content.rootFolder, [vim.HostSystem, vim.Datastore], True)
    pc = vmodl.query.PropertyCollector
    spec = pc.FilterSpec(
        objectSet=[pc.ObjectSpec(obj=view, skip=True, selectSet=[
            pc.TraversalSpec(name="view", type=vim.view.ContainerView, path="view", skip=False)])],
        propSet=[pc.PropertySpec(type=vim.HostSystem, pathSet=_HOST_PROPS),
                 pc.PropertySpec(type=vim.Datastore, pathSet=_DS_PROPS)])
    hosts: dict[str, dict[str, Any]] = {}
    datastores: dict[str, dict[str, Any]] = {}
    try:
        for obj, props in retrieve(content.propertyCollector, [spec]):
            props["ref"] = obj
            if isinstance(obj, vim.HostSystem):
                hosts[str(obj._moId)] = props
            else:
                datastores[str(obj._moId)] = props
    finally:
        view.DestroyView()
    return hosts, datastores


def find_target(conn: Connection, host_name: str, datastore_name: str,
                anonymizer: Anonymizer | None = None) -> ProbeTarget:
    """Check ``host_name`` is a connected PMem host that mounts ``datastore_name``.

    ``anonymizer`` learns every host and datastore name read, so a recording
    renames them all.

    Raises:
        UsageError: unknown host, a host without PMem, disconnected or in
            maintenance mode; unknown datastore, a PMem datastore, or one
            the host does not mount or cannot reach.
    """
    hosts, datastores = _by_kind(conn)
    if anonymizer is not None:
        anonymizer.add_all(sorted(str(h.get("name", "")) for h in hosts.values()), "host")
        anonymizer.add_all(sorted(str(d.get("name", "")) for d in datastores.values()),
                           "datastore")
    host = next((h for h in hosts.values() if h.get("name") == host_name), None)
    if host is None:
        known = ", ".join(sorted(str(h.get("name")) for h in hosts.values())[:20])
        raise UsageError(f"no host named {host_name!r} on this vCenter (hosts: {known})")
    mounted = {str(r._moId) for r in host.get("datastore") or ()}
    pmem = [d for m, d in datastores.items() if m in mounted and d.get("summary.type") == "PMEM"]
    if not pmem:
        raise UsageError(f"host {host_name!r} has no PMem datastore: give a host with PMem "
                         "(pmemctl status lists them)")
    if host.get("runtime.connectionState") not in (None, "connected"):
        raise UsageError(f"host {host_name!r} is {host.get('runtime.connectionState')}, "
                         "not connected")
    if host.get("runtime.inMaintenanceMode"):
        raise UsageError(f"host {host_name!r} is in maintenance mode")
    named = [(m, d) for m, d in datastores.items() if d.get("name") == datastore_name]
    if not named:
        raise UsageError(f"no datastore named {datastore_name!r} on this vCenter")
    on_host = [(m, d) for m, d in named if m in mounted]
    if not on_host:
        raise UsageError(f"datastore {datastore_name!r} is not mounted on host {host_name!r}")
    _, ds = on_host[0]
    if ds.get("summary.type") == "PMEM":
        raise UsageError(f"datastore {datastore_name!r} is a PMem datastore: give the shared "
                         "(VMFS, NFS, vSAN…) datastore the probe VMs live on")
    if ds.get("summary.accessible") is False:
        raise UsageError(f"datastore {datastore_name!r} is not accessible")
    host_ref = host["ref"]
    # A few plain reads (each one Fetch): the host's pool and its datacenter's VM folder.
    compute = host_ref.parent
    pool = compute.resourcePool
    parent = compute.parent
    while parent is not None and not isinstance(parent, vim.Datacenter):
        parent = parent.parent
    if parent is None:
        raise UsageError(f"host {host_name!r} is not inside a datacenter")
    return ProbeTarget(host_name=host_name, host=host_ref, datastore_name=datastore_name,
                       datastore=ds["ref"], pmem_datastore_name=str(pmem[0].get("name")),
                       pmem_datastore=pmem[0]["ref"], pool=pool, folder=parent.vmFolder)
