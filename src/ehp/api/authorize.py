"""The one authorization decision around every interaction (with authentication on).

The rule for what a caller may not see: **404, as if it did not exist**. A read, vread, history or
instance operation on a resource of a patient the caller has no basis for answers exactly what
an unknown id answers; a search simply does not find it (the page, ``_include``/``_revinclude``
and ``_total`` are computed with the caller's filter in the SQL). **403** is for what depends on
the caller only, never on what is stored: a write naming a patient the caller has no basis for
(whether that patient exists or not), a kind of request the caller's role may not make (a
citizen writing anything but a Consent, a type- or system-level operation without being admin),
and SMART scopes. Every outcome, refused ones too, is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from orjson import loads

from ehp.access.authority import (
    GOVERNED_TYPES,
    check_attachment,
    check_authority,
    check_log_reader,
    check_registry_caller,
)
from ehp.access.links import PATIENT, patients_of
from ehp.access.policy import ACCESS_TYPES, Access
from ehp.access.route_policy import RoutePolicy
from ehp.api.interactions.access_log import audit_search
from ehp.api.messages import FhirResponse
from ehp.errors import Category, FhirError, bad_request, error, not_found
from ehp.search.query import find_ids
from ehp.security.audit import append
from ehp.store.reads import HistoryQuery
from ehp.store.versions import StoredVersion

if TYPE_CHECKING:
    from ehp.api.call import Call
    from ehp.api.routing import Route

BREAK_GLASS_HEADER = "x-break-glass-reason"
AUDIT_EVENT = "AuditEvent"
INSTANCE_SHAPES = frozenset({"instance", "version", "instance-history", "instance-op"})
READ_SHAPES = frozenset({"instance", "version"})
_REFUSALS = frozenset({Category.UNAUTHENTICATED, Category.FORBIDDEN, Category.NOT_FOUND})
SEARCH_SHAPES = frozenset(
    {"type", "type-search", "base", "system-search", "compartment", "compartment-search"}
)
ATTACHMENT_OPERATIONS = frozenset({"attach", "detach"})


def guarded(call: Call, route: Route, check_scope: Callable[[], None]) -> FhirResponse:
    """Run ``route`` for ``call`` under the token's scopes and the caller's grant, and audit it."""
    if route.policy is None:
        raise error(
            Category.INTERNAL,
            "exception",
            f"{route.method} {route.shape} {route.operation or ''} declares no access policy, so it is "
            "not served",
        )
    access = call.access
    if access is None or route.policy is RoutePolicy.PUBLIC:
        check_scope()
        return route.handler(call)
    subtype = route.audit_subtype
    action = route.audit_action
    try:
        check_scope()
        _granular_scopes(call, route)
        _break_glass(call, access, route)
        _before(call, access, route)
        if (
            call.resource_type == AUDIT_EVENT
            and route.shape == "type"
            and call.request.method in ("GET", "HEAD")
        ):
            response = audit_search(call)
        else:
            response = route.handler(call)
        _after(call, access, route, response)
        _check_returned_types(call, route, response)
    except FhirError as failure:
        if failure.category is Category.GONE and route.shape in READ_SHAPES:
            failure = _hide_deleted(call, access, failure)
        if not access.touched and failure.category in (Category.FORBIDDEN, Category.NOT_FOUND):
            access.touched.update(_patients_if_known(call, route))
        outcome = "refused" if failure.category in _REFUSALS else "failed"
        access.policy.audit.put(
            access.records(subtype, action, outcome, _what(call), description=str(failure))
        )
        raise failure from None
    if route.shape == "base" and call.request.method == "POST":
        return response
    records = access.records(subtype, action, "success", _what(call, response), query=_query(call, route))
    if call.tx is not None:
        append(call.tx.connection, records)
    else:
        access.policy.audit.put(records)
    return response


GRANULAR_SHAPES = frozenset({"type", "instance", "version"})
"""Where a granular scope (``patient/Observation.rs?category=...``) opens its type: a GET search of
the type (its search is added to the request's) and reads by id (checked against it)."""


def _granular_scopes(call: Call, route: Route) -> None:
    """Narrow a search, or check a read, to what the token's granular scopes permit."""
    scopes = call.ctx.scopes
    kind = call.resource_type
    permission = route.permission
    if scopes is None or kind is None or permission is None:
        return
    queries = scopes.searches(kind, permission)
    if not queries:
        return
    if permission not in ("r", "s") or route.shape not in GRANULAR_SHAPES or call.request.method != "GET":
        raise error(
            Category.FORBIDDEN,
            "forbidden",
            f"the access token's scopes on {kind} carry search parameters: they open searches "
            f"(GET {kind}?...) and reads by id only",
        )
    if route.shape == "type":
        call.request.query = [*call.request.query, *_union(kind, queries)]
        return
    matching = [
        find_ids(call.store_reader, kind, [("_id", call.id), *parse_qsl(query)], limit=1) for query in queries
    ]
    if not any(matching):
        raise not_found(f"{kind}/{call.id} is not known")


def _union(kind: str, queries: tuple[str, ...]) -> list[tuple[str, str]]:
    """One search for several granular scopes: their union is expressible when each is one
    parameter, the same one (``category=a`` and ``category=b`` give ``category=a,b``)."""
    parsed = [parse_qsl(query) for query in queries]
    if len(parsed) == 1:
        return parsed[0]
    names = {pairs[0][0] for pairs in parsed if len(pairs) == 1}
    if len(names) != 1 or any(len(pairs) != 1 for pairs in parsed):
        raise error(
            Category.FORBIDDEN,
            "forbidden",
            f"the token's granular scopes on {kind} search different parameters; ask for one of them",
        )
    return [(names.pop(), ",".join(pairs[0][1] for pairs in parsed))]


def _check_returned_types(call: Call, route: Route, response: FhirResponse) -> None:
    """SMART scopes hold for the types an answer holds, not only for the route's type: a token
    with ``patient/Patient.rs`` gets no Observation from ``Patient/ID/*``, ``$everything`` or an
    ``_include`` (handlers narrow what they can up front; this refuses whatever is left)."""
    if call.ctx.scopes is None or response.resource is None:
        return
    denied = sorted(
        {kind for kind in _returned_types(response.resource) if not _may_return(call, route, kind)}
    )
    if denied:
        raise error(
            Category.FORBIDDEN,
            "forbidden",
            f"the access token's scopes do not allow reading {', '.join(denied)}, which this answer "
            "would hold; ask for fewer types (_type, no _include) or for those scopes",
        )


def _may_return(call: Call, route: Route, kind: str) -> bool:
    scopes = call.ctx.scopes
    assert scopes is not None
    if scopes.allows_plainly(kind, "r") or scopes.allows_plainly(kind, "s"):
        return True
    # a granular scope: only its own search, narrowed by _granular_scopes
    return kind == call.resource_type and route.shape in GRANULAR_SHAPES and call.ctx.may(kind, "s")


def _returned_types(resource: dict[str, Any]) -> set[str]:
    """The types of the resources a Bundle's entries or a Parameters' parameters carry. A stored
    resource is embedded unparsed (an ``orjson.Fragment``): its entry's ``fullUrl``
    (``{base}/{type}/{id}``) names its type."""
    kinds: set[str] = set()
    kind = resource.get("resourceType")
    items = (
        resource.get("entry")
        if kind == "Bundle"
        else resource.get("parameter")
        if kind == "Parameters"
        else None
    )
    for item in items or []:
        if not isinstance(item, dict) or "resource" not in item:
            continue
        inner = item["resource"]
        if isinstance(inner, dict):
            inner_kind = inner.get("resourceType")
            if isinstance(inner_kind, str) and inner_kind != "OperationOutcome":
                kinds.add(inner_kind)
            if inner_kind in ("Bundle", "Parameters"):
                kinds |= _returned_types(inner)
        elif isinstance(item.get("fullUrl"), str):
            kinds.add(item["fullUrl"].rsplit("/", 2)[-2])
    return kinds


def _what(call: Call, response: FhirResponse | None = None) -> str | None:
    if response is not None and response.version is not None:
        return f"{response.version.resource_type}/{response.version.id}"
    if call.resource_type and call.resource_id:
        return f"{call.resource_type}/{call.resource_id}"
    return call.resource_type


def _query(call: Call, route: Route) -> str | None:
    if route.shape not in SEARCH_SHAPES and "history" not in route.shape:
        return None
    return "&".join(f"{name}={value}" for name, value in call.request.query) or None


def _latest(call: Call) -> StoredVersion | None:
    """The instance's current version, or its last version with content when it was deleted."""
    reader = call.reader or call.service.store.reader(call.ctx)
    current = reader.read(call.type, call.id)
    if current is None or current.content is not None:
        return current
    versions, _ = reader.history(HistoryQuery(call.type, call.id, count=1000))
    return next((version for version in versions if version.content is not None), current)


def _check_visible(access: Access, stored: StoredVersion | None, call: Call) -> None:
    if stored is None or stored.content is None:
        return
    patients = patients_of(loads(stored.content))
    access.touched.update(patients)
    if not access.grant.may_see(patients, stored.resource_type) or _is_hidden(access, stored):
        raise not_found(f"{call.type}/{call.id} is not known")


def _patients_if_known(call: Call, route: Route) -> frozenset[str]:
    """For the audit of a refusal: whom the request was about, when that can be told."""
    try:
        return _named_patients(call, route)
    except FhirError:
        return frozenset()


def _hide_deleted(call: Call, access: Access, gone: FhirError) -> FhirError:
    """A deleted resource the caller could not see when it existed is not found, not gone."""
    try:
        _check_visible(access, _latest(call), call)
    except FhirError as hidden:
        return hidden
    return gone


def _is_hidden(access: Access, stored: StoredVersion) -> bool:
    if not access.grant.hidden:
        return False
    rid = access.policy.rid(stored.resource_type, stored.id)
    return rid in access.grant.hidden


def _before(call: Call, access: Access, route: Route) -> None:
    grant = access.grant
    if call.resource_type == AUDIT_EVENT:
        _audit_event_route(call, route)
    if grant.everything:
        if route.policy is RoutePolicy.RECORDS and route.shape in INSTANCE_SHAPES - READ_SHAPES:
            _check_visible(access, _latest(call), call)  # refuses no administrator: notes whose record
        return
    if route.policy is RoutePolicy.ADMINISTRATION:
        raise error(
            Category.FORBIDDEN, "forbidden", f"${route.operation} is for the registry's administrators only"
        )
    if route.policy is RoutePolicy.REGISTRY:
        check_registry_caller(grant, route.operation or "", call.type, call.id)
    if route.session == "write" and grant.citizen and call.resource_type not in (None, "Consent"):
        raise error(Category.FORBIDDEN, "forbidden", "a citizen may change only their own Consents")
    if route.session == "write" and route.shape == "type" and call.request.method != "POST":
        raise error(
            Category.FORBIDDEN,
            "forbidden",
            "conditional updates, patches and deletes are for administrators only",
        )
    if route.policy is RoutePolicy.AUDIT_LOG:
        check_log_reader(grant, call.id)
    elif (
        route.shape in INSTANCE_SHAPES
        and route.policy is not RoutePolicy.CONTENT_ONLY
        and not (route.shape in READ_SHAPES and route.session == "read")
    ):
        _check_visible(access, _latest(call), call)
    if (
        route.session == "write"
        and route.operation is None
        and call.resource_type in GOVERNED_TYPES
        and call.request.method in ("POST", "PUT")
    ):
        # before the handler, so the refusal does not depend on what the registry rules find
        current = _latest(call) if route.shape == "instance" else None
        before = loads(current.content) if current is not None and current.content is not None else None
        check_authority(grant, call.type, before, call.body_resource(call.type))


def _audit_event_route(call: Call, route: Route) -> None:
    """AuditEvents are the chain's: written by the server alone, read by patient from the chain.

    A stored AuditEvent resource would shadow a chain record under the same id, so none is
    written (not by administrators either) and none is read from the resource store.
    """
    if route.session == "write":
        raise error(
            Category.FORBIDDEN,
            "forbidden",
            "AuditEvents are written by the server alone, into the audit trail; they cannot be "
            "created, changed or deleted through the API",
        )
    if route.shape != "type" or route.operation:
        raise not_found(
            "AuditEvents are read from the audit trail with AuditEvent?patient=Patient/ID "
            "or Patient/ID/$access-log"
        )


def _after(call: Call, access: Access, route: Route, response: FhirResponse) -> None:
    stored = response.version
    if route.session == "write" and route.operation is not None:
        # $attach, $detach and $merge change legal bases but answer with Parameters, not a version
        access.policy.invalidate()
    if route.shape in READ_SHAPES and route.session == "read":
        _check_visible(access, stored, call)
        return
    if (
        route.operation in ATTACHMENT_OPERATIONS
        and response.resource is not None
        and not access.grant.everything
    ):
        check_attachment(access.grant, route.operation, response.resource)
    deleted = stored is not None and stored.content is None
    if (
        route.session == "write"
        and stored is not None
        and (deleted or stored.resource_type in GOVERNED_TYPES)
    ):
        # the replaced version is read only where it decides something: a basis-changing type's
        # authority, or whose record a delete touched (not on every write of an Observation)
        before = _previous(call, stored)
        after = loads(stored.content) if stored.content is not None else None
        access.note = check_authority(access.grant, stored.resource_type, before, after)
        if after is None and before is not None:
            access.touched.update(patients_of(before))
    if route.session != "write" or stored is None or stored.content is None:
        return
    resource = loads(stored.content)
    patients = patients_of(resource)
    access.touched.update(patients)
    if stored.resource_type in ACCESS_TYPES:
        access.policy.invalidate()
    if access.grant.everything:
        return
    creating_patient = stored.resource_type == PATIENT and stored.version == 1 and not access.grant.citizen
    if creating_patient:
        return
    if access.grant.citizen:
        if not patients or not patients <= access.grant.own:
            raise error(
                Category.FORBIDDEN,
                "forbidden",
                "a citizen may write Consents only for themselves and those they represent",
            )
        return
    if not patients <= access.grant.patients:
        missing = ", ".join(f"Patient/{p}" for p in sorted(patients - access.grant.patients))
        raise error(Category.FORBIDDEN, "forbidden", f"no legal basis to write the data of {missing}")


def _previous(call: Call, stored: StoredVersion) -> dict[str, Any] | None:
    """The content of the version a write replaced (``None`` for a create or a re-create)."""
    if stored.version <= 1 or call.tx is None:
        return None
    earlier = call.tx.vread(stored.resource_type, stored.id, stored.version - 1)
    if earlier is None or earlier.content is None:
        return None
    previous: dict[str, Any] = loads(earlier.content)
    return previous


def _break_glass(call: Call, access: Access, route: Route) -> None:
    reason = call.request.header(BREAK_GLASS_HEADER)
    if reason is None:
        return
    reason = reason.strip()
    if not reason:
        raise bad_request(f"{BREAK_GLASS_HEADER.title()} must give the reason of the emergency access")
    kind = call.ctx.actor.partition("/")[0]
    if kind not in ("Practitioner", "PractitionerRole", "Organization"):
        raise error(
            Category.FORBIDDEN, "forbidden", "only medical workers and clinic systems may break the glass"
        )
    patient = _target_patient(call, route)
    access.emergency_reason = reason
    access.touched.add(patient)
    access.policy.open_break_glass(call.ctx, access.grant, patient, reason)
    access.grant = access.policy.grant(call.ctx)


def _target_patient(call: Call, route: Route) -> str:
    """The one patient an emergency request is about (400 when it names none or several)."""
    patients = _named_patients(call, route)
    if len(patients) != 1:
        raise bad_request(
            "break-the-glass opens one patient: read one of their resources or search with patient=Patient/ID"
        )
    return next(iter(patients))


def _named_patients(call: Call, route: Route) -> frozenset[str]:
    """The patients a request is about: its Patient, its instance's, its body's, its search's."""
    if call.resource_type == PATIENT and call.resource_id is not None:
        return frozenset({call.resource_id})
    if route.shape in INSTANCE_SHAPES:
        stored = _latest(call)
        return patients_of(loads(stored.content)) if stored is not None and stored.content else frozenset()
    if route.shape == "type" and call.request.method in ("POST", "PUT"):
        return patients_of(call.body_resource())
    if route.shape in ("type", "type-search"):
        return frozenset(
            value.removeprefix("Patient/")
            for name, value in call.request.query
            if name in ("patient", "subject") and (name == "patient" or value.startswith("Patient/"))
        )
    return frozenset()
