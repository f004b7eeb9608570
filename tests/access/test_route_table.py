"""The authorization test generated from the route table (``ehp.server.routes.build_routes``).

Every route of the table, sent as a REST call and as an entry of a batch Bundle, by every kind of
caller, about a patient the caller may and may not see: no answer may hold or count a patient's
data the caller has no basis for (resources, references, ``total``, the pages behind ``next``),
the types it holds must be within the token's scopes, a refusal must read the same whether the
thing exists or not, and every disclosure must have its record in that patient's audit log.

A route that declares no access policy, or that this module has no probe for, fails the test:
adding a route means saying who may call it and showing that it keeps to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from ehp.access.route_policy import RoutePolicy
from ehp.api.routing import Route
from ehp.server.routes import build_routes
from tests.access.conftest import World, observation

PATIENT_REFERENCE = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]+)$")
HIDDEN = "obs-P-psy"
"""P's record closed to every worker by P's consent (PSY label)."""
MISSING = "pat-none"


@dataclass(frozen=True)
class Caller:
    name: str
    subject: str | None
    scope: str
    patients: frozenset[str]
    sees_hidden: bool = False
    types: frozenset[str] | None = None
    """The resource types the token may receive (``None``: any)."""
    administrator: bool = False
    system_of: str | None = None


CITIZEN = "patient/*.rs patient/Consent.cud"
CALLERS = [
    Caller("no token", None, "", frozenset()),
    Caller("doctor with a basis", "Practitioner/doc-A", "user/*.cruds", frozenset({"P", "K"})),
    Caller("doctor without a basis", "Practitioner/doc-B", "user/*.cruds", frozenset({"M", "Q"})),
    Caller("citizen on self", "Patient/pat-P", CITIZEN, frozenset({"P"}), sees_hidden=True),
    Caller(
        "citizen on self, Patient scope only",
        "Patient/pat-P",
        "patient/Patient.rs",
        frozenset({"P"}),
        sees_hidden=True,
        types=frozenset({"Patient"}),
    ),
    Caller("citizen on another, representative after it ended", "Patient/pat-Q", CITIZEN, frozenset({"Q"})),
    Caller("representative during representation", "Patient/pat-M", CITIZEN, frozenset({"M", "K"})),
    Caller("clinic system", "Organization/org-A", "system/*.cruds", frozenset({"P", "K"}), system_of="org-A"),
    Caller(
        "administrator",
        "admin",
        "system/*.cruds",
        frozenset({"P", "K", "M", "Q"}),
        sees_hidden=True,
        administrator=True,
    ),
]
ENVELOPES = frozenset({"Bundle", "Parameters", "OperationOutcome"})


@dataclass(frozen=True)
class Probe:
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    form: dict[str, str] | None = None
    content_type: str | None = None

    @property
    def instance(self) -> bool:
        """Whether the path names a patient's record (a refusal must then read as 'not found')."""
        return "{patient}" in self.path or "{obs}" in self.path

    def concrete(self, patient: str, caller: Caller) -> Probe:
        def fill(text: str) -> str:
            return text.format(patient=f"pat-{patient}", obs=f"obs-{patient}", caller=_slug(caller.name))

        return Probe(
            self.method,
            fill(self.path),
            {key: fill(value) for key, value in self.params.items()},
            _fill_body(self.body, fill),
            {key: fill(value) for key, value in self.form.items()} if self.form else None,
            self.content_type,
        )


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]


def _fill_body(body: Any, fill: Any) -> Any:
    if isinstance(body, str):
        return fill(body)
    if isinstance(body, list):
        return [_fill_body(item, fill) for item in body]
    if isinstance(body, dict):
        return {key: _fill_body(value, fill) for key, value in body.items()}
    return body


def _parameters(*parameters: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(parameters)}


PROBE_OBSERVATION = observation("obs-probe-{caller}", "X") | {"subject": {"reference": "Patient/{patient}"}}
NEW_OBSERVATION = {key: value for key, value in PROBE_OBSERVATION.items() if key != "id"}
FORM = "application/x-www-form-urlencoded"
JSON_PATCH = "application/json-patch+json"
PROBES: dict[tuple[str, str, str | None], list[Probe]] = {
    ("GET", "metadata", None): [Probe("GET", "metadata")],
    ("POST", "base", None): [
        Probe(
            "POST",
            "",
            body={
                "resourceType": "Bundle",
                "type": "batch",
                "entry": [
                    {"request": {"method": "GET", "url": "Observation?subject=Patient/{patient}"}},
                    {"request": {"method": "GET", "url": "Patient/{patient}"}},
                ],
            },
        )
    ],
    ("GET", "base", None): [Probe("GET", "", {"_type": "Observation,Patient", "_total": "accurate"})],
    ("POST", "system-search", None): [
        Probe("POST", "_search", form={"_type": "Observation", "_total": "accurate"}, content_type=FORM)
    ],
    ("GET", "system-history", None): [Probe("GET", "_history", {"_count": "100"})],
    ("GET", "type", None): [
        Probe("GET", "Observation", {"subject": "Patient/{patient}", "_total": "accurate"}),
        Probe("GET", "Observation", {"_include": "Observation:subject", "_total": "accurate"}),
        Probe("GET", "Patient", {"_revinclude": "Observation:subject", "_total": "accurate"}),
        Probe("GET", "Patient", {"_has:Observation:subject:code": "8867-4", "_total": "accurate"}),
        Probe("GET", "Observation", {"subject.gender": "female", "_count": "2", "_total": "accurate"}),
        Probe("GET", "Organization", {"_has:EpisodeOfCare:organization:patient": "Patient/{patient}"}),
        Probe("GET", "Consent", {"patient": "Patient/{patient}"}),
        Probe("GET", "AuditEvent", {"patient": "Patient/{patient}"}),
    ],
    ("POST", "type-search", None): [
        Probe("POST", "Observation/_search", form={"subject": "Patient/{patient}"}, content_type=FORM)
    ],
    ("POST", "type", None): [Probe("POST", "Observation", body=NEW_OBSERVATION)],
    ("PUT", "type", None): [
        Probe(
            "PUT", "Observation", {"_id": "obs-probe-{caller}"}, body=NEW_OBSERVATION | {"status": "amended"}
        )
    ],
    ("PATCH", "type", None): [
        Probe(
            "PATCH",
            "Observation",
            {"_id": "{obs}"},
            body=[{"op": "replace", "path": "/status", "value": "final"}],
            content_type=JSON_PATCH,
        )
    ],
    ("DELETE", "type", None): [Probe("DELETE", "Observation", {"_id": "obs-never-{caller}"})],
    ("GET", "type-history", None): [Probe("GET", "Observation/_history", {"_count": "100"})],
    ("GET", "instance", None): [
        Probe("GET", "Observation/{obs}"),
        Probe("GET", "Patient/{patient}"),
        Probe("GET", f"Observation/{HIDDEN}"),
    ],
    ("PUT", "instance", None): [Probe("PUT", "Observation/obs-probe-{caller}", body=PROBE_OBSERVATION)],
    ("PATCH", "instance", None): [
        Probe(
            "PATCH",
            "Observation/{obs}",
            body=[{"op": "replace", "path": "/status", "value": "final"}],
            content_type=JSON_PATCH,
        )
    ],
    ("DELETE", "instance", None): [Probe("DELETE", "Observation/obs-probe-{caller}")],
    ("GET", "instance-history", None): [Probe("GET", "Observation/{obs}/_history")],
    ("GET", "version", None): [Probe("GET", "Observation/{obs}/_history/1")],
    ("GET", "compartment", None): [
        Probe("GET", "Patient/{patient}/Observation", {"_total": "accurate"}),
        Probe("GET", "Patient/{patient}/*"),
    ],
    ("POST", "compartment-search", None): [
        Probe("POST", "Patient/{patient}/Observation/_search", form={"status": "final"}, content_type=FORM)
    ],
    ("POST", "system-op", "validate"): [Probe("POST", "$validate", body=NEW_OBSERVATION)],
    ("POST", "type-op", "validate"): [Probe("POST", "Observation/$validate", body=NEW_OBSERVATION)],
    ("POST", "instance-op", "validate"): [
        Probe(
            "POST",
            "Observation/{obs}/$validate",
            body=_parameters({"name": "resource", "resource": NEW_OBSERVATION}),
        )
    ],
    ("POST", "system-op", "reindex"): [
        Probe("POST", "$reindex", body=_parameters({"name": "type", "valueString": "x"}))
    ],
    ("POST", "type-op", "reindex"): [
        Probe("POST", "Observation/$reindex", body=_parameters({"name": "type", "valueString": "x"}))
    ],
    ("GET", "system-op", "reindex"): [Probe("GET", "$reindex")],
    ("GET", "type-op", "reindex"): [Probe("GET", "Observation/$reindex")],
    ("GET", "instance-op", "access-log"): [Probe("GET", "Patient/{patient}/$access-log")],
    ("GET", "instance-op", "break-glass-review"): [Probe("GET", "Organization/org-A/$break-glass-review")],
    ("POST", "type-op", "match"): [
        Probe(
            "POST",
            "Patient/$match",
            body=_parameters(
                {"name": "resource", "resource": {"resourceType": "Patient", "gender": "female"}}
            ),
        )
    ],
    ("POST", "type-op", "merge"): [Probe("POST", "Patient/$merge", body=_parameters())],
    ("POST", "instance-op", "attach"): [Probe("POST", "Patient/{patient}/$attach", body=_parameters())],
    ("POST", "instance-op", "detach"): [Probe("POST", "Patient/{patient}/$detach", body=_parameters())],
    ("GET", "instance-op", "attached"): [
        Probe("GET", "Organization/org-A/$attached"),
        Probe("GET", "Organization/org-B/$attached"),
    ],
    ("GET", "system-op", "coverage"): [Probe("GET", "$coverage")],
    ("GET", "instance-op", "coverage"): [Probe("GET", "Organization/org-A/$coverage")],
    ("GET", "instance-op", "duplicates"): [Probe("GET", "Organization/org-A/$duplicates")],
    ("GET", "instance-op", "everything"): [Probe("GET", "Patient/{patient}/$everything")],
    ("GET", "instance-op", "summary"): [Probe("GET", "Patient/{patient}/$summary")],
    # without Prefer: respond-async, refused; what a started export writes and who reads it is in
    # test_bulk_export.py
    ("POST", "system-op", "export"): [Probe("POST", "$export")],
    ("POST", "type-op", "export"): [Probe("POST", "Patient/$export")],
    ("POST", "instance-op", "export"): [Probe("POST", "Group/{patient}/$export")],
    ("GET", "system-op", "export-poll-status"): [Probe("GET", "$export-poll-status", {"_jobId": "0" * 32})],
    ("DELETE", "system-op", "export-poll-status"): [
        Probe("DELETE", "$export-poll-status", {"_jobId": "0" * 32})
    ],
    ("GET", "system-op", "export-file"): [Probe("GET", "$export-file", {"_jobId": "0" * 32, "file": "1"})],
    ("POST", "system-op", "import"): [Probe("POST", "$import", body=_parameters())],
    ("GET", "system-op", "import-poll-status"): [Probe("GET", "$import-poll-status", {"_jobId": "0" * 32})],
    ("DELETE", "system-op", "import-poll-status"): [
        Probe("DELETE", "$import-poll-status", {"_jobId": "0" * 32})
    ],
    ("GET", "system-op", "import-file"): [Probe("GET", "$import-file", {"_jobId": "0" * 32, "file": "1"})],
}
TARGETS = ("P", "K")
"""P: attached to polyclinic A, with a consent; K: a child attached to A, represented by M (and
formerly by Q, whose representation ended)."""


def route_key(route: Route) -> tuple[str, str, str | None]:
    return (route.method, route.shape, route.operation)


def test_every_route_declares_its_policy_and_has_a_probe() -> None:
    routes = build_routes()
    undeclared = [route_key(route) for route in routes if route.policy is None]
    assert not undeclared, f"routes without a declared access policy: {undeclared}"
    unprobed = [route_key(route) for route in routes if route_key(route) not in PROBES]
    assert not unprobed, f"routes the generated authorization test does not exercise: {unprobed}"
    stale = set(PROBES) - {route_key(route) for route in routes}
    assert not stale, f"probes of routes that no longer exist: {stale}"


@dataclass
class Findings:
    cases: int = 0
    problems: list[str] = field(default_factory=list)
    disclosures: list[tuple[str, str, str]] = field(default_factory=list)
    """(request id, patient id, what) for every answer that held a patient's data."""

    def check(self, ok: bool, message: str) -> None:
        self.cases += 1
        if not ok:
            self.problems.append(message)


def disclosed(document: Any) -> tuple[set[str], set[str], set[str]]:
    """The patients (ids), resource ids and resource types an answer holds, anywhere in it."""
    patients: set[str] = set()
    ids: set[str] = set()
    types: set[str] = set()

    def walk(value: Any, key: str | None = None) -> None:
        if isinstance(value, dict):
            kind = value.get("resourceType")
            if isinstance(kind, str):
                types.add(kind)
                if isinstance(value.get("id"), str):
                    ids.add(value["id"])
                    if kind == "Patient":
                        patients.add(value["id"])
            for name, item in value.items():
                if name in ("issue", "link", "text"):
                    continue  # an outcome's words and a Bundle's links echo the request
                if name == "agent" and kind == "AuditEvent":
                    continue  # who accessed a patient's data is what their log is for
                walk(item, name)
        elif isinstance(value, list):
            for item in value:
                walk(item, key)
        elif isinstance(value, str) and key in ("reference", "fullUrl"):
            found = PATIENT_REFERENCE.search(value)
            if found:
                patients.add(found.group(1))

    walk(document)
    return patients, ids, types


def allowed_patients(caller: Caller) -> set[str]:
    return {f"pat-{p}" for p in caller.patients}


def judge(
    findings: Findings,
    caller: Caller,
    route: Route,
    what: str,
    status: int,
    document: Any,
    request_id: str | None,
) -> None:
    findings.check(status < 500, f"{what}: {status}")
    if caller.subject is None:
        expected = 200 if route.policy is RoutePolicy.PUBLIC else 401
        findings.check(status == expected, f"{what}: {status} without a token, expected {expected}")
        return
    if route.policy is RoutePolicy.ADMINISTRATION and not caller.administrator:
        findings.check(status == 403, f"{what}: {status}, expected 403 (administrators only)")
    if route.policy is RoutePolicy.REGISTRY and not (caller.administrator or caller.system_of):
        findings.check(status == 403, f"{what}: {status}, expected 403 (registry callers only)")
    if route.policy is RoutePolicy.CONTENT_ONLY and caller.types is None:
        findings.check(status == 200, f"{what}: {status}, expected 200 ($validate judges the body only)")
    if not isinstance(document, dict) or status >= 300:
        return
    patients, ids, types = disclosed(document)
    leaked = patients - allowed_patients(caller)
    findings.check(not leaked, f"{what}: holds {sorted(leaked)}, no basis")
    if not caller.sees_hidden:
        findings.check(HIDDEN not in ids, f"{what}: holds {HIDDEN}, closed by the citizen")
    if caller.types is not None and route.policy is not RoutePolicy.PUBLIC:
        outside = types - caller.types - ENVELOPES
        findings.check(not outside, f"{what}: holds {sorted(outside)}, outside the token's scopes")
    single_page = not _next(document) and not any(
        link.get("relation") == "previous" for link in document.get("link", [])
    )
    if document.get("resourceType") == "Bundle" and "total" in document and single_page:
        matches = [
            e for e in document.get("entry", []) if e.get("search", {}).get("mode", "match") == "match"
        ]
        findings.check(
            document["total"] == len(matches),
            f"{what}: total {document['total']} but {len(matches)} matches shown on the last page",
        )
    if request_id and route.policy is not RoutePolicy.PUBLIC:
        for patient in patients & allowed_patients(caller):
            findings.disclosures.append((request_id, patient, what))


def _next(bundle: dict[str, Any]) -> str | None:
    return next((link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"), None)


def send(client: httpx.Client, probe: Probe) -> httpx.Response:
    headers = {"Content-Type": probe.content_type} if probe.content_type else {}
    if probe.form is not None:
        return client.request(probe.method, probe.path, params=probe.params, data=probe.form, headers=headers)
    if probe.body is not None:
        return client.request(probe.method, probe.path, params=probe.params, json=probe.body, headers=headers)
    return client.request(probe.method, probe.path, params=probe.params, headers=headers)


def as_batch_entry(probe: Probe) -> dict[str, Any] | None:
    """The probe as an entry of a batch Bundle (form posts and nested Bundles have no entry form)."""
    if probe.form is not None or probe.path == "":
        return None
    query = "&".join(f"{key}={value}" for key, value in probe.params.items())
    entry: dict[str, Any] = {
        "request": {"method": probe.method, "url": probe.path + (f"?{query}" if query else "")}
    }
    if probe.body is not None:
        if probe.content_type == JSON_PATCH:
            import base64
            import json

            data = base64.b64encode(json.dumps(probe.body).encode()).decode()
            entry["resource"] = {"resourceType": "Binary", "contentType": JSON_PATCH, "data": data}
        else:
            entry["resource"] = probe.body
    return entry


def client_for(world: World, caller: Caller) -> httpx.Client:
    if caller.subject is None:
        return httpx.Client(base_url=world.server.base + "/", timeout=60)
    return world.client(caller.subject, caller.scope)


def run_caller(world: World, caller: Caller, findings: Findings) -> None:
    with client_for(world, caller) as client:
        for route in build_routes():
            for template in PROBES.get(route_key(route), []):
                for target in TARGETS if template.instance or "{" in str(template) else TARGETS[:1]:
                    probe = template.concrete(target, caller)
                    what = f"{caller.name}: {probe.method} {probe.path} {probe.params or ''}"
                    response = send(client, probe)
                    document = _json(response)
                    judge(findings, caller, route, what, response.status_code, document, _rid(response))
                    _follow_pages(findings, client, caller, route, what, document)
                    if template.instance and response.status_code >= 400 and caller.subject is not None:
                        _same_as_missing(findings, client, probe, target, what, response)
                    entry = as_batch_entry(probe)
                    if entry is not None and caller.subject is not None:
                        _as_entry(findings, client, caller, route, what, entry)


def _follow_pages(
    findings: Findings, client: httpx.Client, caller: Caller, route: Route, what: str, document: Any
) -> None:
    for page in range(5):
        if not isinstance(document, dict) or not (url := _next(document)):
            return
        parts = urlsplit(url)
        path = parts.path.split("/fhir/", 1)[-1] if "/fhir/" in parts.path else ""
        response = client.get(path + (f"?{parts.query}" if parts.query else ""))
        document = _json(response)
        judge(
            findings, caller, route, f"{what} page {page + 2}", response.status_code, document, _rid(response)
        )


def _same_as_missing(
    findings: Findings, client: httpx.Client, probe: Probe, target: str, what: str, refused: httpx.Response
) -> None:
    """A refusal about a real patient must read as the same request about nobody."""
    missing = Probe(
        probe.method,
        probe.path.replace(f"pat-{target}", MISSING).replace(f"obs-{target}", "obs-none"),
        probe.params,
        probe.body,
        probe.form,
        probe.content_type,
    )
    if missing.path == probe.path:
        return
    answer = send(client, missing)
    codes = [issue.get("code") for issue in (_json(refused) or {}).get("issue", [])]
    missing_codes = [issue.get("code") for issue in (_json(answer) or {}).get("issue", [])]
    findings.check(
        (answer.status_code, missing_codes) == (refused.status_code, codes),
        f"{what}: refused {refused.status_code} {codes}, about nobody {answer.status_code} {missing_codes}",
    )


def _as_entry(
    findings: Findings, client: httpx.Client, caller: Caller, route: Route, what: str, entry: dict[str, Any]
) -> None:
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [entry]}
    response = client.post("", json=bundle)
    findings.check(response.status_code < 500, f"{what} (in a batch): {response.status_code}")
    document = _json(response)
    if response.status_code != 200 or not isinstance(document, dict):
        return
    for item in document.get("entry", []):
        status = int(str(item.get("response", {}).get("status", "0")).split()[0])
        inner = item.get("resource")
        if inner is None and isinstance(item.get("response", {}).get("outcome"), dict):
            inner = item["response"]["outcome"]
        judge(findings, caller, route, f"{what} (in a batch)", status, inner, _rid(response))


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _rid(response: httpx.Response) -> str | None:
    return response.headers.get("x-request-id")


def check_audit(world: World, findings: Findings) -> None:
    """Every answer that held a patient's data has its record in that patient's log."""
    if not findings.disclosures:
        return
    with world.client("admin", "system/*.cruds") as admin:
        logged: dict[str, set[str]] = {}
        for patient in {patient for _, patient, _ in findings.disclosures}:
            bundle = admin.get(
                "AuditEvent", params={"patient": f"Patient/{patient}", "_count": "1000"}
            ).json()
            logged[patient] = {entry["resource"]["id"].rsplit("-", 1)[0] for entry in bundle.get("entry", [])}
    for request_id, patient, what in findings.disclosures:
        findings.check(request_id in logged[patient], f"{what}: disclosed {patient} with no audit record")
    findings.disclosures.clear()


@pytest.fixture(scope="module")
def table_world(world: World) -> Iterator[World]:
    """The shared world, plus Q as K's representative in the past: Q's representation ended."""
    with world.client("admin", "system/*.cruds") as admin:
        former = {
            "resourceType": "RelatedPerson",
            "id": "rel-Q-K",
            "active": True,
            "patient": {"reference": "Patient/pat-K"},
            "relationship": [
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "GUARD"}]}
            ],
            "period": {"start": "2015-01-01", "end": "2020-01-01"},
        }
        assert admin.put("RelatedPerson/rel-Q-K", json=former).status_code in (200, 201)
        q = admin.get("Patient/pat-Q").json()
        q["link"] = [{"other": {"reference": "RelatedPerson/rel-Q-K"}, "type": "seealso"}]
        assert admin.put("Patient/pat-Q", json=q).status_code == 200
    yield world


@pytest.mark.parametrize("caller", CALLERS, ids=[_slug(caller.name) for caller in CALLERS])
def test_no_route_discloses_without_a_basis(table_world: World, caller: Caller) -> None:
    findings = Findings()
    run_caller(table_world, caller, findings)
    if caller.subject is not None:
        check_audit(table_world, findings)
    print(f"{caller.name}: {findings.cases} checks")
    assert findings.cases > 50, "the probes ran"
    assert not findings.problems, "\n".join(findings.problems)


def test_a_route_without_a_declared_policy_is_never_served(tmp_path: Any) -> None:
    """By construction: the service refuses an undeclared route before its handler runs."""
    from ehp.api.messages import FhirRequest, FhirResponse
    from ehp.api.service import FhirService, Settings
    from ehp.context import development_context
    from ehp.reindex.overlay import open_store
    from ehp.store.database import migrate, open_engine

    ran: list[str] = []

    def handler(_: Any) -> FhirResponse:
        ran.append("handler")
        return FhirResponse(200, resource={"resourceType": "Parameters"})

    engine = open_engine(f"sqlite:///{tmp_path / 'undeclared.db'}")
    try:
        migrate(engine)
        routes = [Route("GET", "system-op", handler, "read", operation="undeclared")]
        service = FhirService(open_store(engine), Settings(), routes)
        answer = service.handle(development_context(), FhirRequest("GET", "$undeclared"), "http://x/fhir")
    finally:
        engine.dispose()
    assert ran == []
    assert answer.status == 500
    assert answer.resource is not None and answer.resource["resourceType"] == "OperationOutcome"
    assert "declares no access policy" in answer.resource["issue"][0]["diagnostics"]


def test_a_bundles_entries_have_distinct_audit_ids(table_world: World) -> None:
    """Each entry has its own access decision, but the request id is the Bundle's: its records
    are numbered across the whole request, so no two share an id."""
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"request": {"method": "GET", "url": "Observation/obs-P"}},
            {"request": {"method": "GET", "url": "Patient/pat-P"}},
        ],
    }
    with table_world.client("Practitioner/doc-A") as doctor:
        answer = doctor.post("", json=batch)
    assert answer.status_code == 200
    request_id = answer.headers["x-request-id"]
    with table_world.client("admin", "system/*.cruds") as admin:
        log = admin.get("AuditEvent", params={"patient": "Patient/pat-P", "_count": "1000"}).json()
    ids = [e["resource"]["id"] for e in log["entry"] if e["resource"]["id"].startswith(request_id)]
    assert len(ids) == 2 and len(set(ids)) == 2, ids


def test_a_system_search_counts_only_types_in_scope(table_world: World) -> None:
    """``GET [base]?_type=Observation&_summary=count`` with ``patient/Patient.rs`` once answered a
    count of Observations; the route now needs search scope like every other search."""
    with table_world.client("Patient/pat-P", "patient/Patient.rs") as citizen:
        answer = citizen.get("", params={"_type": "Observation", "_summary": "count"})
    assert answer.status_code == 403, answer.text
    assert "total" not in answer.json()
