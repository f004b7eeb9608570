"""The access policy of a server: grants per caller (cached briefly), break-the-glass, audit.

:class:`AccessPolicy` lives as long as the server process; :class:`Access` is one request's view
of it (the caller's :class:`~ehp.access.grant.Grant` and what the request touched, to audit).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg.errors import UniqueViolation
from sqlalchemy import ColumnElement, and_, delete, exists, false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.selectable import NamedFromClause

from ehp.access.audit_queue import AuditQueue
from ehp.access.events import audit_records
from ehp.access.grant import Grant, compute_grant
from ehp.access.links import content_patients, visible_clause
from ehp.access.schema import access_grant_digests, access_grants, break_glass
from ehp.context import RequestContext
from ehp.search.includes import Row
from ehp.security.audit import AuditRecord
from ehp.store.bulk import bulk_insert
from ehp.store.clock import now_micros
from ehp.store.database import writer
from ehp.store.schema import resource_versions, resources
from ehp.store.store import Store
from ehp.store.versions import StoredVersion

log = logging.getLogger(__name__)
ACCESS_TYPES = frozenset(
    {
        "Consent",
        "EpisodeOfCare",
        "Encounter",
        "ServiceRequest",
        "PractitionerRole",
        "RelatedPerson",
        "Patient",
    }
)
"""Writes of these types can change someone's grant: they drop the cached grants."""


@dataclass(frozen=True, slots=True)
class AccessSettings:
    break_glass_seconds: int = 4 * 3600
    grant_cache_seconds: float = 15.0
    """How long a caller's computed grant is reused; writes in this process that can change a grant
    drop the cache at once, other processes see the change within this time."""
    audit_wait_seconds: float = 10.0
    """How long a response waits for its audit record to be stored before it is refused (503)."""

    @classmethod
    def from_environment(cls) -> AccessSettings:
        """``EHP_BREAK_GLASS_SECONDS``, ``EHP_GRANT_CACHE_SECONDS`` and ``EHP_AUDIT_WAIT_SECONDS``
        override the defaults."""
        return cls(
            break_glass_seconds=int(os.environ.get("EHP_BREAK_GLASS_SECONDS", 4 * 3600)),
            grant_cache_seconds=float(os.environ.get("EHP_GRANT_CACHE_SECONDS", 15.0)),
            audit_wait_seconds=float(os.environ.get("EHP_AUDIT_WAIT_SECONDS", 10.0)),
        )


FAILURE_WINDOW_SECONDS = 60
MAX_FAILURE_SOURCES = 10_000
"""Addresses remembered for aggregation; past it, those whose window ended are forgotten."""


class AccessPolicy:
    def __init__(self, store: Store, audit: AuditQueue, settings: AccessSettings) -> None:
        self.store = store
        self.audit = audit
        self.settings = settings
        self._lock = threading.Lock()
        self._publishing = threading.Lock()
        self._cache: dict[tuple[str, frozenset[str], str | None], tuple[float, int, Grant]] = {}
        self._generation = 0
        self.clauses: dict[tuple[str, tuple[str, ...] | None], tuple[Grant, ColumnElement[bool] | None]] = {}
        """Search conditions built for a grant (reused while that grant is the caller's)."""
        self._failures: dict[str, tuple[float, int]] = {}
        """Failed authentications per source address: (start of its window, count in it)."""

    def grant(self, ctx: RequestContext) -> Grant:
        """The caller's grant, from its subject and the roles it was given."""
        now = time.monotonic()
        key = (ctx.actor, ctx.roles, ctx.patient_in_context)
        with self._lock:
            cached = self._cache.get(key)
            generation = self._generation
        if cached is not None and cached[0] > now and cached[1] == generation:
            return cached[2]
        with self.store.engine.connect() as connection:
            grant = compute_grant(connection, self.store.params, ctx.actor, now_micros(), ctx.roles)
        if ctx.patient_in_context is not None:
            grant = grant.bound_to(ctx.patient_in_context)
        if not grant.everything:
            self._publish(grant)
        with self._lock:
            self._cache[key] = (now + self.settings.grant_cache_seconds, generation, grant)
        return grant

    def _publish(self, grant: Grant) -> None:
        """Store the caller's allowed patients for the search filter, when they changed.

        Threads of this process publish one at a time (two first requests of one caller would
        otherwise both insert its rows); another process doing the same at once is told by the
        primary key, and its rows are as good as ours."""
        with self._publishing:
            self._publish_now(grant)

    def _publish_now(self, grant: Grant) -> None:
        allowed = sorted(grant.patients | set(grant.restricted))
        digest = hashlib.sha256("\n".join(allowed).encode()).hexdigest()
        subject = grant.subject
        with self.store.engine.connect() as connection:
            known = connection.execute(
                select(access_grant_digests.c.digest).where(access_grant_digests.c.subject == subject)
            ).scalar()
        if known == digest:
            return
        try:
            with writer(self.store.engine).begin() as connection:
                connection.execute(delete(access_grants).where(access_grants.c.subject == subject))
                connection.execute(
                    delete(access_grant_digests).where(access_grant_digests.c.subject == subject)
                )
                bulk_insert(
                    connection, access_grants, ("subject", "patient"), [(subject, p) for p in allowed]
                )
                connection.execute(access_grant_digests.insert().values(subject=subject, digest=digest))
        except (IntegrityError, UniqueViolation):  # the latter from COPY on the driver connection
            log.info("another process published the grant of %s at the same time", subject)

    def rid(self, resource_type: str, resource_id: str) -> int | None:
        with self.store.engine.connect() as connection:
            found = connection.execute(
                select(resources.c.rid).where(
                    resources.c.resource_type == resource_type, resources.c.id == resource_id
                )
            ).first()
        return found.rid if found is not None else None

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._cache.clear()
            self.clauses.clear()

    def access(self, ctx: RequestContext) -> Access:
        return Access(self, ctx, self.grant(ctx))

    def recorded_here(self) -> bool:
        """:meth:`recorded` for a worker thread: it may commit the batch itself (see
        :meth:`AuditQueue.wait`)."""
        return self.audit.wait(self.audit.handed, self.settings.audit_wait_seconds)

    async def recorded(self) -> bool:
        """Wait until every audit record handed in so far is stored, so a response that discloses
        something may leave; False when that did not happen within ``audit_wait_seconds``."""
        limit = self.settings.audit_wait_seconds
        try:
            await asyncio.wait_for(self.audit.when_stored(self.audit.handed), limit)
        except TimeoutError:
            log.error("audit records were not stored within %s s", limit)
            return False
        return True

    def open_break_glass(self, ctx: RequestContext, grant: Grant, patient: str, reason: str) -> None:
        opened = now_micros()
        with writer(self.store.engine).begin() as connection:
            connection.execute(
                break_glass.insert().values(
                    id=str(uuid.uuid4()),
                    actor=ctx.actor,
                    patient=patient,
                    organizations=" ".join(sorted(grant.organizations)),
                    reason=reason,
                    opened=opened,
                    expires=opened + self.settings.break_glass_seconds * 1_000_000,
                )
            )
        self.invalidate()

    def failed_login(self, ctx: RequestContext, reason: str) -> None:
        """Audit a failed authentication, aggregated per source: the 1st, 10th, 100th... failure
        of an address in a :data:`FAILURE_WINDOW_SECONDS` window each write one record, with the
        count. Anonymous requests once grew the audit store by 130 rows a second without bound."""
        source = ctx.source_address or "unknown"
        now = time.monotonic()
        with self._lock:
            start, count = self._failures.get(source, (now, 0))
            if now - start >= FAILURE_WINDOW_SECONDS:
                start, count = now, 0
            count += 1
            self._failures[source] = (start, count)
            if len(self._failures) > MAX_FAILURE_SOURCES:
                self._failures = {
                    key: value
                    for key, value in self._failures.items()
                    if now - value[0] < FAILURE_WINDOW_SECONDS
                }
        if count != 10 ** (len(str(count)) - 1):
            return
        if count > 1:
            reason = (
                f"{count} failed authentications from {source} within {FAILURE_WINDOW_SECONDS} s; "
                f"the last: {reason}"
            )
        self.audit.put(
            audit_records(
                ctx,
                subtype="login",
                action="E",
                outcome="refused",
                patients=[None],
                what=None,
                purpose=ctx.purpose,
                description=reason,
            )
        )


@dataclass(slots=True)
class Access:
    policy: AccessPolicy
    ctx: RequestContext
    grant: Grant
    touched: set[str] = field(default_factory=set)
    emergency_reason: str | None = None
    note: str | None = None
    """What the audit must add about how it was done (a Consent recorded by a documented proxy)."""

    def search_filter(self, types: Collection[str] | None = None) -> ColumnElement[bool] | None:
        """The condition on ``resources`` a search of ``types`` (``None``: all) adds; ``None`` when
        the caller sees everything or no searched type holds patient data. Built once per grant
        and set of types (the clause is immutable, so requests share it)."""
        if self.grant.everything:
            return None
        key = (self.grant.subject, tuple(sorted(types)) if types is not None else None)
        cached = self.policy.clauses.get(key)
        if cached is not None and cached[0] is self.grant:
            return cached[1]
        clause = self.visible(resources.c.rid, resources.c.resource_type, resources.c.id, types)
        self.policy.clauses[key] = (self.grant, clause)
        return clause

    def visible(
        self,
        rid: ColumnElement[Any],
        resource_type: ColumnElement[Any],
        resource_id: ColumnElement[Any],
        types: Collection[str] | None = None,
    ) -> ColumnElement[bool] | None:
        if self.grant.everything:
            return None
        return visible_clause(
            rid,
            resource_type,
            resource_id,
            subject=self.grant.subject,
            types=types,
            params=self.policy.store.params,
            restricted=self.grant.restricted,
            hidden=self.grant.hidden,
        )

    def inner_filter(self, alias: NamedFromClause, resource_type: str) -> ColumnElement[bool] | None:
        """The condition on a nested search's rows (chains, ``_has``, conditional criteria)."""
        return self.visible(alias.c.rid, alias.c.resource_type, alias.c.id, (resource_type,))

    def history_filter(self) -> ColumnElement[bool] | None:
        """The condition on ``resource_versions`` of type and system history.

        Versions of resources deleted since are left out too (administrators excepted): their
        index rows are gone, so whose they were can no longer be decided in SQL.
        """
        if self.grant.everything:
            return None
        versions = resource_versions
        visible = self.visible(versions.c.rid, versions.c.resource_type, versions.c.id)
        alive = exists().where(resources.c.rid == versions.c.rid, resources.c.deleted == false())
        return and_(alive, visible) if visible is not None else alive

    def disclosed_versions(self, versions: Sequence[StoredVersion]) -> list[StoredVersion]:
        """The versions of a history page the caller may see, each judged by its own content (an
        earlier version may have been another patient's); their patients are noted for the audit.
        A deletion discloses nothing but that it happened and is kept."""
        if self.grant.everything:
            for version in versions:
                if version.content is not None:
                    self.touched.update(content_patients(version.content))
            return list(versions)
        kept = []
        for version in versions:
            patients = content_patients(version.content) if version.content is not None else frozenset()
            if not self.grant.may_see(patients, version.resource_type):
                continue
            if patients and self.grant.hidden:
                rid = self.policy.rid(version.resource_type, version.id)
                if rid in self.grant.hidden:
                    continue
            self.touched.update(patients)
            kept.append(version)
        return kept

    def returned(self, rows: Sequence[Row]) -> None:
        """Note the patients whose data a search page holds (for the audit)."""
        for row in rows:
            self.touched.update(content_patients(row.content))

    def purpose(self, patients: Iterable[str]) -> str:
        if self.emergency_reason is not None or set(patients) & self.grant.emergency:
            return "ETREAT"
        return self.ctx.purpose

    def records(
        self, subtype: str, action: str, outcome: str, what: str | None, **extra: Any
    ) -> list[AuditRecord]:
        patients: list[str | None] = [*sorted(self.touched)] or [None]
        if self.note is not None and "description" not in extra:
            extra["description"] = self.note
        return audit_records(
            self.ctx,
            subtype=subtype,
            action=action,
            outcome=outcome,
            patients=patients,
            what=what,
            purpose=self.purpose(self.touched),
            on_behalf_of=[f"Organization/{o}" for o in self.grant.organizations],
            emergency_reason=self.emergency_reason,
            **extra,
        )
