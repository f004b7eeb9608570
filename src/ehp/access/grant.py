"""The caller's grant: which patients' passports an access token opens, computed once per caller.

Legal bases of a medical worker (``Practitioner/ID``, ``PractitionerRole/ID``) or a clinic system
(``Organization/ID``), for the organisations they work for (a practitioner's active
PractitionerRoles):

- attachment, or any other active ``EpisodeOfCare`` managed by the organisation;
- an open ``Encounter`` (planned, arrived, triaged, in-progress, onleave) the organisation provides;
- an active ``ServiceRequest`` (referral) whose requester or performer is the organisation or the
  worker;
- the patient's active ``Consent`` permitting the worker or the organisation (whole passport, or
  some data classes only);
- an open break-the-glass (:mod:`ehp.access.break_glass`).

The citizen's deny rules win over all of them: a deny for the worker or the organisation (or for
everyone, unless a permit names them) closes the passport; a deny limited to security labels,
data classes or named records hides those records. A citizen (``Patient/ID``) sees their own
passport and those of the people they represent (:mod:`ehp.access.representatives`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.engine import Connection

from ehp.access.consent import Rule, consent_rules, in_force
from ehp.access.links import PATIENT, compartment_pids, in_ids, member_types
from ehp.access.representatives import represented
from ehp.access.schema import break_glass
from ehp.fhir.jsonio import loads
from ehp.store.params import SearchParamRegistry
from ehp.store.schema import idx_reference, idx_token, resource_versions, resources

OPEN_ENCOUNTER = ("planned", "arrived", "triaged", "in-progress", "onleave")
ADMINISTRATOR = "administrator"
OFFICER_PREFIX = "privacy-officer:Organization/"
"""Roles as :mod:`ehp.security.roles` spells them in the request context."""


@dataclass(frozen=True, slots=True)
class Grant:
    subject: str
    everything: bool = False
    patients: frozenset[str] = frozenset()
    """Patients whose whole passport is open (minus ``hidden``)."""
    restricted: dict[str, frozenset[str]] = field(default_factory=dict)
    """Patients open for some resource types only (a Consent's data classes)."""
    hidden: frozenset[int] = frozenset()
    """rids of records the citizens closed (security labels, named records, denied classes)."""
    emergency: frozenset[str] = frozenset()
    """Patients open through break-the-glass only: accesses are audited as ETREAT."""
    own: frozenset[str] = frozenset()
    """A citizen's own and represented patients: their access logs and Consents."""
    organizations: frozenset[str] = frozenset()
    references: frozenset[str] = frozenset()
    """Everything the caller acts as: itself, its roles, its organisations."""
    privacy_officer_of: frozenset[str] = frozenset()

    @property
    def citizen(self) -> bool:
        return self.subject.startswith("Patient/")

    @property
    def actor(self) -> str:
        """Who the grant is of (the subject without a patient binding)."""
        return self.subject.partition("#")[0]

    def bound_to(self, patient: str) -> Grant:
        """This grant narrowed to one patient: a SMART token with that patient in context opens
        that passport only (even for an administrator), and nothing beyond what it opened before.
        Its ``subject`` names the binding, so the published search filter is its own."""
        sees = self.everything or patient in self.patients
        restricted = {patient: self.restricted[patient]} if patient in self.restricted and not sees else {}
        return replace(
            self,
            subject=f"{self.subject}#{patient}",
            everything=False,
            patients=frozenset({patient}) if sees else frozenset(),
            restricted=restricted,
            emergency=self.emergency & {patient},
            own=self.own & {patient},
        )

    def may_see(self, patients: Iterable[str], resource_type: str) -> bool:
        if self.everything:
            return True
        for patient in patients:
            if patient in self.patients:
                continue
            types = self.restricted.get(patient)
            if types is None or (resource_type not in types and resource_type != PATIENT):
                return False
        return True


def compute_grant(
    connection: Connection,
    params: SearchParamRegistry,
    subject: str,
    now: int,
    roles: frozenset[str] = frozenset(),
) -> Grant:
    """The grant of ``subject`` holding ``roles`` (given as data, never read from the subject)."""
    if ADMINISTRATOR in roles:
        return Grant(subject, everything=True)
    officer_of = frozenset(
        role.removeprefix(OFFICER_PREFIX) for role in roles if role.startswith(OFFICER_PREFIX)
    )
    kind, _, subject_id = subject.partition("/")
    if kind == PATIENT:
        own = frozenset({subject_id, *represented(connection, params, subject_id, now)})
        return Grant(subject, patients=own, own=own)
    if kind not in ("Practitioner", "PractitionerRole", "Organization"):
        return Grant(subject, privacy_officer_of=officer_of)
    references, organizations = _acting_as(connection, params, kind, subject_id, now)
    based = _by_organization(connection, params, references)
    emergency = _break_glass(connection, subject, now)
    rules = _rules(connection, params, references, based | emergency, now)
    applying = [rule for rule in rules if rule.applies_to(references)]
    permitted = {r.patient for r in applying if r.permit and r.whole and r.actors}
    classes: dict[str, set[str]] = {}
    for rule in applying:
        if rule.permit and rule.actors and rule.classes and not rule.labels and not rule.data:
            classes.setdefault(rule.patient, set()).update(rule.classes)
    named = {r.patient for r in applying if r.permit and r.actors}
    denied = {
        r.patient for r in applying if not r.permit and r.whole and (r.actors or r.patient not in named)
    }
    patients = (based | emergency | permitted) - denied
    restricted = {
        p: frozenset(types) for p, types in classes.items() if p not in patients and p not in denied
    }
    closing = [
        r
        for r in applying
        if not r.permit and not r.whole and (r.patient in patients or r.patient in restricted)
    ]
    return Grant(
        subject,
        patients=frozenset(patients),
        restricted=restricted,
        hidden=frozenset(_closed(connection, params, closing)),
        emergency=frozenset((emergency - based - permitted) & patients),
        organizations=organizations,
        references=references,
        privacy_officer_of=officer_of,
    )


def _pid(params: SearchParamRegistry, resource_type: str, code: str) -> int:
    pid = params.find(resource_type, code)
    if pid is None:
        raise LookupError(f"the search parameter {resource_type}.{code} is not registered")
    return pid


def _contents(connection: Connection, condition: ColumnElement[bool]) -> list[dict[str, Any]]:
    rows = connection.execute(
        select(resource_versions.c.content)
        .select_from(
            resources.join(
                resource_versions,
                and_(
                    resource_versions.c.rid == resources.c.rid,
                    resource_versions.c.version == resources.c.version,
                ),
            )
        )
        .where(condition, resources.c.deleted == false())
    ).all()
    return [loads(row.content) for row in rows if row.content is not None]


def _refers(
    params: SearchParamRegistry, resource_type: str, code: str, targets: Collection[str], dialect: str
) -> Any:
    """rids of ``resource_type`` resources whose ``code`` refers to one of ``targets`` (``Type/id``)."""
    by_type: dict[str, list[str]] = {}
    for target in targets:
        kind, _, target_id = target.partition("/")
        by_type.setdefault(kind, []).append(target_id)
    ref = idx_reference
    return select(ref.c.rid).where(
        ref.c.pid == _pid(params, resource_type, code),
        or_(
            *(
                and_(ref.c.target_type == kind, in_ids(ref.c.target_id, ids, dialect))
                for kind, ids in by_type.items()
            )
        ),
    )


def _acting_as(
    connection: Connection, params: SearchParamRegistry, kind: str, subject_id: str, now: int
) -> tuple[frozenset[str], frozenset[str]]:
    """The references the caller acts as and its organisations."""
    if kind == "Organization":
        own = frozenset({f"Organization/{subject_id}"})
        return own, frozenset({subject_id})
    dialect = connection.dialect.name
    if kind == "PractitionerRole":
        condition = and_(resources.c.resource_type == "PractitionerRole", resources.c.id == subject_id)
    else:
        condition = and_(
            resources.c.resource_type == "PractitionerRole",
            resources.c.rid.in_(
                _refers(params, "PractitionerRole", "practitioner", [f"Practitioner/{subject_id}"], dialect)
            ),
        )
    references = {f"{kind}/{subject_id}"}
    organizations: set[str] = set()
    for role in _contents(connection, condition):
        if role.get("active") is False or not in_force(role.get("period"), now):
            continue
        references.add(f"PractitionerRole/{role.get('id')}")
        practitioner = (role.get("practitioner") or {}).get("reference")
        if isinstance(practitioner, str):
            references.add(practitioner)
        organization = (role.get("organization") or {}).get("reference")
        if isinstance(organization, str) and organization.startswith("Organization/"):
            organizations.add(organization.removeprefix("Organization/"))
            references.add(organization)
    return frozenset(references), frozenset(organizations)


_BASES = (
    ("EpisodeOfCare", "organization", "patient", ("active",)),
    ("Encounter", "service-provider", "subject", OPEN_ENCOUNTER),
    ("ServiceRequest", "requester", "subject", ("active",)),
    ("ServiceRequest", "performer", "subject", ("active",)),
)


def _by_organization(
    connection: Connection, params: SearchParamRegistry, references: frozenset[str]
) -> set[str]:
    """Patients linked to the caller's organisations (or the caller) by an episode, encounter or referral."""
    dialect = connection.dialect.name
    found: set[str] = set()
    for resource_type, party, patient_code, statuses in _BASES:
        targets = [
            r for r in references if resource_type == "ServiceRequest" or r.startswith("Organization/")
        ]
        if not targets:
            continue
        patient = idx_reference.alias("patient")
        status = idx_token.alias("status")
        statement = (
            select(patient.c.target_id)
            .select_from(patient.join(status, status.c.rid == patient.c.rid))
            .where(
                patient.c.rid.in_(_refers(params, resource_type, party, targets, dialect)),
                patient.c.pid == _pid(params, resource_type, patient_code),
                patient.c.target_type == PATIENT,
                status.c.pid == _pid(params, resource_type, "status"),
                status.c.code.in_(statuses),
            )
        )
        found.update(row.target_id for row in connection.execute(statement))
    return found


def _break_glass(connection: Connection, subject: str, now: int) -> set[str]:
    rows = connection.execute(
        select(break_glass.c.patient).where(break_glass.c.actor == subject, break_glass.c.expires > now)
    )
    return {row.patient for row in rows}


def _rules(
    connection: Connection,
    params: SearchParamRegistry,
    references: frozenset[str],
    candidates: set[str],
    now: int,
) -> list[Rule]:
    """Rules of the active Consents that name the caller or belong to a patient the caller has a basis for."""
    dialect = connection.dialect.name
    ref = idx_reference
    about = select(ref.c.rid).where(
        ref.c.pid == _pid(params, "Consent", "patient"),
        ref.c.target_type == PATIENT,
        in_ids(ref.c.target_id, candidates, dialect),
    )
    naming = _refers(params, "Consent", "actor", references, dialect)
    consents = _contents(
        connection,
        and_(
            resources.c.resource_type == "Consent",
            or_(resources.c.rid.in_(about), resources.c.rid.in_(naming)),
        ),
    )
    return [rule for consent in consents for rule in consent_rules(consent, now)]


def _closed(connection: Connection, params: SearchParamRegistry, rules: list[Rule]) -> set[int]:
    """rids of the records that deny rules limited to labels, classes or named records close."""
    if not rules:
        return set()
    pids = compartment_pids(params)
    security_pids = sorted(pid for t in member_types() if (pid := params.find(t, "_security")) is not None)
    closed: set[int] = set()
    for rule in rules:
        link = idx_reference.alias("link")
        of_patient = select(link.c.rid).where(
            link.c.pid.in_(pids), link.c.target_type == PATIENT, link.c.target_id == rule.patient
        )
        if rule.labels:
            token = idx_token
            statement = select(token.c.rid).where(
                token.c.pid.in_(security_pids),
                token.c.code.in_(sorted(rule.labels)),
                token.c.rid.in_(of_patient),
            )
            closed.update(row.rid for row in connection.execute(statement))
        if rule.classes:
            statement = select(resources.c.rid).where(
                resources.c.resource_type.in_(sorted(rule.classes)), resources.c.rid.in_(of_patient)
            )
            closed.update(row.rid for row in connection.execute(statement))
        for named in rule.data:
            kind, _, named_id = named.partition("/")
            if kind == PATIENT:
                continue
            target = select(resources.c.rid).where(
                resources.c.resource_type == kind, resources.c.id == named_id
            )
            referring = select(idx_reference.c.rid).where(
                idx_reference.c.target_type == kind, idx_reference.c.target_id == named_id
            )
            statement = select(resources.c.rid).where(
                or_(resources.c.rid.in_(target), resources.c.rid.in_(referring)),
                resources.c.rid.in_(of_patient),
            )
            closed.update(row.rid for row in connection.execute(statement))
    return closed
