"""Reading stored resources for the registries: current contents in bulk, and searches in a write.

:class:`TransactionIndex` lets a rule or an operation search inside its write transaction without
taking the store's change-sequence lock: ``WriteTransaction.query`` writes the buffered version
rows first, which on PostgreSQL takes the lock that orders commits and holds it to commit, so a
check early in a large transaction Bundle would serialise every other writer behind it. Searches
only read ``resources`` and the index tables, and :meth:`WriteTransaction.flush` writes exactly
those.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from sqlalchemy import Select, and_, false, select

from ehp.fhir.jsonio import loads
from ehp.index.refs import reference_id
from ehp.search.query import QueryRunner
from ehp.store.schema import resource_versions, resources
from ehp.store.store import StoreReader
from ehp.store.writes import WriteTransaction

Json = dict[str, Any]


class Index(QueryRunner, Protocol):
    """Searches and reads current contents, in a store reader or a write transaction."""

    postgresql: bool
    """Whether the database is PostgreSQL (else SQLite), for SQL written by hand."""

    def contents(self, resource_type: str, ids: Iterable[str]) -> dict[str, Json]: ...


class ReaderIndex:
    """An :class:`Index` over a store reader."""

    def __init__(self, reader: StoreReader, dialect: str) -> None:
        self.params = reader.params
        self.postgresql = dialect == "postgresql"
        self._reader = reader

    def query(self, statement: Select[Any]) -> Sequence[Any]:
        return self._reader.query(statement)

    def contents(self, resource_type: str, ids: Iterable[str]) -> dict[str, Json]:
        return current_contents(self, resource_type, ids)


def index_of(runner: StoreReader | WriteTransaction, dialect: str) -> Index:
    """The :class:`Index` of an interaction's store session (a Bundle entry runs in a transaction)."""
    return TransactionIndex(runner) if isinstance(runner, WriteTransaction) else ReaderIndex(runner, dialect)


class TransactionIndex:
    """A :class:`QueryRunner` over a write transaction that sees its writes (see the module doc)."""

    def __init__(self, tx: WriteTransaction) -> None:
        self.params = tx.params
        self.postgresql = tx.connection.dialect.name == "postgresql"
        self._tx = tx

    def query(self, statement: Select[Any]) -> Sequence[Any]:
        self._tx.flush()
        return self._tx.connection.execute(statement).all()

    def contents(self, resource_type: str, ids: Iterable[str]) -> dict[str, Json]:
        """Like :func:`current_contents`, written in this transaction included (without row locks)."""
        wanted = set(ids)
        found = current_contents(self, resource_type, wanted)
        for missing in wanted - found.keys():
            # Not readable yet: written in this transaction, whose version rows wait for commit.
            version = self._tx.current(resource_type, missing)
            if version is not None and version.content is not None:
                found[missing] = loads(version.content)
        return found


def current_contents(runner: QueryRunner, resource_type: str, ids: Iterable[str]) -> dict[str, Json]:
    """The current content of the (not deleted) resources of ``ids``, by id, in one query."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    statement = (
        select(resources.c.id, resource_versions.c.content)
        .select_from(
            resources.join(
                resource_versions,
                and_(
                    resource_versions.c.rid == resources.c.rid,
                    resource_versions.c.version == resources.c.version,
                ),
            )
        )
        .where(
            resources.c.resource_type == resource_type,
            resources.c.id.in_(wanted),
            resources.c.deleted == false(),
        )
    )
    return {row.id: loads(row.content) for row in runner.query(statement)}


def replaced_by(patient: Json) -> str | None:
    """The id of the record a merged Patient was replaced by (its ``replaced-by`` link), if any."""
    for link in patient.get("link") or []:
        if isinstance(link, dict) and link.get("type") == "replaced-by":
            return reference_id(link.get("other"), "Patient")
    return None


def codings(concepts: Any) -> Iterable[tuple[Any, Any]]:
    """(system, code) of every coding of a CodeableConcept or a list of them."""
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        if isinstance(concept, dict):
            for coding in concept.get("coding") or []:
                if isinstance(coding, dict):
                    yield coding.get("system"), coding.get("code")
