"""The committed compartment table is what its script derives from the official package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ehp.fhir.package import examples_package_dir
from ehp.search.compartments import compartment_types, compartment_url, members

ROOT = Path(__file__).resolve().parents[2]


def test_committed_compartments_match_the_derivation_script() -> None:
    spec = importlib.util.spec_from_file_location(
        "derive_compartments", ROOT / "scripts" / "derive_compartments.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    committed = (ROOT / "src" / "ehp" / "index" / "definitions" / "compartments.json.gz").read_bytes()
    assert script.build_table(examples_package_dir()) == committed


def test_patient_compartment() -> None:
    assert compartment_types() == ("Device", "Encounter", "Patient", "Practitioner", "RelatedPerson")
    assert compartment_url("Patient") == "http://hl7.org/fhir/CompartmentDefinition/patient"
    assert members("Patient")["Observation"] == ["subject", "performer"]
    assert "ValueSet" not in members("Patient")
    assert members("Practitioner")["Practitioner"] == ["{def}"]
