"""People who log in (SMART App Launch), with scrypt password hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from sqlalchemy import Engine, delete, select

from ehp.security.launch_schema import users
from ehp.security.tokens import check_subject
from ehp.store.database import writer

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P)
    return "$".join(("scrypt", str(_N), str(_R), str(_P), _b64(salt), _b64(digest)))


def password_matches(stored: str, password: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        computed = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p))
    except ValueError:
        return False
    return hmac.compare_digest(computed, _unb64(digest))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def add_user(engine: Engine, username: str, subject: str, password: str) -> None:
    """Create (or replace) a user who logs in as ``subject``."""
    check_subject(subject)
    if subject.startswith("Organization/"):
        raise ValueError("people log in as Practitioner/ID, PractitionerRole/ID, Patient/ID or admin")
    if len(password) < 8:
        raise ValueError("the password must have at least 8 characters")
    with writer(engine).begin() as connection:
        connection.execute(delete(users).where(users.c.username == username))
        connection.execute(
            users.insert().values(
                username=username,
                subject=subject,
                password_hash=hash_password(password),
                created=int(time.time()),
            )
        )


def authenticate(engine: Engine, username: str, password: str) -> str | None:
    """The subject of the user with these credentials, or ``None``."""
    with engine.connect() as connection:
        row = connection.execute(select(users).where(users.c.username == username)).first()
    if row is None:
        hash_password(password)  # as slow as a real check: timing does not tell who exists
        return None
    return str(row.subject) if password_matches(row.password_hash, password) else None


def remove_user(engine: Engine, username: str) -> str | None:
    """Delete a user; returns the subject they logged in as (``None``: no such user)."""
    with writer(engine).begin() as connection:
        subject = connection.execute(select(users.c.subject).where(users.c.username == username)).scalar()
        connection.execute(delete(users).where(users.c.username == username))
    return str(subject) if subject is not None else None
