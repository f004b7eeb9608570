"""The security tables, on the store's shared metadata (created by the migrations like the rest)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, LargeBinary, String, Table, Text

from ehp.store.schema import BigId, metadata

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_pem", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
)
"""The embedded issuer's private keys: never served, never part of the FHIR store."""

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("recorded", BigInteger, nullable=False),
    Column("actor", String(255), nullable=False),
    Column("patient", String(64), nullable=True),
    Column("content", LargeBinary, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
"""The append-only, hash-chained audit trail (see ``ehp.security.audit``)."""
Index("ix_audit_events_patient", audit_events.c.patient, audit_events.c.seq)

oauth_clients = Table(
    "oauth_clients",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("subject", String(128), nullable=False),
    Column("jwks", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("jwks_uri", Text, nullable=True),
)
"""Registered SMART Backend Services clients: the subject they act as (``Organization/ID``), their
public keys (a JWKS, or ``''`` and the URL of one) and the most they may be granted."""

used_assertions = Table(
    "used_assertions",
    metadata,
    Column("jti", String(255), primary_key=True),
    Column("expires", BigInteger, nullable=False),
)
"""``jti`` of client assertions already used, kept until they expire (replay protection)."""

principal_roles = Table(
    "principal_roles",
    metadata,
    Column("issuer", String(255), primary_key=True),
    Column("subject", String(128), primary_key=True),
    Column("role", String(64), primary_key=True),
    Column("organization", String(64), primary_key=True),
    Column("granted", BigInteger, nullable=False),
)
"""Roles given to a subject of one issuer (``ehp user add --role``, ``ehp client register
--role``, ``ehp role add``): administrator, privacy officer of an organisation, analyst.
``organization`` is the organisation's id for a privacy officer and ``''`` otherwise."""

revocations = Table(
    "revocations",
    metadata,
    Column("seq", BigId, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("value", String(255), nullable=False),
    Column("issuer", String(255), nullable=False),
    Column("revoked", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=True),
)
"""Revoked tokens (``kind`` ``token``: the ``jti``, kept until ``expires``) and subjects whose
tokens issued until ``revoked`` no longer count (``kind`` ``subject``: a removed user or client)."""

login_failures = Table(
    "login_failures",
    metadata,
    Column("key", String(255), primary_key=True),
    Column("failures", BigInteger, nullable=False),
    Column("last_failure", BigInteger, nullable=False),
    Column("locked_until", BigInteger, nullable=False),
)
"""Failed password logins per user name (``user:NAME``) and per address (``address:IP``)."""
