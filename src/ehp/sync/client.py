"""A node's HTTP client of the centre, authenticated with SMART Backend Services when configured.

The node signs a client assertion with its private key (``--client-key``, EC P-256 or RSA PEM),
exchanges it at the centre's ``/auth/token`` for an access token and refreshes it before it
expires. Transport failures and 5xx answers raise :class:`CentralUnavailable` (retry later);
4xx answers raise :class:`CentralRefused` (a configuration or protocol problem, logged loudly).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from ehp.security.backend_services import ASSERTION_TYPE
from ehp.sync.protocol import NDJSON, decode_lines

NODE_SCOPE = "system/*.cruds"
"""What a node asks for: it writes every kind of resource its people have."""


class CentralUnavailable(Exception):
    """The centre could not be reached or failed; try again later."""


class CentralRefused(Exception):
    """The centre refused the request (4xx): its message says why."""


class CentralNotReady(Exception):
    """409 to a batch sent ahead: the centre has not applied the batch before it yet."""


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    key_pem: bytes

    @classmethod
    def from_file(cls, client_id: str, key_file: Path) -> ClientCredentials:
        return cls(client_id, key_file.read_bytes())


def central_origin(url: str) -> str:
    """``http://host:port`` from the centre's base or FHIR URL (``.../fhir`` is accepted)."""
    return url.rstrip("/").removesuffix("/fhir")


class CentralClient:
    def __init__(
        self, central: str, node_id: str, credentials: ClientCredentials | None, timeout: float = 60.0
    ) -> None:
        self.origin = central_origin(central)
        self.node_id = node_id
        self._credentials = credentials
        self._http = httpx.Client(timeout=timeout)
        self._token: str | None = None
        self._token_expires = 0.0

    def close(self) -> None:
        self._http.close()

    def post_changes(self, body: bytes, after: int | None = None) -> dict[str, Any]:
        """Send a batch; ``after`` when an earlier batch may still be on its way (see the protocol)."""
        params = {} if after is None else {"after": after}
        response = self._call(
            "POST", "/sync/changes", content=body, headers={"Content-Type": NDJSON}, params=params
        )
        answer: dict[str, Any] = orjson.loads(response.content)
        return answer

    def register(self, organizations: list[str]) -> None:
        body = orjson.dumps({"node": self.node_id, "organizations": organizations})
        self._call("POST", "/sync/nodes", content=body, headers={"Content-Type": "application/json"})

    def feed(self, after: int, limit: int, wait: int) -> list[bytes]:
        params = {"after": after, "limit": limit, "wait": wait}
        response = self._call("GET", "/sync/feed", params=params, timeout=wait + 30.0)
        return list(decode_lines(response.content))

    def passport(self, patient_id: str, after: int, limit: int) -> list[bytes]:
        params: dict[str, Any] = {"patient": patient_id, "after": after, "limit": limit}
        return list(decode_lines(self._call("GET", "/sync/passport", params=params).content))

    def digest(self, patient_id: str) -> list[tuple[str, str, int, str]]:
        answer = orjson.loads(self._call("GET", "/sync/digest", params={"patient": patient_id}).content)
        return [(str(t), str(i), int(v), str(h)) for t, i, v, h in answer["versions"]]

    def _call(self, method: str, path: str, **options: Any) -> httpx.Response:
        params = dict(options.pop("params", {}))
        params["node"] = self.node_id
        headers = dict(options.pop("headers", {}))
        for attempt in range(2):
            if self._credentials is not None:
                headers["Authorization"] = f"Bearer {self._access_token()}"
            try:
                response = self._http.request(
                    method, self.origin + path, params=params, headers=headers, **options
                )
            except httpx.HTTPError as failure:
                raise CentralUnavailable(f"{self.origin}: {failure}") from None
            if response.status_code == 401 and attempt == 0 and self._credentials is not None:
                self._token = None
                continue
            if response.status_code == 409 and path == "/sync/changes":
                raise CentralNotReady(response.text[:500])
            if response.status_code >= 500:
                raise CentralUnavailable(f"{self.origin}{path}: HTTP {response.status_code}")
            if response.status_code >= 400:
                raise CentralRefused(
                    f"{self.origin}{path}: HTTP {response.status_code}: {response.text[:2000]}"
                )
            return response
        raise CentralRefused(f"{self.origin}{path}: the centre refused the node's access token")

    def _access_token(self) -> str:
        if self._token is not None and time.time() < self._token_expires - 30:
            return self._token
        assert self._credentials is not None
        endpoint = f"{self.origin}/auth/token"
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": _assertion(self._credentials, endpoint),
            "scope": NODE_SCOPE,
        }
        try:
            response = self._http.post(endpoint, data=form)
        except httpx.HTTPError as failure:
            raise CentralUnavailable(f"{endpoint}: {failure}") from None
        if response.status_code >= 500:
            raise CentralUnavailable(f"{endpoint}: HTTP {response.status_code}")
        if response.status_code != 200:
            raise CentralRefused(
                f"{endpoint}: the centre refused the node's credentials: {response.text[:500]}"
            )
        answer = response.json()
        self._token = str(answer["access_token"])
        self._token_expires = time.time() + float(answer.get("expires_in", 300))
        return self._token


def _assertion(credentials: ClientCredentials, audience: str) -> str:
    key = load_pem_private_key(credentials.key_pem, password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = "ES256"
    elif isinstance(key, rsa.RSAPrivateKey):
        algorithm = "RS256"
    else:
        raise ValueError("the client key must be an EC P-256 or an RSA private key (PEM)")
    now = int(time.time())
    claims = {
        "iss": credentials.client_id,
        "sub": credentials.client_id,
        "aud": audience,
        "iat": now,
        "exp": now + 240,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm=algorithm)
