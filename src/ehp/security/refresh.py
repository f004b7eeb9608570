"""Refresh tokens of SMART apps (``offline_access``, ``online_access``).

Only the SHA-256 of a refresh token is stored. Each is used once: a refresh answers with a new
access token and a new refresh token of the same family (rotation). Presenting a used one again is
a replay, as when a stolen token races its owner: the whole family ends, so neither can go on.
``/auth/revoke`` of a refresh token ends its family too; removing the user or the app (a subject
revocation) stops every family issued before.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, select, update

from ehp.security.assertions import OAuthError
from ehp.security.launch_schema import refresh_tokens
from ehp.security.schema import revocations
from ehp.store.database import writer

OFFLINE_SECONDS = 90 * 24 * 3600
"""An ``offline_access`` family lives 90 days from its first token (then the user logs in again)."""
ONLINE_SECONDS = 12 * 3600
"""``online_access``: a working day; the app's user is expected to be at it."""


@dataclass(frozen=True, slots=True)
class RefreshGrant:
    family: str
    client_id: str
    subject: str
    scope: str
    patient: str | None
    issued: int
    expires: int


def lifetime(scope: str) -> int | None:
    """How long a refresh family of this scope lives (``None``: the scope asks for no refresh token)."""
    words = scope.split()
    if "offline_access" in words:
        return OFFLINE_SECONDS
    if "online_access" in words:
        return ONLINE_SECONDS
    return None


def issue_refresh(
    engine: Engine,
    client_id: str,
    subject: str,
    scope: str,
    patient: str | None,
    *,
    family: str | None = None,
    expires: int | None = None,
) -> str | None:
    """A new refresh token (``None`` when the scope asks for none). A rotation keeps the family and
    its expiry."""
    seconds = lifetime(scope)
    if seconds is None:
        return None
    token = secrets.token_urlsafe(32)
    now = int(time.time())
    with writer(engine).begin() as connection:
        connection.execute(delete(refresh_tokens).where(refresh_tokens.c.expires < now))
        connection.execute(
            refresh_tokens.insert().values(
                token_hash=_hash(token),
                family=family or secrets.token_hex(16),
                client_id=client_id,
                subject=subject,
                scope=scope,
                patient=patient,
                issued=now,
                expires=expires if expires is not None else now + seconds,
                used=None,
            )
        )
    return token


def use_refresh(engine: Engine, token: str, client_id: str, issuer: str) -> RefreshGrant:
    """Spend a refresh token of ``client_id``; a replay ends its family."""
    now = int(time.time())
    with writer(engine).begin() as connection:
        row = connection.execute(
            select(refresh_tokens).where(refresh_tokens.c.token_hash == _hash(token))
        ).first()
        if row is None or row.expires < now or row.client_id != client_id:
            raise OAuthError("invalid_grant", "the refresh token is unknown, expired or another app's")
        if row.used is not None:
            connection.execute(delete(refresh_tokens).where(refresh_tokens.c.family == row.family))
            replay = True
        else:
            connection.execute(
                update(refresh_tokens).where(refresh_tokens.c.token_hash == row.token_hash).values(used=now)
            )
            replay = False
        first_issued = connection.execute(
            select(func.min(refresh_tokens.c.issued)).where(refresh_tokens.c.family == row.family)
        ).scalar()
        removed = connection.execute(
            select(func.max(revocations.c.revoked)).where(
                revocations.c.kind == "subject",
                revocations.c.value == row.subject,
                revocations.c.issuer == issuer,
            )
        ).scalar()
    if replay:
        raise OAuthError("invalid_grant", "the refresh token was already used: its family is revoked")
    if removed is not None and removed >= (first_issued or row.issued):
        end_family(engine, row.family)
        raise OAuthError("invalid_grant", "the user or app of this refresh token was removed")
    return RefreshGrant(
        row.family, row.client_id, row.subject, row.scope, row.patient, row.issued, row.expires
    )


def revoke_refresh(engine: Engine, token: str) -> bool:
    """End the family of a refresh token (RFC 7009); whether it was one."""
    with writer(engine).begin() as connection:
        family = connection.execute(
            select(refresh_tokens.c.family).where(refresh_tokens.c.token_hash == _hash(token))
        ).scalar()
        if family is not None:
            connection.execute(delete(refresh_tokens).where(refresh_tokens.c.family == family))
    return family is not None


def refresh_info(engine: Engine, token: str) -> RefreshGrant | None:
    """A live, unused refresh token's grant (for introspection)."""
    with engine.connect() as connection:
        row = connection.execute(
            select(refresh_tokens).where(refresh_tokens.c.token_hash == _hash(token))
        ).first()
    if row is None or row.used is not None or row.expires < time.time():
        return None
    return RefreshGrant(
        row.family, row.client_id, row.subject, row.scope, row.patient, row.issued, row.expires
    )


def refresh_client(engine: Engine, token: str) -> str | None:
    """The app a refresh token was issued to, used or not (a replay must still end its family)."""
    with engine.connect() as connection:
        client_id = connection.execute(
            select(refresh_tokens.c.client_id).where(refresh_tokens.c.token_hash == _hash(token))
        ).scalar()
    return str(client_id) if client_id is not None else None


def end_family(engine: Engine, family: str) -> None:
    with writer(engine).begin() as connection:
        connection.execute(delete(refresh_tokens).where(refresh_tokens.c.family == family))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
