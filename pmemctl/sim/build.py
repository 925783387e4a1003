"""Build pmemsim on first use, with Debian's Go packages, cached by a hash of its source.

The wheel carries the simulator's Go source as package data in
``pmemctl/_pmemsim/`` (copied from ``tests/pmemsim`` at build time by
``setup.py``; git keeps one copy). A checkout run with ``PYTHONPATH`` has no
such directory and builds from ``tests/pmemsim`` itself. The build is
``tests/pmemsim/run``'s: GOPATH mode against the Debian packages
``golang-go``, ``golang-github-vmware-govmomi-dev`` and
``golang-gopkg-yaml.v3-dev``, test files left out.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pmemctl.errors import PmemctlError

DEB_PACKAGES = ("golang-go", "golang-github-vmware-govmomi-dev", "golang-gopkg-yaml.v3-dev")
DEFAULT_GOPATH = "/usr/share/gocode"
_PACKAGE = Path(__file__).resolve().parent.parent
# Where setup.py puts the source in a wheel, and where a checkout has it.
SOURCE_DIRS = (_PACKAGE / "_pmemsim", _PACKAGE.parent / "tests" / "pmemsim")


class SimBuildError(PmemctlError):
    """pmemsim cannot be built here: missing packages, missing source, or a failed build."""


@dataclass(frozen=True)
class Source:
    """The simulator's source files and their hash."""

    directory: Path
    files: tuple[Path, ...]  # *.go without tests, then demo.yaml (embedded by main.go)
    digest: str


def find_source(dirs: tuple[Path, ...] = SOURCE_DIRS) -> Source:
    """The first directory holding pmemsim's ``main.go``, with the hash of what builds it.

    Raises:
        SimBuildError: no directory has it (a broken install).
    """
    for d in dirs:
        if (d / "main.go").is_file():
            files = tuple(sorted(p for p in d.glob("*.go") if not p.name.endswith("_test.go")))
            files += (d / "demo.yaml",)
            h = hashlib.sha256()
            for f in files:
                h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
            return Source(directory=d, files=files, digest=h.hexdigest()[:16])
    raise SimBuildError("pmemsim's Go source is not installed with pmemctl (looked in "
                        + ", ".join(str(d) for d in dirs) + "); reinstall pmemctl")


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/pmemctl``, else ``~/.cache/pmemctl``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pmemctl"


def missing_packages(gopath: str) -> list[str]:
    """The Debian packages whose files the build needs and does not find."""
    missing = []
    if shutil.which("go") is None:
        missing.append("golang-go")
    src = Path(gopath) / "src"
    if not (src / "github.com" / "vmware" / "govmomi" / "simulator").is_dir():
        missing.append("golang-github-vmware-govmomi-dev")
    if not (src / "gopkg.in" / "yaml.v3").is_dir():
        missing.append("golang-gopkg-yaml.v3-dev")
    return missing


def binary(source: Source | None = None) -> Path:
    """The pmemsim binary for the installed source, built first if the cache lacks it.

    Side Effects:
        May run ``go build`` (a minute or so the first time; GOCACHE is
        ``$GOCACHE`` or ``~/.cache/pmemctl/gocache``), under a lock so that
        parallel runs build once; writes ``~/.cache/pmemctl/pmemsim-<hash>/``.

    Raises:
        SimBuildError: the Debian packages are missing (named, with the
            apt-get line), or the build failed (with go's output).
    """
    src = source or find_source()
    out = cache_dir() / f"pmemsim-{src.digest}" / "pmemsim"
    if os.access(out, os.X_OK):
        return out
    gopath = os.environ.get("PMEMSIM_GOPATH") or DEFAULT_GOPATH
    missing = missing_packages(gopath)
    if missing:
        raise SimBuildError(
            f"cannot build pmemsim: missing the Debian package(s) {', '.join(missing)} "
            f"(Go and the govmomi and yaml.v3 sources in {gopath}). Install them as root: "
            f"apt-get install -y {' '.join(DEB_PACKAGES)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with _locked(out.parent / ".lock"):
        if os.access(out, os.X_OK):  # built by a run that held the lock before us
            return out
        _go_build(src, out, gopath)
    return out


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _go_build(src: Source, out: Path, gopath: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix="pmemsim.")
    os.close(fd)
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": gopath, "GOFLAGS": "",
           "GOCACHE": os.environ.get("GOCACHE") or str(cache_dir() / "gocache")}
    go_files = [f.name for f in src.files if f.suffix == ".go"]
    try:
        p = subprocess.run(["go", "build", "-o", tmp, *go_files], cwd=src.directory, env=env,
                           capture_output=True, text=True, check=False)
        if p.returncode != 0:
            raise SimBuildError(f"building pmemsim failed:\n{(p.stderr or p.stdout).strip()}")
        Path(tmp).replace(out)
    finally:
        Path(tmp).unlink(missing_ok=True)
