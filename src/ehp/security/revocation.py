"""Revoked tokens and removed subjects, as each server process sees them.

A token is self-contained: without this, a removed user's token kept working until it expired.
Revocations are rows of ``revocations``; each process keeps them in memory and reads the new ones
(``seq`` above the last it saw) at most once a second, so a revocation counts everywhere within a
second without a query per request (a read by id costs less than such a query).
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import Engine, delete, insert, select

from ehp.security.schema import revocations
from ehp.store.database import writer

CHECK_INTERVAL = 1.0
MAX_REMEMBERED = 100_000
"""Revoked tokens kept in memory before those past their expiry are dropped."""
TOKEN = "token"
SUBJECT = "subject"


def revoke_token(engine: Engine, issuer: str, jti: str, expires: int) -> None:
    """The token with this ``jti`` no longer counts (kept until it would have expired)."""
    now = int(time.time())
    with writer(engine).begin() as connection:
        connection.execute(
            delete(revocations).where(revocations.c.kind == TOKEN, revocations.c.expires < now)
        )
        connection.execute(
            insert(revocations).values(kind=TOKEN, value=jti, issuer=issuer, revoked=now, expires=expires)
        )


def revoke_subject(engine: Engine, issuer: str, subject: str) -> None:
    """Every token of ``subject`` issued until now no longer counts (a removed user or client)."""
    with writer(engine).begin() as connection:
        connection.execute(
            insert(revocations).values(
                kind=SUBJECT, value=subject, issuer=issuer, revoked=int(time.time()) + 1, expires=None
            )
        )


class Revocations:
    """This process's view of the revocations of one issuer."""

    def __init__(self, engine: Engine, issuer: str) -> None:
        self._engine = engine
        self._issuer = issuer
        self._lock = threading.Lock()
        self._seen = 0
        self._next_check = 0.0
        self._tokens: dict[str, int] = {}
        self._subjects: dict[str, int] = {}

    def is_revoked(self, jti: str | None, subject: str, issued_at: float) -> bool:
        self._refresh_if_due()
        if jti is not None and jti in self._tokens:
            return True
        removed = self._subjects.get(subject)
        return removed is not None and issued_at <= removed

    def _refresh_if_due(self) -> None:
        now = time.monotonic()
        if now < self._next_check:
            return
        with self._lock:
            if now < self._next_check:
                return
            self._next_check = now + CHECK_INTERVAL
            with self._engine.connect() as connection:
                rows = connection.execute(
                    select(
                        revocations.c.seq,
                        revocations.c.kind,
                        revocations.c.value,
                        revocations.c.revoked,
                        revocations.c.expires,
                    )
                    .where(revocations.c.seq > self._seen, revocations.c.issuer == self._issuer)
                    .order_by(revocations.c.seq)
                ).all()
            if len(self._tokens) > MAX_REMEMBERED:
                wall = time.time()
                self._tokens = {jti: expires for jti, expires in self._tokens.items() if expires > wall}
            for row in rows:
                if row.kind == TOKEN:
                    self._tokens[row.value] = row.expires or 0
                else:
                    self._subjects[row.value] = max(row.revoked, self._subjects.get(row.value, 0))
                self._seen = row.seq
