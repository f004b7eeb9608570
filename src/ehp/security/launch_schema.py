"""The tables of SMART App Launch: people who log in, apps, one-time authorization codes
(created by revision 0006_access)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, String, Table, Text

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
)
"""Registered SMART apps (public clients): their redirect URIs (space-separated) and the most
they may be granted."""

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
)
"""Authorization codes given but not yet exchanged (SHA-256 of the code; deleted when used)."""
