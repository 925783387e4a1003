"""At 100 columns nothing is cut: long host, VM and PMem datastore names fold, never "…"."""

from __future__ import annotations

import io
import os
from contextlib import nullcontext

import pytest
from click.testing import CliRunner
from rich.console import Console

from pmemctl.cli.app import App
from pmemctl.plan.planner import make_plan
from pmemctl.plan.render import render_plan
from pmemctl.status import build_status, render_status
from pmemctl.testing import FakeVSphere
from tests.unit import builders as b

pytestmark = pytest.mark.unit

H1 = "esx-prod-rack12-node07.datacenter-west.example.com"
H2 = "esx-prod-rack12-node08.datacenter-west.example.com"


def _estate() -> object:
    return b.inventory(
        hosts=[b.host(H1), b.host(H2)],
        datastores=[b.datastore("san-01", hosts=[H1, H2])],
        vms=[b.vm(f"legacy-sql-server-{i:02d}-production-cluster", host=H1 if i % 2 else H2,
                  disks=[b.disk(), b.disk("Hard disk 2", datastore="PMemDS-" + (H1 if i % 2 else H2))],
                  nvdimms=[b.nvdimm()])
             for i in range(3)])


def _render(width: int) -> str:
    inv = _estate()
    con = Console(file=io.StringIO(), width=width, markup=False, highlight=False, emoji=False,
                  soft_wrap=False)
    render_status(build_status(inv), con)  # type: ignore[arg-type]
    plan = make_plan(b.spec(b.entry(match="legacy-*", disks={"*": "pmem"}, nvdimms_gb=[32])),
                     inv)  # type: ignore[arg-type]
    render_plan(plan, con)
    return con.file.getvalue()  # type: ignore[attr-defined]


def test_at_100_columns_nothing_is_cut_and_nothing_is_wider() -> None:
    out = _render(100)
    assert "…" not in out
    assert max(len(line.rstrip()) for line in out.splitlines()) <= 100
    # Every name is all there once the folds are joined up.
    joined = "".join(line.strip() for line in out.splitlines())
    for name in (H1, H2, "legacy-sql-server-02-production-cluster", "PMemDS-" + H1):
        assert name in joined, name


def test_a_pmem_datastore_name_that_fits_a_line_is_never_split() -> None:
    lines = [line.strip() for line in _render(100).splitlines()]
    assert "PMemDS-" + H1 in lines and "PMemDS-" + H2 in lines


def test_the_plan_summary_too_wide_for_a_line_puts_each_host_on_its_own() -> None:
    lines = _render(100).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Plan: "))
    assert [line.rstrip() for line in lines[start:start + 3]] == [
        "Plan: 6 changes for 3 VMs. PMem:",
        f"  {H1} 512 GiB → 456 GiB free,",
        f"  {H2} 512 GiB → 400 GiB free.",
    ]


def test_a_summary_that_fits_stays_on_one_line() -> None:
    lines = _render(200).splitlines()
    assert any(line.startswith("Plan: 6 changes for 3 VMs. PMem: esx-") and line.rstrip()
               .endswith("400 GiB free.") for line in lines)


@pytest.mark.parametrize(("columns", "width"), [("100", 100), ("", 120)])
def test_piped_output_follows_columns(monkeypatch: pytest.MonkeyPatch, columns: str,
                                      width: int) -> None:
    if columns:
        monkeypatch.setenv("COLUMNS", columns)
    else:
        monkeypatch.delenv("COLUMNS", raising=False)
    vs = FakeVSphere(_estate())  # type: ignore[arg-type]
    runner = CliRunner()
    with runner.isolation():  # stdout is a pipe here, as in `pmemctl status | less`
        app = App(vsphere=lambda _vc: nullcontext(vs))
        assert app.console.width == width, os.environ.get("COLUMNS")
