"""Public keys fetched from a JWKS URL (a client's, an external identity provider's).

A set is fetched on first use and again when a JWT names a ``kid`` it does not hold, but at most
once a minute per URL: a stream of tokens with made-up ``kid`` values cannot make EHP hammer the
identity provider. Any failure to get keys is a :class:`KeysUnavailable` (a ``LookupError``), which
callers turn into a 401, never a 500.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import jwt

REFETCH_SECONDS = 60.0
MAX_JWKS_BYTES = 256 * 1024
FETCH_TIMEOUT_SECONDS = 5.0


class KeysUnavailable(LookupError):
    """No usable key: the JWKS could not be fetched, or holds no key with that ``kid``."""


class JwksCache:
    """JWKS by URL, shared by the process."""

    def __init__(self, refetch_seconds: float = REFETCH_SECONDS) -> None:
        self._lock = threading.Lock()
        self._sets: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._refetch_seconds = refetch_seconds

    def keys(self, url: str, kid: str | None) -> list[dict[str, Any]]:
        """The keys of the set at ``url``, fetched again if ``kid`` is not among them (rate-limited)."""
        with self._lock:
            cached = self._sets.get(url)
        now = time.monotonic()
        if cached is not None:
            fetched_at, known = cached
            if kid is None or any(jwk.get("kid") == kid for jwk in known):
                return known
            if now - fetched_at < self._refetch_seconds:
                return known
        fresh = fetch_jwks(url)
        with self._lock:
            self._sets[url] = (now, fresh)
        return fresh

    def key(self, url: str, kid: str | None, algorithm: str) -> Any:
        """The verification key for a JWT's header (``kid``, ``alg``)."""
        return key_in(self.keys(url, kid), kid, algorithm)


def fetch_jwks(url: str) -> list[dict[str, Any]]:
    try:
        answer = httpx.get(url, timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False)
        if answer.status_code != 200:
            raise KeysUnavailable(f"the JWKS at {url[:100]} answered HTTP {answer.status_code}")
        if len(answer.content) > MAX_JWKS_BYTES:
            raise KeysUnavailable(f"the JWKS at {url[:100]} is larger than {MAX_JWKS_BYTES} bytes")
        document = json.loads(answer.content)
    except (httpx.HTTPError, ValueError) as failure:
        raise KeysUnavailable(f"the JWKS at {url[:100]} could not be fetched: {failure}") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeysUnavailable(f"{url[:100]} does not serve a JWKS")
    return [jwk for jwk in document["keys"] if isinstance(jwk, dict)]


_FAMILY = {"E": "EC", "R": "RSA", "P": "RSA"}


def key_in(candidates: list[dict[str, Any]], kid: str | None, algorithm: str) -> Any:
    """The key of ``candidates`` with this ``kid`` (any, when the JWT names none) that can verify
    ``algorithm``: an RS256 header over an EC key finds nothing rather than failing later."""
    family = _FAMILY.get(algorithm[:1])
    for jwk in candidates:
        if jwk.get("kty") != family or (kid is not None and jwk.get("kid") != kid):
            continue
        if jwk.get("use", "sig") != "sig":
            continue
        try:
            return jwt.PyJWK(jwk, algorithm=algorithm).key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
    raise KeysUnavailable(f"no {family or algorithm} signing key with kid {str(kid)[:64]!r}")


def check_public_jwks(jwks: Any) -> dict[str, Any]:
    """A JWKS given at registration: at least one public key PyJWT can load, no private parts."""
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list) or not jwks["keys"]:
        raise ValueError("the JWKS must hold at least one key")
    for jwk in jwks["keys"]:
        if not isinstance(jwk, dict) or "d" in jwk:
            raise ValueError("the JWKS holds a private key (or no key object): register public keys only")
        try:
            jwt.PyJWK(jwk)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as failure:
            raise ValueError(f"a key of the JWKS cannot be used: {failure}") from None
    return jwks
