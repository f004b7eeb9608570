"""SMART Backend Services over real HTTP: a registered client trades a signed assertion for a token."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from ehp.bench.servers import BenchServer

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture(scope="module")
def client_key(secured: BenchServer, tmp_path_factory: pytest.TempPathFactory) -> ec.EllipticCurvePrivateKey:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwks_file = tmp_path_factory.mktemp("jwks") / "clinic.jwks.json"
    jwks_file.write_text(json.dumps({"keys": [{**jwk, "kid": "clinic-key-1", "alg": "ES256"}]}))
    command = [
        sys.executable,
        "-m",
        "ehp.cli",
        "client",
        "register",
        "--database",
        secured.database,
        "--client-id",
        "clinic-mis-1",
        "--subject",
        "Organization/polyclinic-1",
        "--jwks",
        str(jwks_file),
        "--scope",
        "system/Patient.rs system/Observation.cruds",
    ]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return key


def assertion(secured: BenchServer, key: Any, **overrides: Any) -> str:
    endpoint = secured.base.removesuffix("/fhir") + "/auth/token"
    claims = {
        "iss": "clinic-mis-1",
        "sub": "clinic-mis-1",
        "aud": endpoint,
        "exp": int(time.time()) + 240,
        "jti": str(uuid.uuid4()),
    }
    claims.update(overrides)
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "clinic-key-1"})


def ask(secured: BenchServer, signed: str, scope: str = "system/Observation.rs") -> httpx.Response:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": signed,
        "scope": scope,
    }
    return httpx.post(secured.base.removesuffix("/fhir") + "/auth/token", data=form, timeout=30)


def test_discovery_names_the_token_endpoint(secured: BenchServer) -> None:
    configuration = httpx.get(f"{secured.base}/.well-known/smart-configuration").json()
    assert configuration["token_endpoint"].endswith("/auth/token")
    assert configuration["grant_types_supported"] == [
        "authorization_code",
        "refresh_token",
        "client_credentials",
    ]
    assert "private_key_jwt" in configuration["token_endpoint_auth_methods_supported"]


def test_client_gets_a_token_limited_to_its_registration(secured: BenchServer, client_key: Any) -> None:
    answer = ask(secured, assertion(secured, client_key), "system/Observation.rs system/Encounter.rs")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["scope"] == "system/Observation.rs"
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert httpx.get(f"{secured.base}/Observation", headers=headers).status_code == 200
    assert httpx.get(f"{secured.base}/Encounter", headers=headers).status_code == 403


def test_replayed_assertion_is_refused(secured: BenchServer, client_key: Any) -> None:
    signed = assertion(secured, client_key)
    assert ask(secured, signed).status_code == 200
    replay = ask(secured, signed)
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "https://elsewhere.example/auth/token"},
        {"exp": int(time.time()) - 600},
        {"exp": int(time.time()) + 3600},
        {"iss": "unknown-client", "sub": "unknown-client"},
        {"sub": "someone-else"},
    ],
)
def test_bad_assertions_are_refused(secured: BenchServer, client_key: Any, overrides: dict[str, Any]) -> None:
    assert ask(secured, assertion(secured, client_key, **overrides)).status_code == 401


def test_assertion_signed_by_another_key_is_refused(secured: BenchServer, client_key: Any) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    assert ask(secured, assertion(secured, other)).status_code == 401


def test_scope_beyond_registration_and_wrong_grant(secured: BenchServer, client_key: Any) -> None:
    refused = ask(secured, assertion(secured, client_key), "system/Encounter.rs")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"
    form = {"grant_type": "password", "username": "x", "password": "y"}
    wrong = httpx.post(secured.base.removesuffix("/fhir") + "/auth/token", data=form)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "unsupported_grant_type"


def test_register_refuses_a_bad_subject(tmp_path: Path) -> None:
    jwks_file = tmp_path / "k.json"
    jwks_file.write_text('{"keys": []}')
    command = [
        sys.executable,
        "-m",
        "ehp.cli",
        "client",
        "register",
        "--database",
        f"sqlite:///{tmp_path / 'x.db'}",
        "--client-id",
        "c",
        "--subject",
        "Organization/1",
        "--jwks",
        str(jwks_file),
        "--scope",
        "system/*.rs",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    assert completed.returncode != 0
    assert "JWKS" in completed.stderr
