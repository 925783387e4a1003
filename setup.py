"""Build hook: ship pmemsim's Go source in the wheel, from its one copy in tests/pmemsim.

Everything else is in pyproject.toml. The simulator's source stays where the
tests and tests/pmemsim/run use it; ``build_py`` copies its build inputs (the
``*.go`` files without tests, and ``demo.yaml``, which main.go embeds) into
the package as ``pmemctl/_pmemsim/``, where ``pmemctl sim`` finds them
(pmemctl/sim/build.py). A mapping of tests/pmemsim as a package would also
ship its Python test helpers and tests; a copy at build time ships just
what ``go build`` reads, and git keeps one copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SIM_SOURCE = Path(__file__).resolve().parent / "tests" / "pmemsim"


def sim_files() -> list[Path]:
    """pmemsim's build inputs."""
    go = sorted(p for p in SIM_SOURCE.glob("*.go") if not p.name.endswith("_test.go"))
    return [*go, SIM_SOURCE / "demo.yaml"]


class BuildPyWithSim(build_py):
    """build_py, plus pmemsim's source copied to pmemctl/_pmemsim/."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "pmemctl" / "_pmemsim"
        target.mkdir(parents=True, exist_ok=True)
        for f in sim_files():
            shutil.copy2(f, target / f.name)


setup(cmdclass={"build_py": BuildPyWithSim})
