"""Who holds an IIN, for identity providers whose tokens name their user by IIN."""

from __future__ import annotations

from collections.abc import Callable

from ehp.context import SYSTEM_CONTEXT
from ehp.registry.settings import iin_system
from ehp.search.query import find_ids
from ehp.store.store import Store

PEOPLE_TYPES = ("Patient", "Practitioner")


def iin_holders(store: Store) -> Callable[[str], list[str]]:
    """``iin -> [Patient/ID, Practitioner/ID...]``: the current records with that IIN. Run as the
    server itself: it decides who the caller is, before any access decision."""
    system = iin_system()

    def holders(iin: str) -> list[str]:
        reader = store.reader(SYSTEM_CONTEXT)
        found = []
        for resource_type in PEOPLE_TYPES:
            ids = find_ids(reader, resource_type, [("identifier", f"{system}|{iin}")], limit=3)
            found += [f"{resource_type}/{resource_id}" for resource_id in ids]
        return found

    return holders
