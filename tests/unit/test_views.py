"""The CLI's output surface: the JSON encoder, the views (exact output), and App's exit path."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pmemctl.apply.events import Event
from pmemctl.apply.executor import ApplyResult, ChangeResult
from pmemctl.apply.rollback import RollbackPlan
from pmemctl.apply.scheduler import Outcome
from pmemctl.cli import jsonout
from pmemctl.cli.app import App
from pmemctl.cli.progress import LineProgress
from pmemctl.cli.views.apply import apply_view, report_lines, run_exit_code
from pmemctl.cli.views.plan import plan_view
from pmemctl.cli.views.status import status_view
from pmemctl.cli.views.validate import validate_view
from pmemctl.errors import Diagnostic, Interrupted, PmemctlError, SessionError, UsageError
from pmemctl.plan.model import Action, Change, HostPmem, Plan, Problem
from pmemctl.plan.payloads import AddNvdimm

# --------------------------------------------------------------------------- the encoder


def test_document_is_indented_utf8_in_key_order() -> None:
    assert jsonout.document({"z": [1, {"vm": "rédis"}], "a": None}) == (
        '{\n  "z": [\n    1,\n    {\n      "vm": "rédis"\n    }\n  ],\n  "a": null\n}\n'
    )


def test_line_is_compact_utf8_in_key_order() -> None:
    assert jsonout.line({"event": "done", "vm": "rédis", "elapsed_s": 1.5, "n": [1, 2]}) == (
        '{"event":"done","vm":"rédis","elapsed_s":1.5,"n":[1,2]}\n'
    )


@pytest.mark.parametrize("encode", [jsonout.document, jsonout.line])
def test_a_lone_surrogate_is_escaped_never_a_crash(encode: Callable[[object], str]) -> None:
    data = {"vm\udc80": "a\ud800b", "ok": "é"}
    text = encode(data)
    assert "\\ud800" in text and "\\udc80" in text and "é" in text
    text.encode("utf-8")  # strict: no surrogate left
    assert json.loads(text) == data  # and it reads back as the same strings


def test_line_never_spans_lines() -> None:
    assert jsonout.line({"message": "a\nb"}) == '{"message":"a\\nb"}\n'


# --------------------------------------------------------------------------- harness


@dataclass
class Captured:
    out: str = ""
    err: str = ""


@contextmanager
def app_capture(quiet: bool = False) -> Iterator[tuple[App, Captured]]:
    """An App writing to CliRunner's streams; the text is in the Captured after the block."""
    cap = Captured()
    with CliRunner().isolation() as (out, err, _):
        app = App(quiet=quiet)
        yield app, cap
        cap.out = out.getvalue().decode()
        cap.err = err.getvalue().decode()


def trimmed(text: str) -> str:
    """Table padding trimmed, as test_render.py compares."""
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


CHANGE = Change(vm="redis-01", action=Action.ADD_NVDIMM, target="NVDIMM 1", before=None,
                after="16 GiB", disruptive=False, reason="spec asks for 1 NVDIMM",
                payload=AddNvdimm(index=1, size_mb=16384, add_controller=True),
                vm_moid="vm-1", host="esx-01", host_moid="host-1")
PLAN = Plan(changes=(CHANGE,),
            hosts=(HostPmem(name="esx-01", capacity_mb=262144, free_mb_before=262144,
                            free_mb_after=245760),),
            warnings=("vCenter API 9.0: deprecated", "redis-01: snapshots stop working"))


# --------------------------------------------------------------------------- App


def test_warn_shows_each_message_once_on_stderr_even_when_quiet() -> None:
    with app_capture(quiet=True) as (app, cap):
        app.warn("vCenter API 9.0: deprecated")
        app.warn("vCenter API 9.0: deprecated")
        app.warn("other")
        app.info("not shown with --quiet")
    assert cap.out == ""
    assert cap.err == "Warning: vCenter API 9.0: deprecated\nWarning: other\n"


def test_emit_json_writes_utf8_bytes_whatever_the_stream_encoding() -> None:
    with CliRunner(charset="ascii").isolation() as (out, _, _):
        App().emit_json_line({"vm": "rédis\ud800"})
    assert out.getvalue() == '{"vm":"rédis\\ud800"}\n'.encode()


def test_table_text_with_a_lone_surrogate_does_not_crash() -> None:
    @click.command()
    def show() -> None:
        App().console.print("VM a\ud800b", soft_wrap=True)

    def invoke() -> object:
        return show.main([], standalone_mode=False)

    with CliRunner().isolation() as (out, _, _), pytest.raises(SystemExit) as exc:
        App().run(invoke)
    assert exc.value.code == 0
    assert out.getvalue() == b"VM a\\ud800b\n"


def test_surrogate_escaped_bytes_are_written_back() -> None:
    @click.command()
    def show() -> None:
        App().console.print(os.fsdecode(b"disk-\xff.vmdk"), soft_wrap=True)

    with CliRunner().isolation() as (out, _, _), pytest.raises(SystemExit):
        App().run(lambda: show.main([], standalone_mode=False))
    assert out.getvalue() == b"disk-\xff.vmdk\n"


def test_console_prints_names_verbatim() -> None:
    with app_capture() as (app, cap):
        app.console.print("VM [bold]x[/bold] :smile:", soft_wrap=True)
    assert cap.out == "VM [bold]x[/bold] :smile:\n"


def run_app(invoke: Callable[[], object]) -> tuple[object, str, str]:
    with CliRunner().isolation() as (out, err, _), pytest.raises(SystemExit) as exc:
        App().run(invoke)
    return exc.value.code, out.getvalue().decode(), err.getvalue().decode()


def _raise(e: BaseException) -> Callable[[], object]:
    def invoke() -> object:
        raise e

    return invoke


@pytest.mark.parametrize(("invoke", "code", "err"), [
    (lambda: None, 0, ""),
    (lambda: 0, 0, ""),
    (lambda: 2, 2, ""),
    (_raise(PmemctlError("blocked")), 1, "Error: blocked\n"),
    (_raise(SessionError("no route")), 1, "Error: no route\n"),
    (_raise(UsageError("no vCenter")), 64, "Error: no vCenter\n"),
    (_raise(Interrupted("Apply interrupted.")), 130, "Error: Apply interrupted.\n"),
    (_raise(KeyboardInterrupt()), 130, "Interrupted.\n"),
    (_raise(click.exceptions.Abort()), 1, "Aborted.\n"),
    (_raise(click.UsageError("bad flag")), 64, "Error: bad flag\n"),
    (_raise(ValueError("oops")), 1,
     "Internal error (a bug in pmemctl; set PMEMCTL_DEBUG=1 for the traceback):\n"
     "ValueError: oops\n"),
    (lambda: "done", 1,
     "Internal error (a bug in pmemctl; set PMEMCTL_DEBUG=1 for the traceback):\n"
     "TypeError: a command returned 'done', not an exit code\n"),
])
def test_run_is_the_one_exit(invoke: Callable[[], object], code: int, err: str) -> None:
    assert run_app(invoke) == (code, "", err)


def test_spec_errors_print_one_diagnostic_per_line() -> None:
    from pmemctl.errors import SpecError

    e = SpecError([Diagnostic("b.yaml", 2, 1, "two"), Diagnostic("a.yaml", 1, 3, "one")])
    assert run_app(_raise(e)) == (1, "", "a.yaml:1:3: one\nb.yaml:2:1: two\n")


def test_debug_lets_internal_errors_through(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMEMCTL_DEBUG", "1")
    with CliRunner().isolation(), pytest.raises(ValueError, match="oops"):
        App().run(_raise(ValueError("oops")))


def test_command_exit_codes_reach_the_process(tmp_path: Path) -> None:
    from pmemctl.cli import cli

    good = tmp_path / "good.yaml"
    good.write_text("apiVersion: pmemctl/v1\nvms:\n  - name: redis-01\n    nvdimms: [16GiB]\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: pmemctl/v1\nvms:\n  - nmae: redis-01\n")
    assert CliRunner().invoke(cli, ["validate", str(good)]).exit_code == 0
    assert CliRunner().invoke(cli, ["validate", str(bad)]).exit_code == 1


# --------------------------------------------------------------------------- validate


def test_validate_views() -> None:
    specs = [Path("a.yaml"), Path("b.yaml")]
    d = [Diagnostic("a.yaml", 3, 5, "unknown key 'nmae'")]
    with app_capture() as (app, cap):
        validate_view(app, "table").result(specs, d)
    assert (cap.out, cap.err) == ("a.yaml:3:5: unknown key 'nmae'\n",
                                  "1 problem in 1 of 2 spec file(s).\n")
    with app_capture() as (app, cap):
        validate_view(app, "table").result(specs, [])
    assert (cap.out, cap.err) == ("a.yaml: valid\nb.yaml: valid\n", "")
    with app_capture() as (app, cap):
        validate_view(app, "json").result(specs, d)
    # "col" (the pipelines issue's name) and "files" are extensions; "column" stays.
    assert json.loads(cap.out) == {"valid": False, "problems": [
        {"file": "a.yaml", "line": 3, "col": 5, "column": 5, "message": "unknown key 'nmae'"}],
        "files": ["a.yaml", "b.yaml"]}
    assert cap.out == jsonout.document(json.loads(cap.out)) and cap.err == ""


def test_a_file_name_that_is_not_utf8_prints_in_table_and_json(tmp_path: Path) -> None:
    from pmemctl.cli import cli

    # argv is decoded with surrogateescape: b"\xff" arrives as "\udcff".
    spec = tmp_path / os.fsdecode(b"r\xff.yaml")
    spec.write_text("apiVersion: pmemctl/v1\nvms: [{nmae: x}]\n")
    table = CliRunner().invoke(cli, ["validate", str(spec)])
    assert table.exit_code == 1
    assert table.stdout_bytes.startswith(os.fsencode(str(spec)) + b":2:")  # the bytes `ls` shows
    js = CliRunner().invoke(cli, ["validate", "-o", "json", str(spec)])
    assert js.exit_code == 1
    assert json.loads(js.stdout)["problems"][0]["file"] == str(spec)  # escaped as \udcff


# --------------------------------------------------------------------------- status


def test_status_json_view_is_the_document() -> None:
    status = {"hosts": [{"name": "esx-01", "pmem_capacity_mb": 1024}], "vms": []}
    with app_capture() as (app, cap):
        status_view(app, "json").status(status)
    assert cap.out == (
        '{\n  "hosts": [\n    {\n      "name": "esx-01",\n      "pmem_capacity_mb": 1024\n'
        '    }\n  ],\n  "vms": []\n}\n'
    )


# --------------------------------------------------------------------------- plan


PLAN_TABLE = """\
VM redis-01 (host esx-01)
    Action       Target     Before → After   !   Reason
───────────────────────────────────────────────────────────────────────
+   add_nvdimm   NVDIMM 1   none → 16 GiB        spec asks for 1 NVDIMM

PMem per host
Host     Capacity   Free before            Free after
───────────────────────────────────────────────────────────────
esx-01   256 GiB    256 GiB (262144 MiB)   240 GiB (245760 MiB)

Plan: 1 change for 1 VM. PMem: esx-01 256 GiB → 240 GiB free.
"""


def test_plan_table_puts_warnings_on_stderr_once() -> None:
    with app_capture() as (app, cap):
        app.warn("vCenter API 9.0: deprecated")  # as App.connect does
        plan_view(app, "table").plan(PLAN)
    assert trimmed(cap.out) == PLAN_TABLE
    assert cap.err == ("Warning: vCenter API 9.0: deprecated\n"
                       "Warning: redis-01: snapshots stop working\n")


def test_plan_json_keeps_the_warnings_key_and_warns_on_stderr() -> None:
    with app_capture() as (app, cap):
        plan_view(app, "json").plan(PLAN)
    assert cap.out == jsonout.document(PLAN.to_json())
    assert json.loads(cap.out)["warnings"] == list(PLAN.warnings)
    assert "Warning" not in cap.out
    assert cap.err == ("Warning: vCenter API 9.0: deprecated\n"
                       "Warning: redis-01: snapshots stop working\n")


def test_plan_saved_is_a_note_on_stderr() -> None:
    with app_capture() as (app, cap):
        plan_view(app, "json").saved(Path("p.json"))
    assert (cap.out, cap.err) == (
        "", "Saved the plan to p.json; run `pmemctl apply p.json` to execute it.\n")


# --------------------------------------------------------------------------- apply / rollback


def result(*outcomes: Outcome, interrupted: bool = False) -> ApplyResult:
    return ApplyResult(results=[ChangeResult(CHANGE, o, task="task-1" if o else None,
                                             fault="InsufficientResourcesFault"
                                             if o is Outcome.FAILED else None,
                                             message="no PMem" if o is Outcome.FAILED else None)
                                for o in outcomes], elapsed_s=1.23456, interrupted=interrupted)


def test_apply_table_empty_plan_is_the_summary_line_and_warnings_on_stderr() -> None:
    with app_capture() as (app, cap):
        apply_view(app, "table").plan(Plan(warnings=("w1",)))
    assert (cap.out, cap.err) == ("No changes. The estate matches the spec.\n", "Warning: w1\n")


def test_apply_json_plan_line() -> None:
    with app_capture() as (app, cap):
        apply_view(app, "json").plan(PLAN)
    assert cap.out == jsonout.line({"event": "plan", **PLAN.to_json()})
    assert cap.out.count("\n") == 1
    assert cap.err.count("Warning: ") == 2


def test_rollback_views() -> None:
    rb = RollbackPlan(plan=Plan(), notes=("kept NVDIMM 1",))
    with app_capture() as (app, cap):
        apply_view(app, "table", verb="Rollback").rollback_plan(rb)
    assert (cap.out, cap.err) == ("Note: kept NVDIMM 1\nNothing to roll back.\n", "")
    with app_capture() as (app, cap):
        apply_view(app, "json", verb="Rollback").rollback_plan(rb)
    assert cap.out == ('{"event":"plan","format_version":1,"changes":[],"problems":[],'
                       '"hosts":[],"warnings":[],"skipped":[],"notes":["kept NVDIMM 1"]}\n')


def test_apply_summary_table_and_json() -> None:
    r = result(Outcome.DONE)
    with app_capture() as (app, cap):
        apply_view(app, "table").summary(r, journal_label="Journal", journal_path=Path("j.jsonl"))
    assert (cap.out, cap.err) == ("Apply complete: 1 done, 0 failed.\n", "Journal: j.jsonl\n")
    with app_capture() as (app, cap):
        apply_view(app, "json").summary(r, journal_label="Journal", journal_path=Path("j.jsonl"),
                                        extra={"elapsed_s": 1.235})
    assert cap.out == (
        '{"event":"summary","not_started":0,"done":1,"failed":0,"skipped":0,"elapsed_s":1.235,'
        '"journal":"j.jsonl","results":[{"vm":"redis-01","action":"add_nvdimm",'
        '"target":"NVDIMM 1","outcome":"done","task":"task-1","fault":null,"message":null}]}\n'
    )


def test_report_lines_and_exit_codes() -> None:
    failed = result(Outcome.FAILED)
    assert report_lines(failed) == [
        "Apply failed: 0 done, 1 failed.",
        "  redis-01: add_nvdimm NVDIMM 1: InsufficientResourcesFault: no PMem (task-1)",
        "  redis-01: done: nothing; not done: add_nvdimm NVDIMM 1 (failed)",
    ]
    assert run_exit_code(result(Outcome.DONE), verb="Apply") == 0
    assert run_exit_code(failed, verb="Apply") == 1
    with pytest.raises(Interrupted, match=r"^Rollback interrupted: 1 done, 0 failed\. Hint\.$"):
        run_exit_code(result(Outcome.DONE, interrupted=True), verb="Rollback",
                      interrupted_hint=" Hint.")


def test_line_progress_table_and_json() -> None:
    started = Event("started", vm="redis-01", action="add_nvdimm", target="NVDIMM 1",
                    task="task-7", time=12.0)
    tick = Event("progress", vm="redis-01", action="add_nvdimm", progress=40, time=12.5)
    warning = Event("warning", message="the vCenter session had ended; logged in again",
                    time=13.0)
    with app_capture() as (app, cap):
        hook = apply_view(app, "table").events()
        for e in (started, tick, warning, warning):
            hook.event(e)
    assert cap.out == "redis-01: add_nvdimm NVDIMM 1: started (task-7)\n"
    assert cap.err == "Warning: the vCenter session had ended; logged in again\n"
    with app_capture() as (app, cap):
        hook = LineProgress(app, json_mode=True)
        for e in (started, tick, warning):
            hook.event(e)
    assert cap.out == (
        '{"event":"started","vm":"redis-01","action":"add_nvdimm","target":"NVDIMM 1",'
        '"task":"task-7","time":12.0}\n'
        '{"event":"warning","message":"the vCenter session had ended; logged in again",'
        '"time":13.0}\n'
    )
    assert cap.err == "Warning: the vCenter session had ended; logged in again\n"


def test_apply_table_without_a_terminal_prints_lines() -> None:
    with app_capture() as (app, _):
        hook, live = apply_view(app, "table").progress(PLAN)
    assert isinstance(hook, LineProgress) and not live


def test_problems_stay_on_stdout() -> None:
    blocked = Plan(problems=(Problem(vm="redis-02", message="no such VM"),))
    with app_capture() as (app, cap):
        plan_view(app, "table").plan(blocked)
    assert cap.out == ("No changes planned.\nBlocked by 1 problem; apply will refuse this plan:\n"
                       "Error: no such VM\n")
    assert cap.err == ""
