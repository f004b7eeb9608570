"""Login throttling: backoff and temporary lockout after failed passwords (the login page).

Without it 30 wrong passwords and then the right one logged in. Failures are counted per user
name and per client address (in ``login_failures``, so every server process sees them): from the
5th failure for a name (the 20th from an address) the next attempt waits 1 minute, then 2, 4, ...
up to an hour; a success clears the name's count, and 15 minutes without failures forget it.
While locked, even the right password is refused, so guessing gains nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Engine, delete, select

from ehp.security.schema import login_failures
from ehp.security.users import authenticate
from ehp.store.database import writer

FREE_FAILURES = {"user": 4, "address": 19}
"""Failures allowed before the lockouts start, per kind of key."""
FIRST_LOCK_SECONDS = 60
LONGEST_LOCK_SECONDS = 3600
FORGET_AFTER_SECONDS = 900


def keys_of(username: str, address: str | None) -> list[str]:
    keys = [f"user:{username.strip().lower()[:200]}"]
    if address:
        keys.append(f"address:{address}")
    return keys


def locked_for(engine: Engine, keys: Sequence[str]) -> int:
    """Seconds until a login with these keys may be tried again (0: now)."""
    now = int(time.time())
    with engine.connect() as connection:
        until = connection.execute(
            select(login_failures.c.locked_until).where(login_failures.c.key.in_(list(keys)))
        ).scalars()
        return max([0, *(int(value) - now for value in until)])


def record_failure(engine: Engine, keys: Sequence[str]) -> None:
    now = int(time.time())
    with writer(engine).begin() as connection:
        for key in keys:
            row = connection.execute(select(login_failures).where(login_failures.c.key == key)).first()
            failures = 1 if row is None or now - row.last_failure > FORGET_AFTER_SECONDS else row.failures + 1
            beyond = failures - FREE_FAILURES[key.partition(":")[0]]
            lock = min(FIRST_LOCK_SECONDS * 2 ** (beyond - 1), LONGEST_LOCK_SECONDS) if beyond > 0 else 0
            values = {"failures": failures, "last_failure": now, "locked_until": now + lock}
            if row is None:
                connection.execute(login_failures.insert().values(key=key, **values))
            else:
                connection.execute(
                    login_failures.update().where(login_failures.c.key == key).values(**values)
                )


def clear(engine: Engine, username: str) -> None:
    """A successful login forgets the name's failures (an address's stay: it may be guessing others)."""
    with writer(engine).begin() as connection:
        connection.execute(delete(login_failures).where(login_failures.c.key == keys_of(username, None)[0]))


class LockedOut(Exception):
    """Too many failed passwords: the next attempt waits ``wait`` seconds."""

    def __init__(self, wait: int) -> None:
        super().__init__(f"locked for {wait} s after failed attempts")
        self.wait = wait


def checked_login(engine: Engine, username: str, password: str, address: str | None) -> str | None:
    """The subject of a right user name and password, ``None`` for wrong ones (counted), or
    :class:`LockedOut` while the name or address is locked."""
    keys = keys_of(username, address)
    wait = locked_for(engine, keys)
    if wait > 0:
        raise LockedOut(wait)
    subject = authenticate(engine, username, password)
    if subject is None:
        record_failure(engine, keys)
        return None
    clear(engine, username)
    return subject
