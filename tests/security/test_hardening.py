"""Authentication hygiene, run as an attacker would (HTTP to a secured server, both databases).

Findings of issue 24: a token header naming RS256 over an EC key was a 500; a 5 MB bad token wrote
a 4 MB audit row and was echoed in the 401; anonymous requests grew the audit store without
bound; ``ehp token --ttl`` accepted 100 years; a client assertion could be replayed within the
leeway after its ``exp``.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from ehp.bench.servers import BenchServer
from ehp.security.schema import audit_events, used_assertions
from ehp.store.database import open_engine


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def anonymous_records(server: BenchServer) -> tuple[int, int]:
    """(rows, longest content) of the audit records of failed authentications."""
    engine = open_engine(server.database, pool_size=1)
    try:
        with engine.connect() as connection:
            rows, longest = connection.execute(
                select(func.count(), func.max(func.length(audit_events.c.content))).where(
                    audit_events.c.actor == "anonymous"
                )
            ).one()
    finally:
        engine.dispose()
    return int(rows), int(longest or 0)


def test_a_forged_header_is_a_401_not_a_500(secured: BenchServer) -> None:
    with httpx.Client(base_url=secured.base + "/", timeout=30) as client:
        kid = client.get(secured.base.removesuffix("/fhir") + "/auth/jwks").json()["keys"][0]["kid"]
        token = f"{_b64({'alg': 'RS256', 'kid': kid, 'typ': 'JWT'})}.{_b64({'sub': 'admin'})}.c2ln"
        answer = client.get("Patient", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"


def test_a_huge_token_is_refused_unread_and_neither_echoed_nor_stored(secured: BenchServer) -> None:
    huge = "A" * 5_000_000
    with httpx.Client(base_url=secured.base + "/", timeout=60) as client:
        answer = client.get("Patient", headers={"Authorization": f"Bearer {huge}.{huge[:10]}.x"})
    assert answer.status_code == 401
    assert len(answer.content) < 2_000, "nothing the attacker sent is echoed at length"
    deadline = time.monotonic() + 10
    while anonymous_records(secured)[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert 0 < anonymous_records(secured)[1] < 4_000, "the audit row is small"


def test_failed_authentications_are_aggregated_per_source(secured: BenchServer) -> None:
    before = anonymous_records(secured)[0]
    with httpx.Client(base_url=secured.base + "/", timeout=30) as client:
        for attempt in range(120):
            assert (
                client.get("Patient", headers={"Authorization": f"Bearer bad-{attempt}"}).status_code == 401
            )
    time.sleep(1.5)
    added = anonymous_records(secured)[0] - before
    assert 1 <= added <= 3, f"120 failures from one address wrote {added} audit rows (1st, 10th, 100th)"


def test_a_token_lives_at_most_a_day(secured: BenchServer) -> None:
    command = [sys.executable, "-m", "ehp.cli", "token", "--database", secured.database, "--subject", "admin"]
    century = subprocess.run([*command, "--ttl", str(100 * 365 * 86400)], capture_output=True, text=True)
    assert century.returncode != 0 and "--ttl" in century.stderr
    day = subprocess.run([*command, "--ttl", "86400"], capture_output=True, text=True)
    assert day.returncode == 0, day.stderr


def test_a_client_assertions_jti_is_kept_past_its_expiry_plus_leeway(secured: BenchServer) -> None:
    """An assertion expired 10 s ago is still inside the 30 s leeway, so its jti must be kept:
    the clean-up of used assertions forgets only those that can no longer be accepted."""
    from ehp.security.assertions import _remember

    engine = open_engine(secured.database, pool_size=1)
    try:
        _remember(engine, "jti-recent", int(time.time()) - 10)
        _remember(engine, "jti-other", int(time.time()) + 60)  # runs the clean-up
        with engine.connect() as connection:
            kept = connection.execute(
                select(used_assertions.c.jti).where(used_assertions.c.jti == "jti-recent")
            ).all()
        assert kept, "forgotten while a replay would still pass the leeway"
        from ehp.security.assertions import OAuthError

        with pytest.raises(OAuthError):
            _remember(engine, "jti-recent", int(time.time()) - 10)
    finally:
        engine.dispose()


def _token(server: BenchServer, subject: str) -> str:
    command = [sys.executable, "-m", "ehp.cli", "token", "--database", server.database, "--subject", subject]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def _status_soon(client: httpx.Client, token: str, expected: int) -> int:
    deadline = time.monotonic() + 5
    while True:
        status = client.get("Patient", headers={"Authorization": f"Bearer {token}"}).status_code
        if status == expected or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def test_a_revoked_token_stops_working(secured: BenchServer) -> None:
    token = _token(secured, "Practitioner/revoked-1")
    origin = secured.base.removesuffix("/fhir")
    with httpx.Client(base_url=secured.base + "/", timeout=30) as client:
        assert client.get("Patient", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert httpx.post(f"{origin}/auth/revoke", data={"token": token}).status_code == 200
        assert _status_soon(client, token, 401) == 401, "revoked within a second or so"
        assert httpx.post(f"{origin}/auth/revoke", data={"token": "not-a-token"}).status_code == 200
    discovery = httpx.get(f"{origin}/.well-known/smart-configuration").json()
    assert discovery["revocation_endpoint"] == f"{origin}/auth/revoke"


def test_removing_a_user_revokes_their_tokens(secured: BenchServer) -> None:
    run = [sys.executable, "-m", "ehp.cli", "user"]
    dana = ["--username", "dana", "--subject", "Practitioner/dana-1", "--password", "a long enough password"]
    added = subprocess.run(
        [*run, "add", "--database", secured.database, *dana], capture_output=True, text=True
    )
    assert added.returncode == 0, added.stderr
    token = _token(secured, "Practitioner/dana-1")
    with httpx.Client(base_url=secured.base + "/", timeout=30) as client:
        assert client.get("Patient", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        removed = subprocess.run(
            [*run, "remove", "--database", secured.database, "--username", "dana"],
            capture_output=True,
            text=True,
        )
        assert removed.returncode == 0, removed.stderr
        assert _status_soon(client, token, 401) == 401, "a removed user's token no longer works"
        time.sleep(1.1)
        fresh = _token(secured, "Practitioner/dana-1")
        assert client.get("Patient", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200, (
            "tokens issued after the removal are not affected (the subject may come back)"
        )


def test_signing_keys_are_encrypted_at_rest(secured: BenchServer) -> None:
    """Once plain PEM in the database: a backup alone could mint administrator tokens."""
    from ehp.security.schema import signing_keys

    engine = open_engine(secured.database, pool_size=1)
    try:
        with engine.connect() as connection:
            stored = connection.execute(select(signing_keys.c.private_pem)).scalars().all()
    finally:
        engine.dispose()
    assert stored and all(text.startswith("ehp-kek-v1:") for text in stored)
    assert not any("PRIVATE KEY" in text for text in stored)


def test_a_plain_key_is_encrypted_and_rekeying_moves_to_a_new_kek(tmp_path: Path) -> None:
    import os

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from ehp.security.schema import signing_keys
    from ehp.store.database import migrate

    database = f"sqlite:///{tmp_path / 'keys.db'}"
    engine = open_engine(database, pool_size=1)
    try:
        migrate(engine)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        with engine.begin() as connection:  # as an older version stored it
            connection.execute(signing_keys.insert().values(kid="old-1", private_pem=pem, created=1))
    finally:
        engine.dispose()
    env = os.environ | {"EHP_KEY_ENCRYPTION_KEY_FILE": str(tmp_path / "kek-a")}
    token = [sys.executable, "-m", "ehp.cli", "token", "--database", database, "--subject", "admin"]
    assert subprocess.run(token, env=env, capture_output=True, text=True).returncode == 0
    engine = open_engine(database, pool_size=1)
    try:
        with engine.connect() as connection:
            assert connection.execute(select(signing_keys.c.private_pem)).scalar().startswith("ehp-kek-v1:")
    finally:
        engine.dispose()
    rekey = [sys.executable, "-m", "ehp.cli", "keys", "rekey", "--database", database]
    moved = subprocess.run(
        [*rekey, "--new-key-file", str(tmp_path / "kek-b")], env=env, capture_output=True, text=True
    )
    assert moved.returncode == 0, moved.stderr
    with_new = subprocess.run(
        token,
        env=env | {"EHP_KEY_ENCRYPTION_KEY_FILE": str(tmp_path / "kek-b")},
        capture_output=True,
        text=True,
    )
    assert with_new.returncode == 0, with_new.stderr
    with_old = subprocess.run(token, env=env, capture_output=True, text=True)
    assert with_old.returncode != 0 and "another key-encryption key" in with_old.stderr
