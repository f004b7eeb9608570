"""``Patient/$merge`` over HTTP: no reference to the merged record is left, history is kept."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
from sqlalchemy import and_, select

from ehp.bench.servers import BenchServer
from ehp.registry.iin import IIN_SYSTEM
from ehp.store.database import open_engine
from ehp.store.schema import resource_versions, resources
from tests.registry.helpers import (
    FHIR_JSON,
    create,
    fresh_iin,
    issue,
    operation,
    parameters,
    patient,
    put,
    unique_family,
)
from tests.registry.test_attachment import attach, organization


def merge(fhir: httpx.Client, source: str, target: str, preview: bool | None = None) -> httpx.Response:
    values: dict[str, Any] = {
        "source_patient": {"valueReference": {"reference": f"Patient/{source}"}},
        "target_patient": {"valueReference": {"reference": f"Patient/{target}"}},
    }
    if preview is not None:
        values["preview"] = {"valueBoolean": preview}
    return operation(fhir, "Patient/$merge", parameters(**values))


def outputs(response: httpx.Response, name: str) -> list[Any]:
    assert response.status_code == 200, response.text
    return [
        p.get("resource", p.get("valueReference")) for p in response.json()["parameter"] if p["name"] == name
    ]


def holders_of(server: BenchServer, patient_id: str) -> set[str]:
    """``Type/id`` of every current resource whose stored JSON mentions the id, read from the database."""
    engine = open_engine(server.database, pool_size=1)
    join = resources.join(
        resource_versions,
        and_(resource_versions.c.rid == resources.c.rid, resource_versions.c.version == resources.c.version),
    )
    statement = select(resources.c.resource_type, resources.c.id, resource_versions.c.content).select_from(
        join
    )
    try:
        with engine.connect() as connection:
            return {
                f"{row.resource_type}/{row.id}"
                for row in connection.execute(statement.where(resources.c.deleted.is_(False)))
                if row.content is not None and patient_id.encode() in bytes(row.content)
            }
    finally:
        engine.dispose()


def observation(subject: str, **more: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "subject": {"reference": subject},
    } | more


def test_merge_moves_every_reference_and_keeps_history(fhir: httpx.Client, server: BenchServer) -> None:
    family = unique_family()
    born = date(1983, 12, 5)
    iin = fresh_iin(born, "male")
    source = create(fhir, patient(family=family, given=("Асхат",), born=born, iin=iin))["id"]
    target = create(fhir, patient(family=family, given=("Askhat",), born=date(1983, 5, 12)))["id"]
    clinic_a, clinic_b = organization(fhir), organization(fhir)
    attach(fhir, source, clinic_a, "2020-01-10")
    attach(fhir, target, clinic_b, "2021-01-10")
    extension = {"url": "http://example.org/seen-with", "valueReference": {"reference": f"Patient/{source}"}}
    referring = [
        create(fhir, observation(f"Patient/{source}")),
        create(fhir, observation(f"Patient/{source}/_history/1", extension=[extension])),
        create(
            fhir,
            observation(f"{server.base}/Patient/{source}", performer=[{"reference": f"Patient/{source}"}]),
        ),
        create(
            fhir,
            {
                "resourceType": "Encounter",
                "status": "finished",
                "class": {"code": "AMB"},
                "subject": {"reference": f"Patient/{source}"},
            },
        ),
        create(fhir, {"resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{source}"}}),
        create(
            fhir,
            patient(
                family=unique_family(),
                link=[{"other": {"reference": f"Patient/{source}"}, "type": "seealso"}],
            ),
        ),
    ]
    before = holders_of(server, source)

    preview = merge(fhir, source, target, preview=True)
    updated = {item["reference"] for item in outputs(preview, "updated")}
    expected = {f"{r['resourceType']}/{r['id']}" for r in referring}
    extra = sorted(reference.split("/")[0] for reference in updated - expected)
    assert expected <= updated and extra == ["Communication", "EpisodeOfCare"], (
        "the attachment and its notice"
    )
    assert outputs(preview, "provenance") == []
    assert holders_of(server, source) == before, "a preview writes nothing"

    merged = merge(fhir, source, target)
    (provenance,) = outputs(merged, "provenance")
    assert holders_of(server, source) == {f"Patient/{source}", f"Patient/{target}", provenance["reference"]}
    retired = fhir.get(f"Patient/{source}").json()
    assert retired["active"] is False
    assert retired["link"][-1] == {"other": {"reference": f"Patient/{target}"}, "type": "replaced-by"}
    kept = fhir.get(f"Patient/{target}").json()
    assert {"other": {"reference": f"Patient/{source}"}, "type": "replaces"} in kept["link"]
    assert {"system": IIN_SYSTEM, "value": iin} in kept["identifier"], "the target takes the IIN"
    for resource in referring:
        location = f"{resource['resourceType']}/{resource['id']}"
        assert target in fhir.get(location).text
        first = fhir.get(f"{location}/_history/1").json()
        assert source in str(first), "history is kept"
    assert len(fhir.get(f"Patient/{source}/_history").json()["entry"]) == 2
    active = [
        e["resource"]
        for e in fhir.get("EpisodeOfCare", params={"patient": f"Patient/{target}"}).json()["entry"]
        if e["resource"]["status"] == "active"
    ]
    assert [e["managingOrganization"]["reference"] for e in active] == [f"Organization/{clinic_b}"]
    record = fhir.get(provenance["reference"]).json()
    assert record["activity"]["coding"][0]["code"] == "merge"
    assert f"Patient/{target}/_history/" in str(record["target"])

    again = fhir.post("Patient", json=patient(family=family, born=None, iin=iin), headers=FHIR_JSON)
    assert again.status_code == 409 and iin in issue(again)["diagnostics"], "the IIN stays with the target"
    holders = fhir.get("Patient", params={"identifier": f"{IIN_SYSTEM}|{iin}"}).json()["entry"]
    assert target in [entry["resource"]["id"] for entry in holders], "whoever may see it finds the holder"
    found = operation(
        fhir,
        "Patient/$match",
        parameters(resource={"resource": patient(family=family, given=("Асхат",), born=born)}),
    )
    assert [e["resource"]["id"] for e in found.json()["entry"]] == [target]


def test_a_lone_attachment_moves_to_the_target(fhir: httpx.Client) -> None:
    source = create(fhir, patient(family=unique_family()))["id"]
    target = create(fhir, patient(family=unique_family()))["id"]
    clinic = organization(fhir)
    attach(fhir, source, clinic, "2022-02-02")
    assert merge(fhir, source, target).status_code == 200
    (episode,) = fhir.get("EpisodeOfCare", params={"patient": f"Patient/{target}"}).json()["entry"]
    assert episode["resource"]["status"] == "active"


def test_bad_merges_are_refused_and_write_nothing(fhir: httpx.Client, server: BenchServer) -> None:
    first = create(fhir, patient(family=unique_family(), born=None, iin=fresh_iin(date(1990, 1, 1), "male")))[
        "id"
    ]
    second = create(
        fhir, patient(family=unique_family(), born=None, iin=fresh_iin(date(1990, 1, 1), "male"))
    )["id"]
    third = create(fhir, patient(family=unique_family()))["id"]
    assert merge(fhir, first, first).status_code == 400
    unknown = merge(fhir, "no-such-patient", first)
    assert unknown.status_code == 404
    assert issue(unknown)["expression"] == ["Parameters.parameter.where(name='source-patient')"]
    two_people = merge(fhir, first, second)
    assert two_people.status_code == 422 and "different IINs" in issue(two_people)["diagnostics"]
    assert (
        operation(
            fhir,
            "Patient/$merge",
            parameters(source_patient={"valueReference": {"reference": f"Patient/{first}"}}),
        ).status_code
        == 400
    )
    assert operation(fhir, "Observation/$merge", parameters()).status_code == 404
    assert fhir.get(f"Patient/{first}").json()["meta"]["versionId"] == "1"
    assert merge(fhir, third, first).status_code == 200
    already = merge(fhir, third, second)
    assert already.status_code == 409 and "already merged" in issue(already)["diagnostics"]
    put(fhir, fhir.get(f"Patient/{second}").json())
    assert merge(fhir, second, third).status_code == 409, "the target was merged away"
