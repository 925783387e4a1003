"""The probe's table, and the line saying what ``apply`` will use."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from pmemctl.probe.result import ProbeResult, ProbeStep


def verdict(step: ProbeStep) -> str:
    """``accepted``, ``refused``, ``error`` or ``skipped``."""
    if step.accepted is True:
        return "accepted"
    if step.accepted is False:
        return "refused"
    return "error" if step.errored else "skipped"


def choices(result: ProbeResult) -> list[tuple[str, str]]:
    """What apply takes from this result, as (question, answer) pairs."""
    def show(value: object) -> str:
        return "not known (apply keeps its default)" if value is None else str(value)

    needs_off = result.pmem_disk_needs_power_off()
    return [
        ("hardware upgrade via", show(result.upgrade_via())),
        ("onto PMem shape", show(result.onto_pmem_shape())),
        ("off PMem profile", show(result.off_pmem_profile())),
        ("new vPMemDisk needs power-off",
         show(None if needs_off is None else ("yes" if needs_off else "no"))),
    ]


def render_result(result: ProbeResult, console: Console) -> None:
    """Print one row per call shape, then what apply will use."""
    table = Table(title=f"pmemctl probe: vCenter {result.vcenter} (API {result.api_version})",
                  title_justify="left")
    for col in ("Step", "Shape", "Result", "Fault"):
        table.add_column(col, no_wrap=True, overflow="fold")  # folded if it must, never "…"
    table.add_column("Note (fault keys)", overflow="fold", ratio=1)
    for s in result.steps:
        note = "\n".join([s.note, *s.fault_keys]) if s.fault_keys else s.note
        table.add_row(s.name, s.shape, verdict(s), s.fault or "", note)
    console.print(table)
    for question, answer in choices(result):
        console.print(f"{question}: {answer}")
