"""Bearer tokens over real HTTP: valid ones pass, every kind of bad one gets 401, a missing scope 403."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ehp.bench.servers import BenchServer
from ehp.security.authenticator import DEFAULT_AUDIENCE, DEFAULT_ISSUER
from ehp.security.keys import SigningKey, signing_key
from ehp.security.tokens import issue_token
from ehp.store.database import open_engine


@pytest.fixture(scope="module")
def key(secured: BenchServer) -> SigningKey:
    engine = open_engine(secured.database, pool_size=1)
    try:
        return signing_key(engine)
    finally:
        engine.dispose()


def cli_token(server: BenchServer, subject: str, scope: str | None = None, ttl: int = 600) -> str:
    command = [sys.executable, "-m", "ehp.cli", "token", "--database", server.database, "--subject", subject]
    command += ["--ttl", str(ttl)] + (["--scope", scope] if scope else [])
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    return completed.stdout.strip()


def token(key: SigningKey, **overrides: Any) -> str:
    claims: dict[str, Any] = {
        "iss": DEFAULT_ISSUER,
        "aud": DEFAULT_AUDIENCE,
        "sub": "Practitioner/doc-1",
        "scope": "user/*.cruds",
        "iat": int(time.time()),
        "nbf": int(time.time()),
        "exp": int(time.time()) + 300,
    }
    claims.update(overrides)
    return jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid})


def get(server: BenchServer, path: str, bearer: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return httpx.get(f"{server.base}/{path}", headers=headers, timeout=30)


def test_a_valid_token_from_the_cli_is_accepted(secured: BenchServer) -> None:
    admin = cli_token(secured, "admin")
    created = httpx.post(
        f"{secured.base}/Patient",
        json={"resourceType": "Patient", "gender": "female"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    assert created.status_code == 201
    organization = httpx.post(
        f"{secured.base}/Organization",
        json={"resourceType": "Organization", "name": "Polyclinic 1"},
        headers={"Authorization": f"Bearer {admin}"},
    )
    doctor = cli_token(secured, "Practitioner/doc-1")
    assert get(secured, f"Organization/{organization.json()['id']}", doctor).status_code == 200
    # The token is valid, but doc-1 has no legal basis for this patient: it is not found for them.
    assert get(secured, f"Patient/{created.json()['id']}", doctor).status_code == 404


def test_discovery_needs_no_token(secured: BenchServer) -> None:
    assert get(secured, "metadata", None).status_code == 200
    configuration = httpx.get(f"{secured.base}/.well-known/smart-configuration").json()
    assert configuration["issuer"] == DEFAULT_ISSUER
    jwks = httpx.get(configuration["jwks_uri"]).json()
    assert jwks["keys"][0]["kty"] == "EC"
    assert "d" not in jwks["keys"][0]


def test_no_token_or_a_malformed_one_is_401(secured: BenchServer) -> None:
    for bearer in (None, "not-a-jwt", "a.b.c"):
        response = get(secured, "Patient", bearer)
        assert response.status_code == 401, bearer
        assert response.json()["issue"][0]["code"] == "login"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    basic = httpx.get(f"{secured.base}/Patient", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(time.time()) - 600}, "expired"),
        ({"nbf": int(time.time()) + 600, "iat": int(time.time()) + 600}, "not valid yet"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"aud": "https://other-server.example/fhir"}, "audience"),
        ({"sub": "Spaceship/1"}, "subject"),
        ({"scope": "patient/Observation.xyz"}, "scope"),
    ],
)
def test_bad_claims_are_401(
    secured: BenchServer, key: SigningKey, overrides: dict[str, Any], reason: str
) -> None:
    response = get(secured, "Patient", token(key, **overrides))
    assert response.status_code == 401, reason


def test_missing_exp_is_401(secured: BenchServer, key: SigningKey) -> None:
    claims = {
        "iss": DEFAULT_ISSUER,
        "aud": DEFAULT_AUDIENCE,
        "sub": "admin",
        "scope": "system/*.rs",
        "iat": 1,
    }
    forged = jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid})
    assert get(secured, "Patient", forged).status_code == 401


def test_wrong_signature_is_401(secured: BenchServer, key: SigningKey) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    forged = issue_token(
        other,
        key.kid,
        issuer=DEFAULT_ISSUER,
        audience=DEFAULT_AUDIENCE,
        subject="admin",
        scope="system/*.cruds",
        ttl_seconds=300,
    )
    assert get(secured, "Patient", forged).status_code == 401
    unknown_kid = issue_token(
        key.private_key,
        "no-such-kid",
        issuer=DEFAULT_ISSUER,
        audience=DEFAULT_AUDIENCE,
        subject="admin",
        scope="system/*.cruds",
        ttl_seconds=300,
    )
    assert get(secured, "Patient", unknown_kid).status_code == 401


def test_alg_none_and_hmac_are_401(secured: BenchServer, key: SigningKey) -> None:
    claims = {"iss": DEFAULT_ISSUER, "aud": DEFAULT_AUDIENCE, "sub": "admin", "scope": "system/*.cruds"}
    claims |= {"iat": int(time.time()), "exp": int(time.time()) + 300}
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert get(secured, "Patient", unsigned).status_code == 401
    public_x = key.public_jwk()["x"]
    hmac = jwt.encode(claims, public_x, algorithm="HS256", headers={"kid": key.kid})
    assert get(secured, "Patient", hmac).status_code == 401


def test_missing_scope_is_403(secured: BenchServer) -> None:
    observations_only = cli_token(secured, "Practitioner/doc-1", "user/Observation.rs")
    assert get(secured, "Observation", observations_only).status_code == 200
    refused = get(secured, "Patient", observations_only)
    assert refused.status_code == 403
    assert refused.json()["issue"][0]["code"] == "forbidden"
    read_only = cli_token(secured, "Practitioner/doc-1", "user/*.rs")
    write = httpx.post(
        f"{secured.base}/Patient",
        json={"resourceType": "Patient"},
        headers={"Authorization": f"Bearer {read_only}"},
    )
    assert write.status_code == 403
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}}],
    }
    in_bundle = httpx.post(secured.base, json=bundle, headers={"Authorization": f"Bearer {read_only}"})
    assert in_bundle.status_code == 403


def test_token_command_refuses_bad_subjects(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "ehp.cli", "token", "--database", f"sqlite:///{tmp_path / 'x.db'}"]
    completed = subprocess.run([*command, "--subject", "Nobody"], capture_output=True, text=True, check=False)
    assert completed.returncode != 0
    assert "subject" in completed.stderr


def test_the_capability_statement_declares_smart_with_its_oauth_uris(secured: BenchServer) -> None:
    security = get(secured, "metadata", None).json()["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    [uris] = [e for e in security["extension"] if e["url"].endswith("/oauth-uris")]
    declared = {e["url"]: e["valueUri"] for e in uris["extension"]}
    discovered = httpx.get(f"{secured.base}/.well-known/smart-configuration").json()
    assert declared == {
        "token": discovered["token_endpoint"],
        "authorize": discovered["authorization_endpoint"],
    }


def test_the_secured_capability_statement_says_auditevents_are_searched_by_patient_only(
    secured: BenchServer,
) -> None:
    from ehp.fhir.validation import validate_resource

    statement = get(secured, "metadata", None).json()
    [audit] = [r for r in statement["rest"][0]["resource"] if r["type"] == "AuditEvent"]
    assert audit["interaction"] == [{"code": "search-type"}]
    assert [p["name"] for p in audit["searchParam"]] == ["patient"]
    [patient] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Patient"]
    assert {"code": "update"} in patient["interaction"], "other types keep their interactions"
    assert [i for i in validate_resource(statement) if i.severity == "error"] == []
