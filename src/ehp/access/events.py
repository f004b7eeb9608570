"""AuditEvents in the style of IHE Basic Audit Log Patterns (BALP): who, on whose behalf, which
patient, what, outcome, why, from where, when."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import uuid4

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
ACTIONS = {"GET": "R", "HEAD": "R", "POST": "C", "PUT": "U", "PATCH": "U", "DELETE": "D"}


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
    """One record per patient touched (a record without a patient when none was)."""
    recorded = to_instant(now_micros())
    agents: list[dict[str, Any]] = [
        {
            "type": {"coding": [{"system": PARTICIPATION, "code": "IRCP" if action == "R" else "AUT"}]},
            "who": {"reference": ctx.actor} if "/" in ctx.actor else {"display": ctx.actor},
            "requestor": True,
            "purposeOfUse": [{"coding": [{"system": PURPOSE, "code": purpose}]}],
            **({"network": {"address": ctx.source_address, "type": "2"}} if ctx.source_address else {}),
        }
    ]
    agents.extend(
        {"who": {"reference": organization}, "requestor": False, "role": [{"text": "on behalf of"}]}
        for organization in sorted(on_behalf_of)
    )
    records = []
    for patient in sorted(set(patients), key=lambda p: p or ""):
        entities: list[dict[str, Any]] = []
        if patient is not None:
            entities.append(
                {"what": {"reference": f"Patient/{patient}"}, "role": {"system": OBJECT_ROLE, "code": "1"}}
            )
        if what is not None:
            entities.append({"what": {"reference": what}, "role": {"system": OBJECT_ROLE, "code": "4"}})
        if query is not None:
            entities.append({"role": {"system": OBJECT_ROLE, "code": "24"}, "description": query})
        event: dict[str, Any] = {
            "resourceType": "AuditEvent",
            "id": str(uuid4()),
            "type": {"system": EVENT_TYPE, "code": "rest"},
            "subtype": [{"system": INTERACTION, "code": subtype}],
            "action": action,
            "recorded": recorded,
            "outcome": OUTCOMES[outcome],
            "purposeOfEvent": [{"coding": [{"system": PURPOSE, "code": purpose}]}],
            "agent": agents,
            "source": {
                "observer": {"display": "ehp"},
                "type": [{"code": "4", "display": "Application Server"}],
            },
            "entity": entities,
        }
        if emergency_reason is not None:
            event["subtype"].append(
                {"system": BREAK_GLASS, "code": "break-glass", "display": "Break the glass"}
            )
            entities.append(
                {
                    "role": {"system": OBJECT_ROLE, "code": "13"},
                    "name": "reason",
                    "description": emergency_reason,
                }
            )
        if description:
            event["outcomeDesc"] = description
        records.append(AuditRecord(event, ctx.actor, patient))
    return records
