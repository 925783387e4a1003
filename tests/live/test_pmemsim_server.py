"""pmemsim server behaviour: TLS, API versions, stats, latency, PBM, flags, inventory errors, scale."""

from __future__ import annotations

import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from pyVmomi import SoapStubAdapter, pbm, vim, vmodl

from tests import simproc
from tests.pmemsim import client as pc

RUN = simproc.RUN


def test_tls_cert_verifies_with_default_openssl_level(demo_sim: simproc.PmemSim) -> None:
    ctx = ssl.create_default_context(cafile=str(demo_sim.cert))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    with urllib.request.urlopen(
        f"https://{demo_sim.host}/pmemsim/stats", context=ctx, timeout=10
    ) as r:
        assert r.status == 200
    # also by name: the certificate carries DNS:localhost
    with urllib.request.urlopen(
        f"https://localhost:{demo_sim.parts.port}/pmemsim/stats", context=ctx, timeout=10
    ) as r:
        assert r.status == 200


def test_url_line_and_default_api_version(demo_sim: simproc.PmemSim) -> None:
    assert demo_sim.url.startswith("https://") and demo_sim.url.endswith("/sdk")
    si = pc.connect(demo_sim)
    about = si.content.about
    assert about.apiVersion == "7.0.3.0"
    assert about.version == "7.0.3"
    assert si._stub.versionId.strip('"').endswith("/7.0.3.0")


@pytest.mark.parametrize(
    "flag,api,version",
    [("6.5", "6.5", "6.5.0"), ("8.0", "8.0.0.0", "8.0.0"), ("9.0", "9.0.0.0", "9.0.0")],
)
def test_api_version_flag(make_sim, flag: str, api: str, version: str, tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts: [{name: h1, pmem: 64GiB}]\n")
    sim = make_sim("--api-version", flag, inventory=inv)
    si = pc.connect(sim)
    assert si.content.about.apiVersion == api
    assert si.content.about.version == version
    # pyVmomi speaks the newest API version that both it and the server know:
    # the floor (8.0.3) has no 9.0 namespace and talks 8.0.3 to a 9.0 server.
    from pyVmomi import VmomiSupport

    known = set(VmomiSupport.versionIdMap.values())
    if api in known:
        assert si._stub.versionId.strip('"').endswith("/" + api)
    else:
        assert si._stub.versionId.strip('"').rsplit("/", 1)[1] in known
    h = pc.host(si, "h1")
    if api != "6.5":
        assert h.hardware.persistentMemoryInfo.capacityInMB == 65536


def test_stats_counts_soap_methods(make_sim, tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts: [{name: h1}]\n")
    sim = make_sim(inventory=inv)
    assert sim.stats() == {}
    si = pc.connect(sim)
    st = sim.stats()
    assert st["RetrieveServiceContent"] >= 1 and st["Login"] == 1
    assert all(isinstance(v, int) for v in st.values())
    root = si.content.rootFolder
    before = sim.total_requests()
    _ = root.name  # exactly one more round trip (a PropertyCollector Fetch)
    assert sim.total_requests() == before + 1


def test_latency_flag_delays_requests(make_sim, tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts: [{name: h1}]\n")
    sim = make_sim("--latency-ms", "150", inventory=inv)
    t0 = time.monotonic()
    sim.stats()
    assert time.monotonic() - t0 >= 0.15
    si = pc.connect(sim)
    t0 = time.monotonic()
    _ = si.content.rootFolder.name
    assert time.monotonic() - t0 >= 0.15


def _pbm_stub(
    sim: simproc.PmemSim, si: vim.ServiceInstance, path: str, *, header: bool
) -> pbm.ServiceInstance:
    ctx = ssl.create_default_context(cafile=str(sim.cert))
    cookie = si._stub.cookie.split('"')[1]
    kwargs = {"requestContext": {"vcSessionCookie": cookie}} if header else {}
    stub = SoapStubAdapter(
        host=sim.parts.hostname,
        port=sim.parts.port,
        path=path,
        version="pbm.version.version11",
        poolSize=0,
        sslContext=ctx,
        **kwargs,
    )
    if not header:
        stub.cookie = si._stub.cookie
    return pbm.ServiceInstance("ServiceInstance", stub)


@pytest.mark.parametrize("path", ["/pbm", "/pbm/sdk"])
@pytest.mark.parametrize("header", [True, False], ids=["vcSessionCookie-header", "http-cookie"])
def test_pbm_pmem_policy(demo_sim: simproc.PmemSim, path: str, header: bool) -> None:
    si = pc.connect(demo_sim)
    content = _pbm_stub(demo_sim, si, path, header=header).PbmRetrieveServiceContent()
    pm = content.profileManager
    ids = pm.PbmQueryProfile(
        resourceType=pbm.profile.ResourceType(resourceType="STORAGE"), profileCategory="REQUIREMENT"
    )
    profiles = pm.PbmRetrieveContent(profileIds=ids)
    by_name = {p.name: p for p in profiles}
    p = by_name["Host-local PMem Default Storage Policy"]
    assert p.profileId.uniqueId == pc.PMEM_PROFILE_ID
    assert [q.name for q in profiles if q.systemCreatedProfileType == "PmemDefaultProfile"] == [
        p.name
    ]


def test_stats_count_pbm_methods(make_sim, tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text("hosts: [{name: h1}]\n")
    sim = make_sim(inventory=inv)
    si = pc.connect(sim)
    _pbm_stub(sim, si, "/pbm/sdk", header=True).PbmRetrieveServiceContent()
    assert sim.stats()["PbmRetrieveServiceContent"] == 1


def test_server_survives_bad_requests(make_sim, tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(
        "hosts: [{name: h1, pmem: 8GiB}]\ndatastores: [{name: d1, capacity: 1TiB}]\n"
        "vms:\n  - {name: v1, host: h1, disks: [{size: 1GiB, datastore: d1}]}\n"
    )
    sim = make_sim(inventory=inv)
    ctx = ssl.create_default_context(cafile=str(sim.cert))
    for body in (
        b"garbage",
        b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'><soapenv:Body>"
        b"<NoSuchMethod xmlns='urn:vim25'><_this type='Folder'>group-d1</_this></NoSuchMethod></soapenv:Body></soapenv:Envelope>",
    ):
        req = urllib.request.Request(
            f"https://{sim.host}/sdk", data=body, headers={"Content-Type": "text/xml"}
        )
        try:
            urllib.request.urlopen(req, context=ctx, timeout=10)
        except urllib.error.HTTPError as e:
            assert e.code == 500
    si = pc.connect(sim)
    v = pc.vm(si, "v1")
    # a disk on a controller that does not exist, a NIC with no backing, an unknown datastore
    bad = [
        vim.vm.ConfigSpec(
            deviceChange=[
                vim.vm.device.VirtualDeviceSpec(
                    operation="add",
                    fileOperation="create",
                    device=vim.vm.device.VirtualDisk(key=-1, controllerKey=4242, capacityInKB=1024),
                )
            ]
        ),
        vim.vm.ConfigSpec(
            deviceChange=[
                vim.vm.device.VirtualDeviceSpec(
                    operation="remove", device=vim.vm.device.VirtualDisk(key=999)
                )
            ]
        ),
        vim.vm.ConfigSpec(
            deviceChange=[
                vim.vm.device.VirtualDeviceSpec(
                    operation="add",
                    fileOperation="create",
                    device=vim.vm.device.VirtualDisk(
                        key=-1,
                        controllerKey=1000,
                        capacityInKB=1024,
                        backing=vim.vm.device.VirtualDisk.FlatVer2BackingInfo(
                            fileName="[nowhere] x.vmdk", diskMode="persistent"
                        ),
                    ),
                )
            ]
        ),
    ]
    for spec in bad:
        info = pc.wait(v.ReconfigVM_Task(spec))
        assert info.state == "error"
    pc.ok(
        v.ReconfigVM_Task(
            vim.vm.ConfigSpec(
                deviceChange=[
                    vim.vm.device.VirtualDeviceSpec(
                        operation="add", device=vim.vm.device.VirtualVmxnet3(key=-5)
                    )
                ]
            )
        )
    )
    assert v.config.hardware.device
    v.RefreshStorageInfo()
    assert v.storage.perDatastoreUsage
    dc = si.content.rootFolder.childEntity[0]
    with pytest.raises(vmodl.fault.NotSupported):
        dc.vmFolder.RegisterVM_Task(path="[d1] new/new.vmx", asTemplate=False, pool=v.resourcePool)
    assert set(pc.objects(si, vim.VirtualMachine)) == {"v1"}
    assert sim.proc.poll() is None


def test_pbm_requires_a_session(demo_sim: simproc.PmemSim) -> None:
    ctx = ssl.create_default_context(cafile=str(demo_sim.cert))
    stub = SoapStubAdapter(
        host=demo_sim.parts.hostname,
        port=demo_sim.parts.port,
        path="/pbm/sdk",
        version="pbm.version.version11",
        poolSize=0,
        sslContext=ctx,
    )
    content = pbm.ServiceInstance("ServiceInstance", stub).PbmRetrieveServiceContent()
    with pytest.raises(vim.fault.NotAuthenticated):
        content.profileManager.PbmQueryProfile(
            resourceType=pbm.profile.ResourceType(resourceType="STORAGE")
        )


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: PLW1510 - the exit code is what the tests check
        [str(RUN), "--listen", "127.0.0.1:0", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--bogus"], "flag provided but not defined"),
        (["--copy-rate", "fast"], "--copy-rate"),
        (["--api-version", "5.1"], "--api-version"),
        (["--latency-ms", "-3"], "--latency-ms"),
        (["--fault", "method=Relocate VM"], "--fault"),
        (["--fault", "fault=NoSuchFault"], "unknown fault type"),
        (["--fault", "nth=0"], "nth"),
        (["--inventory", "/nonexistent.yaml"], "--inventory"),
    ],
)
def test_bad_flags_exit_2_without_url(args: list[str], needle: str) -> None:
    r = _run(*args)
    assert r.returncode == 2, r
    assert r.stdout == ""
    assert needle in r.stderr


@pytest.mark.parametrize(
    "text,where",
    [
        (
            "hosts:\n  - {name: h1}\nvms:\n  - {name: a, host: h1, powr: poweredOn, disks: [{size: 1GiB, datastore: d}]}\n",
            "inv.yaml:4: vms[0].powr: unknown key",
        ),
        (
            "hosts:\n  - {name: h1}\ndatastores:\n  - {name: d, capacity: 10GB}\n",
            "inv.yaml:4: datastores[0].capacity: bad size",
        ),
        (
            "hosts:\n  - {name: h1}\ndatastores:\n  - {name: d, capacity: 1TiB, hosts: [h9]}\n",
            "inv.yaml:4: datastores[0].hosts[0]: unknown host",
        ),
        ("hosts:\n  - {name: h1}\n  - {name: h1}\n", "inv.yaml:3: hosts[1].name: duplicate name"),
        (
            "hosts:\n  - {name: h1}\ndatastores:\n  - {name: d, capacity: 1TiB}\nvms:\n  - name: a\n    host: h1\n    power: on\n    disks: [{size: 1GiB, datastore: d}]\n",
            "inv.yaml:8: vms[0].power: unknown power state",
        ),
        (
            "hosts:\n  - {name: h1}\n  - {name: h2}\ndatastores:\n  - {name: d, capacity: 1TiB, hosts: [h2]}\nvms:\n  - {name: a, host: h1, disks: [{size: 1GiB, datastore: d}]}\n",
            "inv.yaml:7: vms[0].disks[0].datastore: datastore d is not mounted on host h1",
        ),
        (
            "hosts:\n  - {name: h1}\ndatastores:\n  - {name: d, capacity: 1TiB}\nvms:\n  - {name: a, host: h1, hardware_version: 19, guest_id: rhel8_64Guest,\n     disks: [{size: 1GiB, datastore: d}], nvdimms: [4GiB]}\n",
            "inv.yaml:7: vms[0].nvdimms[0]: host h1 has no PMem",
        ),
        (
            "hosts:\n  - {name: h1}\ndatastores:\n  - {name: d, type: ZFS, capacity: 1TiB}\n",
            "inv.yaml:4: datastores[0].type: unknown datastore type",
        ),
        (
            "generate:\n  clusters: 2\n  hosts_per_clustr: 3\n",
            "inv.yaml:3: generate.hosts_per_clustr: unknown key",
        ),
        ("hosts: [{name: h1, pmem: lots}]\n", "inv.yaml:1: hosts[0].pmem: bad size"),
    ],
)
def test_inventory_errors_name_file_line_key(tmp_path: Path, text: str, where: str) -> None:
    inv = tmp_path / "inv.yaml"
    inv.write_text(text)
    r = _run("--inventory", str(inv))
    assert r.returncode == 2, r
    assert r.stdout == ""
    assert where in r.stderr.replace(str(tmp_path) + "/", ""), r.stderr


def test_generate_5000_vms_starts_fast_and_pages(make_sim, tmp_path: Path) -> None:
    inv = tmp_path / "gen.yaml"
    inv.write_text(
        "generate:\n  clusters: 10\n  hosts_per_cluster: 20\n  vms_per_host: 25\n"
        "  pmem_per_host: 512GiB\n  disks_per_vm: 2\n  disk_size: 40GiB\n"
    )
    t0 = time.monotonic()
    sim = make_sim(inventory=inv)
    assert time.monotonic() - t0 < 15
    si = pc.connect(sim)
    t0 = time.monotonic()
    objs, pages = pc.retrieve(
        si,
        vim.VirtualMachine,
        ["name", "runtime.host", "summary.config.vmPathName"],
        max_objects=1000,
    )
    elapsed = time.monotonic() - t0
    names = {p.val for o in objs for p in o.propSet if p.name == "name"}
    # vCenter caps a page at 100 objects whatever maxObjects asks (--max-page)
    assert len(names) == 5000 and pages == 50
    assert "vm-c01-h01-01" in names and "vm-c10-h20-25" in names
    assert elapsed < 20
    hosts_of = {p.val for o in objs for p in o.propSet if p.name == "runtime.host"}
    assert len(hosts_of) == 200
    hosts = pc.objects(si, vim.HostSystem)
    assert len(hosts) == 200 and "esx-c03-h07" in hosts
    san = pc.datastore(si, "san-c01")
    assert len(san.host) == 20 and san.summary.type == "VMFS"
    assert pc.objects(si, vim.ClusterComputeResource).keys() >= {"cluster-01", "cluster-10"}
