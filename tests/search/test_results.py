"""Search results over real HTTP on SQLite and PostgreSQL: includes, sorting, paging, totals,
``_summary``/``_elements``, handling of unknown parameters and errors, the CapabilityStatement.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.search.conftest import ids

PETER_OBSERVATIONS = {"Observation/obs-bp", "Observation/obs-glucose"}


def _get(client: httpx.Client, query: str, **headers: str) -> dict[str, Any]:
    response = client.get(query, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _link(bundle: dict[str, Any], relation: str) -> str | None:
    return next((link["url"] for link in bundle["link"] if link["relation"] == relation), None)


def _pages(client: httpx.Client, query: str) -> list[list[str]]:
    """Every page of a search, following the next links."""
    pages = []
    bundle = _get(client, query)
    while True:
        pages.append(ids(bundle))
        url = _link(bundle, "next")
        if url is None:
            return pages
        bundle = _get(client, url)


# --- includes ------------------------------------------------------------------------------------

INCLUDES: list[tuple[str, set[str], set[str]]] = [
    ("Observation?_id=obs-bp&_include=Observation:subject", {"Observation/obs-bp"}, {"Patient/pat-peter"}),
    (
        "Observation?_id=obs-bp&_include=Observation:performer:Practitioner",
        {"Observation/obs-bp"},
        {"Practitioner/pr-joe"},
    ),
    ("Observation?_id=obs-bp&_include=Observation:performer:Organization", {"Observation/obs-bp"}, set()),
    (
        "Observation?_id=obs-bp&_include=*",
        {"Observation/obs-bp"},
        {"Patient/pat-peter", "Practitioner/pr-joe", "Encounter/enc-1"},
    ),
    (
        "MedicationRequest?_include=MedicationRequest:medication&_include:iterate=Medication:manufacturer",
        {"MedicationRequest/medrx-1"},
        {"Medication/med-1", "Organization/org-acme"},
    ),
    (
        "MedicationRequest?_include=MedicationRequest:medication&_include=Medication:manufacturer",
        {"MedicationRequest/medrx-1"},
        {"Medication/med-1"},
    ),
    (
        "Observation?_id=obs-glucose&_revinclude=Provenance:target",
        {"Observation/obs-glucose"},
        {"Provenance/prov-1"},
    ),
    ("Condition?code=44054006&_revinclude=Encounter:diagnosis", {"Condition/cond-1"}, {"Encounter/enc-1"}),
    (
        "Patient?_id=pat-peter&_revinclude=Observation:subject&_revinclude:iterate=Provenance:target",
        {"Patient/pat-peter"},
        PETER_OBSERVATIONS | {"Provenance/prov-1"},
    ),
    (
        "Organization?_id=org-acme&_revinclude=*",
        {"Organization/org-acme"},
        {"Patient/pat-peter", "Medication/med-1", "AuditEvent/audit-1"},
    ),
    (
        "Observation?code=85354-9&_include=Observation:subject&_revinclude=DiagnosticReport:result",
        {"Observation/obs-bp"},
        {"Patient/pat-peter", "DiagnosticReport/report-1"},
    ),
]


@pytest.mark.parametrize(("query", "matches", "included"), INCLUDES, ids=[q for q, _, _ in INCLUDES])
def test_includes(search_fhir: httpx.Client, query: str, matches: set[str], included: set[str]) -> None:
    bundle = _get(search_fhir, query)
    assert set(ids(bundle)) == matches
    found = ids(bundle, "include")
    assert len(found) == len(set(found))
    assert set(found) == included
    assert bundle["total"] == len(matches)  # included resources are not counted


def test_include_errors_name_the_parameter(search_fhir: httpx.Client) -> None:
    for query, parameter in [
        ("Observation?_include=Observation:nope", "_include"),
        ("Observation?_include=Nope:subject", "_include"),
        ("Observation?_revinclude=Provenance:target:Nope", "_revinclude"),
    ]:
        response = search_fhir.get(query)
        assert response.status_code == 400, query
        assert response.json()["issue"][0]["expression"] == [parameter]


# --- sorting and paging --------------------------------------------------------------------------

SORTS: list[tuple[str, list[str]]] = [
    (
        "Patient?_sort=birthdate",
        ["pat-eve", "pat-peter", "pat-aliya", "pat-evelyn", "pat-unknown"],  # missing values last
    ),
    ("Patient?_sort=-birthdate", ["pat-evelyn", "pat-aliya", "pat-peter", "pat-eve", "pat-unknown"]),
    ("Patient?_sort=gender,-birthdate", ["pat-evelyn", "pat-aliya", "pat-eve", "pat-peter", "pat-unknown"]),
    ("Patient?_sort=family", ["pat-peter", "pat-eve", "pat-evelyn", "pat-aliya", "pat-unknown"]),
    ("Patient?_sort=-_id", ["pat-unknown", "pat-peter", "pat-evelyn", "pat-eve", "pat-aliya"]),
    ("Encounter?patient=pat-peter&_sort=-date", ["enc-2", "enc-4", "enc-3", "enc-1"]),
    ("Encounter?patient=pat-peter&_sort=date", ["enc-3", "enc-1", "enc-2", "enc-4"]),
    ("RiskAssessment?_sort=-probability", ["risk-11", "risk-10", "risk-10-4", "risk-9-4", "risk-range"]),
    ("Encounter?_sort=status,-date", ["enc-5", "enc-3", "enc-1", "enc-2", "enc-4"]),
]


@pytest.mark.parametrize(("query", "order"), SORTS, ids=[q for q, _ in SORTS])
def test_sort_and_page_through_it(search_fhir: httpx.Client, query: str, order: list[str]) -> None:
    whole = [name.split("/")[1] for name in ids(_get(search_fhir, query))]
    assert whole == order
    for count in (1, 2, 3):
        pages = _pages(search_fhir, f"{query}&_count={count}")
        assert [name.split("/")[1] for page in pages for name in page] == order
        assert all(len(page) == count for page in pages[:-1])


def test_previous_links_walk_back(search_fhir: httpx.Client) -> None:
    query = "Patient?_sort=-birthdate&_count=2"
    forward = [_get(search_fhir, query)]
    while _link(forward[-1], "next"):
        forward.append(_get(search_fhir, str(_link(forward[-1], "next"))))
    assert _link(forward[0], "previous") is None
    backward = [forward[-1]]
    while _link(backward[-1], "previous"):
        backward.append(_get(search_fhir, str(_link(backward[-1], "previous"))))
    assert [ids(page) for page in reversed(backward)] == [ids(page) for page in forward]
    again = _get(search_fhir, str(_link(backward[-1], "next")))
    assert ids(again) == ids(forward[1])


def test_paging_is_stable_while_others_write(search_fhir: httpx.Client) -> None:
    """A resource written between two pages that sorts before the boundary is neither repeated nor
    makes the next page skip one."""
    query = "Organization?_sort=name&_count=1"
    first = _get(search_fhir, query)
    assert ids(first) == ["Organization/org-acme"]
    created = search_fhir.put(
        "Organization/org-aaa", json={"resourceType": "Organization", "id": "org-aaa", "name": "Aaa"}
    )
    assert created.status_code == 201
    try:
        second = _get(search_fhir, str(_link(first, "next")))
        assert ids(second) == ["Organization/org-other"]
        assert _link(second, "next") is None
    finally:
        search_fhir.delete("Organization/org-aaa")


def test_unsorted_pages_cover_everything_once(search_fhir: httpx.Client) -> None:
    whole = ids(_get(search_fhir, "Observation?_count=100"))
    pages = _pages(search_fhir, "Observation?_count=3")
    assert [name for page in pages for name in page] == whole
    assert len(whole) == len(set(whole)) == 9


def test_sort_errors(search_fhir: httpx.Client) -> None:
    for query in ("Patient?_sort=nope", "Observation?_sort=code-value-quantity", "Patient?_cursor=garbage"):
        response = search_fhir.get(query)
        assert response.status_code == 400, query


# --- totals, counts, links -----------------------------------------------------------------------


def test_totals(search_fhir: httpx.Client) -> None:
    assert "total" not in _get(search_fhir, "Observation?_count=2")
    assert _get(search_fhir, "Observation?_count=2&_total=accurate")["total"] == 9
    assert _get(search_fhir, "Observation?_count=2&_total=estimate")["total"] == 9
    assert "total" not in _get(search_fhir, "Observation?_total=none")
    counted = _get(search_fhir, "Observation?code=15074-8&_summary=count")
    assert counted["total"] == 3 and counted["entry"] == []
    assert _get(search_fhir, "Observation?_count=0")["total"] == 9
    assert search_fhir.get("Observation?_total=maybe").status_code == 400


def test_links_keep_the_used_parameters(search_fhir: httpx.Client) -> None:
    bundle = _get(search_fhir, "Patient?gender=female&_sort=birthdate&_count=1&nope=1")
    self_link = str(_link(bundle, "self"))
    assert "gender=female" in self_link and "_sort=birthdate" in self_link and "nope" not in self_link
    following = _get(search_fhir, str(_link(bundle, "next")))
    assert ids(following) == ["Patient/pat-aliya"]
    system = _get(search_fhir, "?_type=Patient&_count=1")
    assert "_type=Patient" in str(_link(system, "next"))


# --- _summary and _elements ----------------------------------------------------------------------


def _only(bundle: dict[str, Any]) -> dict[str, Any]:
    [entry] = [entry for entry in bundle["entry"] if entry["search"]["mode"] == "match"]
    resource: dict[str, Any] = entry["resource"]
    return resource


def _subsetted(resource: dict[str, Any]) -> bool:
    return any(tag.get("code") == "SUBSETTED" for tag in resource["meta"].get("tag", []))


def test_summary_true_keeps_the_summary_elements(search_fhir: httpx.Client) -> None:
    patient = _only(_get(search_fhir, "Patient?_id=pat-peter&_summary=true"))
    assert _subsetted(patient)
    assert {"identifier", "name", "gender", "birthDate", "active", "telecom"} <= patient.keys()
    assert "text" not in patient
    assert {tag["code"] for tag in patient["meta"]["tag"]} == {"search", "SUBSETTED"}
    observation = _only(_get(search_fhir, "Observation?_id=obs-bp&_summary=true"))
    assert "component" in observation and "valueQuantity" in observation["component"][0]
    whole = _only(_get(search_fhir, "Observation?_id=obs-bp"))
    assert not _subsetted(whole)


def test_summary_text_data_and_elements(search_fhir: httpx.Client) -> None:
    text = _only(_get(search_fhir, "Patient?_id=pat-peter&_summary=text"))
    assert set(text) == {"resourceType", "id", "meta", "text"}
    data = _only(_get(search_fhir, "Patient?_id=pat-peter&_summary=data"))
    assert "text" not in data and "name" in data and _subsetted(data)
    observation = _only(_get(search_fhir, "Observation?_id=obs-glucose&_elements=value,subject"))
    assert set(observation) == {"resourceType", "id", "meta", "valueQuantity", "subject", "status", "code"}
    assert _subsetted(observation)
    assert search_fhir.get("Patient?_summary=maybe").status_code == 400
    assert search_fhir.get("Patient?_summary=true&_elements=name").status_code == 400


# --- unknown parameters and malformed values -----------------------------------------------------


def test_unknown_parameters_are_ignored_and_reported(search_fhir: httpx.Client) -> None:
    bundle = _get(search_fhir, "Patient?gender=male&nope=1&near=1|2|3&_list=x")
    assert ids(bundle) == ["Patient/pat-peter"]
    [outcome] = [entry["resource"] for entry in bundle["entry"] if entry["search"]["mode"] == "outcome"]
    reported = " ".join(issue["diagnostics"] for issue in outcome["issue"])
    assert "'nope'" in reported and "'near'" in reported and "'_list'" in reported
    quiet = _get(search_fhir, "Patient?gender=male&_contained=false&_format=json")
    assert [entry["search"]["mode"] for entry in quiet["entry"]] == ["match"]


def test_strict_handling_refuses_unknown_parameters(search_fhir: httpx.Client) -> None:
    for query, parameter in [("Patient?nope=1", "nope"), ("Patient?subject.name=x", "subject.name")]:
        response = search_fhir.get(query, headers={"Prefer": "handling=strict"})
        assert response.status_code == 400
        assert response.json()["issue"][0]["expression"] == [parameter]
    assert search_fhir.get("Patient?gender=male", headers={"Prefer": "handling=strict"}).status_code == 200


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("Patient?birthdate=someday", "birthdate"),
        ("Patient?birthdate=2020-13", "birthdate"),
        ("RiskAssessment?probability=abc", "probability"),
        ("Observation?value-quantity=x|y|z", "value-quantity"),
        ("Patient?gender:below=male", "gender:below"),
        ("Patient?name:missing=maybe", "name:missing"),
        ("Patient?identifier:of-type=MR|2345", "identifier:of-type"),
        ("Observation?component-code-value-quantity=8480-6", "component-code-value-quantity"),
        ("Observation?subject=Patient/a/b", "subject"),
        ("Observation?subject:Nope=1", "subject:Nope"),
        ("Observation?code.name=x", "code.name"),
        ("Patient?_has:Nope:patient:code=1", "_has:Nope:patient:code"),
        ("Patient?_has:Observation:code:code=1", "_has:Observation:code:code"),
        ("Patient?_count=many", "_count"),
        ("?_type=Nope", "_type"),
        ("Patient?_text=,,,", "_text"),
    ],
)
def test_malformed_values_are_400_naming_the_parameter(
    search_fhir: httpx.Client, query: str, parameter: str
) -> None:
    response = search_fhir.get(query)
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == [parameter]


def test_compartment_errors(search_fhir: httpx.Client) -> None:
    assert search_fhir.get("Observation/obs-bp/Patient").status_code == 404
    assert search_fhir.get("Patient/pat-peter/Nope").status_code == 404
    assert search_fhir.get("Patient/pat-peter/ValueSet").status_code == 400


# --- CapabilityStatement -------------------------------------------------------------------------


def test_capability_statement_lists_search(search_fhir: httpx.Client) -> None:
    statement = _get(search_fhir, "metadata")
    rest = statement["rest"][0]
    assert {"search-system", "transaction"} <= {i["code"] for i in rest["interaction"]}
    assert "http://hl7.org/fhir/CompartmentDefinition/patient" in rest["compartment"]
    observation = next(r for r in rest["resource"] if r["type"] == "Observation")
    params = {p["name"]: p for p in observation["searchParam"]}
    assert {
        "code",
        "subject",
        "component-code-value-quantity",
        "_text",
        "_content",
        "_id",
        "_lastUpdated",
    } <= set(params)
    assert ":not" in params["code"]["documentation"] and ":of-type" in params["code"]["documentation"]
    assert "prefixes" in params["date"]["documentation"]
    assert "Observation:subject" in observation["searchInclude"]
    assert "Provenance:target" in observation["searchRevInclude"]
    location = next(r for r in rest["resource"] if r["type"] == "Location")
    assert "near" not in {p["name"] for p in location["searchParam"]}
