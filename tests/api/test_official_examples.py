"""Every resource of ``hl7.fhir.r4.examples@4.0.1`` PUT over HTTP and read back unchanged.

Equality is of the parsed JSON (decimals compared by their text), apart from ``meta.versionId``
and ``meta.lastUpdated`` which the server sets.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson

from ehp.fhir.jsonio import FhirDecimal, loads

_NO_BASE = "SearchParameter.base is required (1..*) but absent"
_LONG_ID = (
    "the id 'questionnaireresponse-extensions-QuestionnaireResponse-item-subject' has 67 characters (max 64)"
)
_EMPTY_NARRATIVE = (
    "ActivityDefinition-blood-tubes-supply",
    "ActivityDefinition-heart-valve-replacement",
    "EventDefinition-example",
    "Questionnaire-zika-virus-exposure-assessment",
)
_NO_BASE_DEFINITION = "a logical model neither abstract nor with a baseDefinition (sdf-4)"
_LOCAL_INCLUDE_SYSTEM = "compose.include.system '#hacked' is not absolute (HL7's validator refuses it too)"
_SEARCH_PARAM_TYPE = "a searchParam whose type is not the official SearchParameter's"
REJECTED: dict[str, str] = {
    "Bundle-dataelements.json": "a collection whose entries share fullUrls (bdl-7)",
    "DeviceMetric-example.json": "parent refers to a DeviceDefinition; R4 allows only Device",
    "DeviceUseStatement-example.json": "reasonReference refers to a Procedure, which R4 does not allow there",
    "ImplementationGuide-fhir.json": "a manifest reference to SearchParameter/" + _LONG_ID,
    "ig-r4.json": "the same ImplementationGuide as ImplementationGuide-fhir.json",
    "MedicationRequest-medrx0301.json": "dispenseRequest.performer: a Practitioner, not an Organization",
    "Observation-clinical-gender.json": "performer refers to an Encounter, which R4 does not allow",
    "Questionnaire-qs1.json": "a nested item has no linkId (required 1..1)",
    "SearchParameter-codesystem-extensions-CodeSystem-author.json": _NO_BASE,
    "SearchParameter-codesystem-extensions-CodeSystem-effective.json": _NO_BASE,
    "SearchParameter-codesystem-extensions-CodeSystem-end.json": _NO_BASE,
    "SearchParameter-codesystem-extensions-CodeSystem-keyword.json": _NO_BASE,
    "SearchParameter-codesystem-extensions-CodeSystem-workflow.json": _NO_BASE,
    "SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json": _LONG_ID,
    "SearchParameter-valueset-extensions-ValueSet-author.json": _NO_BASE,
    "SearchParameter-valueset-extensions-ValueSet-effective.json": _NO_BASE,
    "SearchParameter-valueset-extensions-ValueSet-end.json": _NO_BASE,
    "SearchParameter-valueset-extensions-ValueSet-keyword.json": _NO_BASE,
    "SearchParameter-valueset-extensions-ValueSet-workflow.json": _NO_BASE,
    **{f"{name}.json": "an empty narrative div (txt-2)" for name in _EMPTY_NARRATIVE},
    "ValueSet-example-hierarchical.json": _LOCAL_INCLUDE_SYSTEM,
    "CapabilityStatement-knowledge-repository.json": _SEARCH_PARAM_TYPE,
    "CodeSystem-snomedct.json": "its properties share the placeholder URI 'http://.........?'",
    "CapabilityStatement-measure-processor.json": _SEARCH_PARAM_TYPE,
    "CapabilityStatement-terminology-server.json": _SEARCH_PARAM_TYPE,
    "SearchParameter-example-extension.json": "base Patient, its expression starts DocumentReference",
    "Bundle-hla-1.json": "a nested extension 'uri' that hla-genotyping-results-glstring does not define",
    "Bundle-valuesets.json": "holds ValueSet-example-hierarchical (" + _LOCAL_INCLUDE_SYSTEM + ")",
    **{
        f"StructureDefinition-{name}.json": _NO_BASE_DEFINITION
        for name in ("Definition", "Event", "FiveWs", "Request")
    },
}
"""Official examples the server refuses as invalid R4, by file name, with the reason (checked by hand)."""


def _canonical(value: Any) -> bytes:
    """JSON with sorted keys and every decimal written with its original text."""
    return orjson.dumps(value, default=_decimal_text, option=orjson.OPT_SORT_KEYS)


def _decimal_text(value: Any) -> Any:
    if isinstance(value, FhirDecimal):
        return orjson.Fragment(value.text)
    raise TypeError(type(value).__name__)


def _strip_server_meta(resource: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    meta.pop("versionId", None)
    meta.pop("lastUpdated", None)
    result = {key: value for key, value in resource.items() if key != "meta"}
    if meta:
        result["meta"] = meta
    return result


def _roundtrip(client: httpx.Client, path: Path) -> str | None:
    raw = path.read_bytes()
    sent = loads(raw)
    url = f"{sent['resourceType']}/{sent['id']}"
    put = client.put(url, content=raw, headers={"Content-Type": "application/fhir+json"})
    if put.status_code not in (200, 201):
        return f"{path.name}: PUT {put.status_code} {put.text[:300]}"
    got = client.get(url)
    if got.status_code != 200:
        return f"{path.name}: GET {got.status_code}"
    received = loads(got.content)
    if received["meta"]["versionId"] != put.json()["meta"]["versionId"]:
        return f"{path.name}: read a different version"
    if _canonical(_strip_server_meta(received)) != _canonical(_strip_server_meta(sent)):
        return f"{path.name}: read back differs from what was sent"
    return None


def test_every_official_example_roundtrips(server: Any, examples_dir: Path) -> None:
    files = sorted(p for p in examples_dir.glob("*.json") if p.name != "package.json")
    assert len(files) == 5306
    with httpx.Client(base_url=server.base + "/", timeout=300) as client, ThreadPoolExecutor(4) as pool:
        failures = [f for f in pool.map(lambda p: _roundtrip(client, p), files) if f is not None]
    unexpected = [f for f in failures if f.split(":")[0] not in REJECTED]
    print(
        f"\n{len(files)} official examples: {len(files) - len(failures)} round-tripped, "
        f"{len(failures)} rejected as listed"
    )
    assert unexpected == []
    assert len(failures) == len(REJECTED)
