"""Keep the README honest: its commands exist and its quick start is what CI runs."""

from __future__ import annotations

import os
import re
from pathlib import Path

from click.testing import CliRunner

from pmemctl.cli import cli

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_command_is_documented_and_has_help() -> None:
    for name, command in cli.commands.items():
        assert f"pmemctl {name}" in README, name
        assert command.help, name
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, result.output


def test_quick_start_has_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    block = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["tests/demo", "tests/run"]
    for script in commands:
        assert os.access(ROOT / script, os.X_OK), script
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^exec tests/run$", ci, re.M), ci


def test_readme_names_every_documented_environment_variable() -> None:
    for var in ("PMEMCTL_URL", "PMEMCTL_SERVER", "PMEMCTL_USER", "PMEMCTL_PASSWORD",
                "PMEMCTL_CA_FILE", "PMEMCTL_INSECURE", "PMEMCTL_JOURNAL_DIR",
                "PMEMCTL_CONFIG", "PMEMCTL_CONTEXT", "GOVC_URL", "GOVC_USERNAME",
                "GOVC_PASSWORD", "GOVC_INSECURE", "GOVC_TLS_CA_CERTS", "VMWARE_HOST",
                "VMWARE_USER", "VMWARE_PASSWORD", "VMWARE_VALIDATE_CERTS", "VMWARE_PORT"):
        assert var in README, var
