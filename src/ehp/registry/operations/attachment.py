"""Attachment operations: ``Patient/{id}/$attach``, ``Patient/{id}/$detach``, ``Organization/{id}/$attached``.

``$attach`` takes ``organization`` (a reference to a primary-care Organization), ``reason``
(``free-choice`` by default, ``change-of-residence``, ``organization-closed``) and ``date`` (default
today); attaching while attached is a change of polyclinic. ``$detach`` takes ``reason`` (``death``
or ``emigration``) and ``date``. Both answer with Parameters holding the active episode
(``attachment``), the one ended (``ended``) and the notifications written. ``$attached`` lists an
organisation's attached population: the attachment episodes active now (or on ``date``) with their
Patients, as a searchset Bundle with the usual paging (it runs the equivalent EpisodeOfCare search
under the caller's grant: only the people the caller may see, each disclosure audited).
"""

from __future__ import annotations

from typing import Any

from ehp.api.call import Call
from ehp.api.interactions import search
from ehp.api.interactions.operation_input import OperationInput
from ehp.api.messages import FhirRequest, FhirResponse
from ehp.errors import not_found
from ehp.registry.attach import attach as attach_citizen
from ehp.registry.attach import detach as detach_citizen
from ehp.registry.attach import today
from ehp.registry.attachment import ATTACH_REASONS, ATTACHMENT_TYPE, DETACH_REASONS, Change
from ehp.registry.settings import registry_settings


def attach(call: Call) -> FhirResponse:
    _on(call, "Patient", "attach")
    given = OperationInput(call)
    organization = given.reference("organization", "Organization")
    assert organization is not None
    reason = given.code("reason", ATTACH_REASONS, default="free-choice")
    day = given.day("date", today())
    rules = registry_settings().attachment
    return _response(attach_citizen(call.write_tx, rules, call.id, organization, reason, day))


def detach(call: Call) -> FhirResponse:
    _on(call, "Patient", "detach")
    given = OperationInput(call)
    reason = given.code("reason", DETACH_REASONS)
    return _response(detach_citizen(call.write_tx, call.id, reason, given.day("date", today())))


def attached(call: Call) -> FhirResponse:
    """The attached people: ``EpisodeOfCare?organization=...&_include=EpisodeOfCare:patient``."""
    _on(call, "Organization", "attached")
    given = OperationInput(call)
    query = [("organization", f"Organization/{call.id}"), ("type", ATTACHMENT_TYPE)]
    if given.query.get("date") is not None or "date" in given.body:
        day = given.day("date", today()).isoformat()
        query += [("date", f"le{day}"), ("date", f"ge{day}")]
    else:
        query.append(("status", "active"))
    query.append(("_include", "EpisodeOfCare:patient"))
    query += [(name, value) for name, value in call.request.query if name in ("_count", "_cursor")]
    request = FhirRequest(method="GET", path="EpisodeOfCare", query=query, headers=call.request.headers)
    inner = Call(
        call.service,
        call.ctx,
        request,
        call.base,
        "EpisodeOfCare",
        None,
        None,
        reader=call.reader,
        access=call.access,
    )
    return search.search_type(inner)


def _on(call: Call, resource_type: str, operation: str) -> None:
    if call.type != resource_type:
        raise not_found(f"${operation} is an operation on {resource_type}, not on {call.type}")


def _response(change: Change) -> FhirResponse:
    parameters: list[dict[str, Any]] = []
    if change.attachment is not None:
        parameters.append({"name": "attachment", "resource": change.attachment})
    if change.ended is not None:
        parameters.append({"name": "ended", "resource": change.ended})
    parameters.extend({"name": "notification", "resource": message} for message in change.notifications)
    parameters.append({"name": "changed", "valueBoolean": change.changed})
    return FhirResponse(200, resource={"resourceType": "Parameters", "parameter": parameters})
