"""``Patient/$match`` over HTTP: transliterations, typos, swapped dates, grades, bad input."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from ehp.registry.mpi import MATCH_GRADE
from ehp.registry.names import canonical
from ehp.synth.names import transliterate
from tests.registry.helpers import (
    FHIR_JSON,
    create,
    fresh_iin,
    issue,
    operation,
    parameters,
    patient,
    unique_family,
)


def match(fhir: httpx.Client, resource: dict[str, Any], **options: Any) -> httpx.Response:
    return operation(fhir, "Patient/$match", parameters(resource={"resource": resource}, **options))


def matched(response: httpx.Response) -> list[tuple[str, str, float]]:
    """(id, grade, score) of the matches, in order."""
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["type"] == "searchset"
    found = []
    for entry in bundle.get("entry", []):
        if entry["search"]["mode"] != "match":
            continue
        (extension,) = entry["search"]["extension"]
        assert extension["url"] == MATCH_GRADE
        found.append((entry["resource"]["id"], extension["valueCode"], entry["search"]["score"]))
    return found


def test_transliterations_and_russified_kazakh_letters_match(fhir: httpx.Client) -> None:
    family = unique_family()
    born = date(1979, 8, 21)
    stored = create(
        fhir, patient(family=family, given=("Нұрлан", "Серікұлы"), born=born, iin=fresh_iin(born, "male"))
    )
    latin = patient(family=transliterate(family), given=("Nurlan", "Serikovich"), born=born)
    russified = patient(
        family=family.replace("қ", "к").replace("ұ", "у").replace("ә", "а"), given=("Нурлан",), born=born
    )
    for query in (latin, russified):
        found = matched(match(fhir, query))
        assert found[0][:2] == (stored["id"], "probable"), found


def test_typos_and_a_swapped_day_and_month_are_probable(fhir: httpx.Client) -> None:
    family = unique_family("ова")
    born = date(1992, 4, 11)
    stored = create(fhir, patient(family=family, given=("Айгерім", "Маратқызы"), born=born, sex="female"))
    typo = family[:5] + family[6:]
    query = patient(family=typo, given=("Айгерим", "Маратовна"), born=date(1992, 11, 4), sex="female")
    assert matched(match(fhir, query))[0][:2] == (stored["id"], "probable")


def test_the_same_iin_is_certain_and_other_people_are_left_out(fhir: httpx.Client) -> None:
    family = unique_family()
    born = date(1958, 1, 30)
    iin = fresh_iin(born, "male")
    stored = create(fhir, patient(family=family, given=("Ерлан",), born=born, iin=iin))
    namesake = create(
        fhir,
        patient(
            family=family, given=("Ерлан",), born=date(1988, 3, 2), iin=fresh_iin(date(1988, 3, 2), "male")
        ),
    )
    found = matched(match(fhir, patient(family=family, given=("Yerlan",), born=born, iin=iin)))
    assert found[0] == (stored["id"], "certain", 1.0)
    assert namesake["id"] not in [item[0] for item in found], "same name, other birth date and IIN"


def test_only_certain_matches_and_count(fhir: httpx.Client) -> None:
    family = unique_family()
    born = date(1965, 7, 7)
    iin = fresh_iin(born, "female")
    stored = create(fhir, patient(family=family + "а", given=("Гүлнар",), born=born, iin=iin, sex="female"))
    for _ in range(3):
        create(fhir, patient(family=family + "а", given=("Гүлнар",), born=born, sex="female"))
    query = patient(family=family + "а", given=("Гульнар",), born=born, iin=iin, sex="female")
    assert [item[:2] for item in matched(match(fhir, query, onlyCertainMatches={"valueBoolean": True}))] == [
        (stored["id"], "certain")
    ]
    assert len(matched(match(fhir, query))) == 4
    assert len(matched(match(fhir, query, count={"valueInteger": 2}))) == 2
    without_iin = match(
        fhir,
        patient(family=family + "а", given=("Гүлнар",), born=born, sex="female"),
        onlyCertainMatches={"valueBoolean": True},
    )
    assert matched(without_iin) == []


def test_nobody_matches_gives_an_empty_searchset(fhir: httpx.Client) -> None:
    response = match(fhir, patient(family=unique_family(), given=("Бекзат",), born=date(2001, 2, 3)))
    assert matched(response) == [] and response.json()["total"] == 0


def test_bad_input(fhir: httpx.Client) -> None:
    no_resource = operation(fhir, "Patient/$match", parameters(count={"valueInteger": 3}))
    assert no_resource.status_code == 400
    assert issue(no_resource)["expression"] == ["Parameters.parameter.where(name='resource')"]
    wrong_type = match(fhir, {"resourceType": "Observation", "status": "final", "code": {"text": "x"}})
    assert wrong_type.status_code == 400
    assert match(fhir, {"resourceType": "Patient", "gender": "male"}).status_code == 400
    assert match(fhir, patient(), count={"valueInteger": 0}).status_code == 400
    invalid = match(fhir, patient() | {"birthDate": "14.06.1985"})
    assert invalid.status_code == 422
    not_patient = operation(fhir, "Observation/$match", parameters(resource={"resource": patient()}))
    assert not_patient.status_code == 404
    not_parameters = fhir.post("Patient/$match", json=patient(), headers=FHIR_JSON)
    assert not_parameters.status_code == 400


def test_folding_examples() -> None:
    assert canonical("Нұрлан Сейітқали") == canonical("Nurlan Seitkali") == canonical("Нурлан Сейткали")
    assert canonical("Жұмабаев") == canonical("Zhumabayev") == canonical("Jumabaev")
    assert canonical("Ахметова") == canonical("Akhmetova") == canonical("Ahmetova")
