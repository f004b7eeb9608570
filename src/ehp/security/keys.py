"""The embedded issuer's signing keys (ES256, P-256), kept in the database so that every server
process on it, and ``ehp token``, sign and verify with the same keys; published as a JWKS.
Stored encrypted with a key-encryption key held outside the database (``key_encryption.py``)."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import Engine, select, update

from ehp.security.key_encryption import is_sealed, load_kek, seal, unseal
from ehp.security.schema import signing_keys
from ehp.store.database import writer


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private_key: ec.EllipticCurvePrivateKey

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "ES256"})
        return jwk


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _load(kid: str, pem: str) -> SigningKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return SigningKey(kid, key)


def signing_key(engine: Engine) -> SigningKey:
    """The current signing key, created on first use (safe when several processes start at once)."""
    keys = all_keys(engine)
    if keys:
        return keys[0]
    key = ec.generate_private_key(ec.SECP256R1())
    with writer(engine).begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(727274003)")
        existing = connection.execute(select(signing_keys.c.kid)).first()
        if existing is None:
            kid = str(uuid.uuid4())
            connection.execute(
                signing_keys.insert().values(
                    kid=kid, private_pem=seal(load_kek(), kid, _pem(key)), created=int(time.time())
                )
            )
    return all_keys(engine)[0]


def all_keys(engine: Engine) -> list[SigningKey]:
    """Every key that may have signed a live token, newest first (a plain PEM left by an older
    version is encrypted on the way)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(signing_keys.c.kid, signing_keys.c.private_pem).order_by(signing_keys.c.created.desc())
        ).all()
    if not rows:
        return []
    kek = load_kek()
    plain = [row for row in rows if not is_sealed(row.private_pem)]
    if plain:
        with writer(engine).begin() as connection:
            for row in plain:
                connection.execute(
                    update(signing_keys)
                    .where(signing_keys.c.kid == row.kid, signing_keys.c.private_pem == row.private_pem)
                    .values(private_pem=seal(kek, row.kid, row.private_pem))
                )
    return [
        _load(
            row.kid, unseal(kek, row.kid, row.private_pem) if is_sealed(row.private_pem) else row.private_pem
        )
        for row in rows
    ]


def rekey(engine: Engine, new_kek: bytes) -> int:
    """Encrypt every signing key with ``new_kek`` (after reading it with the current KEK)."""
    keys = all_keys(engine)
    with writer(engine).begin() as connection:
        for key in keys:
            connection.execute(
                update(signing_keys)
                .where(signing_keys.c.kid == key.kid)
                .values(private_pem=seal(new_kek, key.kid, _pem(key.private_key)))
            )
    return len(keys)
