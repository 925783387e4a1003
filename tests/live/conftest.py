"""Live tier: a session-scoped pmemsim serving the demo estate, plus a factory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import simproc


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
