"""The health care network of the generated country: who cares for whom, and where.

A ministry; per region a health department (``Organization``, the ``partOf`` of every facility in
the region), a jurisdiction ``Location`` and per district another; per district polyclinics (one
per ~25,000 people) and a hospital; per region a regional hospital, a perinatal centre, an
ambulance station and a laboratory. Each facility is an ``Organization`` with a ``Location``, and
its staff are ``Practitioner``s with a ``PractitionerRole`` there: general practitioners (one per
~1,700 attached people, at least two) and specialists. Sizes follow the number of people
generated, so a small run has a small network.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from ehp.fhir import codes
from ehp.registry.geography import REGIONS, District, Region
from ehp.registry.iin import IIN_SYSTEM, Sex, issue_iins
from ehp.registry.population import population_group
from ehp.synth.ids import stable_id, stream
from ehp.synth.names import STREETS, family_name, human_names, person_name

PEOPLE_PER_POLYCLINIC = 25_000
PEOPLE_PER_GP = 1_700
_IIN_EPOCH = date(1900, 1, 1)
_IIN_DAYS = (date(2026, 1, 1) - _IIN_EPOCH).days


class IinRegistry:
    """Issues unique IINs: serials ``region + 20k`` per birth date and sex, in order.

    Serials are spread by region so that regions generated separately never share an IIN. The
    next ``k`` of every (date, sex, region) lives in one fixed array: memory does not grow with
    the number of people.
    """

    def __init__(self) -> None:
        self._next = array("H", bytes(2 * _IIN_DAYS * 2 * len(REGIONS)))

    def issue(self, birth_date: date, sex: Sex, region: int) -> str:
        regions = len(REGIONS)
        slot = (((birth_date - _IIN_EPOCH).days * 2) + (sex == "female")) * regions + region
        start = region + regions * self._next[slot]
        for serial, iin in issue_iins(birth_date, sex, start=start, step=regions):
            self._next[slot] = (serial - region) // regions + 1
            return iin
        raise RuntimeError(f"no IIN serial left for {birth_date} {sex} in region {region}")


@dataclass(frozen=True, slots=True)
class Staff:
    role_id: str
    practitioner_id: str
    specialty: str
    resources: tuple[dict[str, Any], dict[str, Any]]
    """The Practitioner and the PractitionerRole."""


@dataclass(frozen=True, slots=True)
class Facility:
    kind: str
    org_id: str
    location_id: str
    name: str
    staff: tuple[Staff, ...]
    resources: tuple[dict[str, Any], dict[str, Any]]
    """The Organization and its Location."""

    def of(self, specialty: str) -> tuple[Staff, ...]:
        """The staff of a specialty (all staff when it has none)."""
        found = tuple(member for member in self.staff if member.specialty == specialty)
        return found or self.staff

    @property
    def ref(self) -> dict[str, str]:
        return {"reference": f"Organization/{self.org_id}", "display": self.name}

    @property
    def location_ref(self) -> dict[str, str]:
        return {"reference": f"Location/{self.location_id}", "display": self.name}


@dataclass(frozen=True, slots=True)
class DistrictCare:
    district: District
    location_id: str
    polyclinics: tuple[Facility, ...]
    hospital: Facility


@dataclass(frozen=True, slots=True)
class RegionCare:
    region: Region
    org_id: str
    location_id: str
    districts: tuple[DistrictCare, ...]
    hospital: Facility
    maternity: Facility
    ambulance: Facility
    laboratory: Facility

    def facilities(self) -> Iterator[Facility]:
        for care in self.districts:
            yield from care.polyclinics
            yield care.hospital
        yield from (self.hospital, self.maternity, self.ambulance, self.laboratory)


@dataclass(frozen=True, slots=True)
class Country:
    ministry_id: str
    regions: dict[int, RegionCare]
    """The regions generated, by region index."""


MINISTRY = "Министерство здравоохранения Республики Казахстан"


class _Builder:
    def __init__(self, seed: int, iins: IinRegistry) -> None:
        self.seed = seed
        self.iins = iins

    def ids(self, key: str) -> tuple[str, str]:
        return stable_id(self.seed, f"Organization/{key}"), stable_id(self.seed, f"Location/{key}")

    def facility(
        self,
        region: Region,
        district: District | None,
        key: str,
        kind: str,
        name: str,
        staffing: dict[str, int],
    ) -> Facility:
        org_id, location_id = self.ids(key)
        rng = stream(self.seed, "facility", key)
        staff = tuple(
            self.staff_member(rng, region, f"{key}/{specialty}/{n}", specialty, org_id, location_id, name)
            for specialty, count in staffing.items()
            for n in range(count)
        )
        facility_type, location_type = codes.FACILITY_KINDS[kind]
        address = _facility_address(rng, region, district)
        organization = {
            "resourceType": "Organization",
            "id": org_id,
            "active": True,
            "type": [_PROVIDER.concept(), facility_type.concept()],
            "name": name,
            "address": [address],
            "partOf": {
                "reference": f"Organization/{self.ids(region.code)[0]}",
                "display": _department(region),
            },
        }
        parent = f"{region.code}/{district.code}" if district is not None else region.code
        location: dict[str, Any] = {
            "resourceType": "Location",
            "id": location_id,
            "status": "active",
            "name": name,
            "mode": "instance",
            "physicalType": _BUILDING.concept(),
            "address": address,
            "position": {
                "longitude": round(region.longitude + rng.uniform(-0.05, 0.05), 5),
                "latitude": round(region.latitude + rng.uniform(-0.05, 0.05), 5),
            },
            "managingOrganization": {"reference": f"Organization/{org_id}", "display": name},
            "partOf": {"reference": f"Location/{self.ids(parent)[1]}"},
        }
        if location_type is not None:
            location["type"] = [location_type.concept()]
        return Facility(kind, org_id, location_id, name, staff, (organization, location))

    def staff_member(
        self,
        rng: random.Random,
        region: Region,
        key: str,
        specialty: str,
        org_id: str,
        location_id: str,
        facility_name: str,
    ) -> Staff:
        practitioner_id = stable_id(self.seed, f"Practitioner/{key}")
        role_id = stable_id(self.seed, f"PractitionerRole/{key}")
        female = specialty in ("obstetrics", "pediatrics", "neonatology") or rng.random() < 0.7
        sex: Sex = "female" if female else "male"
        born = date(rng.randint(1958, 1998), rng.randint(1, 12), rng.randint(1, 28))
        kazakh = rng.random() < region.kazakh_names
        name = person_name(rng, sex, kazakh, family_name(rng, kazakh), born.year)
        iin = self.iins.issue(born, sex, region.index)
        practitioner = {
            "resourceType": "Practitioner",
            "id": practitioner_id,
            "identifier": [{"use": "official", "system": IIN_SYSTEM, "value": iin}],
            "active": True,
            "name": human_names(name),
            "gender": sex,
            "birthDate": born.isoformat(),
        }
        display = f"{name.family} {name.given} {name.patronymic}"
        role = {
            "resourceType": "PractitionerRole",
            "id": role_id,
            "active": True,
            "practitioner": {"reference": f"Practitioner/{practitioner_id}", "display": display},
            "organization": {"reference": f"Organization/{org_id}", "display": facility_name},
            "code": [
                {"coding": [{"system": codes.PRACTITIONER_ROLE, "code": "doctor", "display": "Doctor"}]}
            ],
            "specialty": [codes.SPECIALTIES[specialty].concept()],
            "location": [{"reference": f"Location/{location_id}", "display": facility_name}],
        }
        return Staff(role_id, practitioner_id, specialty, (practitioner, role))


_PROVIDER = codes.Code(codes.ORGANIZATION_TYPE, "prov", "Healthcare Provider")
_GOVERNMENT = codes.Code(codes.ORGANIZATION_TYPE, "govt", "Government")
_BUILDING = codes.Code(codes.PHYSICAL_TYPE, "bu", "Building")
_JURISDICTION = codes.Code(codes.PHYSICAL_TYPE, "jdn", "Jurisdiction")


def _department(region: Region) -> str:
    return f"Управление здравоохранения, {region.name}"


def _facility_address(rng: random.Random, region: Region, district: District | None) -> dict[str, Any]:
    street = rng.choice(STREETS)
    house = rng.randint(1, 150)
    city = region.center
    if district is not None and district.name.startswith("город "):
        city = district.name.removeprefix("город ")
    address: dict[str, Any] = {
        "use": "work",
        "type": "physical",
        "text": f"{street}, {house}, {city}",
        "line": [f"{street}, {house}"],
        "city": city,
    }
    if district is not None:
        address["district"] = district.name
    address |= {"state": region.name, "postalCode": f"{region.postal:06d}", "country": "KZ"}
    return address


def build_country(seed: int, people: int, region_codes: tuple[str, ...] | None, iins: IinRegistry) -> Country:
    """The network for ``people`` people spread over the regions (all of them unless named)."""
    chosen = [r for r in REGIONS if region_codes is None or r.code in region_codes]
    total = sum(r.population for r in chosen)
    builder = _Builder(seed, iins)
    regions = {
        region.index: _region_care(builder, region, people * region.population / total) for region in chosen
    }
    return Country(stable_id(seed, "Organization/ministry"), regions)


def _region_care(builder: _Builder, region: Region, people: float) -> RegionCare:
    code = region.code
    city = region.kind == "city"
    districts = []
    for number, district in enumerate(region.districts):
        served = people * district.share
        polyclinic_count = max(1, round(served / PEOPLE_PER_POLYCLINIC))
        attached = served / polyclinic_count
        staffing = {"gp": max(2, round(attached / PEOPLE_PER_GP)), "pediatrics": 1 + int(attached // 15_000)}
        staffing |= {"endocrinology": 1, "cardiology": 1, "obstetrics": 1}
        kind = "Городская поликлиника" if city else "Поликлиника"
        polyclinics = tuple(
            builder.facility(
                region,
                district,
                f"{code}/{district.code}/polyclinic/{n + 1}",
                "polyclinic",
                f"{kind} №{number * 10 + n + 1}, {district.name}",
                staffing,
            )
            for n in range(polyclinic_count)
        )
        hospital_name = (
            f"Городская больница №{number + 2}, {district.name}"
            if city or district.name.startswith("город ")
            else f"Центральная районная больница, {district.name}"
        )
        hospital = builder.facility(
            region,
            district,
            f"{code}/{district.code}/hospital",
            "hospital",
            hospital_name,
            {"internal": 2, "surgery": 1},
        )
        location_id = builder.ids(f"{code}/{district.code}")[1]
        districts.append(DistrictCare(district, location_id, polyclinics, hospital))
    adjective = "городская" if city else "областная"
    regional = builder.facility(
        region,
        None,
        f"{code}/hospital",
        "hospital",
        f"Многопрофильная {adjective} больница №1, {region.center}",
        {"internal": 2, "surgery": 2, "cardiology": 1},
    )
    maternity = builder.facility(
        region,
        None,
        f"{code}/maternity",
        "maternity",
        f"Перинатальный центр, {region.center}",
        {"obstetrics": 2, "neonatology": 1},
    )
    ambulance = builder.facility(
        region,
        None,
        f"{code}/ambulance",
        "ambulance",
        f"Станция скорой медицинской помощи, {region.center}",
        {"emergency": max(2, round(people / 50_000))},
    )
    laboratory = builder.facility(
        region,
        None,
        f"{code}/laboratory",
        "laboratory",
        f"Клинико-диагностическая лаборатория, {region.center}",
        {"pathology": 1},
    )
    org_id, location_id = builder.ids(code)
    return RegionCare(
        region, org_id, location_id, tuple(districts), regional, maternity, ambulance, laboratory
    )


def infrastructure_resources(country: Country) -> Iterator[dict[str, Any]]:
    """The ministry, then per region its department, jurisdictions, facilities and staff."""
    yield {
        "resourceType": "Organization",
        "id": country.ministry_id,
        "active": True,
        "type": [_GOVERNMENT.concept()],
        "name": MINISTRY,
        "address": [{"use": "work", "type": "physical", "city": "Астана", "country": "KZ"}],
    }
    for care in country.regions.values():
        region = care.region
        yield {
            "resourceType": "Organization",
            "id": care.org_id,
            "active": True,
            "type": [_GOVERNMENT.concept(), codes.FACILITY_KINDS["health-department"][0].concept()],
            "name": _department(region),
            "alias": [region.name_kk],
            "address": [
                {
                    "use": "work",
                    "type": "physical",
                    "city": region.center,
                    "state": region.name,
                    "country": "KZ",
                }
            ],
            "partOf": {"reference": f"Organization/{country.ministry_id}", "display": MINISTRY},
        }
        yield _jurisdiction(
            care.location_id, region.name, {"state": region.name, "country": "KZ"}, None, region
        )
        for district_care in care.districts:
            address = {"district": district_care.district.name, "state": region.name, "country": "KZ"}
            yield _jurisdiction(
                district_care.location_id, district_care.district.name, address, care.location_id, region
            )
        for facility in care.facilities():
            yield from facility.resources
            if facility.kind == "polyclinic":
                yield population_group(facility.resources[0])
            for member in facility.staff:
                yield from member.resources


def _jurisdiction(
    location_id: str, name: str, address: dict[str, str], parent: str | None, region: Region
) -> dict[str, Any]:
    location: dict[str, Any] = {
        "resourceType": "Location",
        "id": location_id,
        "status": "active",
        "name": name,
        "mode": "instance",
        "physicalType": _JURISDICTION.concept(),
        "address": address,
        "position": {"longitude": region.longitude, "latitude": region.latitude},
    }
    if parent is not None:
        location["partOf"] = {"reference": f"Location/{parent}"}
    return location
