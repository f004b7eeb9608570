"""Domain errors: what went wrong, as a category and the issues that explain it.

Every layer raises these; none of them knows HTTP. ``ehp.api.errors`` maps each category to its
HTTP status in one table, and the API turns the issues into an OperationOutcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from ehp.fhir.issues import Issue


class Category(Enum):
    """Why a request failed, in the terms of the domain rather than of HTTP."""

    INVALID = "invalid"
    """The request itself is malformed: a parameter, header or body that cannot be read."""
    UNAUTHENTICATED = "unauthenticated"
    """No usable credentials: no token, or one that is expired, forged or revoked."""
    FORBIDDEN = "forbidden"
    """The caller is known but has no legal basis or scope for this."""
    NOT_FOUND = "not-found"
    """No such resource, route or operation (or one the caller may not know exists)."""
    NOT_SUPPORTED = "not-supported"
    """The interaction exists but not with this method."""
    NOT_ACCEPTABLE = "not-acceptable"
    """The response format the client asks for is not one EHP writes."""
    CONFLICT = "conflict"
    """The request clashes with the current state (a concurrent write, a business rule)."""
    TIMEOUT = "timeout"
    """The client took too long to send its request."""
    GONE = "gone"
    """The resource was deleted."""
    PRECONDITION_FAILED = "precondition-failed"
    """A condition the client set (``If-Match``, conditional criteria) does not hold."""
    TOO_LARGE = "too-large"
    """The request is larger than the server accepts."""
    UNSUPPORTED_MEDIA_TYPE = "unsupported-media-type"
    """The body is in a format EHP does not read."""
    UNPROCESSABLE = "unprocessable"
    """The content is well-formed but not valid FHIR or breaks a profile or rule."""
    INTERNAL = "internal"
    """A fault in EHP itself, not in the request."""
    UNAVAILABLE = "unavailable"
    """The server cannot do it now (e.g. the audit trail cannot be written); try again later."""


class FhirError(Exception):
    """A failed request: its category, the issues that explain it and any headers to send."""

    def __init__(
        self, category: Category, issues: Sequence[Issue], headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(issues[0].diagnostics if issues else category.value)
        self.category = category
        self.issues = list(issues)
        self.headers = headers or {}


def error(category: Category, code: str, diagnostics: str, expression: str = "") -> FhirError:
    return FhirError(category, [Issue("error", code, diagnostics, expression)])


def bad_request(diagnostics: str, expression: str = "", code: str = "invalid") -> FhirError:
    return error(Category.INVALID, code, diagnostics, expression)


def not_found(diagnostics: str) -> FhirError:
    return error(Category.NOT_FOUND, "not-found", diagnostics)


def gone(diagnostics: str) -> FhirError:
    return error(Category.GONE, "deleted", diagnostics)


def forbidden(diagnostics: str, expression: str = "") -> FhirError:
    return error(Category.FORBIDDEN, "forbidden", diagnostics, expression)


def audit_unavailable() -> FhirError:
    """The answer when a response's audit record could not be stored: nothing is disclosed."""
    failure = error(
        Category.UNAVAILABLE,
        "transient",
        "the access could not be recorded in the audit trail, so nothing is disclosed; try again",
    )
    failure.headers["Retry-After"] = "5"
    return failure
