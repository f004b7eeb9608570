"""The generated country: valid resources and IINs, linked records, realistic figures, determinism."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest

from ehp.registry.attachment import END_REASON, START_REASON
from ehp.registry.geography import REGIONS, region_by_code, region_shares
from ehp.registry.iin import IIN_SYSTEM, iin_birth_date_and_sex, is_valid_iin
from ehp.synth.generator import BUNDLE_SIZE, SynthConfig, read_manifest, synthesize
from ehp.synth.names import transliterate
from ehp.synth.population import REFERENCE_DATE
from tests.synth.conftest import PEOPLE, Facts, age

# Bounds for 2,000 people; the real figures (2024) are in brackets.
CHILDREN_0_14 = (0.24, 0.33)  # [0.29]
ELDERLY_65 = (0.065, 0.115)  # [0.085]
FEMALE = (0.49, 0.535)  # [0.511]
DECEASED = (0.03, 0.08)  # share of the generated Patients who died since 2016 [about 0.055]
HYPERTENSION_ADULTS = (0.12, 0.22)  # diagnosed, under dispensary observation
DIABETES_ADULTS = (0.02, 0.055)  # type 2, diagnosed
REGION_TOLERANCE = 0.01  # absolute difference of each region's share


def test_every_resource_is_valid(country: Facts) -> None:
    assert country.invalid == []
    assert country.summary.people == PEOPLE == country.counts["Patient"]
    assert sum(country.counts.values()) == country.summary.resources
    expected = {
        "Organization",
        "Group",
        "Location",
        "Practitioner",
        "PractitionerRole",
        "Patient",
        "RelatedPerson",
    }
    expected |= {
        "EpisodeOfCare",
        "Encounter",
        "Condition",
        "Observation",
        "Immunization",
        "MedicationRequest",
    }
    assert set(country.counts) == expected


def test_every_reference_points_at_a_generated_resource(country: Facts) -> None:
    dangling = {reference for reference in country.references if reference not in country.ids}
    assert dangling == set()


def test_iins_are_valid_unique_and_match_birth_date_and_sex(country: Facts) -> None:
    iins = []
    for patient in country.patients.values():
        identifier = patient["identifier"][0]
        assert identifier["system"] == IIN_SYSTEM
        iin = identifier["value"]
        assert is_valid_iin(iin)
        assert iin_birth_date_and_sex(iin) == (date.fromisoformat(patient["birthDate"]), patient["gender"])
        iins.append(iin)
    iins += country.practitioner_iins
    assert all(is_valid_iin(iin) for iin in country.practitioner_iins)
    assert len(iins) == len(set(iins))


def test_ages_sexes_and_deaths_are_within_bounds(country: Facts) -> None:
    living = country.living()
    ages = [age(patient) for patient in living]
    assert CHILDREN_0_14[0] <= sum(a < 15 for a in ages) / len(ages) <= CHILDREN_0_14[1]
    assert ELDERLY_65[0] <= sum(a >= 65 for a in ages) / len(ages) <= ELDERLY_65[1]
    assert max(ages) <= 100
    assert FEMALE[0] <= sum(p["gender"] == "female" for p in living) / len(living) <= FEMALE[1]
    assert DECEASED[0] <= 1 - len(living) / len(country.patients) <= DECEASED[1]


def test_nothing_happens_after_death_or_the_reference_date(country: Facts) -> None:
    for patient_id, patient in country.patients.items():
        latest = country.latest[patient_id]
        assert latest < REFERENCE_DATE.isoformat()
        if "deceasedDateTime" in patient:
            assert latest[:10] <= patient["deceasedDateTime"][:10]
    ongoing = [e for e in country.encounters.values() if e["status"] == "in-progress"]
    assert all("end" not in encounter["period"] for encounter in ongoing)


def test_regional_shares_follow_the_published_populations(country: Facts) -> None:
    states = Counter(patient["address"][0]["state"] for patient in country.patients.values())
    for region, share in zip(REGIONS, region_shares(), strict=True):
        assert abs(states[region.name] / PEOPLE - share) <= REGION_TOLERANCE, region.code


def test_chronic_disease_prevalence_is_within_bounds(country: Facts) -> None:
    adults = [patient for patient in country.living() if age(patient) >= 18]
    for code, (low, high) in (("I10", HYPERTENSION_ADULTS), ("E11", DIABETES_ADULTS)):
        prevalence = sum(patient["id"] in country.diagnosed[code] for patient in adults) / len(adults)
        assert low <= prevalence <= high, code
    young = [patient for patient in adults if age(patient) < 40]
    old = [patient for patient in adults if age(patient) >= 60]
    for code in ("I10", "E11"):
        share = [
            sum(p["id"] in country.diagnosed[code] for p in group) / len(group) for group in (young, old)
        ]
        assert share[0] < share[1] / 3, f"{code} should rise steeply with age: {share}"


def test_attachment_history_is_continuous_and_current(country: Facts) -> None:
    movers = 0
    for patient_id, patient in country.patients.items():
        episodes = sorted(country.attachments[patient_id], key=lambda e: e["period"]["start"])
        assert episodes[0]["period"]["start"] == patient["birthDate"]
        for earlier, later in pairwise(episodes):
            assert earlier["status"] == "finished"
            assert earlier["period"]["end"] == later["period"]["start"]
            assert earlier["statusHistory"] == [{"status": "active", "period": earlier["period"]}]
            assert _reasons(earlier)[1] == "re-attachment" and _reasons(later)[0] == "change-of-residence"
        alive = "deceasedDateTime" not in patient
        assert (episodes[-1]["status"] == "active") == alive
        assert _reasons(episodes[-1])[1] == (None if alive else "death")
        for episode in episodes:
            polyclinic = country.organizations[episode["managingOrganization"]["reference"][13:]]
            assert polyclinic["type"][1]["coding"][0]["code"] == "polyclinic"
        if alive:
            assert patient["generalPractitioner"][0] == episodes[-1]["managingOrganization"]
        movers += len(episodes) > 1
        regions = {address["state"] for address in patient["address"]}
        if len(regions) > 1:
            assert [address["use"] for address in patient["address"][1:]] == ["old"] * (
                len(patient["address"]) - 1
            )
    assert movers >= PEOPLE * 0.05


def _reasons(episode: dict[str, Any]) -> tuple[str | None, str | None]:
    """Why an attachment began and ended (the registry's extensions)."""
    codes = {item["url"]: item["valueCoding"]["code"] for item in episode.get("extension", [])}
    return codes.get(START_REASON), codes.get(END_REASON)


def test_mothers_and_children_are_linked(country: Facts) -> None:
    by_iin = {patient["identifier"][0]["value"]: patient for patient in country.patients.values()}
    assert len(country.mothers) >= PEOPLE * 0.15
    for child_id, mother_iin in country.mothers:
        mother, child = by_iin[mother_iin], country.patients[child_id]
        assert mother["gender"] == "female"
        assert 15 <= age(mother, date.fromisoformat(child["birthDate"])) <= 46
        delivery = country.encounters[country.births_part_of[child_id]]
        assert delivery["subject"]["reference"] == f"Patient/{mother['id']}"
        assert delivery["period"]["start"][:10] == child["birthDate"]
        assert age(child) < 18


def test_the_network_covers_every_region(country: Facts) -> None:
    kinds = Counter(
        org["type"][1]["coding"][0]["code"] for org in country.organizations.values() if len(org["type"]) > 1
    )
    assert kinds["health-department"] == len(REGIONS)
    for kind in ("maternity", "ambulance", "laboratory"):
        assert kinds[kind] == len(REGIONS)
    assert kinds["polyclinic"] >= sum(len(region.districts) for region in REGIONS)
    departments = {f"Organization/{i}" for i, o in country.organizations.items() if "alias" in o}
    for org in country.organizations.values():
        if org["type"][0]["coding"][0]["code"] == "prov":
            assert org["partOf"]["reference"] in departments


def _digest(folder: Path) -> dict[str, str]:
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(folder.iterdir())}


@pytest.mark.parametrize("output", ["ndjson", "bundles"])
def test_the_same_seed_gives_the_same_bytes(output: str, tmp_path: Path) -> None:
    config = SynthConfig(people=150, seed=42)
    first = synthesize(config, tmp_path / "a", output, show_progress=False)
    synthesize(config, tmp_path / "b", output, show_progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    synthesize(SynthConfig(people=150, seed=43), tmp_path / "c", output, show_progress=False)
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")
    assert read_manifest(tmp_path / "a")["resources"] == first.resources


def test_bundles_hold_put_entries_with_fixed_uuids_a_person_together(tmp_path: Path) -> None:
    summary = synthesize(SynthConfig(people=120, seed=5), tmp_path, "bundles", show_progress=False)
    seen: set[str] = set()
    persons_split = 0
    for name in summary.files:
        for line in (tmp_path / name).read_bytes().splitlines():
            bundle = orjson.loads(line)
            assert bundle["type"] == "transaction"
            assert 0 < len(bundle["entry"]) <= BUNDLE_SIZE
            subjects = set()
            for entry in bundle["entry"]:
                resource = entry["resource"]
                url = f"{resource['resourceType']}/{resource['id']}"
                assert entry["request"] == {"method": "PUT", "url": url}
                assert entry["fullUrl"] == f"urn:uuid:{resource['id']}"
                assert url not in seen
                seen.add(url)
                subject = resource.get("subject") or resource.get("patient")
                if resource["resourceType"] == "Patient":
                    subjects.add(f"Patient/{resource['id']}")
                elif subject is not None and subject["reference"] not in subjects:
                    persons_split += 1  # the person's Patient is in an earlier Bundle (a large unit)
    assert len(seen) == summary.resources
    assert persons_split < summary.resources * 0.05


def test_a_region_alone(tmp_path: Path) -> None:
    summary = synthesize(
        SynthConfig(people=100, seed=3, regions=("ulytau",)), tmp_path, "ndjson", show_progress=False
    )
    ulytau = region_by_code("ulytau")
    for line in (tmp_path / "Patient.ndjson").read_bytes().splitlines():
        patient = orjson.loads(line)
        assert {address["state"] for address in patient["address"]} == {ulytau.name}
    departments = [
        orjson.loads(line)
        for line in (tmp_path / "Organization.ndjson").read_bytes().splitlines()
        if b"alias" in line
    ]
    assert [department["alias"] for department in departments] == [[ulytau.name_kk]]
    assert summary.people == 100


def test_names_have_a_latin_form() -> None:
    assert transliterate("Жұмабаев Әсел Нұрланқызы") == "Zhumabaev Asel Nurlankyzy"
    assert transliterate("Щербакова Юлия") == "Shcherbakova Iuliia"


def test_bad_configurations_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        SynthConfig(people=0)
    with pytest.raises(ValueError, match="unknown region atlantis"):
        SynthConfig(people=10, regions=("atlantis",))
    with pytest.raises(ValueError, match="unknown format"):
        synthesize(SynthConfig(people=10), tmp_path / "x", "xml", show_progress=False)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        synthesize(SynthConfig(people=10), tmp_path / "other", show_progress=False)
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="no generated set"):
        read_manifest(tmp_path / "other")
