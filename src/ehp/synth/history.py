"""A person's lifelong records: birth, attachment, immunisations, visits, stays, births, death.

Rates are per person-year from :data:`~ehp.synth.population.RECORDS_FROM` (detailed records);
chronic diseases are drawn as an onset age from the cumulative share of people diagnosed by each
age, so prevalence rises with age as in the national registers (see docs/architecture.md for
the bounds the tests hold the output to).
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterator
from datetime import date, timedelta
from itertools import pairwise

from ehp.fhir import codes
from ehp.fhir.codes import Code
from ehp.registry.iin import IIN_SYSTEM
from ehp.synth.infrastructure import Facility
from ehp.synth.names import human_names
from ehp.synth.population import RECORDS_FROM, REFERENCE_DATE, Person, cause_of_death, years_later
from ehp.synth.records import Chart, Json, at, quantity, role_ref

# Share of people diagnosed by each age (piecewise linear).
HYPERTENSION_BY_AGE = ((30, 0.0), (40, 0.07), (50, 0.19), (60, 0.34), (70, 0.46), (80, 0.53), (100, 0.55))
DIABETES_BY_AGE = ((35, 0.0), (45, 0.016), (55, 0.055), (65, 0.1), (75, 0.13), (100, 0.14))
# Events per person-year by age from: (age, rate).
ACUTE_VISITS = ((0, 1.6), (5, 0.6), (18, 0.45), (65, 0.7))
AMBULANCE_CALLS = ((0, 0.12), (5, 0.04), (18, 0.05), (65, 0.2))
PLANNED_STAYS = ((0, 0.0), (18, 0.025), (65, 0.06))
_NATIONAL_ID = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
            "code": "NI",
            "display": "National unique individual identifier",
        }
    ]
}
_LANGUAGES = {"kk": "Kazakh", "ru": "Russian"}


def records(person: Person, rng: random.Random) -> list[Json]:
    """Every resource of ``person``, the Patient first."""
    chart = Chart(person, rng)
    _birth(chart)
    if person.mother is not None:
        _mother(chart, person.mother)
    _attachments(chart)
    _immunizations(chart)
    _chronic(chart)
    _acute_visits(chart)
    _screenings(chart)
    _ambulance(chart)
    _planned_stays(chart)
    _pregnancies(chart)
    if person.death is not None:
        _death(chart)
    return [_patient(chart), *chart.resources]


def _rate(table: tuple[tuple[int, float], ...], age: int) -> float:
    return table[bisect.bisect_right([start for start, _ in table], age) - 1][1]


def _poisson(rng: random.Random, mean: float) -> int:
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _event_days(chart: Chart, table: tuple[tuple[int, float], ...]) -> Iterator[date]:
    """Days of events at an age-dependent yearly rate, from RECORDS_FROM (or birth) to the end."""
    person = chart.person
    start = max(person.birth, RECORDS_FROM)
    while start < person.end:
        stop = min(years_later(start, 1), person.end)
        span = (stop - start).days
        days = sorted(
            chart.rng.randrange(span)
            for _ in range(_poisson(chart.rng, _rate(table, person.age_on(start)) * span / 365))
        )
        for offset in days:
            yield start + timedelta(days=offset)
        start = stop


def _onset(rng: random.Random, person: Person, table: tuple[tuple[int, float], ...]) -> date | None:
    """The day a chronic disease is diagnosed, or ``None`` when it is not (before the end)."""
    draw = rng.random()
    for (age0, share0), (age1, share1) in pairwise(table):
        if share0 <= draw < share1:
            age = age0 + (age1 - age0) * (draw - share0) / (share1 - share0)
            onset = person.birth + timedelta(days=int(age * 365.25))
            return onset if onset < person.end else None
    return None


def _birth(chart: Chart) -> None:
    person = chart.person
    home = person.homes[0]
    maternity = home.care.maternity
    mother = person.birth_delivery
    end = _discharge(person, person.birth, person.birth + timedelta(days=3))
    encounter = chart.encounter(
        codes.INPATIENT,
        chart.time(person.birth, 1, 11),
        at(end, 11) if end is not None else None,
        maternity,
        maternity.of("neonatology")[0],
        codes.LIVE_BORN,
        discharge="home",
        part_of=mother.encounter_id if mother is not None else None,
    )
    weight = max(1500, min(5000, round(chart.rng.gauss(3350 if person.sex == "male" else 3250, 450), -1)))
    chart.observation(
        codes.BIRTH_WEIGHT,
        "vital-signs",
        at(person.birth, 12),
        encounter,
        role_ref(maternity.of("neonatology")[0]),
        {"valueQuantity": quantity(int(weight), "g")},
    )


def _mother(chart: Chart, mother: Person) -> None:
    chart.add(
        {
            "resourceType": "RelatedPerson",
            "id": chart.new_id(),
            "identifier": [{"use": "official", "system": IIN_SYSTEM, "value": mother.iin}],
            "active": True,
            "patient": chart.subject,
            "relationship": [codes.MOTHER.concept()],
            "name": human_names(mother.name),
            "gender": "female",
            "birthDate": mother.birth.isoformat(),
        }
    )


def _periods(person: Person, start: date) -> Iterator[tuple[int, date, date | None]]:
    """(home index, from, to) for the homes from ``start`` on; ``to`` is ``None`` while it lasts."""
    for index, home in enumerate(person.homes):
        following = person.homes[index + 1].start if index + 1 < len(person.homes) else None
        end = following or person.death
        if following is not None and following <= start:
            continue
        yield index, max(home.start, start), end


def _attachments(chart: Chart) -> None:
    person = chart.person
    for index, begin, end in _periods(person, person.birth):
        home = person.homes[index]
        start_reason = "change-of-residence" if index > 0 else None
        end_reason = None if end is None else "re-attachment" if index + 1 < len(person.homes) else "death"
        chart.episode(
            codes.ATTACHMENT, begin, end, home.polyclinic, home.gp, None, (start_reason, end_reason)
        )


def _schedule(person: Person) -> Iterator[tuple[int, tuple[Code, Code], int]]:
    """(days after birth, vaccine, dose) of the national schedule for the person's birth year."""
    year = person.birth.year
    yield 1, codes.BCG, 1
    if year >= 1998:
        yield 1, codes.HEPB, 1
    for dose, month in enumerate((2, 3, 4), start=1):
        if year >= 2013:
            yield month * 30, codes.HEXAVALENT, dose
            continue
        yield month * 30, codes.PENTAVALENT if year >= 2009 else codes.DTP, dose
        yield month * 30 + 1, codes.OPV, dose
    if 1998 <= year < 2009:
        yield 61, codes.HEPB, 2
        yield 121, codes.HEPB, 3
    if year >= 2010:
        for dose, month in enumerate((2, 4, 12), start=1):
            yield month * 30 + 2, codes.PCV, dose
    yield 365, codes.MMR if year >= 1994 else codes.MEASLES, 1
    yield 548, codes.DTAP_IPV_HIB if year >= 2009 else codes.DTP, 4
    if year >= 1994:
        yield 6 * 365, codes.MMR, 2
    yield 6 * 365 + 7, codes.DT, 5
    for dose, age in enumerate(range(16, 80, 10), start=1):
        yield age * 365 + 30, codes.TD, dose


def _immunizations(chart: Chart) -> None:
    person, rng = chart.person, chart.rng
    for days, vaccine, dose in _schedule(person):
        day = person.birth + timedelta(days=days)
        adult_booster = vaccine is codes.TD and dose > 1
        if day >= person.end or rng.random() >= (0.5 if adult_booster else 0.97):
            continue
        home = person.home_on(day)
        if days <= 1:
            facility = home.care.maternity
            staff = facility.of("neonatology")[0]
        else:
            facility = home.polyclinic
            staff = rng.choice(facility.of("pediatrics" if days < 18 * 365 else "gp"))
        chart.immunization(vaccine, day, dose, facility, staff)
    first = date(2021, 3, 1) + timedelta(days=rng.randrange(180))
    if person.age_on(first) >= 18 and first < person.end and rng.random() < 0.5:
        for dose in (1, 2):
            day = first + timedelta(days=21 * (dose - 1))
            if day < person.end:
                home = person.home_on(day)
                chart.immunization(codes.COVID, day, dose, home.polyclinic, home.gp)


def _chronic(chart: Chart) -> None:
    person, rng = chart.person, chart.rng
    for code, table, specialty, drugs in (
        (codes.HYPERTENSION, HYPERTENSION_BY_AGE, "gp", codes.HYPERTENSION_DRUGS),
        (codes.DIABETES, DIABETES_BY_AGE, "endocrinology", codes.DIABETES_DRUGS),
    ):
        onset = _onset(rng, person, table)
        if onset is None:
            continue
        home = person.home_on(onset)
        doctor = rng.choice(home.polyclinic.of(specialty))
        condition = chart.condition(code, chart.time(onset), None, doctor, category="problem-list-item")
        episodes = []
        for index, begin, end in _periods(person, onset):
            polyclinic = person.homes[index].polyclinic
            manager = polyclinic.of(specialty)[0]
            episodes.append(
                (begin, chart.episode(codes.DISPENSARY, begin, end, polyclinic, manager, condition))
            )
        drug = rng.choice(drugs)
        day = max(onset, RECORDS_FROM) + timedelta(days=rng.randrange(60))
        visit = 0
        while day < person.end:
            home = person.home_on(day)
            staff = rng.choice(home.polyclinic.of(specialty))
            episode = next(e for begin, e in reversed(episodes) if begin <= day)
            when = chart.time(day)
            encounter = chart.encounter(
                codes.AMBULATORY,
                when,
                when,
                home.polyclinic,
                staff,
                code,
                condition=condition,
                episode=episode,
            )
            if code is codes.HYPERTENSION:
                chart.blood_pressure(
                    when, encounter, staff, round(rng.gauss(145, 12)), round(rng.gauss(90, 8))
                )
            else:
                hba1c = round(min(13.0, max(5.5, rng.gauss(7.6, 1.0))), 1)
                chart.lab(codes.HBA1C, when, encounter, home.care.laboratory, quantity(hba1c, "%"))
            if visit % 2 == 0:
                active = day + timedelta(days=365) >= person.end and person.death is None
                chart.medication(drug, day, encounter, staff, condition, days=365, active=active)
            visit += 1
            day += timedelta(days=rng.randint(150, 210))


def _acute_visits(chart: Chart) -> None:
    person, rng = chart.person, chart.rng
    for day in _event_days(chart, ACUTE_VISITS):
        age = person.age_on(day)
        group = 0 if age < 18 else 1 if age < 65 else 2
        code = rng.choices([c for c, _ in codes.ACUTE], weights=[w[group] for _, w in codes.ACUTE])[0]
        home = person.home_on(day)
        staff = rng.choice(home.polyclinic.of("pediatrics" if age < 18 else "gp"))
        when = chart.time(day)
        condition_id = chart.new_id()
        encounter = chart.encounter(
            codes.AMBULATORY, when, when, home.polyclinic, staff, code, condition=condition_id
        )
        healed = day + timedelta(days=rng.randint(5, 14))
        abatement = at(healed, 12) if healed < person.end else None
        chart.condition(code, when, encounter, staff, abatement=abatement, condition_id=condition_id)
        drugs = codes.ACUTE_DRUGS.get(code.code[0])
        if drugs and rng.random() < 0.5:
            chart.medication(rng.choice(drugs), day, encounter, staff, condition_id, days=30)
        if rng.random() < 0.15:
            _blood_count(chart, when, encounter, home.care.laboratory, infection=code.code[0] in "JHN")


def _blood_count(chart: Chart, when: str, encounter: str, laboratory: Facility, infection: bool) -> None:
    rng = chart.rng
    hemoglobin = round(rng.gauss(145 if chart.person.sex == "male" else 128, 10))
    chart.lab(codes.HEMOGLOBIN, when, encounter, laboratory, quantity(hemoglobin, "g/L"))
    leukocytes = round(max(2.5, rng.gauss(11 if infection else 7, 2)), 1)
    chart.lab(codes.LEUKOCYTES, when, encounter, laboratory, quantity(leukocytes, "10*9/L"))


def _screenings(chart: Chart) -> None:
    """Cardiovascular screening every two years from 40 to 70 (blood pressure, glucose, cholesterol)."""
    person, rng = chart.person, chart.rng
    for age in range(40, 71, 2):
        day = years_later(person.birth, age) + timedelta(days=rng.randrange(300))
        if day < RECORDS_FROM or day >= person.end or rng.random() >= 0.5:
            continue
        home = person.home_on(day)
        when = chart.time(day)
        encounter = chart.encounter(codes.AMBULATORY, when, when, home.polyclinic, home.gp, codes.SCREENING)
        chart.blood_pressure(when, encounter, home.gp, round(rng.gauss(124, 12)), round(rng.gauss(79, 8)))
        glucose = round(max(3.5, rng.gauss(5.3, 0.6)), 1)
        chart.lab(codes.GLUCOSE, when, encounter, home.care.laboratory, quantity(glucose, "mmol/L"))
        cholesterol = round(max(2.5, rng.gauss(5.1, 0.9)), 1)
        chart.lab(codes.CHOLESTEROL, when, encounter, home.care.laboratory, quantity(cholesterol, "mmol/L"))


def _ambulance(chart: Chart) -> None:
    person, rng = chart.person, chart.rng
    for day in _event_days(chart, AMBULANCE_CALLS):
        child = person.age_on(day) < 18
        reasons = codes.AMBULANCE
        code, _, _, admit = rng.choices(reasons, weights=[c if child else a for _, a, c, _ in reasons])[0]
        home = person.home_on(day)
        station = home.care.ambulance
        hour = rng.randint(0, 22)
        chart.encounter(
            codes.EMERGENCY, at(day, hour, 10), at(day, hour + 1, 5), station, rng.choice(station.staff), code
        )
        if admit:
            hospital = home.care.hospital if code.code[0] == "I" else home.district.hospital
            _stay(chart, day, hospital, code, rng.randint(3, 12), origin=station)


def _discharge(person: Person, start: date, end: date) -> date | None:
    """The day a stay ends: before the death, or ``None`` while it goes on at the reference date."""
    if end < person.end:
        return end
    if person.death is None:
        return None
    return max(start, person.death - timedelta(days=1))


def _stay(
    chart: Chart,
    day: date,
    hospital: Facility,
    code: Code,
    days: int,
    *,
    origin: Facility | None = None,
    died: bool = False,
) -> str:
    """A hospital stay with its diagnosis and blood tests; ``died``: the person dies at its end."""
    person, rng = chart.person, chart.rng
    end = person.death if died else _discharge(person, day, day + timedelta(days=days))
    staff = rng.choice(hospital.of("surgery" if code.code[0] in "KNMS" else "internal"))
    condition_id = chart.new_id()
    start = chart.time(day, 0, 12)
    finish = at(end, 13) if end is not None else None
    encounter = chart.encounter(
        codes.INPATIENT,
        start,
        finish,
        hospital,
        staff,
        code,
        condition=condition_id,
        discharge="exp" if died else "home",
        origin=origin,
    )
    abatement = None if died else finish
    chart.condition(code, start, encounter, staff, abatement=abatement, condition_id=condition_id)
    region = person.home_on(day).care
    _blood_count(chart, start, encounter, region.laboratory, infection=code.code[0] in "JK")
    creatinine = round(max(40, rng.gauss(85, 18)))
    chart.lab(codes.CREATININE, start, encounter, region.laboratory, quantity(creatinine, "umol/L"))
    if code.code[0] == "J":
        chart.medication(codes.HOSPITAL_DRUG, day, encounter, staff, condition_id, days=days)
    return encounter


def _planned_stays(chart: Chart) -> None:
    person, rng = chart.person, chart.rng
    for day in _event_days(chart, PLANNED_STAYS):
        elderly = person.age_on(day) >= 65
        code, _, _, days = rng.choices(
            codes.PLANNED_STAYS, weights=[e if elderly else a for _, a, e, _ in codes.PLANNED_STAYS]
        )[0]
        _stay(chart, day, person.home_on(day).care.hospital, code, days)


def _pregnancies(chart: Chart) -> None:
    person, rng = chart.person, chart.rng
    for delivery in person.deliveries:
        home = person.home_on(delivery.when)
        conception = delivery.when - timedelta(days=270)
        if conception >= RECORDS_FROM:
            obstetrician = home.polyclinic.of("obstetrics")[0]
            pregnancy = chart.condition(
                codes.PREGNANCY_SUPERVISION,
                at(conception + timedelta(days=50), 10),
                None,
                obstetrician,
                abatement=at(delivery.when, 0),
                category="problem-list-item",
            )
            for week in (10, 20, 30, 36):
                when = chart.time(conception + timedelta(days=week * 7))
                chart.encounter(
                    codes.AMBULATORY,
                    when,
                    when,
                    home.polyclinic,
                    obstetrician,
                    codes.PREGNANCY_SUPERVISION,
                    condition=pregnancy,
                )
        maternity = home.care.maternity
        staff = rng.choice(maternity.of("obstetrics"))
        code = codes.CAESAREAN_DELIVERY if delivery.caesarean else codes.SPONTANEOUS_DELIVERY
        start = at(delivery.when, 0, 30)
        discharged = _discharge(
            person, delivery.when, delivery.when + timedelta(days=5 if delivery.caesarean else 3)
        )
        end = at(discharged, 11) if discharged is not None else None
        condition_id = chart.new_id()
        chart.encounter(
            codes.INPATIENT,
            start,
            end,
            maternity,
            staff,
            code,
            condition=condition_id,
            discharge="home",
            encounter_id=delivery.encounter_id,
        )
        chart.condition(code, start, delivery.encounter_id, staff, abatement=end, condition_id=condition_id)


def _death(chart: Chart) -> None:
    person, rng = chart.person, chart.rng
    death = person.death
    assert death is not None
    cause = cause_of_death(rng, person)
    home = person.home_on(death)
    if person.age_on(death) < 1:
        _stay(chart, max(person.birth, death - timedelta(days=5)), home.care.hospital, cause, 5, died=True)
        chart.died_at = at(death, 12)
    elif rng.random() < 0.55:
        days = rng.randint(1, 10)
        day = max(person.birth, death - timedelta(days=days))
        hour = rng.randint(0, 22)
        station = home.care.ambulance
        chart.encounter(
            codes.EMERGENCY,
            at(day, hour, 10),
            at(day, hour + 1, 5),
            station,
            rng.choice(station.staff),
            cause,
        )
        _stay(chart, day, home.care.hospital, cause, days, origin=station, died=True)
        chart.died_at = at(death, 12)
    else:  # at home: the ambulance comes to certify the death
        station = home.care.ambulance
        chart.encounter(
            codes.EMERGENCY, at(death, 7, 10), at(death, 8, 5), station, rng.choice(station.staff), cause
        )
        chart.died_at = at(death, 6, 30)
    chart.observation(
        codes.CAUSE_OF_DEATH,
        None,
        chart.died_at,
        None,
        role_ref(home.gp),
        {"valueCodeableConcept": cause.concept()},
    )


def _patient(chart: Chart) -> Json:
    person = chart.person
    alive = person.death is None
    current = person.homes[-1]
    birthplace = person.homes[0].address
    patient: Json = {
        "resourceType": "Patient",
        "id": person.id,
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                "valueAddress": {"city": birthplace["city"], "state": birthplace["state"], "country": "KZ"},
            }
        ],
        "identifier": [{"use": "official", "type": _NATIONAL_ID, "system": IIN_SYSTEM, "value": person.iin}],
        "active": True,
        "name": human_names(person.name),
    }
    if alive and person.age_on(REFERENCE_DATE) >= 16:
        number = chart.rng.randrange(10**7)
        operator = chart.rng.choice(("701", "702", "705", "707", "747", "771", "775", "778"))
        patient["telecom"] = [
            {
                "system": "phone",
                "value": f"+7 {operator} {number // 10**4:03d} {number // 100 % 100:02d} {number % 100:02d}",
                "use": "mobile",
            }
        ]
    patient |= {"gender": person.sex, "birthDate": person.birth.isoformat()}
    if chart.died_at is not None:
        patient["deceasedDateTime"] = chart.died_at
    addresses = []
    for index, begin, end in _periods(person, person.birth):
        address = dict(person.homes[index].address)
        if end is not None and (alive or index + 1 < len(person.homes)):
            address["use"] = "old"
            address["period"] = {"start": begin.isoformat(), "end": end.isoformat()}
        else:
            address["period"] = {"start": begin.isoformat()}
        addresses.append(address)
    patient["address"] = list(reversed(addresses))
    patient["communication"] = [
        {
            "language": {
                "coding": [
                    {
                        "system": "urn:ietf:bcp:47",
                        "code": person.name.language,
                        "display": _LANGUAGES[person.name.language],
                    }
                ]
            },
            "preferred": True,
        }
    ]
    if alive:
        patient["generalPractitioner"] = [current.polyclinic.ref, {**role_ref(current.gp)}]
    patient["managingOrganization"] = current.polyclinic.ref
    return patient
