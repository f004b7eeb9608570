"""Profiles over real HTTP: core ones named in ``meta.profile`` or ``$validate?profile=``, and a
StructureDefinition stored on the server (a ministry's national profile)."""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest

from ehp.bench.servers import BenchServer

BP = "http://hl7.org/fhir/StructureDefinition/bp"
FHIR_JSON = {"Content-Type": "application/fhir+json"}


def blood_pressure(examples_dir: Path) -> dict[str, Any]:
    resource: dict[str, Any] = json.loads((examples_dir / "Observation-blood-pressure.json").read_bytes())
    resource["meta"] = {"profile": [BP]}
    return resource


def errors(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 200, response.text
    return [
        (issue["expression"][0], issue["diagnostics"])
        for issue in response.json()["issue"]
        if issue["severity"] in ("error", "fatal")
    ]


def test_a_core_profile_named_in_meta_is_checked(fhir: httpx.Client, examples_dir: Path) -> None:
    valid = blood_pressure(examples_dir)
    assert errors(fhir.post("Observation/$validate", json=valid)) == []
    one_component = copy.deepcopy(valid)
    one_component["component"] = one_component["component"][:1]
    found = errors(fhir.post("Observation/$validate", json=one_component))
    assert {where for where, _ in found} == {"Observation.component"}
    assert any("DiastolicBP" in text for _, text in found)
    wrong_unit = copy.deepcopy(valid)
    wrong_unit["component"][0]["valueQuantity"]["code"] = "mmHg"
    assert [where for where, _ in errors(fhir.post("Observation/$validate", json=wrong_unit))] == [
        "Observation.component[0].valueQuantity.code"
    ]
    # The write is refused for the same reason.
    written = fhir.post("Observation", json=wrong_unit, headers=FHIR_JSON)
    assert written.status_code == 422, written.text


def test_validate_against_a_profile_given_as_a_parameter(fhir: httpx.Client, examples_dir: Path) -> None:
    resource = blood_pressure(examples_dir)
    del resource["meta"]
    resource["code"]["coding"] = [{"system": "http://loinc.org", "code": "55284-4"}]
    assert errors(fhir.post("Observation/$validate", json=resource)) == []
    found = errors(fhir.post("Observation/$validate", params={"profile": BP}, json=resource))
    assert [where for where, _ in found] == ["Observation.code.coding"]
    parameters = {
        "resourceType": "Parameters",
        "parameter": [{"name": "resource", "resource": resource}, {"name": "profile", "valueUri": BP}],
    }
    assert [where for where, _ in errors(fhir.post("Observation/$validate", json=parameters))] == [
        "Observation.code.coding"
    ]
    unknown = fhir.post("Observation/$validate", params={"profile": "http://example.org/nope"}, json=resource)
    assert unknown.status_code == 400 and unknown.json()["resourceType"] == "OperationOutcome"


def test_an_unknown_profile_in_meta_is_a_warning(fhir: httpx.Client, examples_dir: Path) -> None:
    resource = blood_pressure(examples_dir)
    resource["meta"]["profile"] = ["http://example.org/fhir/StructureDefinition/not-loaded"]
    outcome = fhir.post("Observation/$validate", json=resource).json()
    assert [
        (issue["severity"], issue["expression"])
        for issue in outcome["issue"]
        if issue["severity"] != "information"
    ] == [("warning", ["Observation.meta.profile[0]"])]


def test_a_stored_national_profile(fhir: httpx.Client, examples_dir: Path) -> None:
    """A StructureDefinition put on the server is a profile $validate can check against."""
    url = f"http://ehp.kz/fhir/StructureDefinition/kz-bp-{uuid.uuid4().hex[:8]}"
    definition: dict[str, Any] = json.loads((examples_dir / "StructureDefinition-bp.json").read_bytes())
    definition.pop("id")
    definition.update(url=url, name="KzBloodPressure", version="1.0.0")
    created = fhir.post("StructureDefinition", json=definition, headers=FHIR_JSON)
    assert created.status_code == 201, created.text
    resource = blood_pressure(examples_dir)
    del resource["meta"]
    resource["component"] = resource["component"][:1]
    found = errors(fhir.post("Observation/$validate", params={"profile": url}, json=resource))
    assert found and all(url in text for _, text in found)
    assert errors(fhir.post("Observation/$validate", json=resource)) == []


REQUIRED = "http://ehp.kz/fhir/StructureDefinition/kz-bp-required"


@pytest.fixture(scope="module")
def profiled_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BenchServer]:
    """A SQLite server where every Observation must conform to a national profile."""
    folder = tmp_path_factory.mktemp("required-profiles")
    server = BenchServer(f"sqlite:///{folder / 'ehp.db'}", folder / "server.log")
    with mock.patch.dict(os.environ, {"EHP_REQUIRED_PROFILES": f"Observation={REQUIRED}"}):
        server.start()
    try:
        yield server
    finally:
        server.stop()


def test_required_profiles_on_every_write(profiled_server: BenchServer, examples_dir: Path) -> None:
    with httpx.Client(base_url=profiled_server.base + "/", timeout=60, headers=FHIR_JSON) as client:
        resource = blood_pressure(examples_dir)
        del resource["meta"]
        missing = client.post("Observation", json=resource)
        assert missing.status_code == 422 and REQUIRED in missing.text  # the profile is not there yet
        definition: dict[str, Any] = json.loads((examples_dir / "StructureDefinition-bp.json").read_bytes())
        definition.pop("id")
        definition.update(url=REQUIRED, name="KzBloodPressureRequired")
        assert client.post("StructureDefinition", json=definition).status_code == 201
        assert client.post("Observation", json=resource).status_code == 201
        one_component = copy.deepcopy(resource)
        one_component["component"] = one_component["component"][:1]
        refused = client.post("Observation", json=one_component)
        assert refused.status_code == 422 and "DiastolicBP" in refused.text
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"resource": one_component, "request": {"method": "POST", "url": "Observation"}}],
        }
        in_transaction = client.post("", json=bundle)
        assert in_transaction.status_code == 422, in_transaction.text
        assert {tuple(issue["expression"]) for issue in in_transaction.json()["issue"]} >= {
            ("Bundle.entry[0].resource.component",)
        }
        # Other types are not concerned.
        assert client.post("Patient", json={"resourceType": "Patient"}).status_code == 201


def test_the_servers_own_conformance_resources_are_valid(fhir: httpx.Client) -> None:
    """The CapabilityStatement EHP serves passes its own $validate (its searchParam types are the
    official ones), and so do the OperationDefinitions of its own operations."""
    statement = fhir.get("metadata").json()
    assert errors(fhir.post("CapabilityStatement/$validate", json=statement)) == []
    listed = {
        operation["definition"].rsplit("/", 1)[-1]
        for rest in statement["rest"]
        for item in [rest, *rest.get("resource", [])]
        for operation in item.get("operation", [])
        if operation["definition"].startswith("http://ehp.kz/fhir/OperationDefinition/")  # EHP's own
    }
    assert listed
    for name in sorted(listed):
        definition = fhir.get(f"OperationDefinition/{name}")
        assert definition.status_code == 200, name
        assert errors(fhir.post("OperationDefinition/$validate", json=definition.json())) == [], name


def test_profiles_of_bundle_entries(fhir: httpx.Client, examples_dir: Path) -> None:
    observation = blood_pressure(examples_dir)
    observation["component"] = observation["component"][:1]
    entry = {"fullUrl": "urn:uuid:3f2504e0-4f89-41d3-9a0c-0305e82c3301", "resource": observation}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [entry]}
    found = errors(fhir.post("Bundle/$validate", json=bundle))
    assert found and {where for where, _ in found} == {"Bundle.entry[0].resource.component"}
