"""``/.well-known/smart-configuration``: what a SMART client needs to know about this server."""

from __future__ import annotations

from typing import Any

from ehp.security.authenticator import Authenticator


def smart_configuration_document(origin: str, authenticator: Authenticator | None) -> dict[str, Any]:
    """The SMART App Launch discovery document; only what the server really implements is listed."""
    settings = authenticator.settings if authenticator else None
    return {
        "issuer": settings.issuer if settings else None,
        "jwks_uri": settings.jwks_url if settings and settings.jwks_url else f"{origin}/auth/jwks",
        "authorization_endpoint": f"{origin}/auth/authorize",
        "token_endpoint": f"{origin}/auth/token",
        "revocation_endpoint": f"{origin}/auth/revoke",
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
        "scopes_supported": ["patient/*.rs", "user/*.cruds", "system/*.rs", "openid", "fhirUser"],
        "response_types_supported": ["code"],
        "capabilities": [
            "launch-standalone",
            "client-public",
            "client-confidential-asymmetric",
            "context-standalone-patient",
            "permission-patient",
            "permission-user",
            "permission-v1",
            "permission-v2",
        ],
        "code_challenge_methods_supported": ["S256"],
    }
