"""The one place domain error categories become HTTP statuses."""

from __future__ import annotations

from ehp.errors import Category, FhirError

HTTP_STATUS: dict[Category, int] = {
    Category.INVALID: 400,
    Category.UNAUTHENTICATED: 401,
    Category.FORBIDDEN: 403,
    Category.NOT_FOUND: 404,
    Category.NOT_SUPPORTED: 405,
    Category.NOT_ACCEPTABLE: 406,
    Category.TIMEOUT: 408,
    Category.CONFLICT: 409,
    Category.GONE: 410,
    Category.PRECONDITION_FAILED: 412,
    Category.TOO_LARGE: 413,
    Category.UNSUPPORTED_MEDIA_TYPE: 415,
    Category.UNPROCESSABLE: 422,
    Category.INTERNAL: 500,
    Category.UNAVAILABLE: 503,
}


def status_of(failure: FhirError) -> int:
    """The HTTP status that answers a failure."""
    return HTTP_STATUS[failure.category]
