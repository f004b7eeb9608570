"""How well ``Patient/$match`` finds duplicates: a synthetic population with injected duplicates.

The population is the synthetic country's (:mod:`ehp.synth`, its Patients only). A share of the
people get a duplicate record, as another system would have made it: no IIN (a second record with
the IIN is refused at the door, so real duplicates lack it: newborns before their IIN, emergency
admissions, digitised paper cards), one name form only (Cyrillic or Latin), and one to three
defects drawn from :data:`DEFECTS`: a typo in the family or given name, another transliteration
scheme, Kazakh letters typed as Russian ones, day and month swapped, no patronymic, no address.

Every record (originals and duplicates) is then sent to ``$match``; a pair is *predicted* when the
match is graded ``probable`` or ``certain`` (the default threshold). Precision is the share of
predicted pairs that are true duplicates, recall the share of true duplicate pairs predicted.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx

from ehp.registry.mpi import MATCH_GRADE
from ehp.synth.generator import SynthConfig, generate

Json = dict[str, Any]
_RUSSIFIED = str.maketrans("әғқңөұүһіӘҒҚҢӨҰҮҺІ", "агкноуухиАГКНОУУХИ")
_OTHER_LATIN = {
    "ж": "j", "х": "h", "й": "y", "ы": "y", "ю": "yu", "я": "ya", "ц": "c", "ч": "ch", "ш": "sh", "щ": "sch",
    "ә": "ä", "ғ": "gh", "қ": "q", "ң": "ng", "ө": "ö", "ұ": "u", "ү": "ü", "һ": "h", "і": "i", "е": "e",
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "ё": "yo", "з": "z", "и": "i", "к": "k", "л": "l",
    "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "ъ": "",
    "ь": "", "э": "e",
}  # fmt: skip
_LETTERS = "абвгдежзиклмнопрстуфхшәғқңөұүі"
_LATIN_LETTERS = "abdeghiklmnoprstuvyz"


def _other_latin(text: str) -> str:
    """A Latin spelling other than the passports' (Kazakh Latin letters, ``j``, ``yu``...)."""
    out = []
    for index, char in enumerate(text):
        latin = "ye" if char.lower() == "е" and index == 0 else _OTHER_LATIN.get(char.lower(), char)
        out.append(latin.capitalize() if char.isupper() else latin)
    return "".join(out)


def _typo(rng: random.Random, text: str) -> str:
    if len(text) < 4:
        return text
    at = rng.randrange(1, len(text) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        return text[:at] + rng.choice(_LATIN_LETTERS if text.isascii() else _LETTERS) + text[at + 1 :]
    if kind == 1:
        return text[:at] + text[at + 1 :]
    if kind == 2:
        return text[:at] + text[at + 1] + text[at] + text[at + 2 :]
    return text[:at] + text[at] + text[at:]


def _name(patient: Json) -> Json:
    return dict(patient["name"][0])


def _family_typo(rng: random.Random, patient: Json) -> None:
    name = _name(patient)
    name["family"] = _typo(rng, name["family"])
    patient["name"] = [name]


def _given_typo(rng: random.Random, patient: Json) -> None:
    name = _name(patient)
    name["given"] = [_typo(rng, name["given"][0]), *name["given"][1:]]
    patient["name"] = [name]


def _russified(_: random.Random, patient: Json) -> None:
    name = _name(patient)
    name["family"] = name["family"].translate(_RUSSIFIED)
    name["given"] = [given.translate(_RUSSIFIED) for given in name["given"]]
    patient["name"] = [name]


def _latin(_: random.Random, patient: Json) -> None:
    name = _name(patient)
    name["family"] = _other_latin(name["family"])
    name["given"] = [_other_latin(given) for given in name["given"]]
    patient["name"] = [name]


def _swapped(_: random.Random, patient: Json) -> None:
    born = date.fromisoformat(patient["birthDate"])
    if born.day <= 12 and born.day != born.month:
        patient["birthDate"] = born.replace(month=born.day, day=born.month).isoformat()


def _no_patronymic(_: random.Random, patient: Json) -> None:
    name = _name(patient)
    name["given"] = name["given"][:1]
    patient["name"] = [name]


def _no_address(_: random.Random, patient: Json) -> None:
    patient.pop("address", None)


DEFECTS: dict[str, Callable[[random.Random, Json], None]] = {
    "family-typo": _family_typo,
    "given-typo": _given_typo,
    "russified": _russified,
    "other-latin": _latin,
    "swapped-date": _swapped,
    "no-patronymic": _no_patronymic,
    "no-address": _no_address,
}


@dataclass(slots=True)
class Dataset:
    patients: list[Json]
    pairs: set[frozenset[str]]
    """The true duplicate pairs (original id, duplicate id)."""
    defects: dict[str, int] = field(default_factory=dict)


def duplicate_of(rng: random.Random, patient: Json, defects: dict[str, int]) -> Json:
    copy: Json = {
        key: value for key, value in patient.items() if key not in ("identifier", "telecom", "meta")
    }
    copy["id"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    copy["name"] = [dict(rng.choice(patient["name"]))]  # one form: Cyrillic or Latin
    for defect in rng.sample(sorted(DEFECTS), rng.randint(1, 3)):
        before = repr(copy)
        DEFECTS[defect](rng, copy)
        if repr(copy) != before:
            defects[defect] = defects.get(defect, 0) + 1
    return copy


def dataset(people: int, seed: int = 1, share: float = 0.1) -> Dataset:
    """``people`` synthetic Patients and a duplicate for ``share`` of them."""
    patients = [
        resource
        for _, resources in generate(SynthConfig(people=people, seed=seed))
        for resource in resources
        if resource["resourceType"] == "Patient"
    ]
    rng = random.Random(f"duplicates:{seed}")
    result = Dataset(list(patients), set())
    for patient in rng.sample(patients, round(len(patients) * share)):
        copy = duplicate_of(rng, patient, result.defects)
        result.patients.append(copy)
        result.pairs.add(frozenset((patient["id"], copy["id"])))
    rng.shuffle(result.patients)
    return result


@dataclass(frozen=True, slots=True)
class Quality:
    records: int
    true_pairs: int
    predicted_pairs: int
    found_pairs: int
    precision: float
    recall: float
    load_seconds: float
    matches_per_second: float
    server_cpu_ms: float | None
    """The server's CPU time per ``$match`` (does not depend on what else the machine runs)."""
    match_ms_median: float
    match_ms_p95: float


def load_patients(client: httpx.Client, patients: list[Json], batch: int = 200) -> None:
    for start in range(0, len(patients), batch):
        entries = [
            {"resource": patient, "request": {"method": "PUT", "url": f"Patient/{patient['id']}"}}
            for patient in patients[start : start + batch]
        ]
        bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
        response = client.post("", json=bundle, headers={"Content-Type": "application/fhir+json"})
        response.raise_for_status()


def evaluate(
    base: str, data: Dataset, clients: int = 4, server_cpu: Callable[[], float] | None = None
) -> Quality:
    """Load the data set into the (empty) server at ``base`` and match every record against it.

    ``server_cpu`` gives the server's CPU seconds so far, to report its CPU time per ``$match``.
    """
    with httpx.Client(base_url=base.rstrip("/") + "/", timeout=120) as client:
        started = time.monotonic()
        load_patients(client, data.patients)
        loaded = time.monotonic() - started

        def match(patient: Json) -> tuple[str, list[str], float]:
            body = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": patient}]}
            begun = time.perf_counter()
            response = client.post(
                "Patient/$match", json=body, headers={"Content-Type": "application/fhir+json"}
            )
            elapsed = (time.perf_counter() - begun) * 1000
            response.raise_for_status()
            found = [
                entry["resource"]["id"]
                for entry in response.json().get("entry", [])
                if entry["search"].get("mode") == "match" and _grade(entry) in ("certain", "probable")
            ]
            return patient["id"], found, elapsed

        started, cpu = time.monotonic(), server_cpu() if server_cpu else 0.0
        with ThreadPoolExecutor(clients) as pool:
            results = list(pool.map(match, data.patients))
        matching = time.monotonic() - started
        cpu_ms = (server_cpu() - cpu) * 1000 / len(results) if server_cpu else None
    predicted = {frozenset((query, found)) for query, matches, _ in results for found in matches}
    hits = predicted & data.pairs
    timings = sorted(elapsed for _, _, elapsed in results)
    return Quality(
        records=len(data.patients),
        true_pairs=len(data.pairs),
        predicted_pairs=len(predicted),
        found_pairs=len(hits),
        precision=len(hits) / len(predicted) if predicted else 1.0,
        recall=len(hits) / len(data.pairs) if data.pairs else 1.0,
        load_seconds=loaded,
        matches_per_second=len(results) / matching,
        server_cpu_ms=cpu_ms,
        match_ms_median=statistics.median(timings),
        match_ms_p95=timings[int(len(timings) * 0.95)],
    )


def _grade(entry: Json) -> str | None:
    for extension in entry["search"].get("extension", []):
        if extension.get("url") == MATCH_GRADE:
            return str(extension.get("valueCode"))
    return None
