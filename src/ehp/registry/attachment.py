"""Attachment of a citizen to a primary-care organisation, with its whole history.

The model is the one the synthetic population uses: an ``EpisodeOfCare`` of type
``attachment`` (:data:`~ehp.fhir.codes.EPISODE_TYPE`) whose ``managingOrganization`` is the
polyclinic and whose ``period`` says when; ``status`` is ``active`` for the current attachment
and ``finished`` for the earlier ones, whose ``statusHistory`` keeps the active period. Why an
attachment began or ended is an extension holding a code of :data:`REASON_SYSTEM`.

Invariants: at most one active attachment per citizen (also for direct writes of an
EpisodeOfCare: :class:`AttachmentRule`), only to an organisation of a primary-care type, and a
change of polyclinic follows :class:`~ehp.registry.settings.AttachmentRules`. Every operation
locks the Patient's row first, so concurrent requests for one citizen run one after the other.

Every change is told to the organisations concerned with a ``Communication`` per organisation
(category ``notification``, ``recipient`` the organisation, ``about`` the episodes): an ordinary
resource, so a polyclinic finds its news with a search
(``Communication?recipient=Organization/{id}&_lastUpdated=gt...``) and replication ships it with
everything else. A ``Task`` would claim a workflow (owner, status changes) that nobody runs yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import uuid4

from ehp.errors import Category, error
from ehp.fhir.codes import ATTACHMENT, EPISODE_TYPE, FACILITY_TYPE
from ehp.fhir.extensions import ATTACHMENT_REASON, DETACHMENT_REASON
from ehp.index.refs import reference_id
from ehp.registry.records import Index, Json, TransactionIndex, codings
from ehp.registry.settings import AttachmentRules
from ehp.search.query import find_ids
from ehp.store.clock import now_micros, to_instant
from ehp.store.writes import WriteTransaction

REASON_SYSTEM = "http://ehp.kz/fhir/CodeSystem/attachment-reason"
START_REASON = ATTACHMENT_REASON
END_REASON = DETACHMENT_REASON
EVENT_SYSTEM = "http://ehp.kz/fhir/CodeSystem/attachment-event"
REASONS = {
    "free-choice": "The citizen's free choice of polyclinic",
    "change-of-residence": "The citizen moved",
    "organization-closed": "The polyclinic closed or stopped serving the area",
    "death": "The citizen died",
    "emigration": "The citizen left the country",
    "re-attachment": "Attached to another polyclinic",
    "merged": "The record was merged into another",
}
ATTACH_REASONS = ("free-choice", "change-of-residence", "organization-closed")
DETACH_REASONS = ("death", "emigration")
ATTACHMENT_TYPE = f"{EPISODE_TYPE}|{ATTACHMENT.code}"
_NOTIFICATION = {
    "system": "http://terminology.hl7.org/CodeSystem/communication-category",
    "code": "notification",
    "display": "Notification",
}


@dataclass(slots=True)
class Change:
    """What an attachment operation wrote (or found already in place)."""

    attachment: Json | None = None
    """The active episode afterwards (``None`` after a detach)."""
    ended: Json | None = None
    notifications: list[Json] = field(default_factory=list)
    changed: bool = True


def attachment_episodes(index: Index, patient_id: str) -> list[Json]:
    """Every attachment episode of a citizen (the history is short), oldest first."""
    criteria = [("patient", f"Patient/{patient_id}"), ("type", ATTACHMENT_TYPE)]
    contents = index.contents("EpisodeOfCare", find_ids(index, "EpisodeOfCare", criteria, limit=1000))
    return sorted(contents.values(), key=lambda episode: (_start(episode), str(episode.get("id"))))


def is_attachment(episode: Json) -> bool:
    return (EPISODE_TYPE, ATTACHMENT.code) in set(codings(episode.get("type")))


def is_primary_care(organization: Json, rules: AttachmentRules) -> bool:
    return any(
        system == FACILITY_TYPE and code in rules.primary_care_types
        for system, code in codings(organization.get("type"))
    )


def _start(episode: Json) -> str:
    period = episode.get("period")
    start = period.get("start") if isinstance(period, dict) else None
    return start if isinstance(start, str) else ""


def _reason(episode: Json, url: str) -> str | None:
    for extension in episode.get("extension") or []:
        if isinstance(extension, dict) and extension.get("url") == url:
            coding = extension.get("valueCoding")
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                return str(coding["code"])
    return None


def reason_extension(url: str, code: str) -> Json:
    return {"url": url, "valueCoding": {"system": REASON_SYSTEM, "code": code, "display": REASONS[code]}}


def free_changes_in(episodes: list[Json], year: int, rules: AttachmentRules) -> int:
    """How many changes of polyclinic counted against the yearly allowance happened in ``year``."""
    handovers = {_end(episode) for episode in episodes if _reason(episode, END_REASON) == "re-attachment"}
    return sum(
        1
        for episode in episodes
        if _start(episode)[:4] == str(year)
        and _start(episode) in handovers
        and (_reason(episode, START_REASON) or "") not in (*rules.exceptions, "")
    )


def _end(episode: Json) -> str:
    period = episode.get("period")
    end = period.get("end") if isinstance(period, dict) else None
    return end if isinstance(end, str) else ""


def change_problem(rules: AttachmentRules, episodes: list[Json], day: date, reason: str) -> str | None:
    """Why a change of polyclinic on ``day`` for ``reason`` is not allowed, or ``None``."""
    if reason in rules.exceptions:
        return None
    if not rules.in_campaign(day):
        assert rules.campaign is not None
        window = f"{rules.campaign[0]} to {rules.campaign[1]}"
        return (
            f"a change of polyclinic for '{reason}' is allowed only in the yearly campaign ({window}); "
            f"exceptions: {', '.join(rules.exceptions)}"
        )
    done = free_changes_in(episodes, day.year, rules)
    if done >= rules.free_changes_per_year:
        return (
            f"too frequent: {done} change(s) of polyclinic in {day.year} already, "
            f"{rules.free_changes_per_year} allowed a year (exceptions: {', '.join(rules.exceptions)})"
        )
    return None


def finish(episode: Json, day: date, reason: str) -> Json:
    """The episode ended on ``day`` for ``reason`` (a new version's content)."""
    ended = {key: value for key, value in episode.items() if key != "meta"}
    period = dict(ended.get("period") or {})
    history = list(ended.get("statusHistory") or [])
    history.append({"status": "active", "period": {**period, "end": day.isoformat()}})
    period["end"] = day.isoformat()
    extensions = [item for item in ended.get("extension") or [] if item.get("url") != END_REASON]
    ended |= {
        "extension": [*extensions, reason_extension(END_REASON, reason)],
        "status": "finished",
        "statusHistory": history,
        "period": period,
    }
    return ended


def new_attachment(patient_id: str, organization: Json, day: date, reason: str) -> Json:
    return {
        "resourceType": "EpisodeOfCare",
        "id": str(uuid4()),
        "extension": [reason_extension(START_REASON, reason)],
        "status": "active",
        "type": [ATTACHMENT.concept()],
        "patient": {"reference": f"Patient/{patient_id}"},
        "managingOrganization": _organization_reference(organization),
        "period": {"start": day.isoformat()},
    }


def _organization_reference(organization: Json) -> Json:
    reference: Json = {"reference": f"Organization/{organization['id']}"}
    if isinstance(organization.get("name"), str):
        reference["display"] = organization["name"]
    return reference


def notification(patient_id: str, recipient: Json, event: str, text: str, episodes: list[Json]) -> Json:
    """The Communication telling ``recipient`` (an episode's managingOrganization) of a change."""
    return {
        "resourceType": "Communication",
        "id": str(uuid4()),
        "status": "completed",
        "category": [{"coding": [_NOTIFICATION]}],
        "subject": {"reference": f"Patient/{patient_id}"},
        "topic": {"coding": [{"system": EVENT_SYSTEM, "code": event}], "text": text},
        "about": [{"reference": f"EpisodeOfCare/{episode['id']}"} for episode in episodes],
        "sent": to_instant(now_micros()),
        "recipient": [recipient],
        "payload": [{"contentString": text}],
    }


def active_attachment_rule_problem(tx: WriteTransaction, resource_id: str, episode: Json) -> str | None:
    """Why a direct write of an active attachment episode would make a second one, or ``None``."""
    patient_id = reference_id(episode.get("patient"), "Patient")
    if patient_id is None:
        return None
    tx.current("Patient", patient_id)  # lock the citizen's row, as the operations do
    others = [
        found
        for found in find_ids(
            TransactionIndex(tx),
            "EpisodeOfCare",
            [("patient", f"Patient/{patient_id}"), ("type", ATTACHMENT_TYPE), ("status", "active")],
            limit=3,
        )
        if found != resource_id
    ]
    if others:
        return (
            f"Patient/{patient_id} already has an active attachment (EpisodeOfCare/{others[0]}); "
            f"change it with Patient/{patient_id}/$attach"
        )
    return None


class AttachmentRule:
    """At most one active attachment per citizen, whatever writes it (see the module doc)."""

    resource_types = frozenset({"EpisodeOfCare"})

    def check(self, tx: WriteTransaction, resource_id: str, resource: dict[str, Any]) -> bool:
        if resource.get("status") == "active" and is_attachment(resource):
            problem = active_attachment_rule_problem(tx, resource_id, resource)
            if problem is not None:
                raise error(Category.CONFLICT, "business-rule", problem, "EpisodeOfCare.status")
        return False
