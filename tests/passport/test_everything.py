"""``Patient/{id}/$everything`` over HTTP on both databases, against an independent reading of the
official Patient CompartmentDefinition (fhirpathpy evaluations of each linking parameter)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from ehp.index.parameters import parameters_for
from ehp.search.compartments import members
from tests.passport.conftest import Loaded
from tests.search.test_extract import Oracle

Json = dict[str, Any]
REFERENCED = frozenset({"Practitioner", "PractitionerRole", "Organization", "Location", "Medication"})
KINDS = ("newborn", "healthy-adult", "chronic")
ORACLE = Oracle()


def _references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from _references(item)
    elif isinstance(value, list):
        for item in value:
            yield from _references(item)


def in_compartment(resource: Json, patient_id: str) -> bool:
    """Whether a parameter the CompartmentDefinition lists for the type refers to the patient."""
    if resource["resourceType"] == "Patient" and resource["id"] == patient_id:
        return True
    for code in members("Patient").get(resource["resourceType"], []):
        parameter = parameters_for(resource["resourceType"]).get(code)
        expression = parameter.expression_for(resource["resourceType"]) if parameter else None
        if expression is None:
            continue
        for value, _ in ORACLE.evaluate(expression, resource):
            if isinstance(value, dict) and value.get("reference") == f"Patient/{patient_id}":
                return True
    return False


def expected(loaded: Loaded, patient_id: str, keep: Any = None) -> set[str]:
    """The record's members (those ``keep`` accepts) the resources of REFERENCED types
    they name, and those their practitioner roles name."""
    everything = {f"{r['resourceType']}/{r['id']}": r for r in loaded.people.resources()}
    record = {
        key
        for key, resource in everything.items()
        if in_compartment(resource, patient_id) and (keep is None or keep(resource))
    }
    named = {
        reference
        for key in record
        for reference in _references(everything[key])
        if reference.split("/")[0] in REFERENCED and reference in everything
    }
    of_roles = {
        reference
        for key in named
        if key.startswith("PractitionerRole/")
        for reference in _references(everything[key])
        if reference.split("/")[0] in REFERENCED and reference in everything
    }
    return record | named | of_roles


def pages(client: httpx.Client, url: str) -> Iterator[Json]:
    next_url: str | None = url
    while next_url is not None:
        response = client.get(next_url)
        assert response.status_code == 200, response.text
        bundle: Json = response.json()
        yield bundle
        next_url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)


def collect(client: httpx.Client, url: str) -> list[Json]:
    return [entry for bundle in pages(client, url) for entry in bundle.get("entry", [])]


def keys(entries: list[Json]) -> list[str]:
    return [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in entries]


@pytest.mark.parametrize("kind", KINDS)
def test_everything_is_the_compartment_plus_what_it_refers_to(loaded: Loaded, kind: str) -> None:
    patient_id = loaded.people.patients[kind]["id"]
    want = expected(loaded, patient_id)
    entries = collect(loaded.client, f"Patient/{patient_id}/$everything?_count=7")
    found = keys(entries)
    assert len(found) == len(set(found)), "a resource came twice across the pages"
    assert set(found) == want
    assert len(want) > 7 * 2, "the record should span at least three pages"
    for entry in entries:
        mode = "include" if entry["resource"]["resourceType"] in REFERENCED else "match"
        assert entry["search"]["mode"] == mode
    assert any(e["resource"]["resourceType"] in REFERENCED for e in entries)


def test_previous_links_walk_back_over_the_same_pages(loaded: Loaded) -> None:
    patient_id = loaded.people.patients["chronic"]["id"]
    forward = list(pages(loaded.client, f"Patient/{patient_id}/$everything?_count=10"))
    last = forward[-1]
    backward = []
    url = next((link["url"] for link in last["link"] if link["relation"] == "previous"), None)
    while url is not None:
        bundle = loaded.client.get(url).json()
        backward.append(keys(bundle["entry"]))
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "previous"), None)
    assert backward == [keys(b["entry"]) for b in reversed(forward[:-1])]


def test_a_single_page_gives_the_total(loaded: Loaded) -> None:
    patient_id = loaded.people.patients["newborn"]["id"]
    bundle = loaded.client.get(f"Patient/{patient_id}/$everything?_count=1000").json()
    assert len(bundle["entry"]) == len(expected(loaded, patient_id))
    # Bundle.total counts the matches only, not the entries they bring along (search.mode include)
    matches = [e for e in bundle["entry"] if e["search"]["mode"] == "match"]
    assert bundle["total"] == len(matches) < len(bundle["entry"])
    assert [link["relation"] for link in bundle["link"]] == ["self"]


def test_type_filter(loaded: Loaded) -> None:
    patient_id = loaded.people.patients["chronic"]["id"]
    types = {"Observation", "Practitioner", "Patient"}
    want = {key for key in expected(loaded, patient_id) if key.split("/")[0] in types}
    found = keys(
        collect(
            loaded.client, f"Patient/{patient_id}/$everything?_type=Observation,Practitioner,Patient&_count=9"
        )
    )
    assert set(found) == want and len(found) == len(want)
    assert {key.split("/")[0] for key in found} == types


CARE_DATES = {
    "Encounter": lambda r: (r["period"]["start"], r["period"].get("end", "9999")),
    "Observation": lambda r: (r["effectiveDateTime"], r["effectiveDateTime"]),
    "Immunization": lambda r: (r["occurrenceDateTime"], r["occurrenceDateTime"]),
    "Condition": lambda r: (r["onsetDateTime"], r["onsetDateTime"]),
    "MedicationRequest": lambda r: (r["authoredOn"], r["authoredOn"]),
    "EpisodeOfCare": lambda r: (r["period"]["start"], r["period"].get("end", "9999")),
}


def test_start_and_end_keep_the_care_within_the_range(loaded: Loaded) -> None:
    patient_id = loaded.people.patients["chronic"]["id"]

    def within(resource: Json) -> bool:
        dates = CARE_DATES.get(resource["resourceType"])
        if dates is None:
            return True
        first, last = dates(resource)
        return first[:10] <= "2020-12-31" and last[:10] >= "2019-01-01"

    want = expected(loaded, patient_id, within)
    found = keys(
        collect(loaded.client, f"Patient/{patient_id}/$everything?start=2019&end=2020-12-31&_count=50")
    )
    assert set(found) == want
    assert 0 < len(want) < len(expected(loaded, patient_id))


def test_since_gives_only_what_changed(loaded: Loaded) -> None:
    patient_id = loaded.people.patients["healthy-adult"]["id"]
    observation = next(
        r
        for r in loaded.people.resources()
        if r["resourceType"] == "Observation" and r["subject"]["reference"] == f"Patient/{patient_id}"
    )
    time.sleep(0.01)
    since = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    response = loaded.client.put(f"Observation/{observation['id']}", json=observation | {"status": "amended"})
    assert response.status_code == 200, response.text
    found = keys(collect(loaded.client, f"Patient/{patient_id}/$everything?_since={since}"))
    assert found == [f"Observation/{observation['id']}"]
    assert response.json()["status"] == "amended"


def test_deleted_resources_are_left_out(loaded: Loaded) -> None:
    patient_id = loaded.people.patients["healthy-adult"]["id"]
    before = keys(collect(loaded.client, f"Patient/{patient_id}/$everything?_count=1000"))
    victim = next(key for key in before if key.startswith("Immunization/"))
    assert loaded.client.delete(victim).status_code in (200, 204)
    after = keys(collect(loaded.client, f"Patient/{patient_id}/$everything?_count=1000"))
    assert set(before) - set(after) == {victim}
    restored = next(r for r in loaded.people.resources() if f"{r['resourceType']}/{r['id']}" == victim)
    assert loaded.client.put(victim, json=restored).status_code in (200, 201)


def test_unknown_patient_is_404(loaded: Loaded) -> None:
    response = loaded.client.get("Patient/no-such-person/$everything")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
    assert loaded.client.get("Observation/x/$everything").status_code == 404


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("start=yesterday", "start"),
        ("end=2020-13-01", "end"),
        ("start=2020-01-01T10:00:00Z", "start"),
        ("_since=2020-02-30", "_since"),
        ("_type=Observation,Nonsense", "_type"),
        ("_count=many", "_count"),
        ("_count=0", "_count"),
        ("_cursor=garbage", "_cursor"),
        ("colour=blue", "colour"),
        ("start=2019&start=2020", "start"),
    ],
)
def test_bad_parameters_are_400(loaded: Loaded, query: str, parameter: str) -> None:
    patient_id = loaded.people.patients["newborn"]["id"]
    response = loaded.client.get(f"Patient/{patient_id}/$everything?{query}")
    assert response.status_code == 400, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == [parameter]


def test_capability_statement_names_the_operations(loaded: Loaded) -> None:
    statement = loaded.client.get("metadata").json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    operations = {o["name"]: o["definition"] for o in patient["operation"]}
    assert operations["everything"] == "http://hl7.org/fhir/OperationDefinition/Patient-everything"
