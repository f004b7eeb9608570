"""Discovery: ``/.well-known/smart-configuration`` (SMART App Launch 2) and
``/.well-known/openid-configuration`` (OpenID Connect), listing only what really works."""

from __future__ import annotations

from typing import Any

from ehp.security.assertions import ASSERTION_ALGORITHMS
from ehp.security.authenticator import Authenticator
from ehp.security.tokens import EHP_ALGORITHM

SCOPES = [
    "openid",
    "fhirUser",
    "profile",
    "launch",
    "launch/patient",
    "offline_access",
    "online_access",
    "patient/*.cruds",
    "patient/*.rs",
    "user/*.cruds",
    "user/*.rs",
    "system/*.cruds",
    "system/*.rs",
]


def smart_configuration_document(origin: str, authenticator: Authenticator | None) -> dict[str, Any]:
    """The SMART App Launch discovery document; only what the server really implements is listed."""
    settings = authenticator.settings if authenticator else None
    embedded = authenticator is None or authenticator.embedded
    document: dict[str, Any] = {
        "issuer": settings.issuer if settings else None,
        "jwks_uri": f"{origin}/auth/jwks" if embedded else settings.jwks_url if settings else None,
        "token_endpoint": f"{origin}/auth/token",
        "revocation_endpoint": f"{origin}/auth/revoke",
        "introspection_endpoint": f"{origin}/auth/introspect",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "scopes_supported": SCOPES if embedded else [s for s in SCOPES if s.startswith("system/")],
        "response_types_supported": ["code"] if embedded else [],
        "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
        "code_challenge_methods_supported": ["S256"],
    }
    if embedded:
        document |= {
            "authorization_endpoint": f"{origin}/auth/authorize",
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic", "none"],
            "id_token_signing_alg_values_supported": [EHP_ALGORITHM],
        }
        document["capabilities"] += [
            "launch-ehr",
            "launch-standalone",
            "client-public",
            "client-confidential-symmetric",
            "context-ehr-patient",
            "context-standalone-patient",
            "context-banner",
            "permission-offline",
            "permission-online",
            "permission-patient",
            "permission-user",
            "sso-openid-connect",
        ]
    return document


def openid_configuration_document(origin: str, authenticator: Authenticator | None) -> dict[str, Any]:
    """OpenID Connect discovery, for apps that sign users in with EHP's issuer."""
    smart = smart_configuration_document(origin, authenticator)
    return {
        "issuer": smart["issuer"],
        "authorization_endpoint": smart.get("authorization_endpoint"),
        "token_endpoint": smart["token_endpoint"],
        "jwks_uri": smart["jwks_uri"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [EHP_ALGORITHM],
        "scopes_supported": ["openid", "fhirUser", "profile"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nonce", "fhirUser"],
        "token_endpoint_auth_methods_supported": smart["token_endpoint_auth_methods_supported"],
        "code_challenge_methods_supported": ["S256"],
    }
