"""``pmemctl status``: where PMem is, how full it is, and who uses it.

:func:`build_status` is pure (Inventory in, JSON-ready dict out) and its
output is a contract for ``status -o json``::

    {"hosts": [{"name", "cluster", "pmem_capacity_mb", "pmem_free_mb", "pmem_datastore",
                "pmem_used_mb", "pmem_supported", "vms", "esxi_pmem_support",
                "datacenter", "maintenance"}],
     "vms":   [{"name", "host", "hardware_version", "power_state",
                "nvdimms": [{"label", "size_mb"}],
                "disks":   [{"label", "size_mb", "datastore", "pmem"}],
                "cluster", "folder", "pmem_mb"}]}

Keys after the first five of a host and the first six of a VM are
extensions: new keys may be added, none of these will be removed.
``pmem_supported`` (kept, and repeated as ``esxi_pmem_support``) is ESXi's
``capability.pMemSupported``: real ESXi 8.0.3 reports it true on hosts with
no PMem at all, so only ``pmem_capacity_mb`` says whether a host has PMem.
:func:`render_status` draws the same data for humans.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from pmemctl.inventory.model import VM, Host, Inventory, name_order
from pmemctl.units import format_mb

BAR_WIDTH = 10
NO_PMEM = "no PMem"
_RIGHT = frozenset({"PMem", "Used", "Free", "HW", "Size"})
# capability.pMemSupported is true on PMem-less hosts of real ESXi 8.0.3:
# say what it is (ESXi's support), never "has PMem".
ESXI_SUPPORT = {True: "ESXi PMem support: yes", False: "ESXi PMem support: no"}


def _disk_is_pmem(inv: Inventory, vm: VM, label: str) -> bool:
    disk = next(d for d in vm.disks if d.label == label)
    ds = inv.datastores.get(disk.datastore_moid) if disk.datastore_moid else None
    if ds is None:
        ds = inv.datastore_named(disk.datastore, vm.datacenter or None)
    return disk.pmem or (ds is not None and ds.is_pmem)


def _vm_uses_pmem(inv: Inventory, vm: VM) -> bool:
    return bool(vm.nvdimms) or any(_disk_is_pmem(inv, vm, d.label) for d in vm.disks)


def _consumers(inv: Inventory, host: Host) -> list[str]:
    """VMs holding PMem of ``host``: NVDIMMs or disks there, or files on its PMem datastore."""
    names = set()
    for vm in inv.vms.values():
        pmem_ds = host.pmem_datastore_moid
        if vm.datastore_moids:
            on_ds = pmem_ds is not None and pmem_ds in vm.datastore_moids
        else:  # a VM read without moids (older callers): by name
            on_ds = host.pmem_datastore is not None and host.pmem_datastore in vm.datastores
        on_host = vm.host_moid == host.moid if vm.host_moid else vm.host == host.name
        if on_ds or (on_host and vm.devices_loaded and _vm_uses_pmem(inv, vm)):
            names.add(vm.name)
    return sorted(names, key=name_order)


def build_status(inventory: Inventory) -> dict[str, Any]:
    """The ``status`` document: every host, and every VM that has PMem (sorted by name).

    A VM "has PMem" when it has an NVDIMM or a disk whose backing is
    LocalPMem or whose datastore is of type PMEM; only VMs whose devices
    were read can be listed. All sizes are MiB.
    """
    hosts = []
    for h in sorted(inventory.hosts.values(), key=lambda h: (*name_order(h.name), h.moid)):
        hosts.append({
            "name": h.name,
            "cluster": h.cluster,
            "pmem_capacity_mb": h.pmem_capacity_mb,
            "pmem_free_mb": h.pmem_free_mb,
            "pmem_datastore": h.pmem_datastore,
            "pmem_used_mb": max(h.pmem_capacity_mb - h.pmem_free_mb, 0),
            "pmem_supported": h.pmem_supported,
            "vms": _consumers(inventory, h),
            "esxi_pmem_support": h.pmem_supported,
            "datacenter": h.datacenter,
            "maintenance": h.maintenance,  # runtime.inMaintenanceMode (pmemctl drain)
        })
    vms = []
    for name in sorted(inventory.vms, key=name_order):
        vm = inventory.vms[name]
        if not vm.devices_loaded or not _vm_uses_pmem(inventory, vm):
            continue
        nvdimms: list[dict[str, Any]] = [
            {"label": n.label, "size_mb": n.size_mb} for n in vm.nvdimms
        ]
        disks: list[dict[str, Any]] = [
            {
                "label": d.label,
                "size_mb": d.size_mb,
                "datastore": d.datastore,
                "pmem": _disk_is_pmem(inventory, vm, d.label),
            }
            for d in vm.disks
        ]
        pmem_mb = sum(n.size_mb for n in vm.nvdimms) + sum(
            int(d["size_mb"]) for d in disks if d["pmem"]
        )
        vms.append({
            "name": vm.name,
            "host": vm.host,
            "hardware_version": vm.hardware_version,
            "power_state": vm.power_state,
            "nvdimms": nvdimms,
            "disks": disks,
            "cluster": vm.cluster,
            "folder": vm.folder,
            "pmem_mb": pmem_mb,
        })
    return {"hosts": hosts, "vms": vms}


def usage_bar(used_mb: int, capacity_mb: int, width: int = BAR_WIDTH) -> str:
    """``[██████░░░░]  62%``: plain characters, so it reads the same without colour."""
    pct = 0.0 if capacity_mb <= 0 else min(max(used_mb / capacity_mb, 0.0), 1.0)
    filled = round(pct * width)
    return f"[{'█' * filled}{'░' * (width - filled)}] {round(pct * 100):3d}%"


def _t(value: object) -> Text:
    # Text, never str: names may contain "[" and must not be read as markup.
    return Text("" if value is None else str(value))


def render_status(status: dict[str, Any], console: Console) -> None:
    """Print the hosts table, then one row per NVDIMM / PMem disk of each PMem VM.

    Side Effects:
        Writes to ``console``.
    """
    hosts = Table(title="PMem by host", box=box.SIMPLE_HEAD, title_justify="left",
                  padding=(0, 1), pad_edge=False)
    for col in ("Host", "Cluster", "PMem", "Used", "Free", "Usage", "VMs"):
        # fold, never "…": host and VM names are copied into specs and commands.
        hosts.add_column(col, justify="right" if col in _RIGHT else "left", overflow="fold")
    for h in status["hosts"]:
        cap = int(h["pmem_capacity_mb"])
        name = h["name"] + (" (maintenance)" if h.get("maintenance") else "")
        if cap <= 0:
            support = ESXI_SUPPORT[bool(h.get("esxi_pmem_support", h.get("pmem_supported")))]
            hosts.add_row(_t(name), _t(h["cluster"] or "-"), _t(NO_PMEM),
                          _t("-"), _t("-"), _t(support), _t(""))
            continue
        used = int(h.get("pmem_used_mb", cap - int(h["pmem_free_mb"])))
        hosts.add_row(
            _t(name), _t(h["cluster"] or "-"), _t(format_mb(cap)), _t(format_mb(used)),
            _t(format_mb(int(h["pmem_free_mb"]))), _t(usage_bar(used, cap)),
            _t(",\n".join(h.get("vms", [])) or "-"),  # one per line: a name never splits
        )
    console.print(hosts)
    # PMemDS-<uuid> names are long and get copied into commands: one whole
    # line each instead of a table column that would fold or truncate them.
    datastores = [(h["name"], h["pmem_datastore"]) for h in status["hosts"] if h["pmem_datastore"]]
    if datastores:
        console.print(Text("PMem datastores"))
        width = max(len(name) for name, _ in datastores)
        for name, ds in datastores:
            line = f"  {name.ljust(width)}   {ds}"
            if len(line) > console.width:
                # Too long for one line: the name on its own, indented, so it folds
                # (if it must) at the width rather than after the host name.
                console.print(Text(f"  {name}"))
                console.print(Text(f"      {ds}"))
            else:
                console.print(Text(line))
        console.print()

    if not status["vms"]:
        console.print(Text("No VM uses PMem."))
        return
    vms = Table(title="VMs using PMem", box=box.SIMPLE_HEAD, title_justify="left",
                padding=(0, 1), pad_edge=False)
    for col in ("VM", "Host", "HW", "Power", "Device", "Size", "Where"):
        # fold, never "…": datastore names are copied into specs.
        vms.add_column(col, justify="right" if col in _RIGHT else "left", overflow="fold")
    for vm in status["vms"]:
        rows: list[tuple[str, int, str]] = [
            (n["label"], int(n["size_mb"]), "host PMem") for n in vm["nvdimms"]
        ]
        rows += [(d["label"], int(d["size_mb"]), d["datastore"]) for d in vm["disks"] if d["pmem"]]
        for i, (label, size, where) in enumerate(rows):
            first = i == 0
            vms.add_row(
                _t(vm["name"] if first else ""), _t(vm["host"] if first else ""),
                _t(f"vmx-{vm['hardware_version']}" if first else ""),
                _t(vm["power_state"] if first else ""),
                _t(label), _t(format_mb(size)), _t(where),
            )
    console.print(vms)
