"""Fixtures for the real workflow on the local engine: the real ASL from template.yaml, the real
handlers, real registries (Debian docker-registry) standing in for regions.

Each test module gets its own regions and engine (module scope: one engine per process at a
time, started ~1 s once moto is imported) and keeps to one xdist group.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ecr_replicate.local.engine import LocalAws
from ecr_replicate.local.regions import LocalRegions
from statemachine_helpers import SOURCE, TARGETS, Workflow


@pytest.fixture(scope="module")
def engine_parameters() -> dict[str, str]:
    """Template parameter overrides of the module's engine (override in a module)."""
    return {}


@pytest.fixture(scope="module")
def workflow(engine_parameters: dict[str, str]) -> Iterator[Workflow]:
    with (
        LocalRegions(SOURCE, TARGETS) as regions,
        LocalAws(regions=regions.endpoints(), source_region=SOURCE, parameters=engine_parameters) as aws,
    ):
        yield Workflow(aws, regions)
