"""Who a citizen legally represents: children and people under guardianship.

The model is FHIR's own: the citizen's ``Patient`` has a ``link`` of type ``seealso`` to a
``RelatedPerson`` (the same person in the role of a relative), and that ``RelatedPerson`` names
the represented person in ``patient``, with a ``relationship`` that carries legal
representation (parents, guardians, holders of a healthcare power of attorney; codes of
``http://terminology.hl7.org/CodeSystem/v3-RoleCode``), ``active`` not false and a ``period``
(when given) covering today. The registry that records a birth or a court's guardianship
decision writes both resources; a citizen cannot make themselves a representative, since
citizens may only write Consents.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, false, select
from sqlalchemy.engine import Connection

from ehp.access.consent import in_force
from ehp.fhir.jsonio import loads
from ehp.store.params import SearchParamRegistry
from ehp.store.schema import idx_reference, resource_versions, resources

ROLE_CODES = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
REPRESENTING = frozenset(
    {
        "PRN",
        "MTH",
        "FTH",
        "NPRN",
        "NMTH",
        "NFTH",
        "ADOPTP",
        "ADOPTM",
        "ADOPTF",
        "GUARD",
        "HPOWATT",
        "DPOWATT",
        "POWATT",
    }
)
"""Relationships that make a RelatedPerson the legal representative of the patient."""


def represented(connection: Connection, params: SearchParamRegistry, patient_id: str, now: int) -> set[str]:
    """Ids of the patients the citizen ``Patient/patient_id`` represents."""
    link_pid = params.find("Patient", "link")
    if link_pid is None:
        return set()
    citizen = select(resources.c.rid).where(
        resources.c.resource_type == "Patient", resources.c.id == patient_id
    )
    related_ids = select(idx_reference.c.target_id).where(
        idx_reference.c.rid.in_(citizen),
        idx_reference.c.pid == link_pid,
        idx_reference.c.target_type == "RelatedPerson",
    )
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
        .where(
            resources.c.resource_type == "RelatedPerson",
            resources.c.id.in_(related_ids),
            resources.c.deleted == false(),
        )
    ).all()
    found: set[str] = set()
    for row in rows:
        person = loads(row.content)
        target = _represents(person, now)
        if target is not None:
            found.add(target)
    return found


def _represents(person: dict[str, Any], now: int) -> str | None:
    if person.get("active") is False or not in_force(person.get("period"), now):
        return None
    codes = {
        coding.get("code")
        for concept in person.get("relationship") or []
        for coding in concept.get("coding") or []
        if coding.get("system") == ROLE_CODES
    }
    if not codes & REPRESENTING:
        return None
    reference = (person.get("patient") or {}).get("reference")
    if isinstance(reference, str) and reference.startswith("Patient/"):
        return reference.removeprefix("Patient/")
    return None
