"""SMART App Launch over real HTTP: login page, authorization code with PKCE, token, data access."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from ehp.bench.servers import BenchServer
from tests.security.test_tokens import cli_token

REDIRECT = "http://127.0.0.1:9/callback"
ENGLISH = {"Accept-Language": "en"}
PASSWORD = "correct horse battery"


def ehp(*arguments: str) -> None:
    subprocess.run([sys.executable, "-m", "ehp.cli", *arguments], check=True, capture_output=True, timeout=60)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def authorize_params(challenge: str, aud: str, **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": "passport-app",
        "redirect_uri": REDIRECT,
        "scope": "launch/patient patient/*.rs openid fhirUser",
        "state": "xyz-123",
        "aud": aud,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return params | overrides


def origin(server: BenchServer) -> str:
    return server.base.removesuffix("/fhir")


def log_in(server: BenchServer, challenge: str, password: str) -> httpx.Response:
    page = httpx.get(f"{origin(server)}/auth/authorize", params=authorize_params(challenge, server.base))
    assert page.status_code == 200, page.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    assert fields["client_id"] == "passport-app"
    form = fields | {"username": "anna", "password": password}
    return httpx.post(f"{origin(server)}/auth/authorize", data=form, headers=ENGLISH)


@pytest.fixture(scope="module")
def launch(secured: BenchServer) -> BenchServer:
    """The app and the user registered with the commands, and the citizen's Patient stored."""
    database = secured.database
    ehp("client", "register-app", "--database", database, "--client-id", "passport-app",
        "--redirect-uri", REDIRECT, "--scope", "patient/*.rs launch/patient openid fhirUser")  # fmt: skip
    ehp("user", "add", "--database", database, "--username", "anna", "--subject", "Patient/anna-1",
        "--password", PASSWORD)  # fmt: skip
    admin = {"Authorization": f"Bearer {cli_token(secured, 'admin')}"}
    for patient_id in ("anna-1", "someone-else"):
        stored = httpx.put(
            f"{secured.base}/Patient/{patient_id}",
            json={"resourceType": "Patient", "id": patient_id},
            headers=admin,
        )
        assert stored.status_code == 201, stored.text
    return secured


def test_a_citizen_logs_in_to_an_app_and_reads_their_own_passport(launch: BenchServer) -> None:
    secured = launch
    configuration = httpx.get(f"{origin(secured)}/.well-known/smart-configuration").json()
    assert configuration["authorization_endpoint"] == f"{origin(secured)}/auth/authorize"
    assert "authorization_code" in configuration["grant_types_supported"]

    verifier, challenge = pkce()
    refused = log_in(secured, challenge, "wrong password")
    assert refused.status_code == 401
    assert "Wrong user name or password" in refused.text
    answer = log_in(secured, challenge, PASSWORD)
    assert answer.status_code == 302
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["xyz-123"]
    code = query["code"][0]

    token_url = f"{origin(secured)}/auth/token"
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": "passport-app",
    }
    wrong = httpx.post(token_url, data=exchange | {"code_verifier": secrets.token_urlsafe(48)})
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    reused = httpx.post(token_url, data=exchange | {"code_verifier": verifier})
    assert reused.status_code == 400, "a code is used once, even by a failed exchange"

    verifier, challenge = pkce()
    code = parse_qs(urlsplit(log_in(secured, challenge, PASSWORD).headers["location"]).query)["code"][0]
    granted = httpx.post(token_url, data=exchange | {"code": code, "code_verifier": verifier})
    assert granted.status_code == 200, granted.text
    body = granted.json()
    assert body["patient"] == "anna-1"
    assert body["scope"] == "launch/patient patient/*.rs openid fhirUser"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert httpx.get(f"{secured.base}/Patient/anna-1", headers=headers).status_code == 200
    assert httpx.get(f"{secured.base}/Patient/someone-else", headers=headers).status_code == 404
    everyone = httpx.get(f"{secured.base}/Patient", headers=headers).json()
    assert [entry["resource"]["id"] for entry in everyone["entry"]] == ["anna-1"]
    assert (
        httpx.post(f"{secured.base}/Patient", json={"resourceType": "Patient"}, headers=headers).status_code
        == 403
    )


def test_bad_authorization_requests(launch: BenchServer) -> None:
    secured = launch
    _, challenge = pkce()
    unknown = httpx.get(
        f"{origin(secured)}/auth/authorize",
        params=authorize_params(challenge, secured.base, client_id="nope"),
    )
    assert unknown.status_code == 400
    elsewhere = authorize_params(challenge, secured.base, redirect_uri="https://evil.example/cb")
    assert httpx.get(f"{origin(secured)}/auth/authorize", params=elsewhere).status_code == 400
    without_pkce = authorize_params(challenge, secured.base, code_challenge_method="plain")
    told = httpx.get(f"{origin(secured)}/auth/authorize", params=without_pkce)
    assert told.status_code == 302
    assert parse_qs(urlsplit(told.headers["location"]).query)["error"] == ["invalid_request"]


def test_a_password_guesser_is_locked_out_even_with_the_right_password(launch: BenchServer) -> None:
    """Once 30 wrong passwords and then the right one logged in."""
    ehp("user", "add", "--database", launch.database, "--username", "boris", "--subject", "Patient/boris-1",
        "--password", PASSWORD)  # fmt: skip
    _, challenge = pkce()

    def attempt(password: str) -> httpx.Response:
        page = httpx.get(f"{origin(launch)}/auth/authorize", params=authorize_params(challenge, launch.base))
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
        return httpx.post(
            f"{origin(launch)}/auth/authorize",
            data=fields | {"username": "boris", "password": password},
            headers=ENGLISH,
        )

    statuses = [attempt(f"guess-{n}").status_code for n in range(5)]
    assert statuses == [401] * 5
    locked = attempt(PASSWORD)
    assert locked.status_code == 429, locked.text[:300]
    assert 0 < int(locked.headers["Retry-After"]) <= 60
    assert "Too many failed attempts" in locked.text
    assert "code=" not in locked.headers.get("location", "")
