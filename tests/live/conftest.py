"""Live tier: a session-scoped pmemsim serving the demo estate, a factory, and module sims.

A module that defines ``INVENTORY`` (pmemsim YAML) and asks for ``sim`` or
``si`` gets one simulator serving that inventory for all its tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pyVmomi import vim

from tests import simproc
from tests.pmemsim import client as pc


@pytest.fixture(scope="session")
def demo_sim() -> Iterator[simproc.PmemSim]:
    """pmemsim with the built-in demo estate, shared by read-only tests."""
    with simproc.start() as sim:
        yield sim


@pytest.fixture
def make_sim() -> Iterator[Callable[..., simproc.PmemSim]]:
    """Start a private pmemsim: ``make_sim("--latency-ms", "5", inventory=path)``."""
    started: list[simproc.PmemSim] = []

    def factory(*args: str, inventory: str | Path | None = None) -> simproc.PmemSim:
        sim = simproc.start(*args, inventory=inventory)
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        sim.stop()


@pytest.fixture(scope="module")
def sim(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[simproc.PmemSim]:
    """pmemsim serving the requesting module's ``INVENTORY``, shared by its tests."""
    inventory: str = request.module.INVENTORY
    # test_pmemsim_tasks → "tasks": one temp directory per module, named after it.
    inv = tmp_path_factory.mktemp(request.module.__name__.rsplit("_", 1)[-1]) / "inv.yaml"
    inv.write_text(inventory)
    with simproc.start(inventory=inv) as s:
        yield s


@pytest.fixture(scope="module")
def si(sim: simproc.PmemSim) -> vim.ServiceInstance:
    """A pyVmomi session on the module's :func:`sim`."""
    return pc.connect(sim)
