"""Revision 0003_search indexes the resources stored before it: their composite and word rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config

from ehp.context import SYSTEM_CONTEXT
from ehp.reindex.overlay import open_store, register_search_parameters
from ehp.search.query import find_ids
from ehp.store.database import MIGRATIONS, migrate, open_engine, writer
from tests.servers import database_url

PATIENT = {
    "resourceType": "Patient",
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">a diabetic</div>'},
}
OBSERVATION = {
    "resourceType": "Observation",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
    "component": [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {"value": 107, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
        }
    ],
}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_to_0003_search_indexes_what_was_stored_before(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as url:
        engine = open_engine(url)
        try:
            migrate(engine)
            store = open_store(engine)
            register_search_parameters(store)
            with store.transaction(SYSTEM_CONTEXT) as tx:
                tx.write("Patient", "p1", dict(PATIENT), "PUT")
                tx.write("Observation", "o1", dict(OBSERVATION), "PUT")
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            with writer(engine).begin() as connection:
                config.attributes["connection"] = connection
                command.downgrade(config, "0002_security")
            migrate(engine)
            reader = store.reader(SYSTEM_CONTEXT)
            assert find_ids(reader, "Patient", [("_text", "diabetic")], 2) == ["p1"]
            composite = [("component-code-value-quantity", "http://loinc.org|8480-6$107")]
            assert find_ids(reader, "Observation", composite, 2) == ["o1"]
        finally:
            engine.dispose()
