"""External identity providers EHP trusts (the national eGov ID, a region's OpenID provider).

``ehp serve --trusted-issuers FILE`` names them, a JSON list of objects::

    [{"issuer": "https://idp.egov.kz", "jwks_uri": "https://idp.egov.kz/jwks",
      "audience": "https://ehp.kz/fhir", "algorithms": ["PS256", "ES384"],
      "subject": "iin:iin"}]

``audience`` may be a list; ``algorithms`` defaults to RS256 and ES256 and may hold any asymmetric
JWS algorithm. ``subject`` says who the token's user is here:

- ``"fhirUser"``: the ``fhirUser`` claim, a (relative or absolute) URL of a Patient,
  Practitioner or PractitionerRole;
- ``"iin:<claim>"``: the claim holds an IIN; the user is the Patient or Practitioner with that
  IIN (``"subject_type"`` picks one when a person is both);
- ``"sub"``: ``sub`` itself must be ``Patient/ID``, ``Practitioner/ID``... (as before).

An issuer may also let users sign in to EHP's web pages (OpenID Connect authorization code flow,
EHP the relying party; :mod:`ehp.security.sign_in`)::

    "sign_in": {"id": "egov", "name": "eGov ID", "client_id": "ehp",
                "client_secret_file": "/etc/ehp/egov-secret", "scope": "openid"}

``id`` names it in URLs (``/auth/signin/egov``), ``name`` is what its button says, the secret is
given inline (``client_secret``) or, better, in a file. The provider must accept EHP's redirect URI,
``<public base>/auth/callback``. Its ID tokens' claims (with the UserInfo answer's, when the
``subject`` claim is not in the ID token) are mapped to the user as its access tokens' are.

``EHP_JWKS_URL`` with ``EHP_ISSUER`` and ``EHP_AUDIENCE`` is the one-issuer short form: that
provider replaces EHP's own issuer, and ``fhirUser`` is used when the token has one, else ``sub``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

JWS_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512")
DEFAULT_ALGORITHMS = ("RS256", "ES256")
SHORT_FORM_ALGORITHMS = ("RS256", "ES256", "PS256", "RS384", "ES384")
FHIR_USER = "fhirUser"
SUB = "sub"
FHIR_USER_OR_SUB = "fhirUser-or-sub"
IIN_PREFIX = "iin:"
USER_TYPES = ("Patient", "Practitioner", "PractitionerRole")
TRUSTED_ISSUERS_VARIABLE = "EHP_TRUSTED_ISSUERS"
"""The file ``ehp serve --trusted-issuers`` names, for every worker process."""

IinLookup = Callable[[str], list[str]]
"""References (``Patient/ID``, ``Practitioner/ID``) of the people holding an IIN."""


@dataclass(frozen=True, slots=True)
class SignInClient:
    """EHP as a client of a provider's sign-in (OpenID Connect relying party)."""

    id: str
    name: str
    client_id: str
    client_secret: str
    scope: str = "openid"


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    issuer: str
    jwks_uri: str
    audience: tuple[str, ...]
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    subject: str = FHIR_USER
    subject_type: str | None = None
    sign_in: SignInClient | None = None

    def subject_of(self, claims: dict[str, Any], lookup: IinLookup | None) -> str:
        """The acting subject of a verified token of this issuer (``LookupError``: nobody here)."""
        if self.subject == SUB:
            return str(claims["sub"])
        if self.subject in (FHIR_USER, FHIR_USER_OR_SUB):
            value = claims.get("fhirUser")
            if value is None and self.subject == FHIR_USER_OR_SUB:
                return str(claims["sub"])
            if not isinstance(value, str):
                raise LookupError("the token has no fhirUser claim")
            return _reference(value)
        claim = self.subject.removeprefix(IIN_PREFIX)
        iin = claims.get(claim)
        if not isinstance(iin, str) or not iin.isdigit() or len(iin) != 12:
            raise LookupError(f"the token's {claim[:40]} claim is not an IIN")
        if lookup is None:
            raise LookupError("IIN users cannot be looked up on this server")
        holders = [
            ref for ref in lookup(iin) if self.subject_type is None or ref.startswith(f"{self.subject_type}/")
        ]
        if len(holders) != 1:
            raise LookupError(
                "no Patient or Practitioner holds the IIN"
                if not holders
                else "the IIN is held by several records (set subject_type for this issuer)"
            )
        return holders[0]


def _reference(url: str) -> str:
    parts = url.rstrip("/").split("/")
    if len(parts) < 2 or parts[-2] not in USER_TYPES:
        raise LookupError(f"fhirUser {url[:100]!r} is not a Patient, Practitioner or PractitionerRole")
    return f"{parts[-2]}/{parts[-1]}"


def parse_trusted_issuers(document: Any) -> list[TrustedIssuer]:
    """The issuers of a ``--trusted-issuers`` document; ``ValueError`` says what is wrong."""
    if not isinstance(document, list):
        raise ValueError("the trusted issuers file must hold a JSON list of objects")
    found = []
    for number, item in enumerate(document, 1):
        if not isinstance(item, dict):
            raise ValueError(f"issuer {number}: not an object")
        unknown = set(item) - {
            "issuer",
            "jwks_uri",
            "audience",
            "algorithms",
            "subject",
            "subject_type",
            "sign_in",
        }
        if unknown:
            raise ValueError(f"issuer {number}: unknown keys {sorted(unknown)}")
        issuer, jwks_uri = item.get("issuer"), item.get("jwks_uri")
        if not isinstance(issuer, str) or not issuer:
            raise ValueError(f"issuer {number}: 'issuer' must be a string")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise ValueError(f"issuer {number}: 'jwks_uri' must be an http(s) URL")
        audience = item.get("audience")
        audiences = (audience,) if isinstance(audience, str) else tuple(audience or ())
        if not audiences or not all(isinstance(a, str) and a for a in audiences):
            raise ValueError(f"issuer {number}: 'audience' must be a string or a list of strings")
        algorithms = tuple(item.get("algorithms") or DEFAULT_ALGORITHMS)
        bad = [a for a in algorithms if a not in JWS_ALGORITHMS]
        if bad:
            raise ValueError(f"issuer {number}: algorithms {bad} are not asymmetric JWS algorithms")
        subject = item.get("subject", FHIR_USER)
        if not isinstance(subject, str) or not (
            subject in (FHIR_USER, SUB) or (subject.startswith(IIN_PREFIX) and len(subject) > len(IIN_PREFIX))
        ):
            raise ValueError(f"issuer {number}: 'subject' must be 'fhirUser', 'sub' or 'iin:<claim name>'")
        subject_type = item.get("subject_type")
        if subject_type is not None and subject_type not in ("Patient", "Practitioner"):
            raise ValueError(f"issuer {number}: 'subject_type' must be Patient or Practitioner")
        sign_in = _sign_in(number, item["sign_in"]) if "sign_in" in item else None
        found.append(TrustedIssuer(issuer, jwks_uri, audiences, algorithms, subject, subject_type, sign_in))
    issuers = [issuer.issuer for issuer in found]
    if len(set(issuers)) != len(issuers):
        raise ValueError("an issuer is listed twice")
    ids = [issuer.sign_in.id for issuer in found if issuer.sign_in is not None]
    if len(set(ids)) != len(ids):
        raise ValueError("two issuers' sign_in have the same id")
    return found


def _sign_in(number: int, item: Any) -> SignInClient:
    if not isinstance(item, dict):
        raise ValueError(f"issuer {number}: 'sign_in' must be an object")
    unknown = set(item) - {"id", "name", "client_id", "client_secret", "client_secret_file", "scope"}
    if unknown:
        raise ValueError(f"issuer {number}: unknown sign_in keys {sorted(unknown)}")
    slug, client_id = item.get("id"), item.get("client_id")
    if not isinstance(slug, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,31}", slug):
        raise ValueError(f"issuer {number}: sign_in 'id' must be 1-32 lower-case letters, digits or '-'")
    if not isinstance(client_id, str) or not client_id:
        raise ValueError(f"issuer {number}: sign_in 'client_id' must be a string")
    secret = item.get("client_secret")
    if "client_secret_file" in item:
        try:
            secret = Path(str(item["client_secret_file"])).read_text().strip()
        except OSError as failure:
            raise ValueError(f"issuer {number}: cannot read sign_in's secret file: {failure}") from None
    if not isinstance(secret, str) or not secret:
        raise ValueError(f"issuer {number}: sign_in needs 'client_secret' or 'client_secret_file'")
    scope = item.get("scope", "openid")
    if not isinstance(scope, str) or "openid" not in scope.split():
        raise ValueError(f"issuer {number}: sign_in 'scope' must be a string holding 'openid'")
    name = item.get("name", slug)
    if not isinstance(name, str) or not name:
        raise ValueError(f"issuer {number}: sign_in 'name' must be a string")
    return SignInClient(slug, name, client_id, secret, scope)


def load_trusted_issuers(path: Path) -> list[TrustedIssuer]:
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as failure:
        raise ValueError(f"cannot read the trusted issuers file {path}: {failure}") from None
    return parse_trusted_issuers(document)
