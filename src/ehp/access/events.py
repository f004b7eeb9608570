"""AuditEvents in the style of IHE Basic Audit Log Patterns (BALP): who, on whose behalf, which
patient, what, outcome, why, from where, when."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from ehp.context import RequestContext
from ehp.security.audit import AuditRecord
from ehp.store.clock import now_micros, to_instant

EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
INTERACTION = "http://hl7.org/fhir/restful-interaction"
PURPOSE = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
BREAK_GLASS = "http://ehp.kz/fhir/CodeSystem/access-event"
OUTCOMES = {"success": "0", "refused": "4", "failed": "8"}


_TYPE = {"system": EVENT_TYPE, "code": "rest"}
_SOURCE = {"observer": {"display": "ehp"}, "type": [{"code": "4", "display": "Application Server"}]}
_PATIENT_ROLE = {"system": OBJECT_ROLE, "code": "1"}
_RESOURCE_ROLE = {"system": OBJECT_ROLE, "code": "4"}
_QUERY_ROLE = {"system": OBJECT_ROLE, "code": "24"}
_REASON_ROLE = {"system": OBJECT_ROLE, "code": "13"}
_BREAK_GLASS_SUBTYPE = {"system": BREAK_GLASS, "code": "break-glass", "display": "Break the glass"}
_AGENT_TYPES = {
    action: {"coding": [{"system": PARTICIPATION, "code": "IRCP" if action == "R" else "AUT"}]}
    for action in ("C", "R", "U", "D", "E")
}


@cache
def _purpose(code: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": PURPOSE, "code": code}]}]


@cache
def _subtype(code: str) -> dict[str, str]:
    return {"system": INTERACTION, "code": code}


def audit_records(
    ctx: RequestContext,
    *,
    subtype: str,
    action: str,
    outcome: str,
    patients: Iterable[str | None],
    what: str | None,
    purpose: str,
    on_behalf_of: Iterable[str] = (),
    description: str | None = None,
    query: str | None = None,
    emergency_reason: str | None = None,
) -> list[AuditRecord]:
    """One record per patient touched (a record without a patient when none was).

    The constant parts are shared between events: they are only ever serialised, never changed.
    """
    recorded = to_instant(now_micros())
    agent: dict[str, Any] = {
        "type": _AGENT_TYPES[action],
        "who": {"reference": ctx.actor} if "/" in ctx.actor else {"display": ctx.actor},
        "requestor": True,
        "purposeOfUse": _purpose(purpose),
    }
    if ctx.source_address:
        agent["network"] = {"address": ctx.source_address, "type": "2"}
    agents = [agent]
    agents.extend(
        {"who": {"reference": organization}, "requestor": False, "role": [{"text": "on behalf of"}]}
        for organization in on_behalf_of
    )
    subtypes = [_subtype(subtype)]
    shared: list[dict[str, Any]] = []
    if what is not None:
        shared.append({"what": {"reference": what}, "role": _RESOURCE_ROLE})
    if query is not None:
        shared.append({"role": _QUERY_ROLE, "description": query})
    if emergency_reason is not None:
        subtypes.append(_BREAK_GLASS_SUBTYPE)
        shared.append({"role": _REASON_ROLE, "name": "reason", "description": emergency_reason})
    records = []
    for patient in patients:
        entities = shared
        if patient is not None:
            entities = [{"what": {"reference": f"Patient/{patient}"}, "role": _PATIENT_ROLE}, *shared]
        event: dict[str, Any] = {
            "resourceType": "AuditEvent",
            "id": f"{ctx.request_id}-{next(ctx.audit_numbers)}",
            "type": _TYPE,
            "subtype": subtypes,
            "action": action,
            "recorded": recorded,
            "outcome": OUTCOMES[outcome],
            "purposeOfEvent": _purpose(purpose),
            "agent": agents,
            "source": _SOURCE,
            "entity": entities,
        }
        if description:
            event["outcomeDesc"] = description
        records.append(AuditRecord(event, ctx.actor, patient))
    return records
