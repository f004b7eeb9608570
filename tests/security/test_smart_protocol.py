"""SMART App Launch 2 and Backend Services over HTTP with real client libraries: authlib's
``private_key_jwt`` (ES384), Python's ``fhirclient`` discovering the endpoints, confidential apps
(secret, keys), refresh-token rotation, introspection, and each refusal the spec names."""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fhirclient import client as fhir_client
from joserfc.jwk import ECKey
from jwt.algorithms import ECAlgorithm
from sqlalchemy import update

from ehp.bench.servers import BenchServer
from ehp.security.launch_schema import refresh_tokens
from ehp.store.database import open_engine
from tests.security.test_app_launch import ENGLISH, REDIRECT, ehp, origin, pkce

PASSWORD = "correct horse battery"
SECRET = "s3cret-of-the-clinic-app"


def _public_jwks(key: Any, kid: str, alg: str) -> dict[str, Any]:
    jwk = (
        json.loads(ECAlgorithm.to_jwk(key.public_key()))
        if isinstance(key, ec.EllipticCurvePrivateKey)
        else (json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())))
    )
    return {"keys": [jwk | {"kid": kid, "alg": alg, "use": "sig"}]}


@pytest.fixture(scope="module")
def apps(secured: BenchServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("apps")
    database = secured.database
    app_key = ec.generate_private_key(ec.SECP384R1())
    (folder / "app.jwks").write_text(json.dumps(_public_jwks(app_key, "app-1", "ES384")))
    scope = "launch/patient openid fhirUser offline_access patient/*.rs user/*.rs"
    register = (
        "client",
        "register-app",
        "--database",
        database,
        "--redirect-uri",
        REDIRECT,
        "--scope",
        scope,
    )
    ehp(*register, "--client-id", "public-app")
    ehp(*register, "--client-id", "secret-app", "--secret", SECRET)
    ehp(*register, "--client-id", "keyed-app", "--jwks", str(folder / "app.jwks"))
    ehp("user", "add", "--database", database, "--username", "vera", "--subject", "Patient/vera-1",
        "--password", PASSWORD)  # fmt: skip
    backend_key = ec.generate_private_key(ec.SECP384R1())
    (folder / "backend.jwks").write_text(json.dumps(_public_jwks(backend_key, "clinic-1", "ES384")))
    ehp("client", "register", "--database", database, "--client-id", "clinic-system", "--subject",
        "Organization/clinic-1", "--jwks", str(folder / "backend.jwks"),
        "--scope", "system/*.rs")  # fmt: skip
    return {"app_key": app_key, "backend_key": backend_key, "folder": folder}


def _code(server: BenchServer, client_id: str, challenge: str, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid fhirUser offline_access patient/*.rs",
        "state": "s-1",
        "aud": server.base,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    } | extra
    page = httpx.get(f"{origin(server)}/auth/authorize", params=params, headers=ENGLISH)
    assert page.status_code == 200, page.text[:300]
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    answer = httpx.post(
        f"{origin(server)}/auth/authorize",
        data=fields | {"username": "vera", "password": PASSWORD},
        headers=ENGLISH,
    )
    assert answer.status_code == 302, answer.text[:300]
    return parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]


def _assertion(server: BenchServer, key: Any, client_id: str, alg: str, kid: str, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{origin(server)}/auth/token",
        "exp": now + 240,
        "jti": str(uuid.uuid4()),
    } | overrides
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})


def _token(server: BenchServer, data: dict[str, str], **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{origin(server)}/auth/token", data=data, **kwargs)


def test_authlib_backend_services_with_es384(secured: BenchServer, apps: dict[str, Any]) -> None:
    pem = apps["backend_key"].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    token_url = f"{origin(secured)}/auth/token"
    # SMART allows assertions of at most five minutes; authlib's default is an hour
    auth = PrivateKeyJWT(
        token_url, alg="ES384", headers={"kid": "clinic-1"}, claims={"exp": int(time.time()) + 240}
    )
    with OAuth2Client("clinic-system", ECKey.import_key(pem), token_endpoint_auth_method=auth) as session:
        token = session.fetch_token(token_url, grant_type="client_credentials", scope="system/Patient.rs")
    assert token["scope"] == "system/Patient.rs"
    answer = httpx.get(
        f"{secured.base}/Patient", headers={"Authorization": f"Bearer {token['access_token']}"}
    )
    assert answer.status_code == 200


def test_python_fhirclient_finds_the_endpoints(secured: BenchServer) -> None:
    smart = fhir_client.FHIRClient(
        settings={"app_id": "public-app", "api_base": secured.base, "redirect_uri": REDIRECT}
    )
    authorize = smart.authorize_url
    assert authorize is not None and authorize.startswith(f"{origin(secured)}/auth/authorize?")
    assert smart.server.auth._token_uri == f"{origin(secured)}/auth/token"
    assert parse_qs(urlsplit(authorize).query)["aud"] == [secured.base]


def test_public_app_refresh_rotation_and_replay(secured: BenchServer, apps: dict[str, Any]) -> None:
    verifier, challenge = pkce()
    nonce = secrets.token_urlsafe(8)
    code = _code(secured, "public-app", challenge, nonce=nonce)
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    granted = _token(secured, exchange | {"client_id": "public-app"})
    assert granted.status_code == 200, granted.text
    body = granted.json()
    identity = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert identity["nonce"] == nonce and identity["aud"] == "public-app"
    assert identity["fhirUser"] == f"{secured.base}/Patient/vera-1"
    first = body["refresh_token"]
    rotated = _token(secured, {"grant_type": "refresh_token", "refresh_token": first})
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["refresh_token"]
    assert second != first
    wider = _token(secured, {"grant_type": "refresh_token", "refresh_token": second, "scope": "user/*.cruds"})
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    replayed = _token(secured, {"grant_type": "refresh_token", "refresh_token": first})
    assert replayed.status_code == 400 and replayed.json()["error"] == "invalid_grant"
    after_replay = _token(secured, {"grant_type": "refresh_token", "refresh_token": second})
    assert after_replay.status_code == 400, "a replay ends the whole family, the thief's and the owner's"


def test_a_revoked_refresh_token_is_refused(secured: BenchServer, apps: dict[str, Any]) -> None:
    verifier, challenge = pkce()
    code = _code(secured, "public-app", challenge)
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    refresh = _token(secured, exchange | {"client_id": "public-app"}).json()["refresh_token"]
    assert httpx.post(f"{origin(secured)}/auth/revoke", data={"token": refresh}).status_code == 200
    refused = _token(secured, {"grant_type": "refresh_token", "refresh_token": refresh})
    assert refused.status_code in (400, 401) and refused.json()["error"] in (
        "invalid_grant",
        "invalid_client",
    )


def test_an_expired_refresh_token_is_refused(secured: BenchServer, apps: dict[str, Any]) -> None:
    verifier, challenge = pkce()
    code = _code(secured, "public-app", challenge)
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": "public-app",
    }
    refresh = _token(secured, exchange).json()["refresh_token"]
    engine = open_engine(secured.database, pool_size=1)
    try:  # its lifetime passes: the stored expiry is moved to a second ago
        with engine.begin() as connection:
            unused = (refresh_tokens.c.client_id == "public-app") & refresh_tokens.c.used.is_(None)
            connection.execute(update(refresh_tokens).where(unused).values(expires=int(time.time()) - 1))
    finally:
        engine.dispose()
    refused = _token(secured, {"grant_type": "refresh_token", "refresh_token": refresh})
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant", refused.text


def test_confidential_apps_authenticate(secured: BenchServer, apps: dict[str, Any]) -> None:
    verifier, challenge = pkce()
    code = _code(secured, "secret-app", challenge)
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    unauthenticated = _token(secured, exchange | {"client_id": "secret-app"})
    assert unauthenticated.status_code == 401 and unauthenticated.json()["error"] == "invalid_client"
    verifier, challenge = pkce()
    code = _code(secured, "secret-app", challenge)
    basic = "Basic " + base64.b64encode(f"secret-app:{SECRET}".encode()).decode()
    exchange |= {"code": code, "code_verifier": verifier}
    assert _token(secured, exchange, headers={"Authorization": basic}).status_code == 200

    verifier, challenge = pkce()
    code = _code(secured, "keyed-app", challenge)
    signed = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": _assertion(secured, apps["app_key"], "keyed-app", "ES384", "app-1"),
    }
    granted = _token(secured, signed)
    assert granted.status_code == 200, granted.text
    access = granted.json()["access_token"]

    introspect = f"{origin(secured)}/auth/introspect"
    anonymous = httpx.post(introspect, data={"token": access})
    assert anonymous.status_code == 401
    answer = httpx.post(introspect, data={"token": access}, headers={"Authorization": basic})
    assert answer.status_code == 200
    described = answer.json()
    assert described["active"] is True and described["sub"] == "Patient/vera-1"
    assert described["client_id"] == "keyed-app"
    junk = httpx.post(introspect, data={"token": "not-a-token"}, headers={"Authorization": basic})
    assert junk.json() == {"active": False}


@pytest.mark.parametrize(
    ("why", "alg", "kid", "overrides"),
    [
        ("unknown kid", "ES384", "no-such-key", {}),
        ("HMAC is never accepted", "HS256", "clinic-1", {}),
        ("wrong audience", "ES384", "clinic-1", {"aud": "https://elsewhere.example/token"}),
        ("lives too long", "ES384", "clinic-1", {"exp": int(time.time()) + 3600}),
    ],
)
def test_backend_assertions_refused(
    secured: BenchServer, apps: dict[str, Any], why: str, alg: str, kid: str, overrides: dict[str, Any]
) -> None:
    key = b"k" * 32 if alg == "HS256" else apps["backend_key"]
    data = {
        "grant_type": "client_credentials",
        "scope": "system/Patient.rs",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": _assertion(secured, key, "clinic-system", alg, kid, **overrides),
    }
    refused = _token(secured, data)
    assert refused.status_code == 401, (why, refused.text)
    assert refused.json()["error"] == "invalid_client"


def test_scope_wider_than_the_registration_and_wrong_aud(secured: BenchServer, apps: dict[str, Any]) -> None:
    data = {
        "grant_type": "client_credentials",
        "scope": "system/*.cruds",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": _assertion(secured, apps["backend_key"], "clinic-system", "ES384", "clinic-1"),
    }
    wider = _token(secured, data)
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    _, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": "public-app",
        "redirect_uri": REDIRECT,
        "scope": "patient/*.rs",
        "state": "s",
        "aud": "https://not-this-server.example/fhir",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    told = httpx.get(f"{origin(secured)}/auth/authorize", params=params)
    assert told.status_code == 302
    assert parse_qs(urlsplit(told.headers["location"]).query)["error"] == ["invalid_request"]


def test_a_doctor_gets_no_patient_scopes_without_a_patient_in_context(
    secured: BenchServer, apps: dict[str, Any]
) -> None:
    ehp("user", "add", "--database", secured.database, "--username", "dr-ivanov", "--subject",
        "Practitioner/ivanov", "--password", PASSWORD)  # fmt: skip
    verifier, challenge = pkce()
    params = {
        "response_type": "code",
        "client_id": "public-app",
        "redirect_uri": REDIRECT,
        "scope": "patient/*.rs user/*.rs",
        "state": "s",
        "aud": secured.base,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = httpx.get(f"{origin(secured)}/auth/authorize", params=params)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    answer = httpx.post(
        f"{origin(secured)}/auth/authorize", data=fields | {"username": "dr-ivanov", "password": PASSWORD}
    )
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    granted = _token(secured, exchange | {"client_id": "public-app"}).json()
    assert granted["scope"] == "user/*.rs" and "patient" not in granted


def test_rsa_pss_keys_load_for_apps(tmp_path: Path, secured: BenchServer) -> None:
    """An asymmetric app registers an RSA JWKS and may sign with PS256 or RS384."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "rsa.jwks").write_text(json.dumps(_public_jwks(key, "rsa-1", "PS256")))
    ehp("client", "register", "--database", secured.database, "--client-id", "rsa-system", "--subject",
        "Organization/clinic-2", "--jwks", str(tmp_path / "rsa.jwks"), "--scope", "system/*.rs")  # fmt: skip
    for alg in ("PS256", "RS384"):
        data = {
            "grant_type": "client_credentials",
            "scope": "system/Patient.rs",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": _assertion(secured, key, "rsa-system", alg, "rsa-1"),
        }
        assert _token(secured, data).status_code == 200, alg
