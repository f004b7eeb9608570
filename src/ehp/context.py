"""Who acts, on whose behalf and why: handed to every store call.

Authentication fills it in from the access token; ``--auth none`` gives the development actor.
The store records ``actor`` on every version it writes, and the audit trail will use the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from uuid import uuid4

from ehp.scopes import Permission, Scopes


@dataclass(frozen=True, slots=True)
class RequestContext:
    actor: str
    """The acting user or system as a FHIR reference, e.g. ``Practitioner/123`` or ``system/dev``."""
    purpose: str = "TREAT"
    """Purpose of use (HL7 v3 PurposeOfUse code: TREAT, ETREAT, HOPERAT, PATADMIN...)."""
    on_behalf_of: str | None = None
    """The organisation or person the actor acts for, when not the actor itself."""
    source_address: str | None = None
    request_id: str = field(default_factory=lambda: uuid4().hex)
    scopes: Scopes | None = None
    """The access token's SMART scopes; ``None`` when nothing restricts the actor (``--auth none``,
    the server itself)."""
    roles: frozenset[str] = frozenset()
    """The roles given to the actor as data (``administrator``, ``analyst``,
    ``privacy-officer:Organization/ID``), looked up for the token's issuer and subject."""
    patient_in_context: str | None = None
    """The patient id a SMART launch bound the token to: it opens that passport only."""
    audit_numbers: Iterator[int] = field(default_factory=count, compare=False, repr=False)
    """Numbers the request's AuditEvents (``{request_id}-{n}``) across all of it: a Bundle's
    entries each have their own access decision but share the request id."""

    def may(self, resource_type: str, permission: Permission) -> bool:
        """Whether the scopes allow this kind of access to this resource type."""
        return self.scopes is None or self.scopes.allows(resource_type, permission)


def development_context(source_address: str | None = None) -> RequestContext:
    """The context of a request to a server started with ``--auth none``."""
    return RequestContext(actor="Device/ehp-development", purpose="TREAT", source_address=source_address)


SYSTEM_CONTEXT = RequestContext(actor="Device/ehp-system", purpose="HOPERAT")
"""The server acting on its own (migrations, loaders, background jobs)."""
