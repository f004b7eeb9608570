"""``Patient/$merge``: one person's two records become one, in one store transaction.

Every resource whose reference index points at the source Patient is read (``idx_reference``:
``target_type``/``target_id`` give the referring rows, ``rid`` the resources) and every reference to
the source in it, wherever it is in the resource, is rewritten to the target in a new version:
``Patient/{source}``, ``Patient/{source}/_history/n`` (a version of the source means the person,
now the target) and absolute URLs on this server. Audit records (``Provenance``, ``AuditEvent``)
are left as they are: they are history. The source becomes ``active: false`` with a
``replaced-by`` link to the target, the target gets a ``replaces`` link back, and the target takes
the source's IIN when it has none, with the birth date and sex the IIN encodes (other identifiers
of the source are copied with ``use: old``).
If both were attached to a polyclinic, the source's attachment ends (reason ``merged``); otherwise
it moves to the target. All earlier versions stay. A ``Provenance`` records the merge: who, when,
and every version it wrote.

A reference held only in ``Reference.identifier`` (a logical reference by IIN) is not rewritten: it
names the person, not the record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import and_, false, select

from ehp.api.rules import WriteRule, apply_rules
from ehp.context import RequestContext
from ehp.errors import Category, error
from ehp.fhir.jsonio import loads
from ehp.index.refs import reference_id
from ehp.registry.attachment import attachment_episodes, finish, is_attachment
from ehp.registry.iin import iin_birth_date_and_sex
from ehp.registry.iin_rule import IinRule
from ehp.registry.records import Json, TransactionIndex, replaced_by
from ehp.store.clock import now_micros, to_instant
from ehp.store.schema import idx_reference, resources
from ehp.store.writes import WriteTransaction

KEPT_AS_THEY_ARE = frozenset({"Provenance", "AuditEvent"})
LIFECYCLE = "http://terminology.hl7.org/CodeSystem/iso-21089-lifecycle"
PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
PURPOSE = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


@dataclass(slots=True)
class MergePlan:
    source: Json
    target: Json
    updates: list[Json] = field(default_factory=list)
    """The new contents of the resources that referred to the source."""
    written: list[str] = field(default_factory=list)
    """``Type/id/_history/n`` of every version written (empty for a preview)."""
    provenance: Json | None = None


def _parameter(name: str) -> str:
    return f"Parameters.parameter.where(name='{name}')"


def plan_merge(tx: WriteTransaction, source_id: str, target_id: str, iin: IinRule, base: str) -> MergePlan:
    """What the merge would write; refuses (4xx) when the two records cannot be merged."""
    if source_id == target_id:
        raise error(
            Category.INVALID,
            "invalid",
            "the source and target are the same record",
            _parameter("source-patient"),
        )
    records: dict[str, Json] = {}
    for patient_id in sorted((source_id, target_id)):  # one lock order: no deadlock between merges
        stored = tx.current("Patient", patient_id)
        name = "source-patient" if patient_id == source_id else "target-patient"
        if stored is None or stored.content is None:
            raise error(
                Category.NOT_FOUND, "not-found", f"Patient/{patient_id} is not known", _parameter(name)
            )
        records[patient_id] = loads(stored.content)
    source, target = records[source_id], records[target_id]
    for patient_id, name in ((source_id, "source-patient"), (target_id, "target-patient")):
        survivor = replaced_by(records[patient_id])
        if survivor is not None:
            raise error(
                Category.CONFLICT,
                "conflict",
                f"Patient/{patient_id} was already merged into Patient/{survivor}",
                _parameter(name),
            )
    source_iin, target_iin = iin.official_iin(source), iin.official_iin(target)
    if source_iin and target_iin and source_iin[0] != target_iin[0]:
        raise error(
            Category.UNPROCESSABLE,
            "business-rule",
            f"the records have different IINs ({source_iin[0]}, {target_iin[0]}): they are two people",
            _parameter("source-patient"),
        )
    plan = MergePlan(
        _retired(source, target_id), _survivor(target, source, source_id, iin.system, target_iin is None)
    )
    rewrite = _Rewriter(source_id, target_id, base)
    for resource_type, resource_id in _referring(tx, source_id):
        if resource_type in KEPT_AS_THEY_ARE or (resource_type, resource_id) in {
            ("Patient", source_id),
            ("Patient", target_id),
        }:
            continue
        stored = tx.current(resource_type, resource_id)
        if stored is None or stored.content is None:
            continue
        content = {key: value for key, value in loads(stored.content).items() if key != "meta"}
        if rewrite(content):
            plan.updates.append(content)
    _settle_attachments(tx, plan, target_id)
    return plan


def _retired(source: Json, target_id: str) -> Json:
    retired = {key: value for key, value in source.items() if key != "meta"}
    links = [
        link for link in retired.get("link") or [] if reference_id(link.get("other"), "Patient") != target_id
    ]
    retired["active"] = False
    retired["link"] = [*links, {"other": {"reference": f"Patient/{target_id}"}, "type": "replaced-by"}]
    return retired


def _survivor(target: Json, source: Json, source_id: str, system: str, take_iin: bool) -> Json:
    survivor = {key: value for key, value in target.items() if key != "meta"}
    identifiers = list(survivor.get("identifier") or [])
    known = {(i.get("system"), i.get("value")) for i in identifiers if isinstance(i, dict)}
    for identifier in source.get("identifier") or []:
        if not isinstance(identifier, dict) or (identifier.get("system"), identifier.get("value")) in known:
            continue
        is_iin = identifier.get("system") == system and identifier.get("use") != "old"
        if is_iin and not take_iin:
            continue
        identifiers.append(identifier if is_iin else identifier | {"use": "old"})
        if is_iin:  # the national register's birth date and sex win over the duplicate's
            born, sex = iin_birth_date_and_sex(identifier["value"])
            survivor |= {"gender": sex, "birthDate": born.isoformat()}
    if identifiers:
        survivor["identifier"] = identifiers
    links = [
        link for link in survivor.get("link") or [] if reference_id(link.get("other"), "Patient") != source_id
    ]
    survivor["link"] = [*links, {"other": {"reference": f"Patient/{source_id}"}, "type": "replaces"}]
    return survivor


def _referring(tx: WriteTransaction, source_id: str) -> list[tuple[str, str]]:
    """(type, id) of the current resources whose index holds a reference to the source."""
    statement = (
        select(resources.c.resource_type, resources.c.id)
        .where(
            resources.c.rid.in_(
                select(idx_reference.c.rid).where(
                    and_(idx_reference.c.target_type == "Patient", idx_reference.c.target_id == source_id)
                )
            ),
            resources.c.deleted == false(),
        )
        .order_by(resources.c.rid)
    )
    return [(row.resource_type, row.id) for row in TransactionIndex(tx).query(statement)]


class _Rewriter:
    """Rewrites references to the source in a resource, in place; says whether it changed any."""

    def __init__(self, source_id: str, target_id: str, base: str) -> None:
        self.target_id = target_id
        self.prefixes = (f"Patient/{source_id}", f"{base}/Patient/{source_id}")

    def __call__(self, value: Any) -> bool:
        changed = False
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "reference" and isinstance(item, str):
                    new = self._rewritten(item)
                    if new is not None:
                        value[key] = new
                        changed = True
                else:
                    changed = self(item) or changed
        elif isinstance(value, list):
            for item in value:
                changed = self(item) or changed
        return changed

    def _rewritten(self, reference: str) -> str | None:
        for prefix in self.prefixes:
            if reference == prefix or reference.startswith(prefix + "/_history/"):
                return prefix.rsplit("/", 1)[0] + "/" + self.target_id
        return None


def _settle_attachments(tx: WriteTransaction, plan: MergePlan, target_id: str) -> None:
    """At most one active attachment afterwards: the target's own wins over the source's."""
    target_has_one = any(
        episode.get("status") == "active" for episode in attachment_episodes(TransactionIndex(tx), target_id)
    )
    if not target_has_one:
        return
    day = datetime.now(UTC).date()
    for number, update in enumerate(plan.updates):
        if (
            update.get("resourceType") == "EpisodeOfCare"
            and update.get("status") == "active"
            and is_attachment(update)
        ):
            plan.updates[number] = finish(update, day, "merged")


def apply_merge(
    tx: WriteTransaction, plan: MergePlan, rules: tuple[WriteRule, ...], ctx: RequestContext
) -> None:
    """Write the plan and its Provenance (the source first: it gives up the IIN the target may take)."""
    for resource in (plan.source, plan.target, *plan.updates):
        kind, resource_id = resource["resourceType"], resource["id"]
        apply_rules(rules, tx, kind, resource_id, resource)
        stored = tx.write(kind, resource_id, resource, "PUT")
        plan.written.append(stored.location)
    provenance: Json = {
        "resourceType": "Provenance",
        "id": str(uuid4()),
        "target": [{"reference": location} for location in plan.written],
        "recorded": to_instant(now_micros()),
        "reason": [{"coding": [{"system": PURPOSE, "code": ctx.purpose}]}],
        "activity": {
            "coding": [{"system": LIFECYCLE, "code": "merge", "display": "Merge Record Lifecycle Event"}]
        },
        "agent": [
            {
                "type": {"coding": [{"system": PARTICIPANT, "code": "performer", "display": "Performer"}]},
                "who": {"reference": ctx.actor},
            }
        ],
    }
    tx.write("Provenance", provenance["id"], provenance, "POST", fresh_id=True)
    plan.provenance = provenance
