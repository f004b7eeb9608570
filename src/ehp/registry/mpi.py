"""The master patient index: which stored Patients are the person a Patient describes.

Candidates come from the search index only, never from a scan (:func:`candidate_ids`, queries in
:mod:`ehp.registry.blocking`): the same IIN; the same birth date (or with day and month swapped)
and a family or given name starting alike (on fewer letters: the date is selective already); the
family and given names starting alike and a birth year within one of the query's. "Starting alike"
compares the first letters (:attr:`~MatchSettings.prefix_length`) of the names folded by
:func:`~ehp.registry.names.canonical`, searched in every Cyrillic and Latin spelling the index may
hold (:func:`~ehp.registry.names.index_prefixes`).

Each candidate is then scored field by field (:func:`score`, weights in
:class:`~ehp.registry.settings.MatchSettings`): IIN, family name, first given name, patronymic
(the other given names, without ``-ович``/``-овна``/``-ұлы``/``-қызы``), birth date, gender and
address; names are compared by Jaro-Winkler similarity of their folded forms.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from ehp.registry import blocking
from ehp.registry.iin_rule import iin_problem
from ehp.registry.names import canonical, index_prefixes
from ehp.registry.records import Index, Json, replaced_by
from ehp.registry.settings import MatchSettings
from ehp.registry.similarity import jaro_winkler, one_edit_apart

Grade = Literal["certain", "probable", "possible", "certainly-not"]
MATCH_GRADE = "http://hl7.org/fhir/StructureDefinition/match-grade"
_PATRONYMIC_ENDINGS = ("ovic", "evic", "ovna", "evna", "ivna", "ic", "uli", "kizi")


@dataclass(frozen=True, slots=True)
class Demographics:
    """What the matcher compares, taken from a Patient (names folded, see the module doc)."""

    id: str | None
    iin: str | None
    families: frozenset[str]
    givens: frozenset[str]
    patronymics: frozenset[str]
    birth_date: date | None
    gender: str | None
    addresses: frozenset[tuple[str, str]]
    """(folded street line, folded city)."""

    @classmethod
    def of(cls, patient: Json, iin_system: str) -> Demographics:
        families: set[str] = set()
        givens: set[str] = set()
        patronymics: set[str] = set()
        for name in _list(patient.get("name")):
            family, given, patronymic = _name_parts(name)
            for found, parts in ((family, families), (given, givens), (patronymic, patronymics)):
                if found:
                    parts.add(found)
        addresses = set()
        for address in _list(patient.get("address")):
            line = " ".join(text for text in _list(address.get("line")) if isinstance(text, str))
            city = address.get("city")
            addresses.add((canonical(line), canonical(city) if isinstance(city, str) else ""))
        gender = patient.get("gender")
        return cls(
            id=patient.get("id") if isinstance(patient.get("id"), str) else None,
            iin=_iin(patient, iin_system),
            families=frozenset(families),
            givens=frozenset(givens),
            patronymics=frozenset(patronymics),
            birth_date=_full_date(patient.get("birthDate")),
            gender=gender if gender in ("male", "female") else None,
            addresses=frozenset(addresses),
        )

    @property
    def searchable(self) -> bool:
        """Whether the index can find candidates for it (see :func:`candidate_ids`)."""
        names = bool(self.families or self.givens)
        return (
            bool(self.iin) or (names and self.birth_date is not None) or bool(self.families and self.givens)
        )


@dataclass(frozen=True, slots=True)
class Scored:
    points: float
    grade: Grade
    score: float
    """``points`` over the certain threshold, clamped to 0..1 (``Bundle.entry.search.score``)."""


@dataclass(frozen=True, slots=True)
class Match:
    id: str
    patient: Json
    scored: Scored


def _list(value: Any) -> list[Any]:
    return [item for item in value if isinstance(item, (dict, str))] if isinstance(value, list) else []


def _name_parts(name: Any) -> tuple[str, str, str]:
    """(family, first given, patronymic root), folded; from ``text`` when the parts are missing."""
    if not isinstance(name, dict):
        return "", "", ""
    family = name.get("family")
    given = [text for text in _list(name.get("given")) if isinstance(text, str)]
    if not isinstance(family, str) and not given and isinstance(name.get("text"), str):
        words = canonical(name["text"]).split()  # "Family Given Patronymic", as written here
        family, given = (words[0] if words else ""), words[1:]
    first = canonical(given[0]) if given else ""
    patronymic = canonical(" ".join(given[1:])).replace(" ", "")
    for ending in _PATRONYMIC_ENDINGS:
        if patronymic.endswith(ending) and len(patronymic) > len(ending) + 2:
            patronymic = patronymic[: -len(ending)]
            break
    return (canonical(family).replace(" ", "") if isinstance(family, str) else ""), first, patronymic


def _iin(patient: Json, system: str) -> str | None:
    for identifier in _list(patient.get("identifier")):
        if (
            isinstance(identifier, dict)
            and identifier.get("system") == system
            and identifier.get("use") != "old"
        ):
            value = identifier.get("value")
            if iin_problem(value) is None:
                return str(value)
    return None


def _full_date(value: Any) -> date | None:
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


def swapped(day: date) -> date | None:
    """The date with day and month exchanged, when that is another valid date."""
    if day.day > 12 or day.day == day.month:
        return None
    return day.replace(month=day.day, day=day.month)


def score(a: Demographics, b: Demographics, settings: MatchSettings) -> Scored:
    """The points of a pair, field by field (see :class:`MatchSettings`), and their grade."""
    s = settings
    points = 0.0
    if a.iin and b.iin:
        if a.iin == b.iin:
            points += s.iin_agree
        else:
            differing = sum(x != y for x, y in zip(a.iin, b.iin, strict=True))
            points += s.iin_near if differing == 1 else s.iin_disagree
    points += _names(a.families, b.families, s.family_agree, s.family_partial, s.family_disagree, s)
    points += _names(a.givens, b.givens, s.given_agree, s.given_partial, s.given_disagree, s)
    points += _names(
        a.patronymics, b.patronymics, s.patronymic_agree, s.patronymic_partial, s.patronymic_disagree, s
    )
    if a.birth_date and b.birth_date:
        points += _dates(a.birth_date, b.birth_date, s)
    if a.gender and b.gender:
        points += s.gender_agree if a.gender == b.gender else s.gender_disagree
    points += _addresses(a.addresses, b.addresses, s)
    return Scored(points, grade(points, s), max(0.0, min(1.0, points / s.certain)))


def grade(points: float, settings: MatchSettings) -> Grade:
    if points >= settings.certain:
        return "certain"
    if points >= settings.probable:
        return "probable"
    if points >= settings.possible:
        return "possible"
    return "certainly-not"


def _names(
    a: frozenset[str], b: frozenset[str], agree: float, partial: float, disagree: float, s: MatchSettings
) -> float:
    if not a or not b:
        return 0.0
    best = max(jaro_winkler(x, y) for x in a for y in b)
    if best >= s.name_agree_similarity:
        return agree
    if best >= s.name_partial_similarity or any(one_edit_apart(x, y) for x in a for y in b if len(x) > 3):
        return partial
    return disagree


def _dates(a: date, b: date, s: MatchSettings) -> float:
    if a == b:
        return s.birth_date_agree
    if swapped(a) == b:
        return s.birth_date_swapped
    same = (a.year == b.year) + (a.month == b.month) + (a.day == b.day)
    return s.birth_date_partial if same == 2 else s.birth_date_disagree


def _addresses(a: frozenset[tuple[str, str]], b: frozenset[tuple[str, str]], s: MatchSettings) -> float:
    if any(line and city and (line, city) in b for line, city in a):
        return s.address_agree
    cities = {city for _, city in a if city}
    return s.city_agree if cities & {city for _, city in b} else 0.0


def _prefixes(names: Iterable[str], length: int) -> list[str]:
    """Every spelling of the names' first letters, as the search index may hold them."""
    return sorted({spelling for name in names if name for spelling in index_prefixes(name[:length])})


def candidate_ids(index: Index, query: Demographics, settings: MatchSettings, iin_system: str) -> list[str]:
    """Ids of the Patients worth scoring, from a few index searches (:mod:`ehp.registry.blocking`)."""
    limit = settings.candidates_per_pass
    sql = blocking.candidates(index)
    passes = []
    if query.iin:
        passes.append(blocking.by_iin(sql, iin_system, query.iin, limit))
    families = _prefixes(query.families, settings.prefix_length)
    givens = _prefixes(query.givens, settings.prefix_length)
    born = query.birth_date
    if born is not None and (families or givens):
        days = [day for day in (born, swapped(born)) if day is not None]
        short = settings.birth_date_prefix_length
        short_families, short_givens = _prefixes(query.families, short), _prefixes(query.givens, short)
        passes.append(blocking.by_birth_date(sql, days, short_families, short_givens, limit))
    if families and givens:
        passes.append(blocking.by_names(sql, families, givens, born.year if born else None, limit))
    return [found for found in blocking.patient_ids(sql, passes) if found != query.id]


def find_matches(
    index: Index,
    patient: Json,
    settings: MatchSettings,
    iin_system: str,
    *,
    minimum: Grade = "possible",
) -> list[Match]:
    """The stored Patients matching ``patient`` at ``minimum`` or better, best first.

    Records merged into another (``replaced-by``) are left out: their survivor is found instead.
    """
    query = Demographics.of(patient, iin_system)
    threshold = {"certain": settings.certain, "probable": settings.probable, "possible": settings.possible}
    floor = threshold.get(minimum, settings.possible)
    contents = index.contents("Patient", candidate_ids(index, query, settings, iin_system))
    matches = []
    for found, content in contents.items():
        if replaced_by(content):
            continue
        scored = score(query, Demographics.of(content, iin_system), settings)
        if scored.points >= floor:
            matches.append(Match(found, content, scored))
    matches.sort(key=lambda match: (-match.scored.points, match.id))
    return matches
