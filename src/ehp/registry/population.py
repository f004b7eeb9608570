"""A primary-care organisation's attached population as a FHIR ``Group``.

Each polyclinic (an Organization of a primary-care type) has one Group (its id a UUID derived from
the organisation's, :func:`group_id`):
``type`` person, ``actual``, ``managingEntity`` the organisation, ``code``
:data:`POPULATION_CODE`, and a characteristic saying what membership is (an active attachment to
the organisation). Found with ``Group?managing-entity=Organization/{id}``, exported with
``Group/{id}/$export``. Its members are not listed in the resource (a polyclinic has tens of
thousands, and each attachment would rewrite it): they are the patients with an active attachment
episode there, read from the attachments whenever they are needed (:func:`attached_patients`), so
the Group is always as current as the attachments themselves.

The Group is written with the Organization: by :class:`PopulationGroupRule` on any write of a
primary-care Organization that has none yet, and by the synthetic country's generator.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import false, select

from ehp.fhir.codes import ATTACHMENT, EPISODE_TYPE
from ehp.registry.attachment import is_primary_care
from ehp.registry.settings import AttachmentRules, registry_settings
from ehp.search.query import QueryRunner, Scope, criteria_clause, parse_criteria
from ehp.store.schema import idx_reference, resources
from ehp.store.writes import WriteTransaction

POPULATION_SYSTEM = "http://ehp.kz/fhir/CodeSystem/group-kind"
POPULATION_CODE = "attached-population"
GROUP_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "http://ehp.kz/fhir/Group/attached-population")
Json = dict[str, Any]


def group_id(organization_id: str) -> str:
    """A UUID derived from the organisation's id (ids of generated data are UUIDs, and transaction
    Bundles refer to them as ``urn:uuid:``)."""
    return str(uuid.uuid5(GROUP_NAMESPACE, organization_id))


def population_group(organization: Json) -> Json:
    """The attached-population Group of a primary-care Organization."""
    name = organization.get("name") or f"Organization/{organization['id']}"
    reference = {"reference": f"Organization/{organization['id']}", "display": name}
    return {
        "resourceType": "Group",
        "id": group_id(str(organization["id"])),
        "active": True,
        "type": "person",
        "actual": True,
        "code": {
            "coding": [
                {"system": POPULATION_SYSTEM, "code": POPULATION_CODE, "display": "Attached population"}
            ]
        },
        "name": f"{name}: attached population",
        "managingEntity": reference,
        "characteristic": [
            {
                "code": {
                    "coding": [
                        {"system": EPISODE_TYPE, "code": ATTACHMENT.code, "display": ATTACHMENT.display}
                    ]
                },
                "valueReference": reference,
                "exclude": False,
            }
        ],
    }


def is_population_group(group: Json) -> bool:
    coding = (group.get("code") or {}).get("coding") or []
    return any(c.get("system") == POPULATION_SYSTEM and c.get("code") == POPULATION_CODE for c in coding)


def managing_organization(group: Json) -> str | None:
    reference = (group.get("managingEntity") or {}).get("reference", "")
    return reference.removeprefix("Organization/") if reference.startswith("Organization/") else None


def attached_patients(runner: QueryRunner, organization_id: str) -> list[str]:
    """Ids of the patients attached to the organisation now (an active attachment episode)."""
    query = [
        ("organization", f"Organization/{organization_id}"),
        ("status", "active"),
        ("type", f"{EPISODE_TYPE}|{ATTACHMENT.code}"),
    ]
    criteria = criteria_clause(Scope(runner.params), ("EpisodeOfCare",), parse_criteria(query), strict=True)
    pid = runner.params.find("EpisodeOfCare", "patient")
    if pid is None:
        return []
    episodes = (
        select(resources.c.rid)
        .where(
            criteria.of_types(("EpisodeOfCare",)),
            resources.c.deleted == false(),
            criteria.where,
        )
        .subquery()
    )
    statement = (
        select(idx_reference.c.target_id)
        .where(
            idx_reference.c.rid.in_(select(episodes.c.rid)),
            idx_reference.c.pid == pid,
            idx_reference.c.target_type == "Patient",
        )
        .distinct()
    )
    return sorted(str(row.target_id) for row in runner.query(statement))


class PopulationGroupRule:
    """A primary-care Organization written without its Group gets one in the same transaction."""

    resource_types = frozenset({"Organization"})

    def __init__(self, rules: AttachmentRules | None = None) -> None:
        self.rules = rules or registry_settings().attachment

    def check(self, tx: WriteTransaction, resource_id: str, resource: Json) -> bool:
        if not is_primary_care(resource, self.rules):
            return False
        group = population_group({**resource, "id": resource_id})
        if tx.current("Group", group["id"]) is None:
            tx.write("Group", group["id"], group, "PUT")
        return False
