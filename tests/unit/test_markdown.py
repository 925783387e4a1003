"""``--output markdown``: a plan as a pull-request comment, readable at 500 VMs, never cut silently."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from pmemctl.cli.views.markdown import MARKER, Source, md, plan_markdown
from pmemctl.plan.model import HostPmem, Plan, Problem
from pmemctl.plan.planner import make_plan
from pmemctl.testing import FakeVSphere
from tests.unit import fakecli as k
from tests.unit.builders import disk, entry, host, inventory, spec, vm

pytestmark = pytest.mark.unit


def small_plan() -> Plan:
    inv = inventory(hosts=[host("esx-01"), host("esx-02"), host("esx-03")],
                    vms=[vm("db-01", disks=[disk()]),
                         vm("web-01", host="esx-02", hw=13, power="poweredOn", disks=[disk()])])
    return make_plan(spec(entry(name="db-01", nvdimms_gb=[16], disks={"*": "pmem"}),
                          entry(name="web-01", nvdimms_gb=[16])), inv)


def fleet_plan(n: int) -> Plan:
    """``n`` VMs on 20 hosts, two disks each onto PMem: ``2 n`` changes."""
    hosts = [host(f"esx-{i:02d}", pmem_gb=4096) for i in range(20)]
    vms = [vm(f"app-{i:04d}", host=f"esx-{i % 20:02d}",
              disks=[disk("Hard disk 1", 4), disk("Hard disk 2", 4)]) for i in range(n)]
    return make_plan(spec(entry(match="app-*", disks={"*": "pmem"})), inventory(hosts=hosts,
                                                                                vms=vms))


def test_summary_and_blockers_first_then_a_folded_section_per_vm_then_pmem_per_host() -> None:
    plan = small_plan()
    # A host in the plan whose PMem does not move (the planner lists the VMs' hosts).
    plan = replace(plan, hosts=(*plan.hosts, HostPmem("esx-03", 1024, 512, 512)))
    text = plan_markdown(plan)
    assert text.startswith(MARKER + "\n### pmemctl plan\n\n**Plan: 3 changes for 2 VMs "
                           "(1 disruptive). PMem: esx-01 512 GiB → 456 GiB free, esx-02 512 GiB "
                           "→ 496 GiB free.**\n\n`add_nvdimm` × 2 · `migrate_disk` × 1\n\n"
                           "⛔ **Blocked by 2 problems; apply will refuse this plan:**\n\n"
                           "- <code>web-01</code>: VM web-01 is vmx-13;")
    order = [text.index(s) for s in ("**Plan:", "⛔ **Blocked", "**1 warning:**",
                                     "<details><summary><code>db-01</code> (host esx-01): "
                                     "2 changes</summary>",
                                     "<details><summary><code>web-01</code> (host esx-02): "
                                     "1 change, 1 disruptive</summary>",
                                     "#### PMem per host")]
    assert order == sorted(order)
    assert ("| → | migrate_disk | Hard disk 1 | san-01 → PMemDS-esx-01 |  | spec wants Hard "
            "disk 1 on pmem |") in text
    # Only the hosts whose PMem moves are rows; the rest are counted.
    assert "| esx-03 |" not in text
    assert text.endswith("| esx-02 | 512 GiB | 512 GiB (524288 MiB) | 496 GiB (507904 MiB) |\n\n"
                         "1 other host in the plan: PMem free unchanged.\n")
    assert text.count("<details>") == text.count("</details>") == 2


def test_no_changes_is_one_line() -> None:
    inv = inventory(hosts=[host()], vms=[vm("db-01", disks=[disk("Hard disk 1", 4, "PMemDS-esx-01")])])
    text = plan_markdown(make_plan(spec(entry(name="db-01", disks={"*": "pmem"})), inv))
    assert text == f"{MARKER}\n### pmemctl plan\n\n**No changes. The estate matches the spec.**\n"


def test_the_source_names_a_saved_plan() -> None:
    text = plan_markdown(small_plan(), source=Source(title="pmemctl show plan.json",
                                                     detail="Saved 2026-12-02 from `prod.yaml`"))
    assert text.startswith(f"{MARKER}\n### pmemctl show plan.json\n\n"
                           "Saved 2026-12-02 from `prod.yaml`\n\n**Plan:")


@pytest.mark.parametrize("name", ["a|b", "x<script>y", "@ops-team", "#12", "*bold*", "`tick`",
                                  "two\nlines", "a_b_c", "[link](http://x)"])
def test_names_cannot_break_the_table_or_ping_anyone(name: str) -> None:
    inv = inventory(hosts=[host()], vms=[vm(name, disks=[disk()])])
    text = plan_markdown(make_plan(spec(entry(name=name, disks={"*": "pmem"})), inv))
    rows = [line for line in text.splitlines() if line.startswith("| → ")]
    assert len(rows) == 1
    # Six cells: seven pipes that are not escaped.
    assert len(re.findall(r"(?<!\\)\|", rows[0])) == 7
    body = text.replace(MARKER, "")
    assert "<script>" not in body and "@ops" not in body and "#12" not in body
    assert "\n\n" not in text.split("<summary>", 1)[1].split("</summary>", 1)[0]


def test_md_escapes_markdown_and_html() -> None:
    assert md("a|b*c_d`e[f]~g\\h") == "a\\|b\\*c\\_d\\`e\\[f\\]\\~g\\\\h"
    assert md("<b>&@x #1") == "&lt;b&gt;&amp;&#64;x &#35;1"
    assert md("") == " "


def test_500_vms_fold_count_and_stay_within_a_github_comment() -> None:
    plan = fleet_plan(500)
    text = plan_markdown(plan)
    assert len(text) <= 60_000
    assert "**Plan: 1000 changes for 500 VMs. PMem: " in text
    assert "`migrate_disk` × 1000" in text
    # One outer fold around the 500 VM sections, saying what it holds.
    assert "<details><summary><b>Changes for 500 VMs (1000 changes)</b></summary>" in text
    shown = re.findall(r"<summary><code>(app-\d{4})</code>", text)
    m = re.search(r"\*\*(\d+) VMs \((\d+) changes\) not shown here\*\*", text)
    assert m, "the left-out VMs must be counted"
    assert len(shown) + int(m.group(1)) == 500
    assert 2 * len(shown) + int(m.group(2)) == 1000
    assert shown == [f"app-{i:04d}" for i in range(len(shown))]  # in plan order, none skipped
    assert len(shown) > 50
    assert text.count("<details>") == text.count("</details>")
    assert text.rstrip().endswith("PMem free unchanged.") or "| esx-19 |" in text


def test_without_a_limit_every_vm_is_there() -> None:
    text = plan_markdown(fleet_plan(500), max_chars=0)
    assert len(re.findall(r"<summary><code>app-\d{4}</code>", text)) == 500
    assert "not shown here" not in text
    assert len(text) > 60_000  # the case the limit exists for


def test_a_flood_of_problems_is_counted_and_leaves_room_for_the_vms() -> None:
    plan = fleet_plan(30)
    problems = tuple(Problem(f"app-{i:04d}", "x" * 200) for i in range(1000))
    text = plan_markdown(replace(plan, problems=problems), max_chars=20_000)
    assert len(text) <= 20_000
    listed = text.count("\n- <code>app-")
    m = re.search(r"- … and (\d+) more problems not shown here", text)
    assert m and listed + int(m.group(1)) == 1000
    assert "**Blocked by 1000 problems; apply will refuse this plan:**" in text
    assert "<summary><code>app-0000</code>" in text


def test_a_flood_of_warnings_is_counted_and_the_limit_holds() -> None:
    plan = fleet_plan(30)
    warnings = tuple(f"warning {i}: " + "y" * 200 for i in range(1000))
    text = plan_markdown(replace(plan, warnings=warnings), max_chars=20_000)
    assert len(text) <= 20_000
    m = re.search(r"- … and (\d+) more warnings not shown here", text)
    assert m and text.count("- ⚠️ warning ") + int(m.group(1)) == 1000


# --------------------------------------------------------------------------- the CLI


def test_plan_output_markdown_on_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_JOURNAL_DIR", str(tmp_path / "journals"))
    vs = FakeVSphere(inventory(hosts=[host("esx-01")], vms=[vm("db-01", disks=[disk()])]))
    path = k.spec(tmp_path, 'vms:\n  - name: db-01\n    disks: {"*": pmem}\n')
    r = k.run(vs, "plan", str(path), "--output", "markdown")
    assert (r.exit_code, r.stderr) == (0, "")
    assert r.stdout.startswith(f"{MARKER}\n### pmemctl plan\n\n**Plan: 1 change for 1 VM.")
    assert "<summary><code>db-01</code> (host esx-01): 1 change</summary>" in r.stdout
    small = k.run(vs, "plan", str(path), "-o", "markdown", "--max-chars", "300")
    assert small.exit_code == 0
    assert "<summary><code>" not in small.stdout  # no room for the section: counted instead
    assert "**1 VM (1 change) not shown here**" in small.stdout
