"""The tables of SMART App Launch: people who log in, apps, one-time authorization codes
(created by revision 0006_access)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, String, Table, Text

from ehp.store.schema import metadata

users = Table(
    "users",
    metadata,
    Column("username", String(128), primary_key=True),
    Column("subject", String(128), nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
)
"""People who log in at the login page: the FHIR subject they are (``Practitioner/ID``,
``PractitionerRole/ID``, ``Patient/ID`` or ``admin``) and a scrypt hash of their password."""

app_clients = Table(
    "app_clients",
    metadata,
    Column("client_id", String(128), primary_key=True),
    Column("redirect_uris", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("auth_method", String(32), nullable=False, server_default="none"),
    Column("secret_hash", Text, nullable=True),
    Column("jwks", Text, nullable=True),
    Column("jwks_uri", Text, nullable=True),
    Column("launch_uri", Text, nullable=True),
)
"""Registered SMART apps: their redirect URIs (space-separated), the most they may be granted, how
they authenticate at the token endpoint (``none``: a public app; ``client_secret_basic``: a scrypt
hash of the secret; ``private_key_jwt``: a JWKS by value or URL) and their EHR-launch URL."""

authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("client_id", String(128), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("subject", String(128), nullable=False),
    Column("scope", Text, nullable=False),
    Column("challenge", String(128), nullable=False),
    Column("expires", BigInteger, nullable=False),
    Column("patient", String(64), nullable=True),
    Column("nonce", Text, nullable=True),
)
"""Authorization codes given but not yet exchanged (SHA-256 of the code; deleted when used)."""

launch_contexts = Table(
    "launch_contexts",
    metadata,
    Column("launch_hash", String(64), primary_key=True),
    Column("patient", String(64), nullable=False),
    Column("issued_by", String(128), nullable=False),
    Column("client_id", String(128), nullable=True),
    Column("expires", BigInteger, nullable=False),
)
"""EHR launches not yet used: the SHA-256 of the ``launch`` id, the patient in context, who started
it and, when it was for one app, that app."""

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("family", String(64), nullable=False),
    Column("client_id", String(128), nullable=False),
    Column("subject", String(128), nullable=False),
    Column("scope", Text, nullable=False),
    Column("patient", String(64), nullable=True),
    Column("issued", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Column("used", BigInteger, nullable=True),
    Index("ix_refresh_tokens_family", "family"),
)
"""Refresh tokens (SHA-256 of the token). Each is used once: the refresh answers with a new one of
the same ``family``; a used one presented again is a replay and ends the whole family."""
