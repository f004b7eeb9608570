"""Bad input is a 4xx OperationOutcome and writes nothing (both databases, over HTTP)."""

from __future__ import annotations

import httpx
import pytest

CONTROL_CHARACTERS = ["\x00", "\x01", "\x1b", "\x0b"]


@pytest.mark.parametrize("character", CONTROL_CHARACTERS, ids=[f"U+{ord(c):04X}" for c in CONTROL_CHARACTERS])
def test_a_control_character_in_a_string_is_refused_and_nothing_stored(
    fhir: httpx.Client, character: str
) -> None:
    family = f"nul{ord(character)}{character}test"
    answer = fhir.post("Patient", json={"resourceType": "Patient", "name": [{"family": family}]})
    assert answer.status_code == 422, answer.text
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "control character" in outcome["issue"][0]["diagnostics"]
    found = fhir.get("Patient", params={"family": f"nul{ord(character)}"})
    assert found.status_code == 200
    assert found.json().get("entry", []) == [], "nothing was written"


def test_tabs_and_line_breaks_are_content(fhir: httpx.Client) -> None:
    answer = fhir.post(
        "Patient", json={"resourceType": "Patient", "name": [{"text": "Айгерім\tСәрсенова\r\nдочь"}]}
    )
    assert answer.status_code == 201, answer.text


def test_a_patient_with_a_million_identifiers_is_refused_at_once(fhir: httpx.Client) -> None:
    """Once 50 MB stored and a million index rows written while every other writer waited."""
    import time

    identifiers = [{"system": "urn:x", "value": str(i)} for i in range(1_000_000)]
    started = time.monotonic()
    answer = fhir.post("Patient", json={"resourceType": "Patient", "identifier": identifiers})
    assert answer.status_code == 422, answer.text[:300]
    assert answer.json()["issue"][0]["code"] == "too-costly"
    assert time.monotonic() - started < 30


def test_a_string_over_a_mebibyte_is_refused(fhir: httpx.Client) -> None:
    answer = fhir.post(
        "Patient", json={"resourceType": "Patient", "name": [{"text": "x" * (1024 * 1024 + 1)}]}
    )
    assert answer.status_code == 422, answer.text[:300]
    assert answer.json()["issue"][0]["code"] == "too-costly"
