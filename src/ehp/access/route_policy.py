"""How the authorizer treats a route: each route of the table declares one (``Route.policy``).

A route that declares none is never served (``api/authorize.py``), and the test generated from
the route table (``tests/access/test_route_table.py``) fails on it: nothing reaches a handler
without a stated rule for who may call it and what its answer may hold.
"""

from __future__ import annotations

from enum import Enum


class RoutePolicy(Enum):
    PUBLIC = "public"
    """Discloses nothing stored (the CapabilityStatement): anyone, no audit."""
    CONTENT_ONLY = "content-only"
    """Judges only what the caller sent (``$validate``): any authenticated caller."""
    RECORDS = "records"
    """Reads stored records: only what the caller's grant lets them see is returned or counted,
    and every disclosure is audited against the patients it concerns."""
    AUDIT_LOG = "audit-log"
    """A patient's access log: the citizen, their current representatives and administrators,
    decided on the caller alone before anything is read (so it says nothing of who exists);
    reading it is itself recorded in that log."""
    WRITES = "writes"
    """Changes records: a basis for the patient named, authority over legal bases."""
    ENTRIES = "entries"
    """A batch or transaction: each entry is authorized as the request it names."""
    REGISTRY = "registry"
    """An organisation's registry work (``$attach``, ``$detach``, ``$duplicates``, ``$coverage``
    on it): the registry's administrators or that organisation's own registered system."""
    ADMINISTRATION = "administration"
    """Type- and system-level operations over everyone's data (``$match``, ``$merge``,
    ``$reindex``, national ``$coverage``): administrators only."""
    BULK_EXPORT = "bulk-export"
    """Starts a bulk export: the job runs later under the caller's grant and SMART scopes (types
    they may not read whole are left out, ``_type`` naming one is refused), and audits the
    patients whose data it writes; the kick-off itself is audited."""
    BULK_IMPORT = "bulk-import"
    """Starts a bulk import: each resource is written later as the caller's own ``PUT``, under the
    same authorization, rules and audit as any write (a refusal goes to the job's error file)."""
    BULK_JOBS = "bulk-jobs"
    """A bulk job's status, cancellation and files: only the caller who started it (anyone else
    is told it does not exist)."""
