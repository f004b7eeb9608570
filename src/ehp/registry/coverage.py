"""Coverage figures per organisation and region, counted in SQL over the index tables.

For each primary-care organisation: the people attached now (active attachment episodes), how
many of them have a passport (at least one clinical record: a resource of :data:`CLINICAL_TYPES`
whose ``patient`` reference points at them) and how many of their clinical records were written
on a given day. A region's figures are the sums over the organisations that are ``partOf`` its
department. No resource is loaded: every figure is a ``COUNT`` over ``idx_token``,
``idx_reference`` and ``resources`` (``last_updated``), each using an index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, and_, distinct, exists, false, func, select

from ehp.fhir.codes import ATTACHMENT, EPISODE_TYPE
from ehp.registry.records import Index
from ehp.search.query import QueryRunner
from ehp.store.schema import idx_reference, idx_string, idx_token, resources

CLINICAL_TYPES = (
    "AllergyIntolerance",
    "CarePlan",
    "ClinicalImpression",
    "Condition",
    "DiagnosticReport",
    "DocumentReference",
    "Encounter",
    "FamilyMemberHistory",
    "Immunization",
    "MedicationRequest",
    "MedicationStatement",
    "Observation",
    "Procedure",
    "ServiceRequest",
)
"""The resources that make a passport: a person with one of them has an electronic record."""


@dataclass(slots=True)
class Figures:
    attached: int = 0
    with_passport: int = 0
    records_updated: int = 0

    def add(self, other: Figures) -> None:
        self.attached += other.attached
        self.with_passport += other.with_passport
        self.records_updated += other.records_updated


@dataclass(slots=True)
class Coverage:
    day: date
    organizations: dict[str, Figures] = field(default_factory=dict)
    regions: dict[str, Figures] = field(default_factory=dict)
    region_of: dict[str, str | None] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    total: Figures = field(default_factory=Figures)


def _pid(runner: QueryRunner, resource_type: str, code: str) -> int:
    pid = runner.params.find(resource_type, code)
    assert pid is not None, f"search parameter {resource_type}.{code} is registered at start-up"
    return pid


def attached_people(runner: QueryRunner, organizations: list[str] | None) -> Select[tuple[str, str]]:
    """(organisation id, patient id) of every active attachment, as a subquery to count over."""
    kind, status = idx_token.alias("kind"), idx_token.alias("status")
    org, patient = idx_reference.alias("org"), idx_reference.alias("patient")
    episode = resources.alias("episode")
    conditions: list[ColumnElement[bool]] = [
        episode.c.resource_type == "EpisodeOfCare",
        episode.c.deleted == false(),
        kind.c.pid == _pid(runner, "EpisodeOfCare", "type"),
        kind.c.code == ATTACHMENT.code,
        kind.c.system == EPISODE_TYPE,
        status.c.pid == _pid(runner, "EpisodeOfCare", "status"),
        status.c.code == "active",
        org.c.pid == _pid(runner, "EpisodeOfCare", "organization"),
        org.c.target_type == "Organization",
        patient.c.pid == _pid(runner, "EpisodeOfCare", "patient"),
        patient.c.target_type == "Patient",
    ]
    if organizations is not None:
        conditions.append(org.c.target_id.in_(organizations))
    return (
        select(org.c.target_id.label("org"), patient.c.target_id.label("patient"))
        .select_from(
            episode.join(kind, kind.c.rid == episode.c.rid)
            .join(status, status.c.rid == episode.c.rid)
            .join(org, org.c.rid == episode.c.rid)
            .join(patient, patient.c.rid == episode.c.rid)
        )
        .where(*conditions)
        .distinct()
    )


def coverage(index: Index, day: date, organizations: list[str] | None = None) -> Coverage:
    """The figures of ``organizations`` (all with attached people when ``None``) on ``day``."""
    attached = attached_people(index, organizations).subquery("attached")
    clinical = [_pid(index, t, "patient") for t in CLINICAL_TYPES]
    record = idx_reference.alias("record")
    of_patient = and_(
        record.c.target_type == "Patient",
        record.c.target_id == attached.c.patient,
        record.c.pid.in_(clinical),
    )
    start = int(datetime.combine(day, time(), UTC).timestamp() * 1_000_000)
    end = start + int(timedelta(days=1).total_seconds() * 1_000_000)
    written = resources.alias("written")
    result = Coverage(day)
    counts = [
        select(attached.c.org, func.count(distinct(attached.c.patient))).group_by(attached.c.org),
        select(attached.c.org, func.count(distinct(attached.c.patient)))
        .where(exists(select(record.c.rid).where(of_patient)))
        .group_by(attached.c.org),
        select(attached.c.org, func.count(distinct(record.c.rid)))
        .select_from(attached.join(record, of_patient).join(written, written.c.rid == record.c.rid))
        .where(written.c.last_updated >= start, written.c.last_updated < end)
        .group_by(attached.c.org),
    ]
    for number, statement in enumerate(counts):
        for org, count in index.query(statement):
            figures = result.organizations.setdefault(org, Figures())
            if number == 0:
                figures.attached = count
            elif number == 1:
                figures.with_passport = count
            else:
                figures.records_updated = count
    for org in organizations or ():
        result.organizations.setdefault(org, Figures())
    _regions(index, result)
    return result


def _regions(index: Index, result: Coverage) -> None:
    """Each organisation's region (its ``partOf``), the regions' sums, the names, the total."""
    orgs = list(result.organizations)
    parts = idx_reference.alias("part")
    statement = (
        select(resources.c.id, parts.c.target_id)
        .select_from(resources.join(parts, parts.c.rid == resources.c.rid))
        .where(
            resources.c.resource_type == "Organization",
            resources.c.id.in_(orgs),
            parts.c.pid == _pid(index, "Organization", "partof"),
            parts.c.target_type == "Organization",
        )
    )
    result.region_of = dict.fromkeys(orgs)
    result.region_of.update({row[0]: row[1] for row in index.query(statement)})
    for org, figures in result.organizations.items():
        region = result.region_of[org]
        if region is not None:
            result.regions.setdefault(region, Figures()).add(figures)
        result.total.add(figures)
    result.names = _names(index, [*orgs, *result.regions])


def _names(index: Index, ids: Iterable[str]) -> dict[str, str]:
    names = idx_string.alias("names")
    statement = (
        select(resources.c.id, func.min(names.c.exact))
        .select_from(resources.join(names, names.c.rid == resources.c.rid))
        .where(
            resources.c.resource_type == "Organization",
            resources.c.id.in_(sorted(set(ids))),
            names.c.pid == _pid(index, "Organization", "name"),
        )
        .group_by(resources.c.id)
    )
    return {row[0]: row[1] for row in index.query(statement)}


def members(index: Index, organization_id: str) -> list[str]:
    """The organisation and those ``partOf`` it (a region's facilities), for its figures."""
    parts = idx_reference.alias("part")
    statement = (
        select(resources.c.id)
        .select_from(resources.join(parts, parts.c.rid == resources.c.rid))
        .where(
            resources.c.resource_type == "Organization",
            resources.c.deleted == false(),
            parts.c.pid == _pid(index, "Organization", "partof"),
            parts.c.target_type == "Organization",
            parts.c.target_id == organization_id,
        )
    )
    return [organization_id, *(row[0] for row in index.query(statement))]
