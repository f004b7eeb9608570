"""Short human-readable facts about resources: what it is, its value, when — for narratives and the page."""

from __future__ import annotations

from datetime import date
from typing import Any

Json = dict[str, Any]


def concept_text(concept: Any) -> str:
    """A CodeableConcept's text, else its first coding's display or code."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding", []):
        if coding.get("display") or coding.get("code"):
            return str(coding.get("display") or coding.get("code"))
    return ""


def codes_of(concept: Any) -> list[tuple[str, str]]:
    """The (system, code) pairs of a CodeableConcept."""
    if not isinstance(concept, dict):
        return []
    return [(str(c.get("system", "")), str(c.get("code", ""))) for c in concept.get("coding", [])]


def quantity_text(quantity: Any) -> str:
    if not isinstance(quantity, dict) or "value" not in quantity:
        return ""
    unit = quantity.get("unit") or quantity.get("code") or ""
    return f"{quantity['value']} {unit}".strip()


def observation_value(observation: Json) -> str:
    """``145/90 mm[Hg]`` for a blood pressure panel, ``7.2 %``, a coded value's text..."""
    components = observation.get("component")
    if components:
        values = [quantity_text(c.get("valueQuantity")) for c in components]
        units = {str(c.get("valueQuantity", {}).get("unit", "")) for c in components}
        if len(units) == 1 and all(values):
            numbers = [str(c["valueQuantity"]["value"]) for c in components]
            return f"{'/'.join(numbers)} {units.pop()}".strip()
        return ", ".join(v for v in values if v)
    if "valueQuantity" in observation:
        return quantity_text(observation["valueQuantity"])
    if "valueCodeableConcept" in observation:
        return concept_text(observation["valueCodeableConcept"])
    for key in ("valueString", "valueBoolean", "valueInteger"):
        if key in observation:
            return str(observation[key])
    return ""


def care_date(resource: Json) -> str:
    """When the care a resource records happened (its start), as FHIR text; '' when it has none."""
    for key in (
        "effectiveDateTime",
        "occurrenceDateTime",
        "onsetDateTime",
        "performedDateTime",
        "authoredOn",
        "recordedDate",
        "dateAsserted",
        "date",
    ):
        if isinstance(resource.get(key), str):
            return str(resource[key])
    for key in ("period", "effectivePeriod", "performedPeriod", "timingPeriod"):
        period = resource.get(key)
        if isinstance(period, dict) and isinstance(period.get("start"), str):
            return str(period["start"])
    return ""


def end_date(resource: Json) -> str:
    """The end of a period (or an abatement), '' when open or not a period."""
    for key in ("period", "effectivePeriod", "performedPeriod"):
        period = resource.get(key)
        if isinstance(period, dict) and isinstance(period.get("end"), str):
            return str(period["end"])
    return str(resource.get("abatementDateTime", ""))


def what(resource: Json) -> str:
    """The main coded fact of a resource, as text."""
    kind = resource.get("resourceType")
    if kind == "Immunization":
        return concept_text(resource.get("vaccineCode"))
    if kind in ("MedicationRequest", "MedicationStatement", "MedicationDispense"):
        return concept_text(resource.get("medicationCodeableConcept")) or "medication"
    if kind == "Encounter":
        reasons = resource.get("reasonCode") or [{}]
        return concept_text(reasons[0]) or str(resource.get("class", {}).get("display", ""))
    if kind == "EpisodeOfCare":
        return concept_text((resource.get("type") or [{}])[0])
    if kind == "DeviceUseStatement":
        return str(resource.get("device", {}).get("display", "device"))
    if kind == "Flag":
        return concept_text(resource.get("code"))
    if kind == "CarePlan":
        return str(resource.get("title") or resource.get("description") or "care plan")
    return concept_text(resource.get("code"))


def age_on(birth: str, on: date) -> int:
    """Whole years from a FHIR birth date (``YYYY[-MM[-DD]]``) to ``on``."""
    parts = [int(part) for part in birth.split("-")]
    year, month, day = [*parts, 1, 1][:3]
    return on.year - year - ((on.month, on.day) < (month, day))
