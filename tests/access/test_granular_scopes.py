"""Granular SMART scopes (``patient/Observation.rs?code=...``): searches and reads of the type are
narrowed to the scope's search; every other way to the type's records is closed."""

from __future__ import annotations

from tests.access.conftest import World

HEART_RATE = "http://loinc.org|8867-4"
OTHER_CODE = "http://loinc.org|2339-0"


def _ids(bundle: dict[str, object]) -> list[str]:
    entries = bundle.get("entry") or []
    assert isinstance(entries, list)
    return sorted(
        entry["resource"]["id"] for entry in entries if entry["resource"]["resourceType"] == "Observation"
    )


def test_a_matching_granular_scope_reads_and_searches(world: World) -> None:
    with world.client(
        "Patient/pat-P", f"patient/Patient.rs patient/Observation.rs?code={HEART_RATE}"
    ) as citizen:
        assert citizen.get("Observation/obs-P").status_code == 200
        found = citizen.get("Observation", params={"patient": "Patient/pat-P"})
        assert found.status_code == 200 and "obs-P" in _ids(found.json())


def test_a_granular_scope_hides_what_its_search_does_not_find(world: World) -> None:
    with world.client(
        "Patient/pat-P", f"patient/Patient.rs patient/Observation.rs?code={OTHER_CODE}"
    ) as citizen:
        assert citizen.get("Observation/obs-P").status_code == 404
        found = citizen.get("Observation", params={"patient": "Patient/pat-P"})
        assert found.status_code == 200 and _ids(found.json()) == []
        assert found.json().get("total", 0) == 0
        everything = citizen.get("Patient/pat-P/$everything")
        assert everything.status_code == 200 and _ids(everything.json()) == []
        included = citizen.get("Patient", params={"_id": "pat-P", "_revinclude": "Observation:subject"})
        assert included.status_code == 403
        assert citizen.post("Observation/_search", data={"patient": "Patient/pat-P"}).status_code == 403
        assert citizen.get("Observation/obs-P/_history").status_code == 403


def test_granular_scopes_on_one_parameter_add_up(world: World) -> None:
    granular = f"patient/Observation.rs?code={OTHER_CODE} patient/Observation.rs?code={HEART_RATE}"
    scope = f"patient/Patient.rs {granular}"
    with world.client("Patient/pat-P", scope) as citizen:
        found = citizen.get("Observation", params={"patient": "Patient/pat-P"})
        assert found.status_code == 200 and "obs-P" in _ids(found.json())
