"""Who lives in the generated country: units of people, their birth, moves, children and death.

People come in *units*, each drawn from its own random stream: a living adult (with, for a woman,
her children under 18, so that mother and child are linked), or a person who died since
:data:`RECORDS_FROM`. Adults are drawn from the 2024 age pyramid (18 and over); children come
from their mothers' births, drawn with age-specific fertility rates scaled by the region's
fertility, so the share of minors comes out near the real one (about a third). A unit's region is
taken from a low-discrepancy sequence weighted by population (and corrected for the larger units
of high-fertility regions), so regional shares are close to the real ones even for small runs.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from typing import Any

from ehp.fhir import codes
from ehp.registry.iin import Sex
from ehp.synth.ids import random_id, stream
from ehp.synth.infrastructure import Country, DistrictCare, Facility, IinRegistry, RegionCare, Staff
from ehp.synth.names import STREETS, PersonName, family_name, person_name

REFERENCE_DATE = date(2025, 1, 1)
"""The generated country's "today": nothing happens on or after it (fixed, for determinism)."""
RECORDS_FROM = date(2016, 1, 1)
"""Detailed records (visits, laboratory, prescriptions, ambulance) start here; before it only the
digitised paper records exist: birth, immunisations, deliveries and chronic diagnoses."""

# Thousands of people by age band in 2024 (from single-year births and survival), 18+ only.
ADULT_BANDS: tuple[tuple[int, int, float], ...] = (
    (18, 20, 540), (20, 25, 1200), (25, 30, 1350), (30, 35, 1650), (35, 40, 1600), (40, 45, 1350),
    (45, 50, 1200), (50, 55, 1100), (55, 60, 1100), (60, 65, 950), (65, 70, 750), (70, 75, 500),
    (75, 80, 250), (80, 85, 200), (85, 95, 100),
)  # fmt: skip
# The female share of each age from that age on (men die younger).
FEMALE_SHARE: tuple[tuple[int, float], ...] = (
    (0, 0.486), (30, 0.505), (45, 0.53), (60, 0.57), (70, 0.64), (80, 0.72),
)  # fmt: skip
# Births per woman per year by age band (2023, rounded), before the region's factor.
FERTILITY: tuple[tuple[int, float], ...] = (
    (15, 0.0), (16, 0.01), (18, 0.07), (20, 0.155), (25, 0.2), (30, 0.16), (35, 0.09), (40, 0.03), (45, 0.0),
)  # fmt: skip
# Fertility of the calendar years relative to 2023 (it fell to ~1.8 children per woman in 1999).
PERIOD_FERTILITY: tuple[tuple[int, float], ...] = (
    (1900, 1.0), (1991, 0.75), (1996, 0.62), (2003, 0.8), (2010, 1.0),
)  # fmt: skip
# Age at death of people who died since RECORDS_FROM: (from, to, weight).
DEATH_AGES: tuple[tuple[int, int, float], ...] = (
    (1, 40, 8), (40, 60, 20), (60, 70, 22), (70, 80, 25), (80, 95, 25),
)  # fmt: skip
DECEASED_UNITS = 0.075
INFANT_DEATH = 0.008
MOVE_BETWEEN_REGIONS = {"astana": 0.35, "almaty": 0.3, "shymkent": 0.2}
MOVE_DEFAULT = 0.08
MOVE_WITHIN_REGION = 0.12
MINORS_PER_ADULT = 0.5
"""Roughly how many minors a unit adds per adult at fertility 1.0 (corrects the regional weights)."""
VILLAGES = ("с. Жанаталап", "с. Береке", "с. Достык", "с. Акбулак", "с. Кайнар", "с. Коктобе", "с. Бирлик")


@dataclass(slots=True)
class Home:
    start: date
    care: RegionCare
    district: DistrictCare
    polyclinic: Facility
    gp: Staff
    address: dict[str, Any]


@dataclass(slots=True)
class Delivery:
    when: date
    encounter_id: str
    caesarean: bool
    child: Person | None = None


@dataclass(slots=True)
class Person:
    id: str
    sex: Sex
    birth: date
    name: PersonName
    iin: str
    kazakh: bool
    homes: list[Home]
    death: date | None = None
    mother: Person | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    birth_delivery: Delivery | None = None
    """The mother's delivery this person was born in, when the mother is generated too."""

    @property
    def end(self) -> date:
        """The day records stop: the death, or the reference date."""
        return self.death or REFERENCE_DATE

    def age_on(self, day: date) -> int:
        return day.year - self.birth.year - ((day.month, day.day) < (self.birth.month, self.birth.day))

    def home_on(self, day: date) -> Home:
        current = self.homes[0]
        for home in self.homes[1:]:
            if home.start <= day:
                current = home
        return current


def years_later(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _table_value(table: tuple[tuple[int, float], ...], key: int) -> float:
    index = bisect.bisect_right([start for start, _ in table], key) - 1
    return table[max(index, 0)][1]


class Population:
    """Draws the units of people of a run: unit ``n`` depends on the seed and ``n`` only (but for the
    IIN serials, handed out in order)."""

    def __init__(self, seed: int, country: Country, iins: IinRegistry) -> None:
        self.seed = seed
        self.iins = iins
        self.cares = list(country.regions.values())
        weights = [
            care.region.population / (1 + MINORS_PER_ADULT * care.region.fertility) for care in self.cares
        ]
        self._region_cumulative = list(accumulate(w / sum(weights) for w in weights))
        self._origin_weights = [care.region.population * care.region.outflow for care in self.cares]
        self._adult_cumulative = list(accumulate(band[2] for band in ADULT_BANDS))
        self._offset = stream(seed, "regions").random()

    def unit(self, number: int) -> list[Person]:
        """Unit ``number``: its first person, then that person's children under 18."""
        rng = stream(self.seed, "unit", number)
        fraction = (self._offset + number * 0.6180339887498949) % 1.0
        care = self.cares[min(bisect.bisect_right(self._region_cumulative, fraction), len(self.cares) - 1)]
        if rng.random() < DECEASED_UNITS:
            return [self._deceased(rng, care)]
        return self._living(rng, care)

    def _deceased(self, rng: random.Random, care: RegionCare) -> Person:
        low, high, _ = rng.choices(DEATH_AGES, weights=[band[2] for band in DEATH_AGES])[0]
        death = RECORDS_FROM + timedelta(days=rng.randrange((REFERENCE_DATE - RECORDS_FROM).days))
        birth = death - timedelta(days=rng.randint(low * 365, high * 365))
        sex: Sex = "male" if rng.random() < 0.55 else "female"
        kazakh = rng.random() < care.region.kazakh_names
        person = self._person(rng, care, birth, sex, family_name(rng, kazakh), kazakh)
        person.death = death
        if sex == "female":
            self._deliveries(rng, person, care, keep_children=False)
        return person

    def _living(self, rng: random.Random, care: RegionCare) -> list[Person]:
        age_band = ADULT_BANDS[
            bisect.bisect_right(self._adult_cumulative, rng.random() * self._adult_cumulative[-1])
        ]
        age = rng.randrange(age_band[0], age_band[1])
        earliest = years_later(REFERENCE_DATE, -age - 1) + timedelta(days=1)
        birth = earliest + timedelta(
            days=rng.randrange((years_later(REFERENCE_DATE, -age) - earliest).days + 1)
        )
        sex: Sex = "female" if rng.random() < _table_value(FEMALE_SHARE, age) else "male"
        kazakh = rng.random() < care.region.kazakh_names
        origin = self._origin(rng, care)
        person = self._person(rng, origin, birth, sex, family_name(rng, kazakh), kazakh)
        self._moves(rng, person, care)
        children = self._deliveries(rng, person, care, keep_children=True) if sex == "female" else []
        return [person, *children]

    def _person(
        self,
        rng: random.Random,
        care: RegionCare,
        birth: date,
        sex: Sex,
        family: str,
        kazakh: bool,
    ) -> Person:
        name = person_name(rng, sex, kazakh, family, birth.year)
        iin = self.iins.issue(birth, sex, care.region.index)
        home = self._home(rng, birth, care, rng.choice(care.districts))
        return Person(random_id(rng), sex, birth, name, iin, kazakh, [home])

    def _home(self, rng: random.Random, start: date, care: RegionCare, district: DistrictCare) -> Home:
        polyclinic = rng.choice(district.polyclinics)
        gp = rng.choice(polyclinic.of("gp"))
        region = care.region
        name = district.district.name
        if region.kind == "city":
            city = region.center
        elif name.startswith("город "):
            city = name.removeprefix("город ")
        else:
            city = rng.choice(VILLAGES)
        street = rng.choice(STREETS)
        line = f"{street}, д. {rng.randint(1, 120)}"
        if region.kind == "city" or name.startswith("город "):
            line += f", кв. {rng.randint(1, 180)}"
        address = {
            "use": "home",
            "type": "physical",
            "text": f"{line}, {city}, {region.name}",
            "line": [line],
            "city": city,
            "district": name,
            "state": region.name,
            "postalCode": f"{region.postal + rng.randrange(0, 20) * 10:06d}",
            "country": "KZ",
        }
        return Home(start, care, district, polyclinic, gp, address)

    def _origin(self, rng: random.Random, care: RegionCare) -> RegionCare:
        """Where a living adult of ``care`` was born: the same region unless they moved."""
        chance = MOVE_BETWEEN_REGIONS.get(care.region.code, MOVE_DEFAULT)
        if len(self.cares) == 1 or rng.random() >= chance:
            return care
        weights = [
            0.0 if other is care else w for other, w in zip(self.cares, self._origin_weights, strict=True)
        ]
        return rng.choices(self.cares, weights=weights)[0]

    def _moves(self, rng: random.Random, person: Person, care: RegionCare) -> None:
        """Move to the current region (if born elsewhere), and maybe within it later."""
        adult = years_later(person.birth, 18)
        if person.homes[0].care is not care:
            day = adult + timedelta(days=rng.randrange(max(1, min((REFERENCE_DATE - adult).days, 22 * 365))))
            person.homes.append(self._home(rng, day, care, rng.choice(care.districts)))
        if len(care.districts) > 1 and rng.random() < MOVE_WITHIN_REGION:
            start = max(adult, person.homes[-1].start) + timedelta(days=30)
            if start < REFERENCE_DATE:
                day = start + timedelta(days=rng.randrange((REFERENCE_DATE - start).days))
                current = person.homes[-1].district
                district = rng.choice([d for d in care.districts if d is not current])
                person.homes.append(self._home(rng, day, care, district))

    def _deliveries(
        self, rng: random.Random, mother: Person, care: RegionCare, keep_children: bool
    ) -> list[Person]:
        """The mother's deliveries, and (when kept) her children born in the last 18 years."""
        factor = care.region.fertility
        children: list[Person] = []
        next_possible = years_later(mother.birth, 15)
        for age in range(15, 46):
            start = years_later(mother.birth, age)
            if start >= mother.end:
                break
            chance = _table_value(FERTILITY, age) * factor * _table_value(PERIOD_FERTILITY, start.year)
            if start < next_possible or rng.random() >= chance:
                continue
            when = start + timedelta(days=rng.randrange(365))
            if when >= mother.end:
                break
            delivery = Delivery(when, random_id(rng), rng.random() < 0.2)
            mother.deliveries.append(delivery)
            next_possible = when + timedelta(days=450)
            if keep_children and when > years_later(REFERENCE_DATE, -18):
                child = self._child(rng, mother, delivery)
                delivery.child = child
                children.append(child)
        return children

    def _child(self, rng: random.Random, mother: Person, delivery: Delivery) -> Person:
        sex: Sex = "female" if rng.random() < _table_value(FEMALE_SHARE, 0) else "male"
        home = mother.home_on(delivery.when)
        family = family_name(rng, mother.kazakh) if rng.random() < 0.5 else _masculine(mother.name.family)
        name = person_name(rng, sex, mother.kazakh, family, delivery.when.year)
        iin = self.iins.issue(delivery.when, sex, home.care.region.index)
        homes = [Home(delivery.when, home.care, home.district, home.polyclinic, home.gp, home.address)]
        child = Person(random_id(rng), sex, delivery.when, name, iin, mother.kazakh, homes, mother=mother)
        child.birth_delivery = delivery
        if rng.random() < INFANT_DEATH:
            death = delivery.when + timedelta(days=rng.randint(7, 300))
            child.death = death if death < REFERENCE_DATE else None
        homes += [later for later in mother.homes if delivery.when < later.start < child.end]
        return child


def _masculine(family: str) -> str:
    return family[:-1] if family.endswith(("ова", "ева", "ёва", "ина")) else family


def cause_of_death(rng: random.Random, person: Person) -> codes.Code:
    if person.death is not None and person.age_on(person.death) < 1:
        return rng.choice(codes.INFANT_DEATH_CAUSES)
    old = person.death is not None and person.age_on(person.death) >= 60
    weights = [elderly if old else young for _, young, elderly in codes.DEATH_CAUSES]
    return rng.choices([code for code, _, _ in codes.DEATH_CAUSES], weights=weights)[0]
