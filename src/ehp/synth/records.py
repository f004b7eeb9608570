"""Builders of one person's FHIR resources: a :class:`Chart` collects them as they are made."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from ehp.fhir import codes
from ehp.fhir.codes import Code
from ehp.registry.attachment import END_REASON, START_REASON, reason_extension
from ehp.synth.ids import random_id
from ehp.synth.infrastructure import Facility, Staff
from ehp.synth.population import Person

Json = dict[str, Any]
OFFSET = "+05:00"
"""Kazakhstan's single time zone since 1 March 2024 (UTC+5), used for every time."""


def at(day: date, hour: int, minute: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:{minute:02d}:00{OFFSET}"


def ref(kind: str, resource_id: str) -> Json:
    return {"reference": f"{kind}/{resource_id}"}


def role_ref(staff: Staff) -> Json:
    return {"reference": f"PractitionerRole/{staff.role_id}"}


def quantity(value: float | int, unit: str) -> Json:
    return {"value": value, "unit": unit, "system": codes.UCUM, "code": unit}


_CLINICAL = {
    status: {"coding": [{"system": codes.CONDITION_CLINICAL, "code": status}]}
    for status in ("active", "resolved")
}
_CONFIRMED = {"coding": [{"system": codes.CONDITION_VERIFICATION, "code": "confirmed"}]}
_CATEGORIES = {
    code: [{"coding": [{"system": codes.CONDITION_CATEGORY, "code": code}]}]
    for code in ("encounter-diagnosis", "problem-list-item")
}
_OBSERVATION_CATEGORIES = {
    code: [{"coding": [{"system": codes.OBSERVATION_CATEGORY, "code": code}]}]
    for code in ("vital-signs", "laboratory", "exam")
}
_DISCHARGE = {
    code: {"coding": [{"system": codes.DISCHARGE, "code": code, "display": display}]}
    for code, display in (("home", "Home"), ("exp", "Expired"))
}


class Chart:
    """The resources of one person, in the order they are made."""

    def __init__(self, person: Person, rng: random.Random) -> None:
        self.person = person
        self.rng = rng
        self.resources: list[Json] = []
        self.subject = ref("Patient", person.id)
        self.died_at: str | None = None
        """When the person died (set with their last records)."""

    def new_id(self) -> str:
        return random_id(self.rng)

    def time(self, day: date, first: int = 8, last: int = 18) -> str:
        return at(day, self.rng.randint(first, last), self.rng.randrange(0, 60, 5))

    def add(self, resource: Json) -> str:
        self.resources.append(resource)
        return str(resource["id"])

    def encounter(
        self,
        kind: Code,
        start: str,
        end: str | None,
        facility: Facility,
        staff: Staff | None,
        reason: Code | None = None,
        *,
        condition: str | None = None,
        episode: str | None = None,
        discharge: str | None = None,
        origin: Facility | None = None,
        part_of: str | None = None,
        encounter_id: str | None = None,
    ) -> str:
        resource: Json = {
            "resourceType": "Encounter",
            "id": encounter_id or self.new_id(),
            "status": "finished" if end is not None else "in-progress",
            "class": kind.coding(),
            "subject": self.subject,
        }
        if episode is not None:
            resource["episodeOfCare"] = [ref("EpisodeOfCare", episode)]
        if staff is not None:
            resource["participant"] = [{"individual": role_ref(staff)}]
        resource["period"] = {"start": start, "end": end} if end is not None else {"start": start}
        if reason is not None:
            resource["reasonCode"] = [reason.concept()]
        if condition is not None:
            resource["diagnosis"] = [{"condition": ref("Condition", condition), "rank": 1}]
        if discharge is not None and end is not None:
            resource["hospitalization"] = {"dischargeDisposition": _DISCHARGE[discharge]}
            if origin is not None:
                resource["hospitalization"] = {"origin": origin.ref, **resource["hospitalization"]}
        resource["location"] = [{"location": facility.location_ref}]
        resource["serviceProvider"] = facility.ref
        if part_of is not None:
            resource["partOf"] = ref("Encounter", part_of)
        return self.add(resource)

    def condition(
        self,
        code: Code,
        onset: str,
        encounter: str | None,
        staff: Staff | None,
        *,
        abatement: str | None = None,
        category: str = "encounter-diagnosis",
        condition_id: str | None = None,
    ) -> str:
        resource: Json = {
            "resourceType": "Condition",
            "id": condition_id or self.new_id(),
            "clinicalStatus": _CLINICAL["resolved" if abatement is not None else "active"],
            "verificationStatus": _CONFIRMED,
            "category": _CATEGORIES[category],
            "code": code.concept(),
            "subject": self.subject,
        }
        if encounter is not None:
            resource["encounter"] = ref("Encounter", encounter)
        resource["onsetDateTime"] = onset
        if abatement is not None:
            resource["abatementDateTime"] = abatement
        resource["recordedDate"] = onset
        if staff is not None:
            resource["recorder"] = role_ref(staff)
        return self.add(resource)

    def observation(
        self,
        code: Code,
        category: str | None,
        effective: str,
        encounter: str | None,
        performer: Json,
        value: Json,
    ) -> str:
        """An Observation; ``value`` holds its ``value[x]`` or ``component`` property."""
        resource: Json = {"resourceType": "Observation", "id": self.new_id(), "status": "final"}
        if category is not None:
            resource["category"] = _OBSERVATION_CATEGORIES[category]
        resource |= {"code": code.concept(), "subject": self.subject}
        if encounter is not None:
            resource["encounter"] = ref("Encounter", encounter)
        resource |= {"effectiveDateTime": effective, "issued": effective, "performer": [performer], **value}
        return self.add(resource)

    def lab(
        self, code: Code, effective: str, encounter: str | None, laboratory: Facility, value: Json
    ) -> str:
        return self.observation(
            code, "laboratory", effective, encounter, laboratory.ref, {"valueQuantity": value}
        )

    def blood_pressure(
        self, effective: str, encounter: str, staff: Staff, systolic: int, diastolic: int
    ) -> str:
        components = [
            {"code": codes.SYSTOLIC.concept(), "valueQuantity": quantity(systolic, "mm[Hg]")},
            {"code": codes.DIASTOLIC.concept(), "valueQuantity": quantity(diastolic, "mm[Hg]")},
        ]
        return self.observation(
            codes.BLOOD_PRESSURE,
            "vital-signs",
            effective,
            encounter,
            role_ref(staff),
            {"component": components},
        )

    def medication(
        self,
        drug: tuple[Code, str],
        authored: date,
        encounter: str | None,
        staff: Staff,
        reason: str | None,
        *,
        days: int,
        active: bool = False,
    ) -> str:
        code, dosage = drug
        resource: Json = {
            "resourceType": "MedicationRequest",
            "id": self.new_id(),
            "status": "active" if active else "completed",
            "intent": "order",
            "medicationCodeableConcept": code.concept(),
            "subject": self.subject,
        }
        if encounter is not None:
            resource["encounter"] = ref("Encounter", encounter)
        resource |= {"authoredOn": authored.isoformat(), "requester": role_ref(staff)}
        if reason is not None:
            resource["reasonReference"] = [ref("Condition", reason)]
        resource["dosageInstruction"] = [{"text": dosage}]
        resource["dispenseRequest"] = {
            "validityPeriod": {
                "start": authored.isoformat(),
                "end": (authored + timedelta(days=days)).isoformat(),
            }
        }
        return self.add(resource)

    def immunization(
        self, vaccine: tuple[Code, Code], day: date, dose: int, facility: Facility, staff: Staff
    ) -> str:
        return self.add(
            {
                "resourceType": "Immunization",
                "id": self.new_id(),
                "status": "completed",
                "vaccineCode": vaccine[0].concept(vaccine[1]),
                "patient": self.subject,
                "occurrenceDateTime": self.time(day, 9, 17),
                "primarySource": True,
                "location": facility.location_ref,
                "performer": [{"actor": role_ref(staff)}],
                "protocolApplied": [{"doseNumberPositiveInt": dose}],
            }
        )

    def episode(
        self,
        kind: Code,
        start: date,
        end: date | None,
        facility: Facility,
        staff: Staff,
        condition: str | None,
        reasons: tuple[str | None, str | None] = (None, None),
    ) -> str:
        """An EpisodeOfCare; ``reasons`` of an attachment: why it began and ended, as the registry
        records them (a finished episode keeps its active period in ``statusHistory`` likewise)."""
        period = {"start": start.isoformat()}
        if end is not None:
            period["end"] = end.isoformat()
        resource: Json = {"resourceType": "EpisodeOfCare", "id": self.new_id()}
        extensions = [
            reason_extension(url, reason)
            for url, reason in zip((START_REASON, END_REASON), reasons, strict=True)
            if reason is not None
        ]
        if extensions:
            resource["extension"] = extensions
        resource["status"] = "active" if end is None else "finished"
        if end is not None:
            resource["statusHistory"] = [{"status": "active", "period": dict(period)}]
        resource["type"] = [kind.concept()]
        if condition is not None:
            resource["diagnosis"] = [{"condition": ref("Condition", condition), "rank": 1}]
        resource |= {
            "patient": self.subject,
            "managingOrganization": facility.ref,
            "period": period,
            "careManager": role_ref(staff),
        }
        return self.add(resource)
