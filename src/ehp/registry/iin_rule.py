"""The IIN on writes: valid, in agreement with the birth date and sex, and unique nationally.

A Patient (or Practitioner, or RelatedPerson) identifier with the configured IIN system must be a
valid IIN (422 pointing at its value). ``birthDate`` and ``gender`` must agree with what the IIN
encodes (422), or are filled from it when absent; a partial birth date (``1990``) agrees when the
IIN's date falls in it, and ``other``/``unknown`` genders are left as they are. An identifier with
``use: old`` (an IIN re-issued, say after a correction) is only checked for validity.

One Patient (and one Practitioner) per IIN: a second record with the same IIN gets 409 naming the
first. Records merged into another (``link.type = replaced-by``) no longer count. Two concurrent
creates of one IIN cannot both pass: on PostgreSQL the check runs under a transaction-scoped
advisory lock keyed by the IIN; SQLite has one writer at a time.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ehp.errors import Category, FhirError, error
from ehp.fhir.issues import Issue
from ehp.registry.iin import iin_birth_date_and_sex, iin_check_digit
from ehp.registry.records import TransactionIndex, replaced_by
from ehp.search.query import find_ids
from ehp.store.writes import WriteTransaction

IIN_LOCK_NAMESPACE = 0x7274 << 40
"""Advisory lock keys of IINs: this plus the IIN as a number (< 2**40), clear of the store's keys."""
UNIQUE_TYPES = frozenset({"Patient", "Practitioner"})


def iin_problem(value: Any) -> str | None:
    """Why ``value`` is not a valid IIN, or ``None`` when it is one."""
    if not isinstance(value, str) or len(value) != 12 or not value.isascii() or not value.isdigit():
        return "an IIN is 12 digits"
    try:
        iin_birth_date_and_sex(value)
    except ValueError as failure:
        return f"it encodes no birth date and sex ({failure})"
    if iin_check_digit(value[:11]) != int(value[11]):
        return "its check digit is wrong"
    return None


class IinRule:
    """The :class:`~ehp.api.rules.WriteRule` of the IIN (see the module doc)."""

    resource_types = frozenset({"Patient", "Practitioner", "RelatedPerson"})

    def __init__(self, system: str) -> None:
        self.system = system

    def check(self, tx: WriteTransaction, resource_id: str, resource: dict[str, Any]) -> bool:
        kind = str(resource.get("resourceType"))
        found = self.official_iin(resource)
        if found is None:
            return False
        iin, index = found
        changed = _agree(kind, resource, iin)
        if kind in UNIQUE_TYPES and not (kind == "Patient" and replaced_by(resource)):
            # a record merged into another (replaced-by) holds its IIN no more than those it was
            # merged with: it is not one of the IIN's records
            self._unique(tx, kind, resource_id, iin, index)
        return changed

    def official_iin(self, resource: dict[str, Any]) -> tuple[str, int] | None:
        """The resource's current IIN and the index of its identifier; refuses invalid ones."""
        found: tuple[str, int] | None = None
        identifiers = resource.get("identifier")
        for index, identifier in enumerate(identifiers if isinstance(identifiers, list) else []):
            if not isinstance(identifier, dict) or identifier.get("system") != self.system:
                continue
            kind = resource.get("resourceType")
            value = identifier.get("value")
            where = f"{kind}.identifier[{index}].value"
            problem = iin_problem(value)
            if problem is not None:
                raise error(
                    Category.UNPROCESSABLE, "value", f"'{value}' is not a valid IIN: {problem}", where
                )
            if identifier.get("use") == "old":
                continue
            if found is not None and found[0] != value:
                raise error(
                    Category.UNPROCESSABLE,
                    "business-rule",
                    f"a {kind} has one IIN, not {found[0]} and {value}",
                    where,
                )
            found = (str(value), index)
        return found

    def _unique(self, tx: WriteTransaction, kind: str, resource_id: str, iin: str, index: int) -> None:
        if tx.connection.dialect.name == "postgresql":
            tx.connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({IIN_LOCK_NAMESPACE + int(iin)})")
        runner = TransactionIndex(tx)
        ids = [
            found
            for found in find_ids(runner, kind, [("identifier", f"{self.system}|{iin}")], limit=5)
            if found != resource_id
        ]
        holders = [found for found, content in runner.contents(kind, ids).items() if not replaced_by(content)]
        if holders:
            raise error(
                Category.CONFLICT,
                "duplicate",
                # the holder's id is not named: the caller may have no basis to know of it; one who
                # has finds it by searching the IIN
                f"the IIN {iin} already belongs to another {kind} record "
                f"({kind}?identifier={self.system}|{iin}); update that record, or merge the two "
                "(Patient/$merge)",
                f"{kind}.identifier[{index}].value",
            )


def _agree(kind: str, resource: dict[str, Any], iin: str) -> bool:
    """Check ``birthDate`` and ``gender`` against the IIN; fill them when absent (``True`` then)."""
    born, sex = iin_birth_date_and_sex(iin)
    issues: list[Issue] = []
    changed = False
    birth_date = resource.get("birthDate")
    if birth_date is None:
        resource["birthDate"] = born.isoformat()
        changed = True
    elif not isinstance(birth_date, str) or not _within(born, birth_date):
        issues.append(
            Issue(
                "error",
                "business-rule",
                f"birthDate {birth_date} does not agree with the IIN {iin}, which encodes {born.isoformat()}",
                f"{kind}.birthDate",
            )
        )
    gender = resource.get("gender")
    if gender is None:
        resource["gender"] = sex
        changed = True
    elif gender in ("male", "female") and gender != sex:
        issues.append(
            Issue(
                "error",
                "business-rule",
                f"gender {gender} does not agree with the IIN {iin}, which encodes {sex}",
                f"{kind}.gender",
            )
        )
    if issues:
        raise FhirError(Category.UNPROCESSABLE, issues)
    return changed


def _within(born: date, birth_date: str) -> bool:
    """Whether a FHIR date (``1990``, ``1990-01`` or ``1990-01-01``) contains the day ``born``."""
    return len(birth_date) in (4, 7, 10) and born.isoformat().startswith(birth_date)
