"""Roles are data: given to a subject of one issuer, never read from a subject string.

``administrator`` sees and does everything (registry upkeep, type- and system-level operations);
``privacy-officer:Organization/ID`` reviews that organisation's break-the-glass accesses;
``analyst`` is the ministry's role for de-identified statistics. A role holds only for tokens of
the issuer it was given for, so an external identity provider's user cannot become an
administrator by being called ``admin``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, select

from ehp.security.schema import principal_roles
from ehp.security.tokens import check_subject
from ehp.store.database import writer

ADMINISTRATOR = "administrator"
PRIVACY_OFFICER = "privacy-officer"
ANALYST = "analyst"
ROLES = (ADMINISTRATOR, PRIVACY_OFFICER, ANALYST)
_ORGANIZATION = re.compile(r"^Organization/([A-Za-z0-9\-.]{1,64})$")


@dataclass(frozen=True, slots=True, order=True)
class Role:
    name: str
    organization: str = ""
    """The organisation's id, for a privacy officer."""

    @classmethod
    def parse(cls, text: str) -> Role:
        """``administrator``, ``analyst`` or ``privacy-officer:Organization/ID``."""
        name, _, where = text.strip().partition(":")
        if name not in ROLES:
            raise ValueError(f"unknown role '{name}': one of {', '.join(ROLES)}")
        if name == PRIVACY_OFFICER:
            found = _ORGANIZATION.match(where)
            if found is None:
                raise ValueError(
                    "a privacy officer is one of an organisation: privacy-officer:Organization/ID"
                )
            return cls(name, found.group(1))
        if where:
            raise ValueError(f"the role '{name}' is not of an organisation")
        return cls(name)

    def __str__(self) -> str:
        return f"{self.name}:Organization/{self.organization}" if self.organization else self.name


def give_roles(connection: Connection, issuer: str, subject: str, roles: Iterable[Role]) -> None:
    """Give roles to ``subject`` of ``issuer`` (a role already held is kept as it is)."""
    check_subject(subject)
    held = roles_of(connection, issuer, subject)
    now = int(time.time())
    for role in sorted(set(roles) - held):
        connection.execute(
            principal_roles.insert().values(
                issuer=issuer, subject=subject, role=role.name, organization=role.organization, granted=now
            )
        )


def take_roles(
    connection: Connection, issuer: str, subject: str, roles: Iterable[Role] | None = None
) -> None:
    """Take these roles (or all of them) from ``subject`` of ``issuer``."""
    where = [principal_roles.c.issuer == issuer, principal_roles.c.subject == subject]
    if roles is None:
        connection.execute(delete(principal_roles).where(*where))
        return
    for role in roles:
        connection.execute(
            delete(principal_roles).where(
                *where,
                principal_roles.c.role == role.name,
                principal_roles.c.organization == role.organization,
            )
        )


def roles_of(connection: Connection, issuer: str, subject: str) -> frozenset[Role]:
    rows = connection.execute(
        select(principal_roles.c.role, principal_roles.c.organization).where(
            principal_roles.c.issuer == issuer, principal_roles.c.subject == subject
        )
    )
    return frozenset(Role(row.role, row.organization) for row in rows)


def set_roles(engine: Engine, issuer: str, subject: str, roles: Iterable[Role]) -> None:
    """Make ``roles`` exactly the subject's roles (what ``ehp user add --role`` means)."""
    with writer(engine).begin() as connection:
        take_roles(connection, issuer, subject)
        give_roles(connection, issuer, subject, roles)
