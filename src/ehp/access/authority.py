"""Who may change who may see: writes that change a legal basis need authority over it.

A legal basis is data (:mod:`ehp.access.grant`), so writing that data must not be open to whoever
it would open passports to. For each such write, the version before and the version after must
both be within the caller's authority (one cannot move a role, an attachment or a representation
out of someone else's hands, nor into them):

- ``PractitionerRole``, ``Organization`` and attachment ``EpisodeOfCare``s (the registry's data),
  and ``Group``s: the registry's administrators, or the organisation's own registered system for
  its own roles, attachments, record and groups. A practitioner writes none of them (a worker
  who could would give themselves any polyclinic's patients).
- Other ``EpisodeOfCare``s: also a worker, for one of the organisations they work for.
- ``Consent``: the citizen or their current representative (:mod:`ehp.api.authorize` checks that a
  citizen writes only their own). A worker or clinic system may only *record* a new Consent as
  the citizen's documented proxy: the Consent names the citizen (or a ``RelatedPerson``) as
  ``performer`` and carries the signed document (``sourceAttachment`` or ``sourceReference``); it
  is audited as recorded by proxy. Changing or deleting a citizen's Consent is theirs alone.
- ``$attach`` and ``$detach``: as attachment episodes (:func:`check_attachment`).
- A representation (a ``RelatedPerson`` with a legal-representation relationship, or a change of
  a ``Patient``'s ``link``): administrators and clinic systems only, as the civil registry's
  decisions (births, guardianship) reach EHP through them.

Administrators (the role, :mod:`ehp.security.roles`) may do all of it.
"""

from __future__ import annotations

from typing import Any

from ehp.access.grant import Grant
from ehp.access.representatives import REPRESENTING, ROLE_CODES
from ehp.errors import Category, FhirError, error

EPISODE_TYPE = "http://ehp.kz/fhir/CodeSystem/episode-type"
ATTACHMENT = "attachment"
REGISTRY_TYPES = frozenset({"PractitionerRole", "Organization", "Group"})
GOVERNED_TYPES = frozenset({*REGISTRY_TYPES, "EpisodeOfCare", "Consent", "RelatedPerson", "Patient"})
"""The types whose writes this module decides on."""

Json = dict[str, Any]


def check_authority(grant: Grant, resource_type: str, before: Json | None, after: Json | None) -> str | None:
    """Refuse (403) a write of ``before`` into ``after`` (``None``: absent or deleted) the caller
    has no authority for; the audit note to add when it is allowed as a proxy's, else ``None``."""
    if grant.everything or resource_type not in GOVERNED_TYPES:
        return None
    if resource_type == "Consent":
        return _consent(grant, before, after)
    for version in (before, after):
        if version is not None:
            _check(grant, resource_type, version, before)
    if resource_type == "Patient" and _links(before) != _links(after) and not _is_system(grant):
        raise _refused("a Patient's links (representations) are changed by the registry's systems only")
    return None


def check_registry_caller(grant: Grant, operation: str, resource_type: str, resource_id: str) -> None:
    """Before an organisation's registry operation runs: the registry's administrators, or an
    organisation's own registered system (``$attach``/``$detach`` name their organisations in
    the episodes they write, checked by :func:`check_attachment`; ``$duplicates`` and
    ``$coverage`` must be on the calling organisation itself)."""
    if grant.everything:
        return
    if not _is_system(grant):
        raise _refused(f"${operation} is run by the registry's administrators or an organisation's system")
    if resource_type == "Organization" and grant.subject != f"Organization/{resource_id}":
        raise _refused(f"${operation} is run by Organization/{resource_id}'s own system, not by another's")


def check_log_reader(grant: Grant, patient: str) -> None:
    """A patient's access log is theirs: the citizen, their current representatives, and the
    registry's administrators; the answer depends on the caller only, never on who exists."""
    if not (grant.everything or patient in grant.own):
        raise _refused("a citizen reads only their own access log (and those they represent)")


def check_attachment(grant: Grant, operation: str, parameters: Json) -> None:
    """``$attach`` is the receiving organisation's (the episode it opens), ``$detach`` the
    attached one's (the episode it ends): its system or an administrator, never a worker."""
    name = "attachment" if operation == "attach" else "ended"
    for parameter in parameters.get("parameter") or []:
        if parameter.get("name") == name and isinstance(parameter.get("resource"), dict):
            _check(grant, "EpisodeOfCare", parameter["resource"], None)


def _check(grant: Grant, resource_type: str, resource: Json, before: Json | None) -> None:
    if resource_type in REGISTRY_TYPES or _is_attachment(resource):
        if not _is_system(grant) or _organization_of(resource_type, resource) not in grant.organizations:
            raise _refused(
                f"{resource_type} data of the registry (roles, attachments, organisations, groups) is "
                "written by the registry's administrators or the organisation's own system"
            )
    elif resource_type == "EpisodeOfCare":
        if _organization_of(resource_type, resource) not in grant.organizations:
            raise _refused("an EpisodeOfCare is managed by one of the organisations the caller works for")
    elif resource_type == "RelatedPerson" and _represents(resource) and not _is_system(grant):
        raise _refused("a legal representation is recorded by the registry's systems only")


def _consent(grant: Grant, before: Json | None, after: Json | None) -> str | None:
    if grant.citizen:
        return None
    if before is not None:
        raise _refused("a citizen's Consent is changed or withdrawn by the citizen or their representative")
    assert after is not None
    patient = _reference(after.get("patient"))
    performers = sorted(
        reference
        for reference in (_reference(p) for p in after.get("performer") or [])
        if reference is not None and (reference == patient or reference.startswith("RelatedPerson/"))
    )
    if not performers:
        raise _refused(
            "a worker records a Consent only as the citizen's proxy: its performer must be the "
            "patient or their RelatedPerson"
        )
    if not after.get("sourceAttachment") and not after.get("sourceReference"):
        raise _refused(
            "a Consent recorded by a worker must carry the citizen's signed document "
            "(sourceAttachment or sourceReference)"
        )
    return f"recorded as the documented proxy of {performers[0]}"


def _is_system(grant: Grant) -> bool:
    return grant.subject.startswith("Organization/")


def _is_attachment(resource: Json) -> bool:
    if resource.get("resourceType") != "EpisodeOfCare":
        return False
    return any(
        coding.get("system") == EPISODE_TYPE and coding.get("code") == ATTACHMENT
        for concept in resource.get("type") or []
        if isinstance(concept, dict)
        for coding in concept.get("coding") or []
        if isinstance(coding, dict)
    )


def _organization_of(resource_type: str, resource: Json) -> str | None:
    """The organisation a registry resource belongs to (its id), when it names one."""
    if resource_type == "Organization":
        return resource.get("id") if isinstance(resource.get("id"), str) else None
    field = {"PractitionerRole": "organization", "Group": "managingEntity"}.get(
        resource_type, "managingOrganization"
    )
    reference = _reference(resource.get(field))
    if reference is None or not reference.startswith("Organization/"):
        return None
    return reference.removeprefix("Organization/")


def _represents(resource: Json) -> bool:
    return any(
        coding.get("system") == ROLE_CODES and coding.get("code") in REPRESENTING
        for concept in resource.get("relationship") or []
        if isinstance(concept, dict)
        for coding in concept.get("coding") or []
        if isinstance(coding, dict)
    )


def _links(resource: Json | None) -> list[tuple[str, str]]:
    if resource is None:
        return []
    return sorted(
        (_reference(link.get("other")) or "", str(link.get("type")))
        for link in resource.get("link") or []
        if isinstance(link, dict)
    )


def _reference(value: Any) -> str | None:
    reference = value.get("reference") if isinstance(value, dict) else None
    return reference if isinstance(reference, str) else None


def _refused(reason: str) -> FhirError:
    return error(Category.FORBIDDEN, "forbidden", reason)
