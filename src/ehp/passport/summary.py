"""What a patient summary holds: the sections of the International Patient Summary, chosen from a record.

The same sections feed the ``$summary`` document (:mod:`ehp.passport.ips`) and the passport page.
Section codes are the LOINC codes of the IPS; ``required`` sections (problems, allergies,
medications) appear even when empty (the document then says why with ``emptyReason``), the others
only when the record has something for them.

Choices made here, per section:

* problems: active Conditions; allergies: AllergyIntolerances not inactive, resolved, refuted or
  entered in error; medications: active or on-hold MedicationRequests and active
  MedicationStatements; immunizations: completed Immunizations;
* results: the latest laboratory Observation of each code, the blood group and Rh factor first;
  vital signs: the latest vital-sign Observation of each code;
* procedures, medical devices, alerts: completed/in-progress Procedures, DeviceUseStatements,
  active Flags;
* pregnancy: pregnancy Observations and pregnancy, delivery and puerperium Conditions (ICD-10
  chapter O, Z32-Z37);
* plan of care: active CarePlans and the active dispensary observations (an ``EpisodeOfCare`` of
  type ``dispensary``: regular follow-up of a chronic disease, which is a plan of care).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ehp.fhir.codes import EPISODE_TYPE, ICD10, LOINC
from ehp.passport.describe import care_date, codes_of

Json = dict[str, Any]
BLOOD_GROUP_CODES = ("882-1", "883-9", "10331-7")
"""LOINC: ABO and Rh group; ABO group; Rh type."""
PREGNANCY_OBSERVATIONS = frozenset({"82810-3", "11636-8", "11778-8", "11449-6"})
PREGNANCY_ICD10 = ("O", "Z32", "Z33", "Z34", "Z35", "Z36", "Z37")
SUMMARY_TYPES = (
    "Patient",
    "Condition",
    "AllergyIntolerance",
    "MedicationRequest",
    "MedicationStatement",
    "Immunization",
    "Observation",
    "Procedure",
    "DeviceUseStatement",
    "Flag",
    "CarePlan",
    "EpisodeOfCare",
)
"""The types a summary is made from (an Encounter, say, never appears in it)."""


@dataclass(frozen=True, slots=True)
class SectionKind:
    key: str
    code: str
    """The LOINC code of the IPS section."""
    title: str
    required: bool


SECTIONS = (
    SectionKind("problems", "11450-4", "Problem list", True),
    SectionKind("allergies", "48765-2", "Allergies and intolerances", True),
    SectionKind("medications", "10160-0", "Medication summary", True),
    SectionKind("immunizations", "11369-6", "History of immunizations", False),
    SectionKind("results", "30954-2", "Relevant diagnostic tests and laboratory data", False),
    SectionKind("procedures", "47519-4", "History of procedures", False),
    SectionKind("devices", "46264-8", "Medical devices", False),
    SectionKind("alerts", "104605-1", "Alerts", False),
    SectionKind("vital-signs", "8716-3", "Vital signs", False),
    SectionKind("pregnancy", "10162-6", "History of pregnancies", False),
    SectionKind("plan-of-care", "18776-5", "Plan of care", False),
)


@dataclass(slots=True)
class Section:
    kind: SectionKind
    resources: list[Json] = field(default_factory=list)


def _status(resource: Json, element: str) -> str:
    value = resource.get(element)
    if isinstance(value, dict):
        codes = codes_of(value)
        return codes[0][1] if codes else ""
    return str(value or "")


def _category(resource: Json) -> set[str]:
    return {code for concept in resource.get("category", []) for _, code in codes_of(concept)}


def _loinc(resource: Json) -> str:
    return next((code for system, code in codes_of(resource.get("code")) if system == LOINC), "")


def is_blood_group(resource: Json) -> bool:
    return resource.get("resourceType") == "Observation" and _loinc(resource) in BLOOD_GROUP_CODES


def _latest_by_code(observations: Iterable[Json]) -> list[Json]:
    latest: dict[tuple[str, str], Json] = {}
    for observation in observations:
        key = next(iter(codes_of(observation.get("code"))), ("", ""))
        if key not in latest or care_date(observation) > care_date(latest[key]):
            latest[key] = observation
    return sorted(latest.values(), key=care_date, reverse=True)


def _usable(resource: Json) -> bool:
    return _status(resource, "status") != "entered-in-error"


def is_dispensary(resource: Json) -> bool:
    return resource.get("resourceType") == "EpisodeOfCare" and any(
        system == EPISODE_TYPE and code == "dispensary"
        for concept in resource.get("type", [])
        for system, code in codes_of(concept)
    )


def _pregnancy(resource: Json) -> bool:
    if resource.get("resourceType") == "Observation":
        return _loinc(resource) in PREGNANCY_OBSERVATIONS
    if resource.get("resourceType") == "Condition":
        return any(
            system == ICD10 and code.startswith(PREGNANCY_ICD10)
            for system, code in codes_of(resource.get("code"))
        )
    return False


def summarize(record: list[Json]) -> list[Section]:
    """The sections of the summary of a record (the required ones always, others when they hold anything)."""
    by_type: dict[str, list[Json]] = {}
    for resource in record:
        by_type.setdefault(str(resource.get("resourceType")), []).append(resource)

    def _of(kind: str, keep: Callable[[Json], bool]) -> list[Json]:
        return [r for r in by_type.get(kind, []) if _usable(r) and keep(r)]

    observations = _of("Observation", lambda r: True)
    laboratory = [o for o in observations if "laboratory" in _category(o) and not is_blood_group(o)]
    chosen: dict[str, list[Json]] = {
        "problems": _of(
            "Condition", lambda r: _status(r, "clinicalStatus") in ("active", "recurrence", "relapse")
        ),
        "allergies": _of(
            "AllergyIntolerance",
            lambda r: (
                _status(r, "clinicalStatus") not in ("inactive", "resolved")
                and _status(r, "verificationStatus") not in ("refuted", "entered-in-error")
            ),
        ),
        "medications": _of("MedicationRequest", lambda r: r.get("status") in ("active", "on-hold"))
        + _of("MedicationStatement", lambda r: r.get("status") in ("active", "intended")),
        "immunizations": _of("Immunization", lambda r: r.get("status") == "completed"),
        "results": [o for o in observations if is_blood_group(o)] + _latest_by_code(laboratory),
        "procedures": _of("Procedure", lambda r: r.get("status") in ("completed", "in-progress")),
        "devices": _of("DeviceUseStatement", lambda r: r.get("status") in ("active", "completed")),
        "alerts": _of("Flag", lambda r: r.get("status") == "active"),
        "vital-signs": _latest_by_code(o for o in observations if "vital-signs" in _category(o)),
        "pregnancy": [r for r in observations + by_type.get("Condition", []) if _pregnancy(r) and _usable(r)],
        "plan-of-care": _of("CarePlan", lambda r: r.get("status") == "active")
        + _of("EpisodeOfCare", lambda r: is_dispensary(r) and r.get("status") == "active"),
    }
    sections = []
    for kind in SECTIONS:
        resources = chosen[kind.key]
        if kind.key in ("immunizations", "pregnancy", "problems"):
            resources = sorted(resources, key=care_date, reverse=True)
        if resources or kind.required:
            sections.append(Section(kind, resources))
    return sections
