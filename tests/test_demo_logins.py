"""``ehp demo``'s logins: on the demo's store served with authentication on, the doctor of the
citizen's polyclinic and the citizen log in on the login page and see that citizen's passport."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ehp import demo
from ehp.bench.servers import BenchServer
from tests.security.test_app_launch import REDIRECT, authorize_params, ehp, origin, pkce


def _log_in(server: BenchServer, username: str, scope: str) -> httpx.Client:
    verifier, challenge = pkce()
    params = authorize_params(challenge, server.base, scope=scope)
    page = httpx.get(f"{origin(server)}/auth/authorize", params=params)
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    answer = httpx.post(
        f"{origin(server)}/auth/authorize",
        data=fields | {"username": username, "password": demo.DEMO_PASSWORD},
    )
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": "passport-app",
        "code_verifier": verifier,
    }
    granted = httpx.post(f"{origin(server)}/auth/token", data=exchange)
    assert granted.status_code == 200, granted.text
    token = granted.json()["access_token"]
    return httpx.Client(base_url=f"{server.base}/", headers={"Authorization": f"Bearer {token}"})


def test_demo_logins_open_the_citizens_passport(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "DEMO_PEOPLE", 40)
    database = demo.prepare_demo(tmp_path, show_progress=False)
    logins = dict(demo.demo_logins(tmp_path, database))
    assert set(logins) == {"admin", "citizen", "doctor"}
    assert logins["doctor"].startswith("Practitioner/")
    citizen = logins["citizen"]
    hints = demo.demo_hints(tmp_path, "http://127.0.0.1:8080/fhir", list(logins.items()))
    assert any(demo.DEMO_PASSWORD in hint for hint in hints)
    assert any(citizen in hint and "citizen" in hint for hint in hints)
    scope = "launch/patient patient/*.rs user/*.rs openid fhirUser"
    ehp("client", "register-app", "--database", database, "--client-id", "passport-app",
        "--redirect-uri", REDIRECT, "--scope", scope)  # fmt: skip
    with BenchServer(database, tmp_path / "server.log", auth="required") as server:
        with _log_in(server, "doctor", "user/*.rs openid fhirUser") as doctor:
            assert doctor.get(citizen).status_code == 200
            record = doctor.get(f"{citizen}/$everything", params={"_count": "200"})
            assert record.status_code == 200 and record.json()["total"] > 1
        with _log_in(server, "citizen", "launch/patient patient/*.rs openid fhirUser") as person:
            assert person.get(citizen).status_code == 200
            others = person.get("Patient", params={"_count": "100"}).json()
            assert {entry["resource"]["id"] for entry in others.get("entry", [])} == {citizen.split("/")[1]}
