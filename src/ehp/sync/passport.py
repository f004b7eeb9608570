"""A citizen's passport as stored: every version of the Patient and of what refers to them.

The set is the Patient's own row plus every resource whose current version holds a reference to
``Patient/{id}`` in any search parameter (``idx_reference``): the patient compartment and a little
more (a ``Communication`` about them, for instance). Versions come in change-sequence order, so a
reader applying them in that order never sees version N+1 before version N.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from sqlalchemy import and_, select, union
from sqlalchemy.engine import Connection

from ehp.fhir.jsonio import loads
from ehp.store.reads import VERSION_COLUMNS, row_to_version
from ehp.store.schema import idx_reference, resource_versions, resources
from ehp.store.versions import StoredVersion

Digest = tuple[str, str, int, str]
"""``(resource type, id, version, content hash)`` of one stored version."""


def _members(patient_id: str) -> Any:
    own = select(resources.c.rid).where(
        and_(resources.c.resource_type == "Patient", resources.c.id == patient_id)
    )
    referring = select(idx_reference.c.rid).where(
        and_(idx_reference.c.target_type == "Patient", idx_reference.c.target_id == patient_id)
    )
    return union(own, referring).subquery()


def passport_versions(
    connection: Connection, patient_id: str, after_seq: int = 0, limit: int | None = None
) -> list[StoredVersion]:
    """The passport's versions with ``seq`` above ``after_seq``, oldest first."""
    members = _members(patient_id)
    query = (
        select(*VERSION_COLUMNS)
        .where(resource_versions.c.rid.in_(select(members.c.rid)), resource_versions.c.seq > after_seq)
        .order_by(resource_versions.c.seq)
    )
    if limit is not None:
        query = query.limit(limit)
    return [row_to_version(row) for row in connection.execute(query)]


def content_hash(content: bytes | None) -> str:
    """SHA-256 of the resource with sorted keys and without ``meta.source`` (which only the centre
    sets, naming the origin node); a delete hashes as ``deleted``."""
    if content is None:
        return "deleted"
    resource = loads(content)
    meta = resource.get("meta")
    if isinstance(meta, dict):
        meta.pop("source", None)
    return hashlib.sha256(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS, default=_decimal)).hexdigest()


def _decimal(value: Any) -> Any:
    text = getattr(value, "text", None)
    if isinstance(text, str):
        return orjson.Fragment(text.encode())
    raise TypeError(f"cannot hash a {type(value).__name__}")


def passport_digest(connection: Connection, patient_id: str) -> list[Digest]:
    """Every version of the passport with its content hash, sorted."""
    return sorted(
        (version.resource_type, version.id, version.version, content_hash(version.content))
        for version in passport_versions(connection, patient_id)
    )
