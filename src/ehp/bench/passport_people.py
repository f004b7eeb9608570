"""People of the synthetic population chosen by what their record holds, for passport tests and benchmarks.

:func:`pick_people` walks the generated units of one region (in the generator's own order, so a
seed gives the same people) until it has found a person for every wanted kind: a newborn, a healthy
adult, and a person with several chronic diseases under dispensary observation. :func:`grow_record`
makes a long record out of a real one (more follow-up visits with their measurements) for the
benchmarks of a patient with thousands of records.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import httpx

from ehp.synth.generator import BUNDLE_SIZE, SynthConfig, generate
from ehp.synth.population import RECORDS_FROM, REFERENCE_DATE

Json = dict[str, Any]
CHRONIC = frozenset({"I10", "E11"})
"""ICD-10 codes of the chronic diseases the generator keeps under dispensary observation."""
UNITS_SEARCHED = 5000


def _patients(resources: list[Json]) -> list[Json]:
    return [r for r in resources if r["resourceType"] == "Patient"]


def _subject(resource: Json) -> str | None:
    reference = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
    return reference[8:] if reference.startswith("Patient/") else None


def _chronic_codes(resources: list[Json], patient_id: str) -> set[str]:
    return {
        coding["code"]
        for r in resources
        if r["resourceType"] == "Condition" and _subject(r) == patient_id
        for coding in r["code"]["coding"]
        if coding["code"] in CHRONIC
    }


def _age(patient: Json) -> int:
    born = date.fromisoformat(patient["birthDate"])
    on = REFERENCE_DATE
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _newborn(patient: Json, resources: list[Json]) -> bool:
    return _age(patient) == 0 and "deceasedDateTime" not in patient


def _healthy_adult(patient: Json, resources: list[Json]) -> bool:
    return (
        25 <= _age(patient) <= 50
        and "deceasedDateTime" not in patient
        and not _chronic_codes(resources, patient["id"])
    )


def _chronically_ill(patient: Json, resources: list[Json]) -> bool:
    return "deceasedDateTime" not in patient and _chronic_codes(resources, patient["id"]) == CHRONIC


KINDS: dict[str, Callable[[Json, list[Json]], bool]] = {
    "newborn": _newborn,
    "healthy-adult": _healthy_adult,
    "chronic": _chronically_ill,
}


@dataclass(slots=True)
class People:
    """The network of the region and the units (a person with their family) holding the chosen people."""

    network: list[Json]
    patients: dict[str, Json] = field(default_factory=dict)
    """Kind → the chosen Patient."""
    units: list[list[Json]] = field(default_factory=list)

    def resources(self) -> Iterator[Json]:
        yield from self.network
        for unit in self.units:
            yield from unit


def pick_people(kinds: tuple[str, ...] = tuple(KINDS), *, seed: int = 1, region: str = "astana") -> People:
    """The first person of each kind among the generated units of ``region`` (ValueError if none)."""
    people = People([])
    wanted = list(kinds)
    for count, group in generate(SynthConfig(people=UNITS_SEARCHED, seed=seed, regions=(region,))):
        if count == 0:
            people.network.extend(group)
            continue
        found = False
        for patient in _patients(group):
            for kind in list(wanted):
                if KINDS[kind](patient, group):
                    people.patients[kind] = patient
                    wanted.remove(kind)
                    found = True
                    break
        if found:
            people.units.append(group)
        if not wanted:
            return people
    raise ValueError(f"no person of kind {', '.join(wanted)} among {UNITS_SEARCHED} people")


def load_over_http(client: httpx.Client, resources: Iterator[Json] | list[Json]) -> int:
    """PUT the resources in transaction Bundles of the generator's size; returns how many were sent."""
    batch: list[Json] = []
    sent = 0

    def post() -> None:
        entries = [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in batch
        ]
        response = client.post("", json={"resourceType": "Bundle", "type": "transaction", "entry": entries})
        if response.status_code != 200:
            raise RuntimeError(f"loading failed with {response.status_code}: {response.text[:500]}")

    for resource in resources:
        batch.append(resource)
        if len(batch) == BUNDLE_SIZE:
            post()
            sent += len(batch)
            batch = []
    if batch:
        post()
        sent += len(batch)
    return sent


def _encounter_of(resource: Json) -> str | None:
    reference = resource.get("encounter", {}).get("reference", "")
    return reference[10:] if reference.startswith("Encounter/") else None


def _shift(value: Any, days: int) -> Any:
    """Move every dateTime (and date) in a resource by ``days``."""
    if isinstance(value, dict):
        return {key: _shift(item, days) for key, item in value.items()}
    if isinstance(value, list):
        return [_shift(item, days) for item in value]
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-" and value[7:8] == "-":
        try:
            if len(value) == 10:
                return (date.fromisoformat(value) + timedelta(days=days)).isoformat()
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return (moment + timedelta(days=days)).isoformat()
    return value


def grow_record(resources: list[Json], patient_id: str, size: int, *, seed: int = 1) -> list[Json]:
    """New resources that bring the patient's record to about ``size`` resources.

    Each addition is a copy of one of the patient's own outpatient visits (an ``Encounter`` with the
    ``Observation``s and ``Condition``s recorded in it) under new ids, moved to another day
    between :data:`RECORDS_FROM` and :data:`REFERENCE_DATE`, so the record stays realistic: the
    same places, staff and kinds of measurements, more often.
    """
    own = [r for r in resources if _subject(r) == patient_id or r.get("id") == patient_id]
    visits = [r for r in own if r["resourceType"] == "Encounter" and r["class"]["code"] == "AMB"]
    if not visits:
        raise ValueError(f"Patient/{patient_id} has no outpatient visit to repeat")
    by_encounter: dict[str, list[Json]] = {}
    for resource in own:
        encounter = _encounter_of(resource)
        if encounter is not None and resource["resourceType"] in ("Observation", "Condition"):
            by_encounter.setdefault(encounter, []).append(resource)
    rng = random.Random(f"{seed}:{patient_id}")
    added: list[Json] = []
    span = (REFERENCE_DATE - RECORDS_FROM).days
    while len(own) + len(added) < size:
        visit = rng.choice(visits)
        day = date.fromisoformat(visit["period"]["start"][:10])
        days = (RECORDS_FROM - day).days + rng.randrange(span - 1)
        new_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        added.append(_shift(visit, days) | {"id": new_id})
        for part in by_encounter.get(visit["id"], []):
            copy = _shift(part, days) | {"id": str(uuid.UUID(int=rng.getrandbits(128), version=4))}
            copy["encounter"] = {"reference": f"Encounter/{new_id}"}
            added.append(copy)
    return added
