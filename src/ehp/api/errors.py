"""Errors as values: every failure is a :class:`FhirError`, turned into an OperationOutcome in one place."""

from __future__ import annotations

from collections.abc import Sequence

from ehp.fhir.issues import Issue


class FhirError(Exception):
    """A failed request: an HTTP status and the issues that explain it."""

    def __init__(self, status: int, issues: Sequence[Issue], headers: dict[str, str] | None = None) -> None:
        super().__init__(issues[0].diagnostics if issues else str(status))
        self.status = status
        self.issues = list(issues)
        self.headers = headers or {}


def error(status: int, code: str, diagnostics: str, expression: str = "") -> FhirError:
    return FhirError(status, [Issue("error", code, diagnostics, expression)])


def bad_request(diagnostics: str, expression: str = "", code: str = "invalid") -> FhirError:
    return error(400, code, diagnostics, expression)


def not_found(diagnostics: str) -> FhirError:
    return error(404, "not-found", diagnostics)


def gone(diagnostics: str) -> FhirError:
    return error(410, "deleted", diagnostics)


def audit_unavailable() -> FhirError:
    """The answer when a response's audit record could not be stored: nothing is disclosed."""
    failure = error(
        503,
        "transient",
        "the access could not be recorded in the audit trail, so nothing is disclosed; try again",
    )
    failure.headers["Retry-After"] = "5"
    return failure
