"""Kazakh and Russian names in Cyrillic, their Latin transliteration, and street names.

The Latin form follows ICAO Doc 9303 (the transliteration of Kazakhstan's identity documents),
extended with the Kazakh letters (ә→a, ғ→g, қ→k, ң→n, ө→o, ұ→u, ү→u, һ→h, і→i).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ehp.registry.iin import Sex

LANGUAGE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/language"
"""Tags each name with its language and script (BCP 47: ``kk-Cyrl``, ``kk-Latn``...)."""

# fmt: off
KAZAKH_MALE = (
    "Нұрлан", "Ерлан", "Асхат", "Бауыржан", "Дәурен", "Арман", "Ержан", "Серік", "Қанат", "Мұрат", "Алихан",
    "Нұрсұлтан", "Ерасыл", "Айбек", "Данияр", "Тимур", "Санжар", "Ақжол", "Жандос", "Олжас", "Берік",
    "Асылбек", "Талғат", "Рустем", "Ерболат", "Ғалым", "Мейіржан", "Әділет", "Нұрдәулет", "Жасұлан",
    "Бекзат", "Айдос", "Абылай", "Еламан", "Қайрат", "Марат", "Самат", "Темірлан", "Әлібек", "Дархан",
)
KAZAKH_FEMALE = (
    "Айгерім", "Гүлнар", "Әсел", "Динара", "Жанар", "Ақмарал", "Назерке", "Аружан", "Айым", "Мадина",
    "Інкәр", "Жанерке", "Сая", "Дана", "Ботагөз", "Салтанат", "Гүлмира", "Айнұр", "Томирис", "Жұлдыз",
    "Маржан", "Меруерт", "Зарина", "Алия", "Әйгерім", "Балжан", "Камила", "Ләззат", "Раушан", "Сәуле",
    "Ардақ", "Гүлжан", "Мөлдір", "Нұргүл", "Перизат", "Ұлжан", "Шолпан", "Айдана", "Жансая", "Толғанай",
)
KAZAKH_SURNAMES = (
    "Ахметов", "Нұрланов", "Сейтқазиев", "Жұмабаев", "Қасымов", "Әбдірахманов", "Омаров", "Сәрсенбаев",
    "Тоқтаров", "Бекмұхамбетов", "Исаев", "Құрманов", "Мұхамеджанов", "Есенов", "Ғабдуллин", "Байжанов",
    "Сұлтанов", "Әлиев", "Серікбаев", "Жақыпов", "Оспанов", "Темірбеков", "Амангелдиев", "Қалиев",
    "Мамыров", "Нұрмағамбетов", "Төлегенов", "Шәріпов", "Ыбыраев", "Дүйсенов", "Ержанов", "Садықов",
)
RUSSIAN_MALE = (
    "Александр", "Сергей", "Андрей", "Дмитрий", "Алексей", "Владимир", "Николай", "Евгений", "Михаил",
    "Иван", "Виктор", "Олег", "Павел", "Константин", "Максим", "Артём", "Денис", "Роман", "Игорь", "Юрий",
    "Вадим", "Антон", "Кирилл", "Станислав", "Геннадий", "Анатолий", "Виталий", "Борис",
)
RUSSIAN_FEMALE = (
    "Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Светлана", "Анна", "Мария", "Екатерина", "Юлия",
    "Людмила", "Галина", "Надежда", "Марина", "Оксана", "Анастасия", "Виктория", "Валентина", "Любовь",
    "Дарья", "Ксения", "Алёна", "Софья", "Полина", "Вера", "Лариса",
)
RUSSIAN_SURNAMES = (
    "Иванов", "Петров", "Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов", "Михайлов", "Новиков",
    "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров", "Павлов", "Козлов",
    "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин", "Захаров", "Зайцев", "Соловьёв",
    "Борисов", "Яковлев", "Григорьев", "Романов", "Воробьёв", "Шевченко", "Коваленко", "Бондаренко",
    "Ткаченко", "Шмидт", "Миллер", "Вагнер", "Гайнуллин", "Сафин",
)
STREETS = (
    "ул. Абая", "пр. Достык", "ул. Тәуелсіздік", "ул. Кабанбай батыра", "ул. Сейфуллина", "ул. Ауэзова",
    "ул. Толе би", "ул. Жамбыла", "ул. Гагарина", "пр. Абылай хана", "ул. Богенбай батыра", "ул. Сатпаева",
    "ул. Момышулы", "ул. Байтурсынова", "ул. Жибек жолы", "ул. Пушкина", "ул. Валиханова", "ул. Шевченко",
    "ул. Мира", "ул. Центральная", "ул. Школьная", "ул. Желтоксан", "ул. Сарыарка", "ул. Бейбитшилик",
)
# fmt: on

# Russian patronymics that do not follow "+ович/+овна".
_RUSSIAN_PATRONYMICS = {
    "Сергей": ("Сергеевич", "Сергеевна"),
    "Андрей": ("Андреевич", "Андреевна"),
    "Алексей": ("Алексеевич", "Алексеевна"),
    "Николай": ("Николаевич", "Николаевна"),
    "Евгений": ("Евгеньевич", "Евгеньевна"),
    "Юрий": ("Юрьевич", "Юрьевна"),
    "Геннадий": ("Геннадьевич", "Геннадьевна"),
    "Анатолий": ("Анатольевич", "Анатольевна"),
    "Виталий": ("Витальевич", "Витальевна"),
    "Артём": ("Артёмович", "Артёмовна"),
    "Абылай": ("Абылаевич", "Абылаевна"),
}
_TO_RUSSIAN = str.maketrans("әғқңөұүһіӘҒҚҢӨҰҮҺІ", "агкноуухиАГКНОУУХИ")
_LATIN = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "ё": "e",
    "ж": "zh",
    "з": "z",
    "и": "i",
    "й": "i",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "kh",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "shch",
    "ъ": "ie",
    "ы": "y",
    "ь": "",
    "э": "e",
    "ю": "iu",
    "я": "ia",
    "ә": "a",
    "ғ": "g",
    "қ": "k",
    "ң": "n",
    "ө": "o",
    "ұ": "u",
    "ү": "u",
    "һ": "h",
    "і": "i",
}


def transliterate(text: str) -> str:
    """The Latin form of a Cyrillic name (ICAO Doc 9303 with the Kazakh letters), keeping capitals."""
    out: list[str] = []
    for char in text:
        latin = _LATIN.get(char.lower())
        if latin is None:
            out.append(char)
        elif char.isupper():
            out.append(latin.capitalize())
        else:
            out.append(latin)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class PersonName:
    family: str
    given: str
    patronymic: str
    language: str
    """BCP 47 language of the Cyrillic form: ``kk`` or ``ru``."""


def _feminine(surname: str) -> str:
    if surname.endswith(("ов", "ев", "ёв", "ин")):
        return surname + "а"
    return surname


def _patronymic(father: str, sex: Sex, kazakh_form: bool) -> str:
    if kazakh_form:
        return father + ("ұлы" if sex == "male" else "қызы")
    russian = father.translate(_TO_RUSSIAN)
    special = _RUSSIAN_PATRONYMICS.get(russian)
    if special is not None:
        return special[0] if sex == "male" else special[1]
    return russian + ("ович" if sex == "male" else "овна")


def family_name(rng: random.Random, kazakh: bool) -> str:
    """A family name in its masculine form."""
    return rng.choice(KAZAKH_SURNAMES if kazakh else RUSSIAN_SURNAMES)


def person_name(rng: random.Random, sex: Sex, kazakh: bool, family: str, born: int) -> PersonName:
    """A name for a person of a naming culture; ``family`` is the masculine family name."""
    if kazakh:
        given = rng.choice(KAZAKH_MALE if sex == "male" else KAZAKH_FEMALE)
        father = rng.choice(KAZAKH_MALE)
        kazakh_form = born >= 1995 and rng.random() < 0.5
        patronymic = _patronymic(father, sex, kazakh_form)
    else:
        given = rng.choice(RUSSIAN_MALE if sex == "male" else RUSSIAN_FEMALE)
        patronymic = _patronymic(rng.choice(RUSSIAN_MALE), sex, False)
    surname = family if sex == "male" else _feminine(family)
    return PersonName(surname, given, patronymic, "kk" if kazakh else "ru")


def human_names(name: PersonName) -> list[dict[str, Any]]:
    """The official Cyrillic name and its Latin form, each tagged with its language and script."""
    latin = PersonName(
        transliterate(name.family), transliterate(name.given), transliterate(name.patronymic), name.language
    )
    return [_human_name(name, f"{name.language}-Cyrl"), _human_name(latin, f"{name.language}-Latn")]


def _human_name(name: PersonName, tag: str) -> dict[str, Any]:
    return {
        "extension": [{"url": LANGUAGE_EXTENSION, "valueCode": tag}],
        "use": "official",
        "text": f"{name.family} {name.given} {name.patronymic}",
        "family": name.family,
        "given": [name.given, name.patronymic],
    }
