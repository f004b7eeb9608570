"""Writing replicated versions: at the centre (from a node) and at a node (pulled from the centre).

The centre applies a node's version N of a resource only when its own current version is N-1: the
node's change was based on what the centre has. Otherwise the change is a conflict (someone else
changed the resource since) and is refused, never merged or overwritten; so are later changes of
that resource from that node, until a person resolves it. A version the centre already holds with
the same content is a harmless replay. A version that is not valid FHIR R4 (what ``$validate``
reports as an error) is refused the same way: a node of an older release, or a compromised one,
cannot put into the national repository what the REST API would refuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, insert, select, tuple_, update

from ehp.fhir.jsonio import JsonError, dumps, loads
from ehp.fhir.validation import validate_resource
from ehp.index.extract import IndexRows, extract_index
from ehp.store.clock import now_micros
from ehp.store.versions import StoredVersion
from ehp.store.writes import WriteTransaction
from ehp.sync.passport import content_hash
from ehp.sync.protocol import Change, ProtocolError, node_source
from ehp.sync.schema import sync_origins, sync_refused


@dataclass(frozen=True, slots=True)
class Refusal:
    """A change the centre refused: the node's ``seq``, the resource and why."""

    seq: int
    resource_type: str
    resource_id: str
    version: int
    central_version: int
    reason: str

    def to_json(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "type": self.resource_type,
            "id": self.resource_id,
            "version": self.version,
            "centralVersion": self.central_version,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class BatchResult:
    applied: int
    replayed: int
    acknowledged: int
    """The highest node ``seq`` the centre has now dealt with (applied or refused)."""
    refusals: list[Refusal]


class InvalidContent(Exception):
    """A replicated version whose resource has error-level validation issues; the message says which."""


def parsed(
    version: StoredVersion, source: str | None = None, validate: bool = True
) -> tuple[StoredVersion, IndexRows | None]:
    """The version checked against its header (and with ``meta.source`` set), and its index rows.

    :class:`ProtocolError` when the content does not match its header (the whole batch is bad),
    :class:`InvalidContent` when it is not valid R4 (that change alone is refused).
    """
    if version.content is None:
        return version, None
    try:
        resource = loads(version.content)
    except JsonError as failure:
        raise ProtocolError(f"{version.location}: malformed resource: {failure}") from None
    if not isinstance(resource, dict) or resource.get("resourceType") != version.resource_type:
        raise ProtocolError(f"{version.location}: the resource is not a {version.resource_type}")
    meta = resource.get("meta")
    if resource.get("id") != version.id or not isinstance(meta, dict):
        raise ProtocolError(f"{version.location}: the resource's id or meta does not match its header")
    if meta.get("versionId") != str(version.version):
        raise ProtocolError(f"{version.location}: meta.versionId does not match the header's version")
    errors = [issue for issue in validate_resource(resource) if issue.is_error] if validate else []
    if errors:
        listed = "; ".join(f"{issue.expression}: {issue.diagnostics}" for issue in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        raise InvalidContent(f"not valid FHIR R4: {listed}{more}")
    content = version.content
    if source is not None:
        meta["source"] = source
        content = dumps(resource)
    checked = StoredVersion(
        version.resource_type, version.id, version.version, version.last_updated, version.method, content
    )
    return checked, extract_index(resource)


class OutOfOrder(Exception):
    """The batch follows changes the centre has not applied yet (an earlier batch is still on its way)."""


Prepared = dict[int, tuple[StoredVersion, IndexRows | None] | InvalidContent]
"""Per node ``seq``: the version checked and stamped with its origin, and its index rows (or why
the resource is invalid)."""


def prepare(node_id: str, changes: Sequence[Change]) -> Prepared:
    """Check and index a batch before its transaction: the CPU-heavy part, done outside any lock."""
    source = node_source(node_id)
    return {change.seq: _checked(change.version, source) for change in changes}


def _checked(
    version: StoredVersion, source: str | None
) -> tuple[StoredVersion, IndexRows | None] | InvalidContent:
    try:
        return parsed(version, source)
    except InvalidContent as invalid:
        return invalid


def apply_at_centre(
    tx: WriteTransaction,
    node_id: str,
    changes: Sequence[Change],
    prepared: Prepared | None = None,
    after: int | None = None,
) -> BatchResult:
    """Apply a node's batch in the caller's transaction (see the module doc); idempotent.

    ``after`` is the node's last ``seq`` before this batch when the node sent it while an
    earlier batch was still on its way; :class:`OutOfOrder` if the centre has not applied it yet.
    """
    connection = tx.connection
    applied_seq = _lock_origin(tx, node_id)
    if after is not None and applied_seq < after:
        raise OutOfOrder(f"the centre has applied node {node_id}'s changes up to {applied_seq}, not {after}")
    fresh = sorted((change for change in changes if change.seq > applied_seq), key=lambda c: c.seq)
    keys = [(change.version.resource_type, change.version.id) for change in fresh]
    current = tx.preload(keys)
    blocked = _blocked(tx, node_id, keys)
    source = node_source(node_id)
    refusals: list[Refusal] = []
    applied = 0
    for change in fresh:
        version = change.version
        key = (version.resource_type, version.id)
        found = current.get(key)
        have = found.version if found is not None else 0
        reason = None
        if key in blocked:
            reason = "an earlier change of this resource from this node was refused; resolve that first"
        elif version.version == have + 1:
            outcome = prepared[change.seq] if prepared is not None else _checked(version, source)
            if isinstance(outcome, InvalidContent):
                reason = str(outcome)
            else:
                checked, index = outcome
                current[key] = tx.write_replica(checked, index, known=True)
                applied += 1
                continue
        elif version.version <= have:
            existing = tx.vread(version.resource_type, version.id, version.version)
            if existing is not None and content_hash(existing.content) == content_hash(version.content):
                continue
            reason = f"version {version.version} was already made by someone else; the centre has {have}"
        else:
            reason = f"based on version {version.version - 1}, which the centre does not have (it has {have})"
        blocked.add(key)
        refusals.append(Refusal(change.seq, version.resource_type, version.id, version.version, have, reason))
    if refusals:
        at = now_micros()
        connection.execute(
            insert(sync_refused),
            [
                {
                    "node_id": node_id,
                    "seq": refusal.seq,
                    "resource_type": refusal.resource_type,
                    "resource_id": refusal.resource_id,
                    "version": refusal.version,
                    "central_version": refusal.central_version,
                    "reason": refusal.reason,
                    "refused_at": at,
                }
                for refusal in refusals
            ],
        )
    acknowledged = max([applied_seq, *(change.seq for change in changes)])
    connection.execute(
        update(sync_origins)
        .where(sync_origins.c.node_id == node_id)
        .values(applied_seq=acknowledged, applied_at=now_micros())
    )
    return BatchResult(applied, len(changes) - len(fresh), acknowledged, _refused_in(tx, node_id, changes))


def _lock_origin(tx: WriteTransaction, node_id: str) -> int:
    """The origin's applied ``seq``, its row locked (one batch of a node at a time)."""
    query = select(sync_origins.c.applied_seq).where(sync_origins.c.node_id == node_id)
    row = tx.connection.execute(query.with_for_update()).first()
    if row is not None:
        return int(row.applied_seq)
    tx.connection.execute(
        insert(sync_origins).values(node_id=node_id, applied_seq=0, applied_at=now_micros())
    )
    return 0


def _blocked(tx: WriteTransaction, node_id: str, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
    blocked: set[tuple[str, str]] = set()
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), 500):
        query = select(sync_refused.c.resource_type, sync_refused.c.resource_id).where(
            and_(
                sync_refused.c.node_id == node_id,
                tuple_(sync_refused.c.resource_type, sync_refused.c.resource_id).in_(
                    unique[start : start + 500]
                ),
            )
        )
        blocked.update((row.resource_type, row.resource_id) for row in tx.connection.execute(query))
    return blocked


def _refused_in(tx: WriteTransaction, node_id: str, changes: Sequence[Change]) -> list[Refusal]:
    """Every refusal of a change of this batch, also those recorded when it was first sent."""
    if not changes:
        return []
    low = min(change.seq for change in changes)
    high = max(change.seq for change in changes)
    query = (
        select(sync_refused)
        .where(sync_refused.c.node_id == node_id, sync_refused.c.seq.between(low, high))
        .order_by(sync_refused.c.seq)
    )
    return [
        Refusal(row.seq, row.resource_type, row.resource_id, row.version, row.central_version, row.reason)
        for row in tx.connection.execute(query)
    ]


def apply_pulled(tx: WriteTransaction, versions: Sequence[StoredVersion]) -> list[StoredVersion]:
    """Write versions pulled from the centre that this node lacks (the others are skipped)."""
    current = tx.preload([(version.resource_type, version.id) for version in versions])
    written: list[StoredVersion] = []
    for version in versions:
        key = (version.resource_type, version.id)
        found = current.get(key)
        if found is not None and found.version >= version.version:
            continue
        # Not validated again: the centre refused what was invalid when it arrived, and a version it
        # stored under an older, laxer release must still reach the node that holds the record.
        checked, index = parsed(version, validate=False)
        current[key] = tx.write_replica(checked, index, known=True)
        written.append(checked)
    return written
