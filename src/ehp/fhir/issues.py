"""Problems found in a request or resource, and their FHIR form (an OperationOutcome)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["fatal", "error", "warning", "information"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One OperationOutcome issue.

    ``code`` is a FHIR IssueType code (``structure``, ``required``, ``value``, ``invariant``,
    ``code-invalid``, ``not-supported``...). ``expression`` is a FHIRPath-style location such as
    ``Patient.name[0].given[1]``; a choice element is named by its JSON property
    (``Observation.valueQuantity``). It is empty only when the issue concerns no element.
    """

    severity: Severity
    code: str
    diagnostics: str
    expression: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity in ("fatal", "error")


def has_errors(issues: Iterable[Issue]) -> bool:
    """Whether any issue is an error or fatal (the content must be rejected)."""
    return any(issue.is_error for issue in issues)


def issue_to_json(issue: Issue) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "severity": issue.severity,
        "code": issue.code,
        "diagnostics": issue.diagnostics,
    }
    if issue.expression:
        entry["expression"] = [issue.expression]
    return entry


_RANK = {"fatal": 0, "error": 1, "warning": 2, "information": 3}


def issues_to_operation_outcome(issues: Iterable[Issue]) -> dict[str, Any]:
    """An OperationOutcome resource (as a JSON dict) listing the issues.

    FHIR requires at least one issue, so an empty list gives a single informational "no issues".
    The most severe come first (a reader sees the errors before dom-6's best-practice hint); the
    order within a severity is kept.
    """
    ordered = sorted(issues, key=lambda issue: _RANK.get(issue.severity, len(_RANK)))
    entries = [issue_to_json(issue) for issue in ordered]
    if not entries:
        entries = [{"severity": "information", "code": "informational", "diagnostics": "No issues detected"}]
    return {"resourceType": "OperationOutcome", "issue": entries}
