"""The built wheel in an empty venv: `pmemctl sim`, `export`, `rehearse` and `plan` from it alone.

Builds the wheel from a copy of the checkout (``pip wheel --no-deps``),
installs it into a fresh venv (its four dependencies from the configured
index, through pip's cache), and runs the installed ``pmemctl`` (``sim``,
``export``, ``rehearse``, ``plan --output markdown``) with no checkout on its
path: the simulator must come from the Go source inside the wheel, built
into an empty cache.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The checkout's warm Go build cache: the wheel's pmemsim links in seconds.
GOCACHE = ROOT / "tests" / "pmemsim" / ".build" / "gocache"


def _run(*cmd: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
         timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with nothing but the wheel built from this checkout and its dependencies."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".build", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"))
    p = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", base / "dist", src,
             env=_clean_env())
    assert p.returncode == 0, p.stderr
    (wheel,) = (base / "dist").glob("pmemctl-*.whl")
    p = _run(sys.executable, "-m", "venv", base / "venv")
    assert p.returncode == 0, p.stderr
    # Without PYTHONPATH: a checkout on the path would make pip think pmemctl is installed.
    p = _run(base / "venv" / "bin" / "python", "-m", "pip", "install", "-q", wheel,
             env=_clean_env())
    assert p.returncode == 0, p.stderr
    assert (base / "venv" / "bin" / "pmemctl").is_file()
    return base / "venv"


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k != "PYTHONPATH" and not k.startswith("PMEMCTL_")}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment of a user who only pip-installed pmemctl."""
    out = _clean_env()
    out.update(XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_STATE_HOME=str(tmp_path / "state"),
               GOCACHE=str(GOCACHE))
    return out


@pytest.fixture
def served(venv: Path, env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`pmemctl sim` from the venv, serving the demo estate: (URL, its CA file)."""
    cert = tmp_path / "ca.pem"
    p = subprocess.Popen([venv / "bin" / "pmemctl", "sim", "--listen", "127.0.0.1:0",
                          "--cert-out", cert], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env, cwd=tmp_path)
    try:
        assert p.stdout is not None
        url = p.stdout.readline().strip()
        assert url.startswith("https://"), p.stderr.read() if p.stderr else ""
        yield url, cert
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=15)
    assert p.returncode == 0


SPEC = """\
apiVersion: pmemctl/v1
options: {power_off: true, upgrade_hardware: true}
vms:
  - {name: redis-01, nvdimms: [16GiB]}
  - {name: redis-02, nvdimms: [16GiB]}
"""


def test_the_installed_wheel_serves_exports_rehearses_and_plans(
        venv: Path, env: dict[str, str], served: tuple[str, Path], tmp_path: Path) -> None:
    pmemctl = venv / "bin" / "pmemctl"
    # The simulator was built from the wheel's copy of the source, into the empty cache.
    site = _run(venv / "bin" / "python", "-c",
                "import pmemctl, pathlib; print(pathlib.Path(pmemctl.__file__).parent)",
                env=env, cwd=tmp_path).stdout.strip()
    assert site.startswith(str(venv))
    assert (Path(site) / "_pmemsim" / "main.go").is_file()
    assert not list((Path(site) / "_pmemsim").glob("*_test.go"))
    assert len(list((tmp_path / "cache" / "pmemctl").glob("pmemsim-*/pmemsim"))) == 1

    url, cert = served
    conn = ["--url", url, "--ca-file", str(cert)]
    p = _run(pmemctl, "export", *conn, "-o", tmp_path / "estate.yaml", env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "redis-02" in (tmp_path / "estate.yaml").read_text()

    (tmp_path / "spec.yaml").write_text(SPEC)
    p = _run(pmemctl, "rehearse", "spec.yaml", "--estate", "estate.yaml", env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Rehearsal converged" in p.stdout

    p = _run(pmemctl, "plan", "spec.yaml", *conn, "--output", "markdown", env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "redis-01" in p.stdout and "redis-02" in p.stdout
    assert "add_nvdimm" in p.stdout
    p = _run(pmemctl, "plan", "spec.yaml", *conn, "--output", "json", env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    plan = json.loads(p.stdout)
    assert plan["format_version"] == 1
    assert {c["vm"] for c in plan["changes"]} == {"redis-01", "redis-02"}


def test_the_installed_wheel_ships_no_test_code(venv: Path, env: dict[str, str],
                                                tmp_path: Path) -> None:
    p = _run(venv / "bin" / "python", "-c", textwrap.dedent("""
        import importlib.util, sys
        print(importlib.util.find_spec("tests") is None)
    """), env=env, cwd=tmp_path)
    assert p.stdout.strip() == "True"
