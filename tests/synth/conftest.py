"""A generated country of 2,000 people, read once: its resources' facts and every validation issue."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from ehp.fhir.validation import validate_resource
from ehp.synth.generator import Summary, SynthConfig, synthesize
from ehp.synth.population import REFERENCE_DATE

PEOPLE = 2000


@dataclass(slots=True)
class Facts:
    """What the tests check, gathered in one pass over the generated files."""

    summary: Summary
    folder: Path
    ids: set[str] = field(default_factory=set)
    references: Counter[str] = field(default_factory=Counter)
    invalid: list[str] = field(default_factory=list)
    patients: dict[str, dict[str, Any]] = field(default_factory=dict)
    practitioner_iins: list[str] = field(default_factory=list)
    diagnosed: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    attachments: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    mothers: list[tuple[str, str]] = field(default_factory=list)
    """(child's Patient id, mother's IIN) of every RelatedPerson."""
    births_part_of: dict[str, str] = field(default_factory=dict)
    """Child's Patient id → the Encounter its birth Encounter is part of."""
    encounters: dict[str, dict[str, Any]] = field(default_factory=dict)
    organizations: dict[str, dict[str, Any]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    latest: dict[str, str] = field(default_factory=dict)
    """Patient id → the latest time in their records (starts and ends of periods, effective times...)."""

    def living(self) -> list[dict[str, Any]]:
        return [p for p in self.patients.values() if "deceasedDateTime" not in p]


def age(patient: dict[str, Any], on: date = REFERENCE_DATE) -> int:
    born = date.fromisoformat(patient["birthDate"])
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _references(value: Any, out: Counter[str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                out[item] += 1
            else:
                _references(item, out)
    elif isinstance(value, list):
        for item in value:
            _references(item, out)


_TIMES = ("effectiveDateTime", "occurrenceDateTime", "onsetDateTime", "abatementDateTime", "authoredOn")


def _times(resource: dict[str, Any]) -> list[str]:
    times = [resource[key] for key in _TIMES if key in resource]
    return times + list(resource.get("period", {}).values())


def read_facts(folder: Path, summary: Summary) -> Facts:
    facts = Facts(summary, folder)
    for name in summary.files:
        with (folder / name).open("rb") as handle:
            for line in handle:
                _take(facts, orjson.loads(line))
    return facts


def _take(facts: Facts, resource: dict[str, Any]) -> None:
    kind, resource_id = resource["resourceType"], resource["id"]
    facts.counts[kind] += 1
    facts.ids.add(f"{kind}/{resource_id}")
    _references(resource, facts.references)
    # Warnings too (a wrong display, an extension nobody defines): the generator is EHP's own data.
    problems = [issue for issue in validate_resource(resource) if issue.severity != "information"]
    if problems:
        facts.invalid.append(f"{kind}/{resource_id}: {problems[0].expression}: {problems[0].diagnostics}")
    subject = resource.get("subject") or resource.get("patient")
    if subject is not None and subject["reference"].startswith("Patient/"):
        patient_id = subject["reference"][8:]
        facts.latest[patient_id] = max([facts.latest.get(patient_id, ""), *_times(resource)])
    if kind == "Patient":
        facts.patients[resource_id] = resource
    elif kind == "Practitioner":
        facts.practitioner_iins.append(resource["identifier"][0]["value"])
    elif kind == "Condition":
        facts.diagnosed[resource["code"]["coding"][0]["code"]].add(resource["subject"]["reference"][8:])
    elif kind == "EpisodeOfCare" and resource["type"][0]["coding"][0]["code"] == "attachment":
        facts.attachments[resource["patient"]["reference"][8:]].append(resource)
    elif kind == "RelatedPerson":
        facts.mothers.append((resource["patient"]["reference"][8:], resource["identifier"][0]["value"]))
    elif kind == "Encounter":
        facts.encounters[resource_id] = resource
        if "partOf" in resource:
            facts.births_part_of[resource["subject"]["reference"][8:]] = resource["partOf"]["reference"][10:]
    elif kind == "Organization":
        facts.organizations[resource_id] = resource


@pytest.fixture(scope="session")
def country(tmp_path_factory: pytest.TempPathFactory) -> Facts:
    """2,000 people of the whole country (seed 1), as NDJSON, with every resource validated."""
    folder = tmp_path_factory.mktemp("country")
    summary = synthesize(SynthConfig(people=PEOPLE, seed=1), folder, "ndjson", show_progress=False)
    return read_facts(folder, summary)
