"""The IIN on writes: validity, agreement with birth date and sex, national uniqueness, and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ehp.registry.iin import IIN_SYSTEM, century_digit, iin_birth_date_and_sex, is_valid_iin, make_iin
from ehp.registry.iin_rule import iin_problem
from tests.registry.helpers import FHIR_JSON, create, fresh_iin, issue, patient

births = st.dates(min_value=date(1800, 1, 1), max_value=date(2099, 12, 31))
sexes = st.sampled_from(["male", "female"])
serials = st.integers(min_value=0, max_value=9999)


@given(births, sexes, serials)
def test_every_generated_iin_passes(born: date, sex: str, serial: int) -> None:
    iin = make_iin(born, sex, serial)  # type: ignore[arg-type]
    if iin is not None:
        assert iin_problem(iin) is None


@given(births, sexes, serials, st.integers(min_value=0, max_value=11), st.integers(min_value=1, max_value=9))
def test_a_single_digit_change_fails_or_changes_what_is_encoded_consistently(
    born: date, sex: str, serial: int, position: int, shift: int
) -> None:
    iin = make_iin(born, sex, serial)  # type: ignore[arg-type]
    if iin is None:
        return
    changed = iin[:position] + str((int(iin[position]) + shift) % 10) + iin[position + 1 :]
    if iin_problem(changed) is not None:
        assert not is_valid_iin(changed)
        return
    # Still valid: what it encodes is exactly what its digits say, and only the changed part moved.
    new_born, new_sex = iin_birth_date_and_sex(changed)
    assert f"{new_born:%y%m%d}{century_digit(new_born, new_sex)}" == changed[:7]
    if position >= 7:
        assert (new_born, new_sex) == (born, sex)
        assert position < 11, "a change of the check digit never passes"
    else:
        assert (new_born, new_sex) != (born, sex)


def test_the_eleventh_digit_escapes_the_first_check_sum() -> None:
    """A known weakness of the algorithm (its 11th weight is 11 ≡ 0 mod 11): the matcher must not
    take two IINs one digit apart for two different people without looking further."""
    iin = "860330400158"
    assert is_valid_iin(iin) and is_valid_iin("860330400168")


@pytest.mark.parametrize(
    ("iin", "problem"),
    [
        ("86033040015", "12 digits"),
        ("86033040015a", "12 digits"),
        ("８６０３３０４００１５８", "12 digits"),
        ("860330400159", "check digit"),
        ("861330400158", "birth date"),
        ("860330700158", "birth date"),
    ],
)
def test_known_bad_iins_say_why(iin: str, problem: str) -> None:
    assert problem in (iin_problem(iin) or "")


@pytest.mark.parametrize(
    ("iin", "born", "sex"),
    [
        ("860330400158", date(1986, 3, 30), "female"),
        ("900101400404", date(1990, 1, 1), "female"),
        ("000101500011", date(2000, 1, 1), "male"),
        ("551231323458", date(1955, 12, 31), "male"),
    ],
)
def test_real_format_examples(iin: str, born: date, sex: str) -> None:
    assert iin_problem(iin) is None
    assert iin_birth_date_and_sex(iin) == (born, sex)


def test_a_patient_with_an_invalid_iin_is_refused_at_the_value(fhir: httpx.Client) -> None:
    refused = fhir.post("Patient", json=patient(iin="860330400159"), headers=FHIR_JSON)
    assert refused.status_code == 422
    assert issue(refused)["expression"] == ["Patient.identifier[0].value"]
    assert "check digit" in issue(refused)["diagnostics"]


def test_birth_date_and_gender_must_agree(fhir: httpx.Client) -> None:
    iin = fresh_iin(date(1985, 6, 14), "male")
    wrong_date = fhir.post("Patient", json=patient(iin=iin, born=date(1985, 6, 15)), headers=FHIR_JSON)
    assert wrong_date.status_code == 422
    assert issue(wrong_date)["expression"] == ["Patient.birthDate"]
    wrong_sex = fhir.post("Patient", json=patient(iin=iin, sex="female"), headers=FHIR_JSON)
    assert wrong_sex.status_code == 422
    assert issue(wrong_sex)["expression"] == ["Patient.gender"]
    assert fhir.get("Patient", params={"identifier": f"{IIN_SYSTEM}|{iin}"}).json().get("entry", []) == []
    partial = create(fhir, patient(iin=iin, born=None) | {"birthDate": "1985-06"})
    assert partial["birthDate"] == "1985-06"


def test_birth_date_and_gender_are_filled_from_the_iin(fhir: httpx.Client) -> None:
    iin = fresh_iin(date(2003, 11, 2), "female")
    created = create(fhir, patient(family="Сәрсенбаева", iin=iin, born=None, sex=None))
    assert created["birthDate"] == "2003-11-02"
    assert created["gender"] == "female"
    found = fhir.get("Patient", params={"birthdate": "2003-11-02", "identifier": f"{IIN_SYSTEM}|{iin}"})
    assert len(found.json()["entry"]) == 1, "the filled elements are indexed"


def test_an_iin_is_unique_nationally(fhir: httpx.Client) -> None:
    iin = fresh_iin(date(1970, 2, 3), "female")
    first = create(fhir, patient(family="Омарова", iin=iin, born=None, sex=None))
    second = fhir.post(
        "Patient", json=patient(family="Омарова", iin=iin, born=None, sex=None), headers=FHIR_JSON
    )
    assert second.status_code == 409
    # the conflict names the IIN, not the holder's id: the caller may have no basis to know of it
    assert first["id"] not in issue(second)["diagnostics"]
    assert iin in issue(second)["diagnostics"]
    again = first | {"name": [{"family": "Омарова", "given": ["Әсел"]}]}
    updated = fhir.put(f"Patient/{first['id']}", json=again, headers=FHIR_JSON)
    assert updated.status_code == 200, "a record's own IIN is no conflict"


def test_two_patients_with_one_iin_in_a_transaction_are_refused(fhir: httpx.Client) -> None:
    iin = fresh_iin(date(1999, 9, 9), "male")
    entries = [
        {"resource": patient(iin=iin, born=None), "request": {"method": "POST", "url": "Patient"}}
        for _ in range(2)
    ]
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    refused = fhir.post("", json=bundle, headers=FHIR_JSON)
    assert refused.status_code == 409
    assert fhir.get("Patient", params={"identifier": f"{IIN_SYSTEM}|{iin}"}).json().get("entry", []) == []


def test_concurrent_creates_of_one_iin_make_one_patient(fhir: httpx.Client) -> None:
    iin = fresh_iin(date(1961, 4, 12), "male")

    def post(_: int) -> int:
        return fhir.post("Patient", json=patient(iin=iin, born=None), headers=FHIR_JSON).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(post, range(8)))
    assert sorted(statuses) == [201] + [409] * 7
    assert len(fhir.get("Patient", params={"identifier": f"{IIN_SYSTEM}|{iin}"}).json()["entry"]) == 1


def test_practitioners_follow_the_same_rules(fhir: httpx.Client) -> None:
    iin = fresh_iin(date(1975, 1, 20), "female")
    doctor: dict[str, Any] = {
        "resourceType": "Practitioner",
        "identifier": [{"system": IIN_SYSTEM, "value": iin}],
        "name": [{"family": "Ким", "given": ["Елена"]}],
    }
    created = create(fhir, doctor)
    assert (created["gender"], created["birthDate"]) == ("female", "1975-01-20")
    assert fhir.post("Practitioner", json=doctor, headers=FHIR_JSON).status_code == 409
    assert create(fhir, patient(iin=iin, born=None, sex=None))["gender"] == "female", (
        "a doctor is a patient too"
    )


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ehp.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_cli_checks_generates_and_names_the_system() -> None:
    valid = run_cli("iin", "check", "860330400158")
    assert valid.returncode == 0 and "1986-03-30" in valid.stdout and "female" in valid.stdout
    invalid = run_cli("iin", "check", "860330400159")
    assert invalid.returncode == 1 and "check digit" in invalid.stderr
    made = run_cli("iin", "generate", "--birth-date", "1990-05-03", "--sex", "female", "--count", "5")
    iins = made.stdout.split()
    assert made.returncode == 0 and len(set(iins)) == 5
    assert all(iin_birth_date_and_sex(iin) == (date(1990, 5, 3), "female") for iin in iins)
    assert (
        run_cli("iin", "generate", "--count", "3", "--seed", "7").stdout
        == run_cli("iin", "generate", "--count", "3", "--seed", "7").stdout
    )
    assert run_cli("iin", "generate", "--birth-date", "2100-01-01").returncode != 0
    assert run_cli("iin", "system").stdout.strip() == IIN_SYSTEM
    assert (
        run_cli("iin", "system", env={"EHP_IIN_SYSTEM": "urn:oid:1.2.398.7"}).stdout.strip()
        == "urn:oid:1.2.398.7"
    )
