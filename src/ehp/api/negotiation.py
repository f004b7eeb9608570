"""Content negotiation: EHP speaks FHIR JSON only, and says so clearly (406, 415)."""

from __future__ import annotations

from ehp.errors import Category, FhirError, error

FHIR_JSON = "application/fhir+json"
JSON_TYPES = frozenset({FHIR_JSON, "application/json", "json", "application/json+fhir"})
BODY_TYPES = JSON_TYPES | {"application/json-patch+json", "application/x-www-form-urlencoded"}
_ACCEPT_ANY = frozenset({"*/*", "application/*", "application/fhir+ndjson", "application/ndjson"})
"""Also the NDJSON of bulk export files (other answers are JSON whatever the NDJSON client asks)."""


def check_format(format_param: str | None, accept: str | None) -> None:
    """Refuse (406) a request that wants a response format other than JSON."""
    if format_param is not None:
        wanted = format_param.split(";")[0].strip().lower()
        if wanted not in JSON_TYPES:
            raise _not_acceptable(
                f"_format '{format_param}' is not supported; this server speaks {FHIR_JSON}"
            )
        return
    if not accept:
        return
    media = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    if media & (JSON_TYPES | _ACCEPT_ANY):
        return
    raise _not_acceptable(
        f"Accept '{accept}' asks for a format this server does not produce; use {FHIR_JSON}"
    )


def check_content_type(content_type: str | None) -> None:
    """Refuse (415) a body that is not JSON (or JSON Patch, or a search form)."""
    if content_type is None:
        return
    media = content_type.split(";")[0].strip().lower()
    if media and media not in BODY_TYPES:
        raise error(
            Category.UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            f"Content-Type '{media}' is not supported; send {FHIR_JSON}",
        )


def _not_acceptable(message: str) -> FhirError:
    return error(Category.NOT_ACCEPTABLE, "not-supported", message)
