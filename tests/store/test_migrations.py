"""The Alembic revisions build exactly the schema the code's table definitions describe."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ehp.migrations.tables import metadata
from ehp.store.database import migrate, open_engine
from tests.servers import database_url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrated_schema_matches_table_definitions(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        engine = open_engine(url)
        try:
            migrate(engine)
            migrate(engine)
            with engine.connect() as connection:
                differences = compare_metadata(MigrationContext.configure(connection), metadata)
        finally:
            engine.dispose()
    assert differences == []
