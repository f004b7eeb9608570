"""The International Patient Summary as a FHIR ``document`` Bundle (``Patient/{id}/$summary``).

The Bundle has an identifier and a timestamp, the ``Composition`` first (LOINC 60591-5 "Patient
summary Document", its subject the Patient, its author the organisation managing the patient, or
this platform by name), then the Patient and every resource the sections list. Each section has
its LOINC code, a generated narrative (an XHTML table of what it lists) and its entries; a required
section with nothing to list says so in its narrative and with ``emptyReason`` ``unavailable``
(the platform holds no such information; it cannot assert that there is none).
"""

from __future__ import annotations

from html import escape
from typing import Any
from uuid import uuid4

from ehp.fhir.codes import LOINC
from ehp.passport.describe import care_date, concept_text, observation_value, what
from ehp.passport.summary import Section

Json = dict[str, Any]
XHTML = "http://www.w3.org/1999/xhtml"
EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
PLATFORM = "EHP national electronic health passport"


def details(resource: Json) -> str:
    """The second column of a narrative row: a value, a dose, a status."""
    kind = resource.get("resourceType")
    if kind == "Observation":
        return observation_value(resource)
    if kind == "Condition":
        return concept_text(resource.get("clinicalStatus"))
    if kind == "AllergyIntolerance":
        reactions = [
            concept_text(m) for r in resource.get("reaction", []) for m in r.get("manifestation", [])
        ]
        return ", ".join([str(resource.get("criticality", "")), *reactions]).strip(", ")
    if kind in ("MedicationRequest", "MedicationStatement"):
        dosage = resource.get("dosageInstruction") or resource.get("dosage") or [{}]
        return str(dosage[0].get("text", ""))
    if kind == "Immunization":
        doses = resource.get("protocolApplied") or [{}]
        dose = doses[0].get("doseNumberPositiveInt") or doses[0].get("doseNumberString")
        return f"dose {dose}" if dose else ""
    return str(resource.get("status", ""))


def narrative(section: Section) -> Json:
    if not section.resources:
        text = f"No information about {section.kind.title.lower()} is recorded in the passport."
        return {"status": "generated", "div": f'<div xmlns="{XHTML}"><p>{escape(text)}</p></div>'}
    rows = "".join(
        f"<tr><td>{escape(what(r))}</td><td>{escape(details(r))}</td><td>{escape(care_date(r)[:10])}</td></tr>"
        for r in section.resources
    )
    head = "<thead><tr><th>Item</th><th>Details</th><th>Date</th></tr></thead>"
    return {
        "status": "generated",
        "div": f'<div xmlns="{XHTML}"><table>{head}<tbody>{rows}</tbody></table></div>',
    }


def _section(section: Section) -> Json:
    kind = section.kind
    entry: Json = {
        "title": kind.title,
        "code": {"coding": [{"system": LOINC, "code": kind.code, "display": kind.title}]},
        "text": narrative(section),
    }
    if section.resources:
        entry["entry"] = [{"reference": f"{r['resourceType']}/{r['id']}"} for r in section.resources]
    else:
        entry["emptyReason"] = {
            "coding": [{"system": EMPTY_REASON, "code": "unavailable", "display": "Unavailable"}]
        }
    return entry


def _name(patient: Json) -> str:
    for name in patient.get("name", []):
        text = name.get("text") or " ".join([*name.get("given", []), name.get("family", "")]).strip()
        if text:
            return str(text)
    return f"Patient/{patient['id']}"


def document(
    patient: Json, sections: list[Section], by_reference: dict[str, Json], base: str, timestamp: str
) -> Json:
    """The IPS document of a patient; ``by_reference`` holds the record (``Type/id`` → resource)."""
    author_reference = patient.get("managingOrganization", {}).get("reference")
    author = by_reference.get(author_reference or "")
    composition_id = str(uuid4())
    composition: Json = {
        "resourceType": "Composition",
        "id": composition_id,
        "text": {
            "status": "generated",
            "div": f'<div xmlns="{XHTML}"><p>Patient summary of {escape(_name(patient))}, '
            f"made by the {PLATFORM} on {escape(timestamp)}.</p></div>",
        },
        "status": "final",
        "type": {"coding": [{"system": LOINC, "code": "60591-5", "display": "Patient summary Document"}]},
        "subject": {"reference": f"Patient/{patient['id']}", "display": _name(patient)},
        "date": timestamp,
        "author": [{"reference": author_reference} if author is not None else {"display": PLATFORM}],
        "title": f"International Patient Summary: {_name(patient)}",
        "confidentiality": "N",
        "section": [_section(section) for section in sections],
    }
    entries = [{"fullUrl": f"urn:uuid:{composition_id}", "resource": composition}]
    listed = [patient, *(r for section in sections for r in section.resources)]
    if author is not None:
        listed.append(author)
    seen: set[str] = set()
    for resource in listed:
        key = f"{resource['resourceType']}/{resource['id']}"
        if key not in seen:
            seen.add(key)
            entries.append({"fullUrl": f"{base}/{key}", "resource": resource})
    return {
        "resourceType": "Bundle",
        "id": str(uuid4()),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid4()}"},
        "type": "document",
        "timestamp": timestamp,
        "entry": entries,
    }
