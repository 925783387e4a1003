"""build_status (the JSON contract) and render_status (exact text at width 120, no colour)."""



from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from pmemctl.inventory.model import VM, Datastore, Disk, Host, Inventory, Nvdimm
from pmemctl.status import build_status, render_status, usage_bar

PMEM_DS = "PMemDS-aaaa"


def inventory() -> Inventory:
    hosts = {
        "host-1": Host(
            name="esx-01",
            moid="host-1",
            cluster="Prod",
            pmem_capacity_mb=524288,
            pmem_free_mb=524288,
            pmem_datastore="PMemDS-bbbb",
            pmem_supported=True,
            datastores=("PMemDS-bbbb", "san-01"),
        ),
        "host-3": Host(
            name="esx-03",
            moid="host-3",
            cluster="Prod",
            pmem_capacity_mb=0,
            pmem_free_mb=0,
            pmem_datastore=None,
            pmem_supported=False,
            datastores=("san-01",),
        ),
        "host-10": Host(
            name="esx-10",
            moid="host-10",
            cluster=None,
            pmem_capacity_mb=131072,
            pmem_free_mb=106496,
            pmem_datastore=PMEM_DS,
            pmem_supported=True,
            datastores=(PMEM_DS, "san-01"),
        ),
    }
    datastores = {
        "ds-1": Datastore(
            name=PMEM_DS,
            moid="ds-1",
            type="PMEM",
            capacity_mb=131072,
            free_mb=106496,
            hosts=("esx-10",),
        ),
        "ds-2": Datastore(
            name="san-01",
            moid="ds-2",
            type="VMFS",
            capacity_mb=8388608,
            free_mb=8000000,
            hosts=("esx-01", "esx-03", "esx-10"),
        ),
    }
    cache = VM(
        name="cache-01",
        moid="vm-7",
        host="esx-10",
        cluster=None,
        folder="",
        hardware_version=19,
        guest_id="ubuntu64Guest",
        power_state="poweredOff",
        datastores=(PMEM_DS, "san-01"),
        devices_loaded=True,
        disks=(
            Disk(label="Hard disk 1", key=2000, size_mb=20480, datastore="san-01", pmem=False),
            # flat backing, but on a PMEM datastore: still a PMem disk
            Disk(label="Hard disk 2", key=2001, size_mb=16384, datastore=PMEM_DS, pmem=False),
        ),
        nvdimms=(Nvdimm(label="NVDIMM 1", key=12000, size_mb=8192, controller_key=11000),),
        nvdimm_controller_key=11000,
    )
    plain = VM(
        name="app-01",
        moid="vm-6",
        host="esx-03",
        cluster="Prod",
        folder="Apps",
        hardware_version=14,
        guest_id="otherGuest64",
        power_state="poweredOn",
        datastores=("san-01",),
        devices_loaded=True,
        disks=(Disk(label="Hard disk 1", key=2000, size_mb=20480, datastore="san-01", pmem=False),),
    )
    unloaded = VM(
        name="redis-01",
        moid="vm-1",
        host="esx-01",
        cluster="Prod",
        folder="Databases",
        hardware_version=14,
        guest_id="rhel8_64Guest",
        power_state="poweredOff",
        datastores=("san-01",),
    )
    return Inventory(
        hosts=hosts,
        datastores=datastores,
        vms={"app-01": plain, "cache-01": cache, "redis-01": unloaded},
    )


def test_build_status_exact() -> None:
    assert build_status(inventory()) == {
        "hosts": [
            {
                "name": "esx-01",
                "cluster": "Prod",
                "pmem_capacity_mb": 524288,
                "pmem_free_mb": 524288,
                "pmem_datastore": "PMemDS-bbbb",
                "pmem_used_mb": 0,
                "pmem_supported": True,
                "esxi_pmem_support": True,
                "datacenter": "",
                "maintenance": False,
                "vms": [],
            },
            {
                "name": "esx-03",
                "cluster": "Prod",
                "pmem_capacity_mb": 0,
                "pmem_free_mb": 0,
                "pmem_datastore": None,
                "pmem_used_mb": 0,
                "pmem_supported": False,
                "esxi_pmem_support": False,
                "datacenter": "",
                "maintenance": False,
                "vms": [],
            },
            {
                "name": "esx-10",
                "cluster": None,
                "pmem_capacity_mb": 131072,
                "pmem_free_mb": 106496,
                "pmem_datastore": PMEM_DS,
                "pmem_used_mb": 24576,
                "pmem_supported": True,
                "esxi_pmem_support": True,
                "datacenter": "",
                "maintenance": False,
                "vms": ["cache-01"],
            },
        ],
        "vms": [
            {
                "name": "cache-01",
                "host": "esx-10",
                "hardware_version": 19,
                "power_state": "poweredOff",
                "nvdimms": [{"label": "NVDIMM 1", "size_mb": 8192}],
                "disks": [
                    {
                        "label": "Hard disk 1",
                        "size_mb": 20480,
                        "datastore": "san-01",
                        "pmem": False,
                    },
                    {"label": "Hard disk 2", "size_mb": 16384, "datastore": PMEM_DS, "pmem": True},
                ],
                "cluster": None,
                "folder": "",
                "pmem_mb": 24576,
            },
        ],
    }


def test_empty_inventory() -> None:
    assert build_status(Inventory()) == {"hosts": [], "vms": []}


def test_usage_bar() -> None:
    assert usage_bar(0, 100) == "[░░░░░░░░░░]   0%"
    assert usage_bar(62, 100) == "[██████░░░░]  62%"
    assert usage_bar(100, 100) == "[██████████] 100%"
    assert usage_bar(5, 0) == "[░░░░░░░░░░]   0%"


def render(status: dict[str, object]) -> str:
    buf = io.StringIO()
    console = Console(
        file=buf, width=120, no_color=True, color_system=None, markup=False, highlight=False
    )
    render_status(status, console)  # type: ignore[arg-type]
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines())


def test_render_exact() -> None:
    assert render(build_status(inventory())).splitlines() == [
        "PMem by host",
        "",
        " Host     Cluster      PMem     Used      Free   Usage                   VMs",
        " ────────────────────────────────────────────────────────────────────────────────",
        " esx-01   Prod      512 GiB    0 MiB   512 GiB   [░░░░░░░░░░]   0%       -",
        " esx-03   Prod      no PMem        -         -   ESXi PMem support: no",
        " esx-10   -         128 GiB   24 GiB   104 GiB   [██░░░░░░░░]  19%       cache-01",
        "",
        "PMem datastores",
        "  esx-01   PMemDS-bbbb",
        "  esx-10   PMemDS-aaaa",
        "",
        "VMs using PMem",
        "",
        " VM         Host         HW   Power        Device          Size   Where",
        " ────────────────────────────────────────────────────────────────────────────",
        " cache-01   esx-10   vmx-19   poweredOff   NVDIMM 1       8 GiB   host PMem",
        "                                           Hard disk 2   16 GiB   PMemDS-aaaa",
    ]


def test_render_without_pmem_vms_says_so() -> None:
    text = render(build_status(Inventory()))
    assert text.splitlines()[-1] == "No VM uses PMem."


def test_esxi_pmem_support_is_not_pmem() -> None:
    """Real ESXi 8.0.3 says pMemSupported=true with no PMem (pyVmomi fixture host_explode)."""
    inv = inventory()
    bare = replace(inv.hosts["host-3"], pmem_supported=True)
    status = build_status(replace(inv, hosts={**inv.hosts, "host-3": bare}))
    row = next(h for h in status["hosts"] if h["name"] == "esx-03")
    assert (row["pmem_capacity_mb"], row["esxi_pmem_support"]) == (0, True)
    line = next(x for x in render(status).splitlines() if x.startswith(" esx-03"))
    assert line.split() == ["esx-03", "Prod", "no", "PMem", "-", "-", "ESXi", "PMem", "support:",
                            "yes"]
