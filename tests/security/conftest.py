"""A server with authentication on (no ``--auth none``), per test module and database backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ehp.bench.servers import BenchServer
from ehp.security.authenticator import DEFAULT_ISSUER
from ehp.security.roles import ADMINISTRATOR, Role, set_roles
from ehp.store.database import open_engine
from tests.servers import database_url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BenchServer]:
    folder = tmp_path_factory.mktemp(f"secured-{request.param}")
    with (
        database_url(request.param, folder) as url,
        BenchServer(url, folder / "server.log", auth="required") as server,
    ):
        engine = open_engine(url, pool_size=1)
        try:  # roles are data: the subject 'admin' is the administrator because it was made one
            set_roles(engine, DEFAULT_ISSUER, "admin", [Role(ADMINISTRATOR)])
        finally:
            engine.dispose()
        yield server
