"""playbooks/ci/: the example pipelines parse, and every pmemctl command in them exists.

Each ``run:`` (GitHub) and ``script:`` (GitLab) is split as a shell would
split it; every ``pmemctl …`` in it must name a command of the Click CLI,
with flags that command (or the group) takes and ``--output`` values it
accepts. ``pmemctl sim`` passes its flags to pmemsim, so they are checked
against the flags pmemsim defines (tests/pmemsim/flags.go).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from pmemctl.cli import cli

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parents[2]
CI = ROOT / "playbooks" / "ci"
GITHUB = CI / "github-actions.yml"
GITLAB = CI / "gitlab-ci.yml"

# TODO(after merging branch rehearse): these commands are built there. Until
# they are on this branch, their flags are checked against the issue's
# contract below; once `cli.commands` has them, the real command is checked
# instead (problems_with looks there first), so the check tightens by itself
# and these entries can be deleted.
PENDING: dict[str, set[str]] = {
    "rehearse": {"--estate", "--output", "-o", "--copy-rate", "--latency-ms", "--api-version",
                 "--parallel", "--per-host", "--per-datastore", "--on-failure"},
    "export": {"--scope", "--anonymize", "--out", "-o"},
    "sim": set(),  # pass-through: checked against pmemsim's own flags
}
PASS_THROUGH = {"sim"}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def github_scripts(doc: Any) -> Iterator[tuple[str, str]]:
    for job_name, job in doc["jobs"].items():
        for i, step in enumerate(job.get("steps", [])):
            if "run" in step:
                yield f"{job_name}.steps[{i}]", step["run"]


def gitlab_scripts(doc: Any) -> Iterator[tuple[str, str]]:
    for job_name, job in doc.items():
        if not isinstance(job, dict):
            continue
        for key in ("before_script", "script", "after_script"):
            for i, line in enumerate(job.get(key, [])):
                yield f"{job_name}.{key}[{i}]", line


def invocations(script: str) -> Iterator[list[str]]:
    """The argument lists of every ``pmemctl`` command in a shell script."""
    script = script.replace("\\\n", " ")
    for line in script.splitlines():
        if line.lstrip().startswith("#"):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
        for i, tok in enumerate(tokens):
            if tok != "pmemctl":
                continue
            args: list[str] = []
            for t in tokens[i + 1:]:
                if t and all(c in "|&;<>()" for c in t):
                    if t[0] in "<>" and args and args[-1].isdigit():
                        args.pop()  # 2> file: the 2 is the redirection's
                    break
                args.append(t)
            yield args


def all_invocations() -> list[tuple[str, list[str]]]:
    found = [(f"{GITHUB.name}:{where}", args)
             for where, script in github_scripts(load(GITHUB)) for args in invocations(script)]
    found += [(f"{GITLAB.name}:{where}", args)
              for where, script in gitlab_scripts(load(GITLAB)) for args in invocations(script)]
    return found


def pmemsim_flags() -> set[str]:
    source = (ROOT / "tests" / "pmemsim" / "flags.go").read_text(encoding="utf-8")
    return {"--" + name for name in re.findall(r'fs\.\w+\(&[\w.]+, "([\w-]+)"', source)}


def options_of(command: click.Command) -> dict[str, click.Parameter]:
    opts: dict[str, click.Parameter] = {}
    for p in command.params:
        if isinstance(p, click.Option):
            for name in (*p.opts, *p.secondary_opts):
                opts[name] = p
    return opts


def problems_with(args: list[str]) -> list[str]:
    """What is wrong with ``pmemctl ARGS``: unknown command, flags or --output values."""
    group_opts = options_of(cli)
    rest = list(args)
    while rest and rest[0].startswith("-"):  # flags before the command name
        flag = rest.pop(0).split("=", 1)[0]
        if flag not in group_opts:
            return [f"unknown global flag {flag}"]
        if not getattr(group_opts[flag], "is_flag", False) and "=" not in flag:
            rest.pop(0)
    if not rest:
        return ["no command"]
    name, rest = rest[0], rest[1:]
    command = cli.commands.get(name)
    if command is None:
        if name not in PENDING:
            return [f"no command {name!r}"]
        known = PENDING[name]
        if name in PASS_THROUGH:
            known = pmemsim_flags()
        return [f"{name}: unknown flag {a}" for a in rest
                if a.startswith("-") and a.split("=", 1)[0] not in known]
    if name in PASS_THROUGH:
        return [f"{name}: pmemsim has no flag {a}" for a in rest
                if a.startswith("--") and a.split("=", 1)[0] not in pmemsim_flags()]
    opts = {**group_opts, **options_of(command)}
    out = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            continue
        flag, _, inline = arg.partition("=")
        param = opts.get(flag)
        if param is None:
            out.append(f"{name}: unknown flag {flag}")
            continue
        if getattr(param, "is_flag", False):
            continue
        value = inline or (rest[i] if i < len(rest) else "")
        if not inline:
            i += 1
        if isinstance(param.type, click.Choice) and value not in param.type.choices:
            out.append(f"{name} {flag}: {value!r} is not one of {list(param.type.choices)}")
    return out


@pytest.mark.parametrize("path", [GITHUB, GITLAB], ids=lambda p: p.name)
def test_the_example_files_parse(path: Path) -> None:
    doc = load(path)
    assert isinstance(doc, dict) and doc


def test_github_workflow_runs_on_push_and_pull_request_and_gates_apply() -> None:
    doc = load(GITHUB)
    on = doc.get("on", doc.get(True))  # YAML 1.1 reads the key `on` as true
    assert set(on) == {"push", "pull_request"}
    jobs = doc["jobs"]
    assert set(jobs) == {"validate", "rehearse", "plan", "apply"}
    assert jobs["apply"]["environment"] == "production"  # required reviewers: the approval
    assert jobs["apply"]["needs"] == "plan"
    assert "pull_request" in jobs["rehearse"]["if"] and "main" in jobs["plan"]["if"]


def test_gitlab_pipeline_applies_only_by_hand_and_only_the_saved_plan() -> None:
    doc = load(GITLAB)
    assert doc["stages"] == ["validate", "rehearse", "plan", "apply"]
    apply = doc["apply"]
    assert apply["rules"][0]["when"] == "manual" and apply["needs"] == ["plan"]
    assert apply["environment"]["name"] == "production"
    assert "plan.json" in doc["plan"]["artifacts"]["paths"]
    assert doc["rehearse"]["rules"][0]["if"] == '$CI_PIPELINE_SOURCE == "merge_request_event"'


def test_every_pmemctl_command_in_the_examples_exists_with_its_flags() -> None:
    found = all_invocations()
    commands = {args[0] for _, args in found if args}
    # The flow, in both files: validate, rehearse, plan (markdown, --out), show, apply.
    assert {"validate", "rehearse", "sim", "plan", "show", "apply"} <= commands
    bad = [f"{where}: pmemctl {' '.join(args)}: {p}"
           for where, args in found for p in problems_with(args)]
    assert bad == []


def test_both_files_post_the_markdown_plan_and_apply_the_saved_plan_with_yes() -> None:
    found = all_invocations()
    for name in (GITHUB.name, GITLAB.name):
        mine = [args for where, args in found if where.startswith(name)]
        assert any(a[0] == "plan" and a[a.index("--output") + 1] == "markdown"
                   for a in mine if "--output" in a), name
        assert any(a[0] == "plan" and "--out" in a for a in mine), name
        assert ["apply", "plan.json", "--yes", "--output", "json"] in mine, name
        assert any(a[0] == "validate" for a in mine), name


def test_the_checker_catches_what_it_is_for() -> None:
    # A checker that cannot fail is no check: feed it the mistakes it exists to catch.
    assert problems_with(["plna", "s.yaml"]) == ["no command 'plna'"]
    assert problems_with(["plan", "s.yaml", "--outt", "p.json"]) == ["plan: unknown flag --outt"]
    assert problems_with(["status", "-o", "markdown"]) == [
        "status -o: 'markdown' is not one of ['table', 'json']"]
    assert problems_with(["sim", "--inventroy", "x"])[0].endswith("--inventroy")
    assert problems_with(["--quiet", "validate", "d"]) == []
    assert list(invocations('x=1; pmemctl plan "$S" -o json 2> e.txt | jq .')) == [
        ["plan", "$S", "-o", "json"]]

