"""What EHP's own sign-in pages share: their three languages, their texts and their frame.

The pages (SMART's log-in and patient picker, the sign-in to the web pages) speak Kazakh, Russian
and English, chosen by ``?lang=``, else ``Accept-Language``, else Russian; they are plain HTML
forms (no script), framed by nobody, never cached.
"""

from __future__ import annotations

from html import escape
from typing import Any

from starlette.requests import Request

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'",
}

LANGUAGES = ("kk", "ru", "en")
TEXTS: dict[str, tuple[str, str, str]] = {
    "title": ("Денсаулық паспорты", "Паспорт здоровья", "Electronic health passport"),
    "asks": ("Қосымша рұқсат сұрайды:", "Приложение запрашивает доступ:", "The application asks for access:"),
    "username": ("Пайдаланушы аты", "Имя пользователя", "User name"),
    "password": ("Құпиясөз", "Пароль", "Password"),
    "log-in": ("Кіру және рұқсат беру", "Войти и разрешить", "Log in and allow"),
    "wrong": (
        "Пайдаланушы аты немесе құпиясөз қате.",
        "Неверное имя или пароль.",
        "Wrong user name or password.",
    ),
    "locked": (
        "Тым көп сәтсіз әрекет. {minutes} минуттан кейін қайталаңыз.",
        "Слишком много неудачных попыток. Повторите через {minutes} мин.",
        "Too many failed attempts. Try again in {minutes} minute(s).",
    ),
    "cannot": ("Кіру мүмкін емес", "Вход невозможен", "Cannot log in"),
    "pick": ("Пациентті таңдаңыз", "Выберите пациента", "Choose the patient"),
    "pick-for": (
        "Қосымша осы пациенттің паспортын ғана ашады:",
        "Приложение откроет паспорт только этого пациента:",
        "The application will open this patient's passport only:",
    ),
    "search": ("Іздеу", "Найти", "Search"),
    "search-hint": ("Аты-жөні немесе ЖСН", "ФИО или ИИН", "Name or IIN"),
    "choose": ("Таңдау", "Выбрать", "Choose"),
    "nobody": (
        "Сізде құқықтық негіз бар пациент табылмады.",
        "Не найдено пациентов, к которым у вас есть законное основание.",
        "No patient you have a legal basis for was found.",
    ),
    "iin": ("ЖСН", "ИИН", "IIN"),
    "sign-in": ("Кіру", "Вход", "Sign in"),
    "sign-in-with": ("{name} арқылы кіру", "Войти через {name}", "Sign in with {name}"),
    "or-password": ("Немесе пайдаланушы атымен", "Или по имени пользователя", "Or with a user name"),
    "signed-in-as": ("Сіз {who} ретінде кірдіңіз.", "Вы вошли как {who}.", "You are signed in as {who}."),
    "continue": ("Жалғастыру", "Продолжить", "Continue"),
    "continue-as": ("{who} ретінде жалғастыру", "Продолжить как {who}", "Continue as {who}"),
    "sign-out": ("Шығу", "Выйти", "Sign out"),
    "session-gone": (
        "Сеанс аяқталды: қайта кіріңіз.",
        "Сеанс завершён: войдите снова.",
        "The session has ended: sign in again.",
    ),
    "failed": ("Кіру сәтсіз аяқталды", "Вход не выполнен", "Sign-in failed"),
    "cross-site": (
        "Сұрау басқа сайттан келді, сондықтан орындалмады.",
        "Запрос пришёл с другого сайта и не выполнен.",
        "The request came from another site and was not carried out.",
    ),
    "born": ("Туған күні", "Дата рождения", "Born"),
}


def language_of(request: Request) -> str:
    """``?lang=`` if given, else the first of ``Accept-Language`` EHP speaks, else Russian."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    ranked = []
    for position, part in enumerate(request.headers.get("accept-language", "").split(",")):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        ranked.append((-weight, position, tag.split("-")[0].lower()))
    return next((tag for _, _, tag in sorted(ranked) if tag in LANGUAGES), "ru")


def text(language: str, key: str, **values: Any) -> str:
    return TEXTS[key][LANGUAGES.index(language)].format(**values)


def document(language: str, title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="{language}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>EHP: {escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; padding: 1rem; color: #111; background: #fff; }}
main {{ max-width: 32rem; margin: 0 auto; }}
label {{ display: block; margin: .75rem 0; }}
input {{ display: block; width: 100%; box-sizing: border-box; padding: .6rem; font-size: 1rem;
  border: 1px solid #555; border-radius: 4px; }}
button {{ padding: .7rem 1.2rem; font-size: 1rem; background: #0b5394; color: #fff; border: 0;
  border-radius: 4px; cursor: pointer; }}
a.button {{ display: inline-block; padding: .7rem 1.2rem; font-size: 1rem; background: #0b5394;
  color: #fff; border-radius: 4px; text-decoration: none; }}
button:focus, input:focus, a:focus {{ outline: 3px solid #f4b400; outline-offset: 2px; }}
.error {{ color: #a00000; font-weight: bold; }}
ul.patients {{ list-style: none; padding: 0; }}
ul.patients li {{ border: 1px solid #999; border-radius: 4px; padding: .6rem; margin: .5rem 0; }}
</style></head>
<body><main>
<h1>{escape(text(language, "title"))}</h1>
{body}
</main></body></html>
"""
