"""Shared fixtures: one real server per database backend for the whole session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ehp.bench.servers import BenchServer
from ehp.fhir.package import examples_package_dir
from tests.servers import database_url

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchServer]:
    """``ehp serve --auth none`` on a fresh database of each backend."""
    backend: str = request.param
    folder = tmp_path_factory.mktemp(f"server-{backend}")
    with database_url(backend, folder) as url, BenchServer(url, folder / "server.log") as running:
        yield running


@pytest.fixture(scope="session")
def fhir(server: BenchServer) -> Iterator[httpx.Client]:
    """An HTTP client whose base URL is the server's FHIR base."""
    with httpx.Client(base_url=server.base + "/", timeout=120) as client:
        yield client


@pytest.fixture(scope="session")
def examples_dir() -> Path:
    return examples_package_dir()
