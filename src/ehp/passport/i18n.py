"""The passport page's labels in Kazakh, Russian and English (``?lang=kk|ru|en``, Russian by default).

Clinical texts (diagnoses, vaccines, medicines) are shown as recorded; only the page's own words
are translated here.
"""

from __future__ import annotations

LANGUAGES = ("kk", "ru", "en")
DEFAULT_LANGUAGE = "ru"
LANGUAGE_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}

LABELS: dict[str, tuple[str, str, str]] = {
    # page
    "title": ("Денсаулық паспорты", "Паспорт здоровья", "Health passport"),
    "patients": ("Пациенттер", "Пациенты", "Patients"),
    "search": ("Іздеу", "Найти", "Search"),
    "search-hint": ("Аты-жөні немесе ЖСН", "ФИО или ИИН", "Name or IIN"),
    "no-patients": ("Ешкім табылмады", "Никто не найден", "Nobody found"),
    "login-required": ("Кіру қажет", "Требуется вход", "Sign-in required"),
    "sign-in": ("Кіру", "Войти", "Sign in"),
    "sign-out": ("Шығу", "Выйти", "Sign out"),
    "forbidden": ("Рұқсат жоқ", "Доступ запрещён", "Not allowed"),
    "audit-unavailable": (
        "Қол жеткізу тіркелмеді, сондықтан деректер көрсетілмейді. Қайталап көріңіз.",
        "Доступ не удалось записать в журнал, поэтому данные не показаны. Повторите попытку.",
        "The access could not be recorded, so nothing is shown. Please try again.",
    ),
    "back": ("Пациенттер тізімі", "Список пациентов", "Patient list"),
    "open-in-app": ("Қосымшада ашу", "Открыть в приложении", "Open in app"),
    # header
    "name": ("Аты-жөні", "ФИО", "Name"),
    "iin": ("ЖСН", "ИИН", "IIN"),
    "age": ("Жасы", "Возраст", "Age"),
    "years": ("жас", "лет", "years"),
    "months": ("ай", "мес.", "months"),
    "born": ("Туған күні", "Дата рождения", "Born"),
    "died": ("Қайтыс болды", "Умер(ла)", "Died"),
    "sex": ("Жынысы", "Пол", "Sex"),
    "male": ("ер", "мужской", "male"),
    "female": ("әйел", "женский", "female"),
    "attachment": ("Бекітілген емхана", "Прикрепление", "Attached to"),
    "blood-group": ("Қан тобы", "Группа крови", "Blood group"),
    "allergies": ("Аллергиялар", "Аллергии", "Allergies"),
    "alerts": ("Ескертулер", "Предупреждения", "Alerts"),
    "none-recorded": ("тіркелмеген", "не зарегистрировано", "none recorded"),
    "unknown": ("белгісіз", "неизвестно", "unknown"),
    # summary sections
    "summary": ("Қысқаша мәлімет", "Сводка", "Summary"),
    "problems": ("Белсенді аурулар", "Активные заболевания", "Problems"),
    "medications": ("Дәрі-дәрмектер", "Лекарства", "Medications"),
    "immunizations": ("Екпелер", "Прививки", "Immunizations"),
    "results": ("Зертханалық нәтижелер", "Результаты анализов", "Results"),
    "procedures": ("Процедуралар", "Процедуры", "Procedures"),
    "devices": ("Медициналық бұйымдар", "Медицинские изделия", "Medical devices"),
    "vital-signs": ("Өмірлік көрсеткіштер", "Показатели жизнедеятельности", "Vital signs"),
    "pregnancy": ("Жүктілік", "Беременности", "Pregnancies"),
    "plan-of-care": ("Диспансерлік бақылау", "Диспансерное наблюдение", "Plan of care"),
    "nothing": ("Мәлімет жоқ", "Нет данных", "No information"),
    # timeline
    "timeline": ("Өмір бойғы хронология", "Хронология жизни", "Lifelong timeline"),
    "events": ("оқиға", "событий", "events"),
    "zoom-in": ("Үлкейту", "Приблизить", "Zoom in"),
    "zoom-out": ("Кішірейту", "Отдалить", "Zoom out"),
    "zoom-reset": ("Бүкіл өмір", "Вся жизнь", "Whole life"),
    "birth": ("Туу", "Рождение", "Birth"),
    "visit": ("Емханаға бару", "Визиты в поликлинику", "Visits"),
    "ambulance": ("Жедел жәрдем", "Скорая помощь", "Ambulance calls"),
    "hospital": ("Стационар", "Госпитализации", "Hospital stays"),
    "immunization": ("Екпелер", "Прививки", "Immunisations"),
    "dispensary": ("Диспансерлік бақылау", "Диспансерное наблюдение", "Dispensary observation"),
    "death": ("Қайтыс болуы", "Смерть", "Death"),
    # charts
    "charts": ("Көрсеткіштер динамикасы", "Динамика показателей", "Observations over time"),
    "blood-pressure": ("Артериялық қысым", "Артериальное давление", "Blood pressure"),
    "systolic": ("систолалық", "систолическое", "systolic"),
    "diastolic": ("диастолалық", "диастолическое", "diastolic"),
    "hba1c": ("Гликирленген гемоглобин (HbA1c)", "Гликированный гемоглобин (HbA1c)", "HbA1c"),
    "weight": ("Салмағы (жас бойынша)", "Вес по возрасту", "Weight for age"),
    "height": ("Бойы (жас бойынша)", "Рост по возрасту", "Height for age"),
    "growth-note": (
        "Сұр сызықтар: ДДСҰ медианасы және ±2 SD",
        "Серые линии: медиана ВОЗ и ±2 SD",
        "Grey lines: WHO median and ±2 SD",
    ),
    "no-data": ("Өлшемдер жоқ", "Нет измерений", "No measurements"),
    "age-months": ("жасы, ай", "возраст, мес.", "age, months"),
}


def labels(language: str) -> dict[str, str]:
    """Every label in one language (an unknown language gives the default one)."""
    index = LANGUAGES.index(language) if language in LANGUAGES else LANGUAGES.index(DEFAULT_LANGUAGE)
    return {key: texts[index] for key, texts in LABELS.items()}
