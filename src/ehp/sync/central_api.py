"""The centre's replication endpoints (``docs/federation.md`` describes the protocol).

* ``POST /sync/changes``: a node's batch of changes (NDJSON), applied in one transaction;
* ``POST /sync/nodes``: a node says which organisations it serves;
* ``GET /sync/feed``: a node's feed (long-poll with ``wait``), what others wrote about its people;
* ``GET /sync/passport``: a citizen's whole passport, paged by central ``seq``;
* ``GET /sync/digest``: content hashes of a passport's versions, for ``ehp sync verify``.

With authentication on, a node calls with an access token whose subject is ``Organization/{node
id}`` (a Backend Services client of the centre), and only for resource types its scopes let it write
(changes) or read (feed, passport, digest).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, delete, insert, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ehp.access.events import audit_records
from ehp.access.policy import AccessPolicy
from ehp.api.service import error_response
from ehp.context import RequestContext, development_context
from ehp.errors import Category, FhirError, audit_unavailable, bad_request, error
from ehp.fhir.jsonio import dumps
from ehp.fhir.primitives import is_whole_number
from ehp.scopes import Permission
from ehp.security.authenticator import Authenticator
from ehp.security.tokens import TokenError
from ehp.store.clock import now_micros
from ehp.store.database import writer
from ehp.store.reads import VERSION_COLUMNS, row_to_version
from ehp.store.schema import resource_versions
from ehp.store.store import Store
from ehp.sync.apply import BatchResult, OutOfOrder, apply_at_centre, prepare
from ehp.sync.passport import passport_digest, passport_versions
from ehp.sync.protocol import NDJSON, Change, ProtocolError, decode, decode_lines, encode, node_source
from ehp.sync.schema import sync_deliveries, sync_followers, sync_nodes

NODE_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
MAX_PAGE = 5000
MAX_WAIT_SECONDS = 30.0
POLL_SECONDS = 0.2
REPLICATION = "HOPERAT"
"""The purpose of use a node's reads are audited with (v3-ActReason: healthcare operations)."""


class CentralSync:
    def __init__(
        self, store: Store, authenticator: Authenticator | None, access: AccessPolicy | None = None
    ) -> None:
        self.store = store
        self.engine: Engine = store.engine
        self.authenticator = authenticator
        self.access = access
        """With authentication on: what a node read of whom is audited like any other disclosure."""

    async def _disclosed(
        self, ctx: RequestContext, subtype: str, patients: Iterable[str], outcome: str = "success"
    ) -> FhirError | None:
        """Audit a node's read of these patients' records and wait until the records are stored;
        the error to answer instead when they could not be."""
        if self.access is None:
            return None
        people = sorted(set(patients))
        if not people:
            return None
        self.access.audit.put(
            audit_records(
                ctx,
                subtype=subtype,
                action="R",
                outcome=outcome,
                patients=people,
                what=f"Patient/{people[0]}" if len(people) == 1 else None,
                purpose=REPLICATION,
            )
        )
        return None if await self.access.recorded() else audit_unavailable()

    def routes(self) -> list[Route]:
        return [
            Route("/sync/changes", self.changes, methods=["POST"]),
            Route("/sync/nodes", self.register, methods=["POST"]),
            Route("/sync/feed", self.feed, methods=["GET"]),
            Route("/sync/passport", self.passport, methods=["GET"]),
            Route("/sync/digest", self.digest, methods=["GET"]),
        ]

    def _node(self, request: Request, node_id: str | None, permission: Permission) -> RequestContext:
        if node_id is None or not NODE_ID.match(node_id):
            raise bad_request("a node id (letters, digits, '-' and '.', at most 64) is required", "node")
        client = request.client.host if request.client else None
        if self.authenticator is None:
            return development_context(client)
        try:
            ctx = self.authenticator.context(request.headers.get("authorization"), client)
        except TokenError as failure:
            refused = error(Category.UNAUTHENTICATED, "login", str(failure))
            refused.headers["WWW-Authenticate"] = 'Bearer realm="ehp", error="invalid_token"'
            raise refused from None
        if ctx.actor != f"Organization/{node_id}":
            raise error(
                Category.FORBIDDEN,
                "forbidden",
                f"this access token is not node {node_id}'s (it is {ctx.actor})",
            )
        if not ctx.may("Patient", permission):
            raise error(
                Category.FORBIDDEN, "forbidden", f"the access token's scopes do not allow '{permission}'"
            )
        return ctx

    async def changes(self, request: Request) -> Response:
        try:
            node_id = request.query_params.get("node")
            ctx = self._node(request, node_id, "c")
            assert node_id is not None
            if request.headers.get("content-type", "").split(";")[0].strip() != NDJSON:
                raise error(Category.UNSUPPORTED_MEDIA_TYPE, "not-supported", f"send the changes as {NDJSON}")
            body = await request.body()
            try:
                changes = [decode(line) for line in decode_lines(body)]
            except ProtocolError as failure:
                raise bad_request(str(failure)) from None
            for change in changes:
                permission: Permission = (
                    "d" if change.version.deleted else "u" if change.version.version > 1 else "c"
                )
                if not ctx.may(change.version.resource_type, permission):
                    raise error(
                        Category.FORBIDDEN,
                        "forbidden",
                        f"node {node_id} may not write {change.version.resource_type}",
                    )
            after = _integer(request, "after", -1)
            result = await run_in_threadpool(self._apply, node_id, changes, after if after >= 0 else None)
        except FhirError as failure:
            return _outcome(failure)
        answer = {
            "node": node_id,
            "applied": result.applied,
            "replayed": result.replayed,
            "acknowledged": result.acknowledged,
            "conflicts": [refusal.to_json() for refusal in result.refusals],
        }
        return Response(orjson.dumps(answer), media_type="application/json")

    def _apply(self, node_id: str, changes: list[Change], after: int | None) -> BatchResult:
        origin = RequestContext(actor=node_source(node_id))
        try:
            prepared = prepare(node_id, changes)
            with self.store.transaction(origin) as tx:
                return apply_at_centre(tx, node_id, changes, prepared, after)
        except ProtocolError as failure:
            raise bad_request(str(failure)) from None
        except OutOfOrder as failure:
            raise error(Category.CONFLICT, "conflict", str(failure)) from None

    async def register(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _outcome(bad_request('the body must be JSON: {"node": ID, "organizations": [...]}'))
        try:
            node_id = body.get("node") if isinstance(body, dict) else None
            self._node(request, node_id, "r")
            organizations = body.get("organizations")
            if not isinstance(organizations, list) or not all(
                isinstance(o, str) and o.startswith("Organization/") for o in organizations
            ):
                raise bad_request(
                    "'organizations' must be a list of Organization/ID references", "organizations"
                )
        except FhirError as failure:
            return _outcome(failure)
        await run_in_threadpool(self._register, str(node_id), organizations)
        return Response(
            orjson.dumps({"node": node_id, "organizations": organizations}), media_type="application/json"
        )

    def _register(self, node_id: str, organizations: list[str]) -> None:
        with writer(self.engine).begin() as connection:
            connection.execute(delete(sync_nodes).where(sync_nodes.c.node_id == node_id))
            connection.execute(
                insert(sync_nodes).values(
                    node_id=node_id,
                    organizations=orjson.dumps(organizations).decode(),
                    registered=now_micros(),
                )
            )

    async def feed(self, request: Request) -> Response:
        try:
            node_id = request.query_params.get("node")
            ctx = self._node(request, node_id, "r")
            after = _integer(request, "after", 0)
            limit = min(_integer(request, "limit", 500), MAX_PAGE)
            wait = min(float(_integer(request, "wait", 0)), MAX_WAIT_SECONDS)
        except FhirError as failure:
            return _outcome(failure)
        deadline = time.monotonic() + wait
        while True:
            lines, patients = await run_in_threadpool(self._feed_page, str(node_id), after, limit)
            if lines or time.monotonic() >= deadline:
                break
            await asyncio.sleep(POLL_SECONDS)
        unaudited = await self._disclosed(ctx, "sync-feed", patients)
        if unaudited is not None:
            return _outcome(unaudited)
        return Response(b"".join(lines), media_type=NDJSON)

    def _feed_page(self, node_id: str, after: int, limit: int) -> tuple[list[bytes], set[str]]:
        query = (
            select(
                sync_deliveries.c.id.label("cursor"),
                sync_deliveries.c.kind,
                sync_deliveries.c.patient_id,
                resource_versions.c.actor,
                *VERSION_COLUMNS,
            )
            .select_from(
                sync_deliveries.outerjoin(resource_versions, resource_versions.c.seq == sync_deliveries.c.seq)
            )
            .where(sync_deliveries.c.node_id == node_id, sync_deliveries.c.id > after)
            .order_by(sync_deliveries.c.id)
            .limit(limit)
        )
        lines: list[bytes] = []
        patients: set[str] = set()
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                if row.patient_id is not None:
                    patients.add(row.patient_id)
                if row.kind == "passport":
                    header = {"cursor": row.cursor, "kind": "passport", "patient": row.patient_id}
                    lines.append(orjson.dumps(header) + b"\n")
                else:
                    extra = {
                        "cursor": row.cursor,
                        "kind": "change",
                        "origin": row.actor,
                        "patient": row.patient_id,
                    }
                    lines.append(encode(row.seq, row_to_version(row), **extra))
        return lines, patients

    async def passport(self, request: Request) -> Response:
        try:
            node_id = request.query_params.get("node")
            ctx = self._node(request, node_id, "r")
            patient_id = _patient(request)
            after = _integer(request, "after", 0)
            limit = min(_integer(request, "limit", 1000), MAX_PAGE)
        except FhirError as failure:
            return _outcome(failure)
        try:
            versions = await run_in_threadpool(self._passport_page, str(node_id), patient_id, after, limit)
        except FhirError as failure:
            await self._disclosed(ctx, "sync-passport", [patient_id], outcome="refused")
            return _outcome(failure)
        unaudited = await self._disclosed(ctx, "sync-passport", [patient_id])
        if unaudited is not None:
            return _outcome(unaudited)
        return Response(b"".join(encode(version.seq, version) for version in versions), media_type=NDJSON)

    def _passport_page(self, node_id: str, patient_id: str, after: int, limit: int) -> list[Any]:
        """A page of the passport, for the node serving the citizen's polyclinic only (403 otherwise)."""
        with self.engine.connect() as connection:
            _check_follower(connection, node_id, patient_id)
            return passport_versions(connection, patient_id, after, limit)

    async def digest(self, request: Request) -> Response:
        try:
            node_id = request.query_params.get("node")
            ctx = self._node(request, node_id, "r")
            patient_id = _patient(request)
        except FhirError as failure:
            return _outcome(failure)
        try:
            versions = await run_in_threadpool(self._digest, str(node_id), patient_id)
        except FhirError as failure:
            await self._disclosed(ctx, "sync-digest", [patient_id], outcome="refused")
            return _outcome(failure)
        unaudited = await self._disclosed(ctx, "sync-digest", [patient_id])
        if unaudited is not None:
            return _outcome(unaudited)
        return Response(
            orjson.dumps({"patient": patient_id, "versions": versions}), media_type="application/json"
        )

    def _digest(self, node_id: str, patient_id: str) -> list[Any]:
        """The passport's version hashes, like its pages only for the node that serves the citizen."""
        with self.engine.connect() as connection:
            _check_follower(connection, node_id, patient_id)
            return [list(item) for item in passport_digest(connection, patient_id)]


def _check_follower(connection: Connection, node_id: str, patient_id: str) -> None:
    follower = connection.execute(
        select(sync_followers.c.node_id).where(sync_followers.c.patient_id == patient_id)
    ).scalar()
    if follower != node_id:
        raise error(
            Category.FORBIDDEN,
            "forbidden",
            f"node {node_id} does not serve Patient/{patient_id}'s polyclinic",
        )


def _integer(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not is_whole_number(text):
        raise bad_request(f"'{name}' must be a non-negative integer", name)
    return int(text)


def _patient(request: Request) -> str:
    patient_id = request.query_params.get("patient")
    if patient_id is None or not NODE_ID.match(patient_id):
        raise bad_request("'patient' must be a Patient id", "patient")
    return patient_id


def _outcome(failure: FhirError) -> Response:
    response = error_response(failure)
    assert response.resource is not None
    return Response(
        dumps(response.resource),
        status_code=response.status,
        headers=response.headers,
        media_type="application/fhir+json",
    )
