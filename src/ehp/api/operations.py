"""The operations' definitions, as data: the routes name them, the CapabilityStatement lists them,
and EHP's own are served at ``/fhir/OperationDefinition/{id}``.

Operations HL7 defines keep their official canonical URL (``$validate``, ``$match``,
``$everything``, IPS ``$summary``); EHP's own are defined here, with their parameters as their
handlers read and answer them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ehp import __version__

EHP_CANONICAL = "http://ehp.kz/fhir/OperationDefinition"
OFFICIAL = {
    "validate": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
    "match": "http://hl7.org/fhir/OperationDefinition/Patient-match",
    "everything": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
    "summary": "http://hl7.org/fhir/uv/ips/OperationDefinition/summary",
    "export": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
}
"""Operations defined by HL7: their canonical URL, and EHP serves no copy of its own."""
OFFICIAL_ON_TYPE = {
    ("export", "Patient"): "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
    ("export", "Group"): "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export",
}
"""Official operations defined apart for one resource type (Bulk Data's three exports)."""


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    use: str
    min: int
    max: str
    type: str | None
    documentation: str
    parts: tuple[Param, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "use": self.use,
            "min": self.min,
            "max": self.max,
            "documentation": self.documentation,
        }
        if self.type is not None:
            data["type"] = self.type
        if self.parts:
            data["part"] = [part.to_json() for part in self.parts]
        return data


@dataclass(frozen=True, slots=True)
class Definition:
    """One of EHP's own operations."""

    id: str
    code: str
    title: str
    description: str
    resource: tuple[str, ...]
    system: bool
    type: bool
    instance: bool
    affects_state: bool
    parameters: tuple[Param, ...]

    @property
    def url(self) -> str:
        return f"{EHP_CANONICAL}/{self.id}"

    def to_json(self) -> dict[str, Any]:
        return {
            "resourceType": "OperationDefinition",
            "id": self.id,
            "url": self.url,
            "version": __version__,
            "name": self.id.replace("-", ""),
            "title": self.title,
            "status": "active",
            "kind": "operation",
            "publisher": "EHP",
            "description": self.description,
            "affectsState": self.affects_state,
            "code": self.code,
            **({"resource": list(self.resource)} if self.resource else {}),
            "system": self.system,
            "type": self.type,
            "instance": self.instance,
            "parameter": [parameter.to_json() for parameter in self.parameters],
        }


def _in(name: str, type_: str, documentation: str, minimum: int = 0, maximum: str = "1") -> Param:
    return Param(name, "in", minimum, maximum, type_, documentation)


def _out(
    name: str, type_: str | None, documentation: str, minimum: int = 0, maximum: str = "1", *parts: Param
) -> Param:
    return Param(name, "out", minimum, maximum, type_, documentation, parts)


_FIGURES = (
    _out("attached", "integer", "People attached now", 1),
    _out("withPassport", "integer", "Attached people with at least one record besides the Patient", 1),
    _out("recordsUpdated", "integer", "Records written on the day", 1),
)
_NOTIFICATIONS = _out(
    "notification", "Communication", "The notifications written (to the organisations concerned)", 0, "*"
)
_CHANGED = _out("changed", "boolean", "Whether anything was written", 1)

DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        "Patient-attach",
        "attach",
        "Attach a citizen to a polyclinic",
        "Attach the citizen to a primary-care organisation (a change of polyclinic when attached "
        "elsewhere, within the yearly limit). Run by the registry's administrators or the "
        "organisation's own system.",
        ("Patient",),
        system=False,
        type=False,
        instance=True,
        affects_state=True,
        parameters=(
            _in("organization", "Reference", "The primary-care Organization", 1),
            _in("reason", "code", "free-choice (default), change-of-residence or organization-closed"),
            _in("date", "date", "The day the attachment starts (default today)"),
            _out("attachment", "EpisodeOfCare", "The active attachment episode"),
            _out("ended", "EpisodeOfCare", "The attachment ended by this change"),
            _NOTIFICATIONS,
            _CHANGED,
        ),
    ),
    Definition(
        "Patient-detach",
        "detach",
        "End a citizen's attachment",
        "End the citizen's attachment (death, emigration).",
        ("Patient",),
        system=False,
        type=False,
        instance=True,
        affects_state=True,
        parameters=(
            _in("reason", "code", "death or emigration", 1),
            _in("date", "date", "The day the attachment ends (default today)"),
            _out("ended", "EpisodeOfCare", "The attachment ended"),
            _NOTIFICATIONS,
            _CHANGED,
        ),
    ),
    Definition(
        "Organization-attached",
        "attached",
        "An organisation's attached population",
        "The attachment episodes active now (or on date) with their Patients, as a searchset "
        "Bundle, of the people the caller may see.",
        ("Organization",),
        system=False,
        type=False,
        instance=True,
        affects_state=False,
        parameters=(
            _in("date", "date", "The day (default: the attachments active now)"),
            _in("_count", "integer", "Page size"),
            _out("return", "Bundle", "A searchset Bundle of EpisodeOfCare and the included Patients", 1),
        ),
    ),
    Definition(
        "coverage",
        "coverage",
        "Coverage of the population",
        "Attached people, people with a passport and records written on a day: for the whole "
        "country by region, or for one organisation or region (a department).",
        ("Organization",),
        system=True,
        type=False,
        instance=True,
        affects_state=False,
        parameters=(
            _in("date", "date", "The day whose records are counted (default today, UTC)"),
            _out("date", "date", "The day counted", 1),
            _out("total", None, "The figures of everything covered", 1, "1", *_FIGURES),
            _out(
                "region",
                None,
                "One per region",
                0,
                "*",
                _out("organization", "Reference", "The region's department", 1),
                *_FIGURES,
            ),
            _out(
                "organization",
                None,
                "One per organisation",
                0,
                "*",
                _out("organization", "Reference", "The organisation", 1),
                _out("region", "Reference", "Its region's department"),
                *_FIGURES,
            ),
        ),
    ),
    Definition(
        "Organization-duplicates",
        "duplicates",
        "Probable duplicate records",
        "Probable duplicate Patient records among an organisation's (or a region's) attached people, "
        "best first.",
        ("Organization",),
        system=False,
        type=False,
        instance=True,
        affects_state=False,
        parameters=(
            _in("grade", "code", "The lowest grade reported: certain, probable (default) or possible"),
            _in("count", "integer", "At most this many pairs (default 100, at most 1000)"),
            _out("checked", "integer", "Records examined", 1),
            _out(
                "pair",
                None,
                "One per duplicate pair",
                0,
                "*",
                _out("patient", "Reference", "The record", 1),
                _out("duplicate", "Reference", "Its probable duplicate", 1),
                _out("score", "decimal", "The match score", 1),
                _out("grade", "code", "certain, probable or possible", 1),
            ),
        ),
    ),
    Definition(
        "Patient-merge",
        "merge",
        "Merge a duplicate Patient record",
        "Merge source-patient into target-patient: every reference rewritten, the source retired, "
        "a Provenance written. Administrators only. preview=true computes all of it and writes nothing.",
        ("Patient",),
        system=False,
        type=True,
        instance=False,
        affects_state=True,
        parameters=(
            _in("source-patient", "Reference", "The duplicate record, retired", 1),
            _in("target-patient", "Reference", "The record kept", 1),
            _in("preview", "boolean", "Check and compute only (default false)"),
            _out("outcome", "OperationOutcome", "What was done", 1),
            _out("result", "Patient", "The target as it is (or would be) afterwards", 1),
            _out("source", "Patient", "The retired source", 1),
            _out("updated", "Reference", "Each other resource rewritten", 0, "*"),
            _out("provenance", "Reference", "The Provenance of the merge (not in a preview)"),
        ),
    ),
    Definition(
        "reindex",
        "reindex",
        "Put custom search parameters into effect",
        "Start a background job indexing every resource for the active custom SearchParameters "
        "(POST: 202 with Content-Location [base]/$reindex?job=ID; GET with job gives its progress; "
        "409 while another job runs).",
        ("Resource",),
        system=True,
        type=True,
        instance=False,
        affects_state=True,
        parameters=(
            _in("job", "string", "GET: the job whose progress is asked"),
            _out("return", "Parameters", "The job's state and progress", 1),
        ),
    ),
    Definition(
        "Patient-access-log",
        "access-log",
        "Who accessed a passport",
        "The AuditEvents about the patient from the hash-chained audit trail, newest first, each "
        "with a readable narrative. For the citizen, their representatives and administrators.",
        ("Patient",),
        system=False,
        type=False,
        instance=True,
        affects_state=False,
        parameters=(
            _in("_count", "integer", "At most this many (default 100, at most 1000)"),
            _out("return", "Bundle", "A collection Bundle of AuditEvents", 1),
        ),
    ),
    Definition(
        "Organization-break-glass-review",
        "break-glass-review",
        "Emergency accesses to review",
        "Every break-the-glass opened by someone working for the organisation, newest first. For "
        "its privacy officers, its own system and administrators.",
        ("Organization",),
        system=False,
        type=False,
        instance=True,
        affects_state=False,
        parameters=(
            _in("_count", "integer", "At most this many (default 100, at most 1000)"),
            _out("return", "Bundle", "A collection Bundle of AuditEvents (who, patient, reason, period)", 1),
        ),
    ),
)


def _job_definitions(kind: str, manifest: str, files: str) -> tuple[Definition, Definition]:
    """A bulk job's status (GET, DELETE) and file operations: one shape for export and import."""
    job = _in("_jobId", "string", "The job", 1)
    return (
        Definition(
            f"{kind}-poll-status",
            f"{kind}-poll-status",
            f"A bulk {kind}'s status",
            f"GET: 202 with X-Progress while the {kind} started by the caller runs, 200 with {manifest} "
            "when done; DELETE: cancel it (or delete its files). The kick-off's Content-Location names it.",
            (),
            system=True,
            type=False,
            instance=False,
            affects_state=True,
            parameters=(job,),
        ),
        Definition(
            f"{kind}-file",
            f"{kind}-file",
            f"A bulk {kind}'s file",
            files,
            (),
            system=True,
            type=False,
            instance=False,
            affects_state=False,
            parameters=(job, _in("file", "integer", "The file's number", 1)),
        ),
    )


BULK_DEFINITIONS: tuple[Definition, ...] = (
    *_job_definitions(
        "export",
        "the completion manifest",
        "One NDJSON file of a finished export started by the caller (the manifest's output urls).",
    ),
    Definition(
        "import",
        "import",
        "Bulk import of NDJSON files",
        "Start an import (Prefer: respond-async): inputFormat application/fhir+ndjson, optional "
        "inputSource, and one input per file (type, url: file:// inside the server's import "
        "directory, or http(s)://). Each resource is written as the caller's PUT, keeping its id; "
        "conditional references are resolved; refused resources go to the error file.",
        (),
        system=True,
        type=False,
        instance=False,
        affects_state=True,
        parameters=(
            _in("inputFormat", "code", "application/fhir+ndjson", 1),
            _in("inputSource", "uri", "Where the data come from"),
            Param(
                "input",
                "in",
                1,
                "*",
                None,
                "One file",
                (_in("type", "code", "Its resource type", 1), _in("url", "uri", "Where it is", 1)),
            ),
        ),
    ),
    *_job_definitions(
        "import",
        "the manifest (output per input with its count, error files)",
        "The NDJSON OperationOutcomes of what an import refused, one per resource or line.",
    ),
)
DEFINITIONS = DEFINITIONS + BULK_DEFINITIONS
BY_CODE = {definition.code: definition for definition in DEFINITIONS}
BY_ID = {definition.id: definition for definition in DEFINITIONS}


def definition_url(code: str, resource_type: str | None = None) -> str:
    """The canonical URL of an operation's definition (on ``resource_type``, when it has its own)."""
    own = OFFICIAL_ON_TYPE.get((code, resource_type or ""))
    if own is not None:
        return own
    if code in OFFICIAL:
        return OFFICIAL[code]
    return BY_CODE[code].url


def served_definition(definition_id: str) -> dict[str, Any] | None:
    """``OperationDefinition/{id}`` of one of EHP's own operations, or ``None``."""
    definition = BY_ID.get(definition_id)
    return definition.to_json() if definition is not None else None
