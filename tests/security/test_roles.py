"""Roles are data: given to a subject of one issuer with the CLI, never inferred from a name."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from ehp.bench.servers import BenchServer
from ehp.security.authenticator import DEFAULT_AUDIENCE

EXTERNAL_ISSUER = "https://idp.example.kz/realms/egov"
PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "male"}
OBSERVATION = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "code": {"text": "pulse"},
    "subject": {"reference": "Patient/p1"},
}


def ehp(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ehp.cli", *arguments], capture_output=True, text=True, timeout=120
    )


def token_of(database: str, subject: str, scope: str = "system/*.cruds") -> str:
    made = ehp("token", "--database", database, "--subject", subject, "--scope", scope)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def as_bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_role_options_are_checked_and_listed(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'roles.db'}"
    for bad in (
        "superuser",
        "privacy-officer",
        "privacy-officer:Practitioner/1",
        "administrator:Organization/1",
    ):
        refused = ehp("role", "add", "--database", database, "--subject", "Practitioner/a", "--role", bad)
        assert refused.returncode == 2, (bad, refused.stdout, refused.stderr)
    assert ehp("role", "add", "--database", database, "--subject", "Practitioner/a").returncode == 2
    added = ehp(
        "user", "add", "--database", database, "--username", "aigerim", "--subject", "Practitioner/a",
        "--password", "long enough", "--role", "administrator", "--role", "privacy-officer:Organization/o1",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "administrator" in added.stdout
    listed = ehp("role", "list", "--database", database, "--subject", "Practitioner/a")
    assert listed.stdout.split() == ["administrator", "privacy-officer:Organization/o1"]
    other_issuer = ehp("role", "list", "--database", database, "--subject", "Practitioner/a", "--issuer", "x")
    assert other_issuer.stdout.strip() == ""
    again = ehp(
        "user", "add", "--database", database, "--username", "aigerim", "--subject", "Practitioner/a",
        "--password", "long enough",
    )  # fmt: skip
    assert again.returncode == 0
    assert ehp("role", "list", "--database", database, "--subject", "Practitioner/a").stdout.strip() == "", (
        "user add gives exactly the roles named"
    )
    jwks = tmp_path / "client.jwks.json"
    key = ec.generate_private_key(ec.SECP256R1())
    jwks.write_text(json.dumps({"keys": [json.loads(ECAlgorithm.to_jwk(key.public_key()))]}))
    registered = ehp(
        "client", "register", "--database", database, "--client-id", "ministry", "--subject",
        "Organization/moh", "--jwks", str(jwks), "--scope", "system/*.rs", "--role", "analyst",
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    assert ehp("role", "list", "--database", database, "--subject", "Organization/moh").stdout.split() == [
        "analyst"
    ]
    removed = ehp("role", "remove", "--database", database, "--subject", "Organization/moh")
    assert removed.returncode == 0
    assert ehp("role", "list", "--database", database, "--subject", "Organization/moh").stdout.strip() == ""


def test_the_subject_admin_is_nobody_special_until_given_the_role(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'ehp.db'}"
    with BenchServer(database, tmp_path / "server.log", auth="required") as server:
        named_admin = as_bearer(token_of(database, "admin"))
        assert httpx.put(f"{server.base}/Patient/p1", json=PATIENT, headers=named_admin).status_code == 201
        stored = httpx.put(f"{server.base}/Observation/o1", json=OBSERVATION, headers=named_admin)
        assert stored.status_code == 403, "no legal basis: 'admin' is a name, not a role"
        assert httpx.get(f"{server.base}/Patient/p1/$everything", headers=named_admin).status_code == 404
        assert httpx.get(f"{server.base}/Patient/$match", headers=named_admin).status_code == 403
        given = ehp("role", "add", "--database", database, "--subject", "Device/registry-console",
                    "--role", "administrator")  # fmt: skip
        assert given.returncode == 0, given.stderr
        administrator = as_bearer(token_of(database, "Device/registry-console"))
        stored = httpx.put(f"{server.base}/Observation/o1", json=OBSERVATION, headers=administrator)
        assert stored.status_code == 201, stored.text
        assert httpx.get(f"{server.base}/Patient/p1/$everything", headers=administrator).status_code == 200


class _Jwks(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def identity_provider() -> Iterator[tuple[str, ec.EllipticCurvePrivateKey]]:
    """An external OpenID Connect provider's JWKS on a loopback port, and its signing key."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = json.loads(ECAlgorithm.to_jwk(key.public_key())) | {"kid": "idp-1", "use": "sig", "alg": "ES256"}
    handler = type("Jwks", (_Jwks,), {"body": json.dumps({"keys": [public]}).encode()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/certs", key
    finally:
        server.shutdown()


def external_token(key: ec.EllipticCurvePrivateKey, subject: str) -> dict[str, str]:
    now = int(time.time())
    claims = {
        "iss": EXTERNAL_ISSUER,
        "aud": DEFAULT_AUDIENCE,
        "sub": subject,
        "scope": "system/*.cruds",
        "iat": now,
        "exp": now + 600,
    }
    return as_bearer(jwt.encode(claims, key, algorithm="ES256", headers={"kid": "idp-1"}))


def test_an_external_providers_user_named_admin_is_not_an_administrator(
    tmp_path: Path, identity_provider: tuple[str, ec.EllipticCurvePrivateKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    jwks_url, key = identity_provider
    database = f"sqlite:///{tmp_path / 'ehp.db'}"
    assert ehp("migrate-db", "--database", database).returncode == 0
    # the embedded issuer's "admin" is an administrator here; the provider's "admin" is someone else
    assert (
        ehp("role", "add", "--database", database, "--subject", "admin", "--role", "administrator").returncode
        == 0
    )
    given = ehp("role", "add", "--database", database, "--subject", "Practitioner/chief", "--role",
                "administrator", "--issuer", EXTERNAL_ISSUER)  # fmt: skip
    assert given.returncode == 0, given.stderr
    monkeypatch.setenv("EHP_JWKS_URL", jwks_url)
    monkeypatch.setenv("EHP_ISSUER", EXTERNAL_ISSUER)
    with BenchServer(database, tmp_path / "server.log", auth="required") as server:
        chief = external_token(key, "Practitioner/chief")
        assert httpx.put(f"{server.base}/Patient/p1", json=PATIENT, headers=chief).status_code == 201
        assert httpx.put(f"{server.base}/Observation/o1", json=OBSERVATION, headers=chief).status_code == 201
        impostor = external_token(key, "admin")
        assert httpx.get(f"{server.base}/Observation/o1", headers=impostor).status_code == 404
        assert httpx.get(f"{server.base}/Patient/p1/$everything", headers=impostor).status_code == 404
        assert httpx.delete(f"{server.base}/Observation/o1", headers=impostor).status_code in (403, 404)
        assert httpx.get(f"{server.base}/Observation/o1", headers=chief).status_code == 200
