"""The public Python API (pmemctl.connect, Session, load_spec, plan) against pmemsim."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import pmemctl
from pmemctl.apply.events import Event
from tests import simproc
from tests.live import applykit as k

MakeSim = Callable[..., simproc.PmemSim]
GiB = 1024
REDIS = {"apiVersion": "pmemctl/v1", "vms": [{"name": "redis-01", "nvdimms": ["16GiB"]}]}


@pytest.fixture(autouse=True)
def _journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))


def test_the_package_exports_only_the_documented_api() -> None:
    assert set(pmemctl.__all__) >= {"connect", "load_spec", "make_plan", "Session", "Plan",
                                    "ApplyResult", "Event", "SpecError", "__version__"}
    for name in pmemctl.__all__:
        assert getattr(pmemctl, name) is not None
        assert not name.startswith("_") or name == "__version__"
    assert (Path(pmemctl.__file__).parent / "py.typed").is_file()
    with pytest.raises(AttributeError):
        _ = pmemctl.take_snapshot  # type: ignore[attr-defined]


def test_a_dict_spec_is_checked_like_a_file() -> None:
    with pytest.raises(pmemctl.SpecError) as info:
        pmemctl.load_spec({"apiVersion": "pmemctl/v1", "vms": [{"name": "a", "nvdims": []}]},
                          name="inline.yaml")
    assert str(info.value.diagnostics[0]).startswith("inline.yaml:")
    assert "nvdims" in str(info.value.diagnostics[0])


def test_connect_plan_apply_converges_with_events(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim()
    spec = pmemctl.load_spec(REDIS)
    events: list[Event] = []
    with pmemctl.connect(sim.url, ca_file=str(sim.cert)) as session:
        assert session.about.instance_uuid
        inventory = session.snapshot(spec)
        pure = pmemctl.make_plan(spec, inventory)
        plan = session.plan(spec, journal=tmp_path / "j.jsonl")
        assert [c.action.value for c in plan.changes] == [c.action.value for c in pure.changes]
        assert "add_nvdimm" in [c.action.value for c in plan.changes]
        assert k.estate(sim).vms["redis-01"].nvdimms == ()  # plan changed nothing
        other = pmemctl.load_spec({**REDIS, "vms": [{"name": "redis-01", "nvdimms": ["8GiB"]}]})
        with pytest.raises(pmemctl.StalePlanError):
            session.apply(other, plan=plan, journal=tmp_path / "j.jsonl")
        result = session.apply(spec, on_event=events.append, journal=tmp_path / "j.jsonl",
                               plan=plan)
        assert result.ok and result.results
        assert {"started", "done"} <= {e.kind for e in events}
        assert session.plan(spec, journal=tmp_path / "j.jsonl").empty
        assert session.apply(spec, journal=tmp_path / "j.jsonl").results == []
        status = session.status()
    assert [n.size_mb for n in k.estate(sim).vms["redis-01"].nvdimms] == [16 * GiB]
    assert "redis-01" in {vm["name"] for vm in status["vms"]}
    assert (tmp_path / "j.jsonl").read_text().count('"run_start"') == 1


def test_a_dict_spec_needs_a_journal_and_confirm_can_refuse(make_sim: MakeSim) -> None:
    sim = make_sim()
    spec = pmemctl.load_spec(REDIS)
    with pmemctl.connect(sim.url, ca_file=str(sim.cert)) as session, \
            pytest.raises(pmemctl.UsageError, match="pass journal=PATH"):
        session.apply(spec)
    file_spec = pmemctl.load_spec(str(k.spec(Path(sim.cert).parent, """
        vms:
          - name: redis-01
            nvdimms: [16GiB]
    """)))
    with pmemctl.connect(sim.url, ca_file=str(sim.cert)) as session:
        with pytest.raises(pmemctl.UsageError, match="confirm"):
            session.apply(file_spec, confirm=lambda plan: False)
        assert session.default_journal(file_spec).parent.name == "journals"
    assert k.estate(sim).vms["redis-01"].nvdimms == ()


def test_a_dict_spec_plans_without_a_journal(make_sim: MakeSim) -> None:
    # plan is a read: only apply needs a journal to name after the spec's file.
    sim = make_sim()
    with pmemctl.connect(sim.url, ca_file=str(sim.cert)) as session:
        plan = session.plan(pmemctl.load_spec(REDIS))
    assert plan.changes and not plan.blocked


def test_a_dict_that_is_not_plain_data_is_a_clear_error() -> None:
    with pytest.raises(pmemctl.UsageError, match="not plain data"):
        pmemctl.load_spec({"apiVersion": "pmemctl/v1", "vms": [{"name": Path("x")}]})


def test_a_blocked_plan_raises_with_every_problem(make_sim: MakeSim, tmp_path: Path) -> None:
    sim = make_sim()
    spec = pmemctl.load_spec({"apiVersion": "pmemctl/v1",
                              "vms": [{"name": "redis-01", "nvdimms": ["100TiB"]}]})
    with pmemctl.connect(sim.url, ca_file=str(sim.cert)) as session, \
            pytest.raises(pmemctl.PlanBlocked) as info:
        session.apply(spec, journal=tmp_path / "j.jsonl")
    assert info.value.plan.problems
    assert "redis-01" in str(info.value)


def test_govc_url_without_scheme_and_debug_log_via_python_m(demo_sim: simproc.PmemSim) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "GOVC_URL": demo_sim.url.split("://", 1)[1],
           "GOVC_TLS_CA_CERTS": str(demo_sim.cert)}
    r = subprocess.run([sys.executable, "-m", "pmemctl", "-v", "status", "-o", "json"],
                       env=env, capture_output=True, text=True, check=False,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert '"hosts"' in r.stdout
    debug = [line for line in r.stderr.splitlines() if line.startswith("debug:")]
    assert any(" SOAP Login " in line for line in debug), r.stderr
    assert any(" SOAP RetrievePropertiesEx propertyCollector " in line for line in debug)
    assert demo_sim.password not in r.stderr


def test_the_readme_csv_script_migrates_the_listed_vms(make_sim: MakeSim, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    section = readme.split("## Python API", 1)[1]
    script = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert "csv.DictReader" in script and "on_event=show" in script
    sim = make_sim("--copy-rate", "2TiB/s")
    (tmp_path / "vms.csv").write_text("vm,owner\nlegacy-sql-02,dba\n")
    (tmp_path / "config.yaml").write_text(
        f"contexts:\n  vc01:\n    url: {sim.host}\n    user: {sim.user}\n"
        f"    ca-file: {sim.cert}\n    password-env: VC01_PASSWORD\n")
    (tmp_path / "migrate.py").write_text(script)
    env = {**os.environ, "PYTHONPATH": str(root), "PMEMCTL_CONFIG": str(tmp_path / "config.yaml"),
           "VC01_PASSWORD": sim.password}
    r = subprocess.run([sys.executable, "migrate.py"], cwd=tmp_path, env=env, check=False,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "started  legacy-sql-02" in r.stdout and "done     legacy-sql-02" in r.stdout
    assert all(d.pmem for d in k.estate(sim).vms["legacy-sql-02"].disks)
    assert (tmp_path / "vms-vc01.jsonl").is_file()
