"""What the passport page shows, computed from a patient's record: header, summary, timeline, charts.

The timeline has one event per encounter (a visit, an ambulance call, a hospital stay, a birth, or a
pregnancy visit or delivery when its reason is one), immunisation and period of dispensary
observation, and the death. Events and chart series are plain JSON for the page's script.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from ehp.fhir.codes import EPISODE_TYPE, ICD10, LOINC
from ehp.passport.describe import age_on, care_date, codes_of, end_date, observation_value, what
from ehp.passport.growth import MAX_MONTHS, reference
from ehp.passport.ips import details
from ehp.passport.record import PatientRecord
from ehp.passport.summary import Section, is_blood_group, is_dispensary, summarize
from ehp.registry.iin import IIN_SYSTEM

Json = dict[str, Any]
LANGUAGE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/language"
ENCOUNTER_KINDS = {"AMB": "visit", "EMER": "ambulance", "IMP": "hospital"}
EVENT_KINDS = ("birth", "visit", "ambulance", "hospital", "immunization", "dispensary", "pregnancy", "death")
PREGNANCY_REASONS = ("O", "Z32", "Z33", "Z34", "Z35", "Z36", "Z37")
BIRTH_REASON = "Z38"
WEIGHT_CODES = {"29463-7": 1.0, "8339-4": None}
"""Body weight (kg) and birth weight (g or kg by its unit)."""
HEIGHT_CODES = ("8302-2", "8306-3")
"""Body height, body height lying (length)."""
MONTH_DAYS = 30.4375
CHILD_YEARS = 18
"""Growth charts are drawn for children only."""


@dataclass(frozen=True, slots=True)
class Header:
    name: str
    iin: str
    birth_date: str
    age_years: int
    age_months: int
    deceased: str
    sex: str
    attachment: str
    blood_group: str
    allergies: list[str]
    alerts: list[str]


@dataclass(frozen=True, slots=True)
class PassportView:
    header: Header
    sections: list[Section]
    events: list[Json]
    charts: Json


def name_in(patient: Json, language: str) -> str:
    """The patient's name in the page's language: Latin script for English, Cyrillic otherwise."""
    names = patient.get("name", [])

    def tag(name: Json) -> str:
        return next(
            (e.get("valueCode", "") for e in name.get("extension", []) if e.get("url") == LANGUAGE_EXTENSION),
            "",
        )

    wanted = ("-Latn",) if language == "en" else (f"{language}-Cyrl", "-Cyrl")
    for ending in wanted:
        for name in names:
            if tag(name).endswith(ending) or tag(name) == ending:
                return _text(name)
    return _text(names[0]) if names else ""


def _text(name: Json) -> str:
    return str(name.get("text") or " ".join([name.get("family", ""), *name.get("given", [])]).strip())


def _display(record: PatientRecord, reference: Any) -> str:
    if not isinstance(reference, dict):
        return ""
    found = record.by_reference.get(str(reference.get("reference", "")))
    if found is not None and found.get("name"):
        return str(found["name"])
    return str(reference.get("display", ""))


def _attachment(record: PatientRecord) -> str:
    for resource in reversed(record.resources):
        if (
            resource.get("resourceType") == "EpisodeOfCare"
            and resource.get("status") == "active"
            and any(
                code == "attachment" and system == EPISODE_TYPE
                for c in resource.get("type", [])
                for system, code in codes_of(c)
            )
        ):
            return _display(record, resource.get("managingOrganization"))
    return _display(record, record.patient.get("managingOrganization"))


def header(record: PatientRecord, sections: list[Section], language: str, today: date) -> Header:
    patient = record.patient
    birth = str(patient.get("birthDate", ""))
    deceased = str(patient.get("deceasedDateTime", ""))[:10]
    on = date.fromisoformat(deceased) if deceased else today
    months = (on - date.fromisoformat(birth)).days / MONTH_DAYS if len(birth) == 10 else 0.0
    blood = [r for r in record.resources if is_blood_group(r)]
    by_key = {section.kind.key: section for section in sections}
    allergies = by_key.get("allergies")
    alerts = by_key.get("alerts")
    return Header(
        name=name_in(patient, language),
        iin=next(
            (i.get("value", "") for i in patient.get("identifier", []) if i.get("system") == IIN_SYSTEM), ""
        ),
        birth_date=birth,
        age_years=age_on(birth, on) if birth else 0,
        age_months=int(months),
        deceased=deceased,
        sex=str(patient.get("gender", "")),
        attachment=_attachment(record),
        blood_group=observation_value(max(blood, key=care_date)) if blood else "",
        allergies=[f"{what(r)} ({details(r)})" if details(r) else what(r) for r in allergies.resources]
        if allergies
        else [],
        alerts=[what(r) for r in alerts.resources] if alerts else [],
    )


def _encounter_kind(encounter: Json) -> str:
    reasons = [
        code
        for concept in encounter.get("reasonCode", [])
        for system, code in codes_of(concept)
        if system == ICD10
    ]
    if any(code.startswith(BIRTH_REASON) for code in reasons):
        return "birth"
    if any(code.startswith(PREGNANCY_REASONS) for code in reasons):
        return "pregnancy"
    return ENCOUNTER_KINDS.get(str(encounter.get("class", {}).get("code", "")), "visit")


def events(record: PatientRecord) -> list[Json]:
    """The timeline events by start: ``k`` kind, ``s``/``e`` first and last day, ``t`` what, ``d`` where."""
    found: list[Json] = []
    for resource in record.resources:
        kind = resource.get("resourceType")
        if kind == "Encounter":
            event_kind = _encounter_kind(resource)
            where = _display(record, resource.get("serviceProvider"))
        elif kind == "Immunization":
            event_kind = "immunization"
            where = _display(record, resource.get("location"))
        elif is_dispensary(resource):
            event_kind = "dispensary"
            diagnosis = (resource.get("diagnosis") or [{}])[0].get("condition", {})
            condition = record.by_reference.get(str(diagnosis.get("reference", "")))
            where = _display(record, resource.get("managingOrganization"))
            found.append(
                _event(event_kind, resource, what(condition) if condition else what(resource), where)
            )
            continue
        else:
            continue
        found.append(_event(event_kind, resource, what(resource), where))
    deceased = record.patient.get("deceasedDateTime")
    if isinstance(deceased, str):
        found.append({"k": "death", "s": deceased[:10], "e": None, "t": "", "d": "", "id": ""})
    found.sort(key=lambda event: event["s"])
    return found


def _event(kind: str, resource: Json, label: str, where: str) -> Json:
    end = end_date(resource)[:10]
    start = care_date(resource)[:10]
    return {
        "k": kind,
        "s": start,
        "e": end if end and end != start else None,
        "t": label,
        "d": where,
        "id": f"{resource['resourceType']}/{resource['id']}",
    }


def _loinc_codes(resource: Json) -> set[str]:
    return {code for system, code in codes_of(resource.get("code")) if system == LOINC}


def _component(observation: Json, code: str) -> float | None:
    for component in observation.get("component", []):
        if code in {c for _, c in codes_of(component.get("code"))}:
            value = component.get("valueQuantity", {}).get("value")
            return float(value) if isinstance(value, int | float) else None
    return None


def charts(record: PatientRecord, today: date) -> Json:
    """Series for the charts: blood pressure and HbA1c by date; a child's weight and height by age
    (measured in the first :data:`~ehp.passport.growth.MAX_MONTHS` months, next to the reference curves)."""
    pressure: list[list[Any]] = []
    hba1c: list[list[Any]] = []
    weight: list[list[float]] = []
    height: list[list[float]] = []
    birth = str(record.patient.get("birthDate", ""))
    born = date.fromisoformat(birth) if len(birth) == 10 and age_on(birth, today) < CHILD_YEARS else None
    for resource in record.resources:
        if resource.get("resourceType") != "Observation" or resource.get("status") == "entered-in-error":
            continue
        codes = _loinc_codes(resource)
        when = care_date(resource)[:10]
        value = resource.get("valueQuantity", {}).get("value")
        if "85354-9" in codes:
            systolic, diastolic = _component(resource, "8480-6"), _component(resource, "8462-4")
            if systolic is not None and diastolic is not None:
                pressure.append([when, systolic, diastolic])
        elif "4548-4" in codes and isinstance(value, int | float):
            hba1c.append([when, float(value)])
        elif born is not None and len(when) == 10 and isinstance(value, int | float):
            months = (date.fromisoformat(when) - born).days / MONTH_DAYS
            if months > MAX_MONTHS:
                continue
            unit = resource.get("valueQuantity", {}).get("code") or resource.get("valueQuantity", {}).get(
                "unit"
            )
            if codes & WEIGHT_CODES.keys():
                weight.append([round(months, 2), float(value) / 1000 if unit == "g" else float(value)])
            elif codes & set(HEIGHT_CODES):
                height.append([round(months, 2), float(value)])
    sex = str(record.patient.get("gender", ""))
    return {
        "pressure": sorted(pressure),
        "hba1c": sorted(hba1c),
        "weight": sorted(weight),
        "height": sorted(height),
        "weightReference": reference(sex, "weight") if weight else [],
        "heightReference": reference(sex, "height") if height else [],
    }


def passport_view(record: PatientRecord, language: str, today: date) -> PassportView:
    sections = summarize(record.resources)
    return PassportView(
        header(record, sections, language, today), sections, events(record), charts(record, today)
    )
