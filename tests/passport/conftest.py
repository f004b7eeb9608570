"""A server per database backend holding a region's network and the units of three chosen people."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ehp.bench.passport_people import People, load_over_http, pick_people
from ehp.bench.servers import BenchServer
from tests.conftest import BACKENDS
from tests.servers import database_url


@dataclass(frozen=True, slots=True)
class Loaded:
    server: BenchServer
    client: httpx.Client
    people: People


@pytest.fixture(scope="session")
def people() -> People:
    """A newborn, a healthy adult and a person with hypertension and diabetes, with their families."""
    return pick_people()


@pytest.fixture(scope="session", params=BACKENDS)
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, people: People
) -> Iterator[Loaded]:
    backend: str = request.param
    folder: Path = tmp_path_factory.mktemp(f"passport-{backend}")
    with (
        database_url(backend, folder) as url,
        BenchServer(url, folder / "server.log") as running,
        httpx.Client(base_url=running.base + "/", timeout=120) as client,
    ):
        load_over_http(client, list(people.resources()))
        yield Loaded(running, client, people)
