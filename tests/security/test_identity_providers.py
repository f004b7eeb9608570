"""External identity providers: ``oidc-provider`` (npm, unmodified) plays the national eGov ID.

Two providers run, each trusted through ``ehp serve --trusted-issuers``: one names its user with a
``fhirUser`` claim, the other with an IIN claim that EHP maps to the Practitioner holding that IIN.
Their ES384 JWT access tokens then act as that doctor, under the doctor's legal bases. Every token
problem (an unknown ``kid``, a disallowed algorithm, an untrusted issuer, an IIN nobody holds) is a
401 OperationOutcome, never a 500.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ehp.bench.servers import BenchServer, free_port
from ehp.registry.iin import IIN_SYSTEM, make_iin
from ehp.security.authenticator import DEFAULT_AUDIENCE
from ehp.security.issuers import TrustedIssuer, parse_trusted_issuers
from tests.access.conftest import World, _put, give_world_roles, world_resources
from tests.servers import database_url

CLIENTS = Path(__file__).parents[1] / "clients"
DOCTOR_IIN = make_iin(date(1979, 5, 17), "female", 4321)
PROVIDER_SECRET = "a-test-secret-for-the-provider"


class Provider:
    def __init__(
        self, claim: str, value: str, log: Path, sign_in: tuple[str, str, str] | None = None
    ) -> None:
        """``sign_in``: (EHP's redirect URI, where the claim rides, the ID token's algorithm)."""
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        command = ["node", str(CLIENTS / "idp.mjs"), str(self.port), claim, value, DEFAULT_AUDIENCE]
        command += list(sign_in or ())
        self.process = subprocess.Popen(command, stdout=log.open("ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                self.discovery = httpx.get(
                    f"{self.issuer}/.well-known/openid-configuration", timeout=2
                ).json()
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"oidc-provider did not start:\n{log.read_text()[-2000:]}") from None
                time.sleep(0.2)

    def token(self) -> str:
        answer = httpx.post(
            self.discovery["token_endpoint"],
            data={"grant_type": "client_credentials", "scope": "user/*.rs"},
            auth=("ehp-test", PROVIDER_SECRET),
        )
        assert answer.status_code == 200, answer.text
        token: str = answer.json()["access_token"]
        return token

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def providers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Provider]]:
    assert DOCTOR_IIN is not None
    log = tmp_path_factory.mktemp("idp") / "idp.log"
    started = {"fhirUser": Provider("fhirUser", "Practitioner/doc-A", log)}
    try:
        started["iin"] = Provider("iin", DOCTOR_IIN, log)
        yield started
    finally:
        for provider in started.values():
            provider.stop()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, providers: dict[str, Provider]) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("trusted")
    trusted: list[dict[str, Any]] = [
        {
            "issuer": providers["fhirUser"].issuer,
            "jwks_uri": providers["fhirUser"].discovery["jwks_uri"],
            "audience": DEFAULT_AUDIENCE,
            "algorithms": ["ES384", "PS256"],
            "subject": "fhirUser",
        },
        {
            "issuer": providers["iin"].issuer,
            "jwks_uri": providers["iin"].discovery["jwks_uri"],
            "audience": [DEFAULT_AUDIENCE],
            "algorithms": ["ES384"],
            "subject": "iin:iin",
            "subject_type": "Practitioner",
        },
    ]
    (folder / "trusted.json").write_text(json.dumps(trusted))
    with (
        database_url("sqlite", folder) as url,
        BenchServer(
            url,
            folder / "server.log",
            auth="required",
            extra_args=["--trusted-issuers", str(folder / "trusted.json")],
        ) as server,
    ):
        built = World(server, give_world_roles(url))
        resources = world_resources()
        for resource in resources:
            if resource["resourceType"] == "Practitioner" and resource["id"] == "doc-A":
                resource["identifier"] = [{"system": IIN_SYSTEM, "value": DOCTOR_IIN}]
        with built.client("admin", "system/*.cruds") as admin:
            bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [_put(r) for r in resources]}
            assert admin.post("", json=bundle).status_code == 200
        yield built


@pytest.mark.parametrize("kind", ["fhirUser", "iin"])
def test_a_providers_token_acts_as_its_user(world: World, providers: dict[str, Provider], kind: str) -> None:
    headers = {"Authorization": f"Bearer {providers[kind].token()}"}
    assert httpx.get(f"{world.server.base}/Patient/pat-P", headers=headers).status_code == 200
    assert httpx.get(f"{world.server.base}/Patient/pat-Q", headers=headers).status_code == 404
    log = httpx.get(
        f"{world.server.base}/AuditEvent",
        params={"patient": "Patient/pat-P", "_count": "200"},
        headers={"Authorization": f"Bearer {world.token('admin', 'system/*.rs')}"},
    ).json()
    actors = json.dumps(log)
    assert "Practitioner/doc-A" in actors, "the access is audited as the doctor"


def _forged(issuer: str, key: Any, alg: str, kid: str, **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": issuer,
        "aud": DEFAULT_AUDIENCE,
        "sub": "x",
        "iat": now,
        "exp": now + 300,
        "scope": "user/*.rs",
    }
    return jwt.encode(body | claims, key, algorithm=alg, headers={"kid": kid})


def test_token_problems_are_401_operation_outcomes(world: World, providers: dict[str, Provider]) -> None:
    fhir_user = providers["fhirUser"].issuer
    ec_key = ec.generate_private_key(ec.SECP384R1())
    cases = {
        "unknown key": (
            _forged(fhir_user, ec_key, "ES384", "made-up", fhirUser="Practitioner/doc-A"),
            "unknown key",
        ),
        "disallowed algorithm": (
            _forged(fhir_user, rsa.generate_private_key(65537, 2048), "RS256", "idp-rs256", fhirUser="x"),
            "'RS256' is not accepted",
        ),
        "untrusted issuer": (
            _forged("https://idp.elsewhere.example", ec_key, "ES384", "k"),
            "not accepted here",
        ),
        "forged signature": (_forged(providers["iin"].issuer, ec_key, "ES384", "idp-es384"), "Signature"),
    }
    for why, (token, told) in cases.items():
        answer = httpx.get(f"{world.server.base}/Patient/pat-P", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, (why, answer.text)
        outcome = answer.json()
        assert outcome["resourceType"] == "OperationOutcome", why
        assert told in outcome["issue"][0]["diagnostics"], (why, outcome)


def test_subject_mapping_refuses_what_it_cannot_map() -> None:
    by_iin = TrustedIssuer("https://idp", "https://idp/jwks", ("aud",), subject="iin:iin")
    holders = {"880101300111": ["Patient/a"], "880101300222": ["Patient/b", "Practitioner/b"]}
    lookup = lambda iin: holders.get(iin, [])  # noqa: E731
    assert by_iin.subject_of({"iin": "880101300111"}, lookup) == "Patient/a"
    for claims in ({"iin": "990101300123"}, {"iin": "880101300222"}, {"iin": "not-an-iin"}, {}):
        with pytest.raises(LookupError):
            by_iin.subject_of(claims, lookup)
    practitioner = TrustedIssuer(
        "https://idp", "https://idp/jwks", ("aud",), subject="iin:iin", subject_type="Practitioner"
    )
    assert practitioner.subject_of({"iin": "880101300222"}, lookup) == "Practitioner/b"
    fhir_user = TrustedIssuer("https://idp", "https://idp/jwks", ("aud",))
    assert fhir_user.subject_of({"fhirUser": "https://ehp.kz/fhir/Practitioner/7"}, None) == "Practitioner/7"
    with pytest.raises(LookupError):
        fhir_user.subject_of({"fhirUser": "Organization/7"}, None)
    with pytest.raises(ValueError, match="subject"):
        parse_trusted_issuers(
            [{"issuer": "x", "jwks_uri": "https://x/j", "audience": "a", "subject": "email"}]
        )
    with pytest.raises(ValueError, match="asymmetric"):
        parse_trusted_issuers(
            [{"issuer": "x", "jwks_uri": "https://x/j", "audience": "a", "algorithms": ["HS256"]}]
        )
