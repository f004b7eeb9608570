"""Organisations and people from CSV (IHE mCSD in spirit): regions, districts, facilities, staff.

The country's health care is run by region: a region is an ``Organization`` (its health
department, types ``govt`` and ``health-department``) with a jurisdiction ``Location``; a district
is a place only, a jurisdiction ``Location`` inside its region's (districts have no health
authority of their own). A facility is an ``Organization`` of a type of :data:`FACILITY_TYPE`
(``partOf`` its region's department) with a building ``Location`` (``partOf`` its district's).
Practitioners are a ``Practitioner`` (with their IIN) and one ``PractitionerRole`` per
organisation and specialty. These are the same shapes and codes the synthetic country uses
(:mod:`ehp.synth.infrastructure`, :mod:`ehp.fhir.codes`), plus ``dispensary``.

Ids are name-based UUIDs of the CSV codes (and the IIN for people), so loading a file again
changes nothing but the version numbers, and the rows may come in any order.

Organisations CSV (header row; ``code``, ``kind`` and ``name`` are required)::

    code,kind,name,parent,district,city,address,postal_code,phone
    astana,region,Управление здравоохранения города Астаны,,,Астана,,,
    astana-1,district,Алматинский район,astana,,,,,
    astana/pc-1,polyclinic,Городская поликлиника №1,astana,astana-1,Астана,"ул. Абая, 10",010000,

``kind`` is ``ministry``, ``region``, ``district`` or a facility type (:data:`FACILITY_TYPES`);
``parent`` is the region of a district or facility (the ministry of a region).

Practitioners CSV (``iin``, ``family``, ``given``, ``organization`` and ``specialty`` required)::

    iin,family,given,patronymic,organization,specialty,role,phone
    860330400158,Ахметова,Айгерім,Маратқызы,astana/pc-1,gp,doctor,

``specialty`` is a key of :data:`~ehp.fhir.codes.SPECIALTIES` (``gp``, ``pediatrics``...),
``role`` a code of the HL7 practitioner-role system (default ``doctor``).
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ehp.fhir.codes import (
    FACILITY_KINDS,
    FACILITY_TYPE,
    ORGANIZATION_TYPE,
    PHYSICAL_TYPE,
    PRACTITIONER_ROLE,
    ROLE_CODE,
    SPECIALTIES,
    Code,
)
from ehp.registry.attachment import REASON_SYSTEM, REASONS
from ehp.registry.geography import REGIONS
from ehp.registry.iin import iin_birth_date_and_sex
from ehp.registry.iin_rule import iin_problem

Json = dict[str, Any]
ORGANIZATION_CODE_SYSTEM = "http://ehp.kz/fhir/sid/organization-code"
"""The ``Organization.identifier.system`` of the codes of the CSV files."""
NAMESPACE = uuid.UUID("0c6f5a0e-8f0e-4c1a-9d41-1f1e0c2b9a57")
"""Of the ids derived from CSV codes (distinct from the synthetic generator's)."""

FACILITY_TYPES: dict[str, Code] = {kind: code for kind, (code, _) in FACILITY_KINDS.items()} | {
    "dispensary": Code(FACILITY_TYPE, "dispensary", "Dispensary (specialised outpatient care)")
}
"""The codes of EHP's facility-type CodeSystem (the synthetic country's, plus ``dispensary``)."""
LOCATION_TYPES: dict[str, Code] = {
    kind: code for kind, (_, code) in FACILITY_KINDS.items() if code is not None
} | {"dispensary": Code(ROLE_CODE, "OF", "Outpatient facility")}
_GOVERNMENT = Code(ORGANIZATION_TYPE, "govt", "Government")
_PROVIDER = Code(ORGANIZATION_TYPE, "prov", "Healthcare Provider")
_JURISDICTION = Code(PHYSICAL_TYPE, "jdn", "Jurisdiction")
_BUILDING = Code(PHYSICAL_TYPE, "bu", "Building")
ORGANIZATION_COLUMNS = (
    "code",
    "kind",
    "name",
    "parent",
    "district",
    "city",
    "address",
    "postal_code",
    "phone",
)
PRACTITIONER_COLUMNS = ("iin", "family", "given", "patronymic", "organization", "specialty", "role", "phone")


class CsvError(ValueError):
    """A row that cannot be loaded; the message names the file and line."""


def derived_id(key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, key))


def organization_id(code: str) -> str:
    return derived_id(f"Organization/{code}")


def location_id(code: str) -> str:
    return derived_id(f"Location/{code}")


@dataclass(frozen=True, slots=True)
class Row:
    where: str
    values: dict[str, str]

    def get(self, name: str) -> str:
        return (self.values.get(name) or "").strip()

    def require(self, name: str) -> str:
        value = self.get(name)
        if not value:
            raise CsvError(f"{self.where}: '{name}' is required")
        return value


def read_rows(path: Path, columns: tuple[str, ...], required: tuple[str, ...]) -> list[Row]:
    """The rows of a UTF-8 CSV file with a header naming (some of) ``columns``."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.DictReader(file)
            header = reader.fieldnames or []
            missing = [name for name in required if name not in header]
            unknown = [name for name in header if name not in columns]
            if missing or unknown:
                raise CsvError(
                    f"{path}: the header needs {', '.join(required)} and may have {', '.join(columns)}"
                    + (f"; missing {', '.join(missing)}" if missing else "")
                    + (f"; unknown {', '.join(unknown)}" if unknown else "")
                )
            return [Row(f"{path}:{number}", dict(values)) for number, values in enumerate(reader, start=2)]
    except (OSError, UnicodeDecodeError, csv.Error) as failure:
        raise CsvError(f"{path}: {failure}") from None


def organization_resources(rows: list[Row]) -> Iterator[Json]:
    """The Organizations and Locations of organisation rows (see the module doc)."""
    seen: dict[str, str] = {}
    for row in rows:
        code, kind, name = row.require("code"), row.require("kind"), row.require("name")
        if code in seen:
            raise CsvError(f"{row.where}: the code '{code}' is already used at {seen[code]}")
        seen[code] = row.where
        if kind == "ministry":
            yield _organization(row, code, name, [_GOVERNMENT.concept()])
        elif kind == "region":
            department = FACILITY_KINDS["health-department"][0]
            yield _organization(row, code, name, [_GOVERNMENT.concept(), department.concept()])
            yield _jurisdiction(row, code, name, None)
        elif kind == "district":
            yield _jurisdiction(row, code, name, row.require("parent"))
        elif kind in FACILITY_TYPES:
            row.require("parent")
            yield _organization(row, code, name, [_PROVIDER.concept(), FACILITY_TYPES[kind].concept()])
            yield _building(row, code, name, kind)
        else:
            kinds = ", ".join(["ministry", "region", "district", *FACILITY_TYPES])
            raise CsvError(f"{row.where}: unknown kind '{kind}' (use {kinds})")


def _address(row: Row) -> Json:
    address: Json = {"use": "work", "type": "physical"}
    if row.get("address"):
        address["line"] = [row.get("address")]
    for column, element in (("city", "city"), ("postal_code", "postalCode")):
        if row.get(column):
            address[element] = row.get(column)
    address["country"] = "KZ"
    return address


def _organization(row: Row, code: str, name: str, types: list[Json]) -> Json:
    organization: Json = {
        "resourceType": "Organization",
        "id": organization_id(code),
        "identifier": [{"system": ORGANIZATION_CODE_SYSTEM, "value": code}],
        "active": True,
        "type": types,
        "name": name,
    }
    if row.get("phone"):
        organization["telecom"] = [{"system": "phone", "value": row.get("phone"), "use": "work"}]
    organization["address"] = [_address(row)]
    if row.get("parent"):
        organization["partOf"] = {"reference": f"Organization/{organization_id(row.get('parent'))}"}
    return organization


def _jurisdiction(row: Row, code: str, name: str, parent: str | None) -> Json:
    location: Json = {
        "resourceType": "Location",
        "id": location_id(code),
        "status": "active",
        "name": name,
        "mode": "instance",
        "physicalType": _JURISDICTION.concept(),
        "address": _address(row),
    }
    if parent:
        location["partOf"] = {"reference": f"Location/{location_id(parent)}"}
    else:
        location["managingOrganization"] = {"reference": f"Organization/{organization_id(code)}"}
    return location


def _building(row: Row, code: str, name: str, kind: str) -> Json:
    location: Json = {
        "resourceType": "Location",
        "id": location_id(code),
        "status": "active",
        "name": name,
        "mode": "instance",
    }
    if kind in LOCATION_TYPES:
        location["type"] = [LOCATION_TYPES[kind].concept()]
    location |= {
        "physicalType": _BUILDING.concept(),
        "address": _address(row),
        "managingOrganization": {"reference": f"Organization/{organization_id(code)}", "display": name},
        "partOf": {"reference": f"Location/{location_id(row.get('district') or row.require('parent'))}"},
    }
    return location


def practitioner_resources(rows: list[Row], iin_system: str) -> Iterator[Json]:
    """A Practitioner per IIN and a PractitionerRole per row (see the module doc)."""
    people: set[str] = set()
    for row in rows:
        iin = row.require("iin")
        problem = iin_problem(iin)
        if problem is not None:
            raise CsvError(f"{row.where}: '{iin}' is not a valid IIN: {problem}")
        specialty = row.require("specialty")
        if specialty not in SPECIALTIES:
            raise CsvError(f"{row.where}: unknown specialty '{specialty}' (use {', '.join(SPECIALTIES)})")
        org = row.require("organization")
        family, given = row.require("family"), row.require("given")
        practitioner_id = derived_id(f"Practitioner/{iin}")
        display = " ".join(part for part in (family, given, row.get("patronymic")) if part)
        if iin not in people:
            people.add(iin)
            givens = [part for part in (given, row.get("patronymic")) if part]
            born, sex = iin_birth_date_and_sex(iin)
            yield {
                "resourceType": "Practitioner",
                "id": practitioner_id,
                "identifier": [{"use": "official", "system": iin_system, "value": iin}],
                "active": True,
                "name": [{"use": "official", "text": display, "family": family, "given": givens}],
                "gender": sex,
                "birthDate": born.isoformat(),
            }
        role = row.get("role") or "doctor"
        yield _role(row, iin, practitioner_id, display, org, specialty, role)


def _role(
    row: Row, iin: str, practitioner_id: str, display: str, org: str, specialty: str, role: str
) -> Json:
    resource: Json = {
        "resourceType": "PractitionerRole",
        "id": derived_id(f"PractitionerRole/{iin}/{org}/{specialty}"),
        "active": True,
        "practitioner": {"reference": f"Practitioner/{practitioner_id}", "display": display},
        "organization": {"reference": f"Organization/{organization_id(org)}"},
        "code": [{"coding": [{"system": PRACTITIONER_ROLE, "code": role}]}],
        "specialty": [SPECIALTIES[specialty].concept()],
        "location": [{"reference": f"Location/{location_id(org)}"}],
    }
    if row.get("phone"):
        resource["telecom"] = [{"system": "phone", "value": row.get("phone"), "use": "work"}]
    return resource


def builtin_region_rows() -> list[Row]:
    """The country's regions (17 oblasts and 3 cities of republican significance) and districts."""
    rows = []
    for region in REGIONS:
        rows.append(
            Row(
                f"built-in region {region.code}",
                {
                    "code": region.code,
                    "kind": "region",
                    "name": f"Управление здравоохранения, {region.name}",
                    "city": region.center,
                },
            )
        )
        rows.extend(
            Row(
                f"built-in district {district.code}",
                {"code": district.code, "kind": "district", "name": district.name, "parent": region.code},
            )
            for district in region.districts
        )
    return rows


def code_systems() -> list[Json]:
    """EHP's own CodeSystems the registries use: facility types and attachment reasons."""
    facility = [{"code": code.code, "display": code.display} for code in FACILITY_TYPES.values()]
    reasons = [{"code": code, "display": display} for code, display in REASONS.items()]
    return [
        _code_system("ehp-facility-type", FACILITY_TYPE, "Facility types", facility),
        _code_system("ehp-attachment-reason", REASON_SYSTEM, "Reasons an attachment begins or ends", reasons),
    ]


def _code_system(resource_id: str, url: str, title: str, concepts: list[Json]) -> Json:
    return {
        "resourceType": "CodeSystem",
        "id": resource_id,
        "url": url,
        "name": title.replace(" ", ""),
        "title": title,
        "status": "active",
        "content": "complete",
        "concept": concepts,
    }
