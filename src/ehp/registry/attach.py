"""``$attach`` and ``$detach`` on a citizen: the checks, the episodes and the notifications.

Both run in the caller's write transaction and lock the Patient's row before reading anything
(``WriteTransaction.current`` takes ``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite has one
writer), so of two concurrent requests for one citizen the second sees the first's result: two
re-attachments cannot both pass a yearly limit, and two first attachments cannot make two active
episodes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from ehp.errors import Category, error, not_found
from ehp.fhir.jsonio import loads
from ehp.index.refs import reference_id
from ehp.registry.attachment import (
    Change,
    attachment_episodes,
    change_problem,
    finish,
    is_primary_care,
    new_attachment,
    notification,
)
from ehp.registry.records import Json, TransactionIndex, replaced_by
from ehp.registry.settings import AttachmentRules
from ehp.store.writes import WriteTransaction


def _parameter(name: str) -> str:
    return f"Parameters.parameter.where(name='{name}')"


def today() -> date:
    return datetime.now(UTC).date()


def locked_patient(tx: WriteTransaction, patient_id: str) -> Json:
    """The citizen's current record, its row locked; 404 when unknown, 422 when merged away."""
    stored = tx.current("Patient", patient_id)
    if stored is None or stored.content is None:
        raise not_found(f"Patient/{patient_id} is not known" + (" (it was deleted)" if stored else ""))
    patient: Json = loads(stored.content)
    survivor = replaced_by(patient)
    if survivor is not None:
        raise error(
            Category.UNPROCESSABLE,
            "business-rule",
            f"Patient/{patient_id} was merged into Patient/{survivor}; use that record",
        )
    return patient


def _check_day(day: date, patient: Json, start: str | None) -> None:
    if day > today():
        raise error(
            Category.UNPROCESSABLE, "business-rule", f"the date {day} is in the future", _parameter("date")
        )
    born = patient.get("birthDate")
    if isinstance(born, str) and len(born) == 10 and day.isoformat() < born:
        raise error(
            Category.UNPROCESSABLE,
            "business-rule",
            f"the date {day} is before the citizen's birth ({born})",
            _parameter("date"),
        )
    if start and day.isoformat() < start[:10]:
        raise error(
            Category.UNPROCESSABLE,
            "business-rule",
            f"the date {day} is before the current attachment began ({start[:10]})",
            _parameter("date"),
        )


def _active(episodes: list[Json]) -> list[Json]:
    return [episode for episode in episodes if episode.get("status") == "active"]


def _start(episode: Json) -> str | None:
    period = episode.get("period")
    return period.get("start") if isinstance(period, dict) else None


def attach(
    tx: WriteTransaction,
    rules: AttachmentRules,
    patient_id: str,
    organization_id: str,
    reason: str,
    day: date,
) -> Change:
    """Attach the citizen to the organisation on ``day``, ending the current attachment if any."""
    patient = locked_patient(tx, patient_id)
    if patient.get("deceasedBoolean") is True or "deceasedDateTime" in patient:
        raise error(
            Category.UNPROCESSABLE,
            "business-rule",
            f"Patient/{patient_id} is deceased and cannot be attached",
        )
    organization = _organization(tx, organization_id, rules)
    episodes = attachment_episodes(TransactionIndex(tx), patient_id)
    current = _active(episodes)
    same = [
        e for e in current if reference_id(e.get("managingOrganization"), "Organization") == organization_id
    ]
    if same and len(current) == 1:
        return Change(attachment=same[0], changed=False)
    _check_day(day, patient, max((_start(e) or "" for e in current), default=None))
    if current:
        problem = change_problem(rules, episodes, day, reason)
        if problem is not None:
            raise error(Category.UNPROCESSABLE, "business-rule", problem, _parameter("reason"))
    created = new_attachment(patient_id, organization, day, reason)
    change = Change(attachment=created)
    tx.write("EpisodeOfCare", created["id"], created, "POST", fresh_id=True)
    name = organization.get("name", f"Organization/{organization_id}")
    text = f"attached to {name} from {day} ({reason})"
    change.notifications.append(
        notification(patient_id, created["managingOrganization"], "attached", text, [created])
    )
    for episode in current:
        ended = finish(episode, day, "re-attachment")
        tx.write("EpisodeOfCare", ended["id"], ended, "PUT")
        change.ended = ended
        change.notifications.append(
            notification(patient_id, ended["managingOrganization"], "transferred-out", text, [ended, created])
        )
    for message in change.notifications:
        tx.write("Communication", message["id"], message, "POST", fresh_id=True)
    return change


def detach(tx: WriteTransaction, patient_id: str, reason: str, day: date) -> Change:
    """End the citizen's attachment on ``day`` (death, emigration); 422 when not attached."""
    patient = locked_patient(tx, patient_id)
    current = _active(attachment_episodes(TransactionIndex(tx), patient_id))
    if not current:
        raise error(
            Category.UNPROCESSABLE,
            "business-rule",
            f"Patient/{patient_id} is not attached to any organisation",
        )
    _check_day(day, patient, max(_start(e) or "" for e in current))
    change = Change()
    for episode in current:
        ended = finish(episode, day, reason)
        tx.write("EpisodeOfCare", ended["id"], ended, "PUT")
        change.ended = ended
        text = f"detached on {day} ({reason})"
        change.notifications.append(
            notification(patient_id, ended["managingOrganization"], "detached", text, [ended])
        )
    for message in change.notifications:
        tx.write("Communication", message["id"], message, "POST", fresh_id=True)
    return change


def _organization(tx: WriteTransaction, organization_id: str, rules: AttachmentRules) -> Json:
    where = _parameter("organization")
    found = TransactionIndex(tx).contents("Organization", [organization_id]).get(organization_id)
    if found is None:
        raise error(
            Category.UNPROCESSABLE, "not-found", f"Organization/{organization_id} is not known", where
        )
    if found.get("active") is False:
        raise error(
            Category.UNPROCESSABLE, "business-rule", f"Organization/{organization_id} is not active", where
        )
    if not is_primary_care(found, rules):
        raise error(
            Category.UNPROCESSABLE,
            "business-rule",
            f"Organization/{organization_id} is not a primary-care organisation "
            f"(facility type {' or '.join(rules.primary_care_types)}); citizens attach to a polyclinic",
            where,
        )
    return found
