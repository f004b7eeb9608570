"""The passport page in a real Chromium (Debian's ``/usr/bin/chromium``, driven by Playwright).

Without Chromium these tests are skipped loudly; under ``CI=true`` a missing Chromium is a failure.
Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.passport.conftest import Loaded
from tests.servers import IN_CI

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ICD10_PREGNANCY = ("O", "Z32", "Z33", "Z34", "Z35", "Z36", "Z37")
sqlite_only = pytest.mark.parametrize("loaded", ["sqlite"], indirect=True)


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    if IN_CI:
        pytest.fail(f"{message}: CI must run the browser tests", pytrace=False)
    print(f"\n*** SKIPPING browser tests: {message} ***", file=sys.stderr)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda failure: errors.append(str(failure)))
    yield opened
    context.close()
    assert errors == [], "the page's script failed"


def site(loaded: Loaded) -> str:
    return loaded.server.base.removesuffix("/fhir")


def open_passport(page: Any, loaded: Loaded, kind: str, language: str = "en") -> None:
    patient_id = loaded.people.patients[kind]["id"]
    response = page.goto(f"{site(loaded)}/passport/{patient_id}?lang={language}")
    assert response.status == 200
    page.wait_for_selector("body[data-ready=true]")


def expected_events(loaded: Loaded, kind: str) -> dict[str, int]:
    """Events by kind, counted from the generated records (not from the page's own code)."""
    patient = loaded.people.patients[kind]
    reference = f"Patient/{patient['id']}"
    counts = dict.fromkeys(
        ("birth", "visit", "ambulance", "hospital", "immunization", "dispensary", "pregnancy", "death"), 0
    )
    for resource in loaded.people.resources():
        owner = (resource.get("subject") or resource.get("patient") or {}).get("reference")
        if owner != reference:
            continue
        if resource["resourceType"] == "Immunization":
            counts["immunization"] += 1
        elif (
            resource["resourceType"] == "EpisodeOfCare"
            and resource["type"][0]["coding"][0]["code"] == "dispensary"
        ):
            counts["dispensary"] += 1
        elif resource["resourceType"] == "Encounter":
            reasons = [c["code"] for r in resource.get("reasonCode", []) for c in r["coding"]]
            if any(code.startswith("Z38") for code in reasons):
                counts["birth"] += 1
            elif any(code.startswith(ICD10_PREGNANCY) for code in reasons):
                counts["pregnancy"] += 1
            else:
                counts[
                    {"AMB": "visit", "EMER": "ambulance", "IMP": "hospital"}[resource["class"]["code"]]
                ] += 1
    counts["death"] = 1 if "deceasedDateTime" in patient else 0
    return counts


def drawn(page: Any, kind: str | None = None) -> int:
    selector = "#timeline-svg .event" + (f'[data-kind="{kind}"]' if kind else "")
    count: int = page.locator(selector).count()
    return count


@sqlite_only
def test_the_page_opens_with_header_summary_and_charts(page: Any, loaded: Loaded) -> None:
    open_passport(page, loaded, "chronic")
    patient = loaded.people.patients["chronic"]
    assert page.inner_text("#patient-iin") == patient["identifier"][0]["value"]
    latin = next(n["text"] for n in patient["name"] if n["extension"][0]["valueCode"].endswith("-Latn"))
    assert page.inner_text("#patient-name") == latin
    assert "Городская поликлиника" in page.inner_text("#patient-attachment")
    loincs = page.eval_on_selector_all("#summary [data-loinc]", "els => els.map(e => e.dataset.loinc)")
    assert {"11450-4", "48765-2", "10160-0", "18776-5"} <= set(loincs)
    assert "Essential (primary) hypertension" in page.inner_text('[data-section="problems"]')
    assert int(page.get_attribute('.chart[data-chart="pressure"] svg', "data-points")) > 5
    assert int(page.get_attribute('.chart[data-chart="hba1c"] svg', "data-points")) > 5
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "passport-chronic.png"), full_page=True)


@sqlite_only
@pytest.mark.parametrize("kind", ["newborn", "chronic", "healthy-adult"])
def test_the_timeline_shows_every_event(page: Any, loaded: Loaded, kind: str) -> None:
    open_passport(page, loaded, kind)
    expected = expected_events(loaded, kind)
    total = sum(expected.values())
    assert drawn(page) == total
    assert page.inner_text("#event-count") == str(total)
    for event_kind, count in expected.items():
        assert drawn(page, event_kind) == count, event_kind
        label = page.locator(f".filter.kind-{event_kind} .count").inner_text()
        assert label == str(count)
    if kind == "newborn":
        assert expected["birth"] == 1 and expected["immunization"] > 0
        assert page.locator('.chart[data-chart="weight"] svg').get_attribute("data-points") == "1"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "passport-newborn.png"), full_page=True)


@sqlite_only
def test_filters_hide_and_show_kinds_of_events(page: Any, loaded: Loaded) -> None:
    open_passport(page, loaded, "chronic")
    expected = expected_events(loaded, "chronic")
    total = sum(expected.values())
    page.uncheck('input[data-kind="visit"]')
    assert drawn(page, "visit") == 0
    assert drawn(page) == total - expected["visit"]
    assert page.inner_text("#event-count") == str(total - expected["visit"])
    page.uncheck('input[data-kind="immunization"]')
    assert drawn(page) == total - expected["visit"] - expected["immunization"]
    page.check('input[data-kind="visit"]')
    page.check('input[data-kind="immunization"]')
    assert drawn(page) == total


@sqlite_only
def test_zoom_narrows_the_time_shown_and_reset_shows_the_whole_life(page: Any, loaded: Loaded) -> None:
    open_passport(page, loaded, "chronic")
    total = drawn(page)
    first_year = page.locator("#timeline-svg .tick-label").first.text_content()
    for _ in range(4):
        page.click("#zoom-in")
    assert drawn(page) < total
    assert page.locator("#timeline-svg .tick-label").first.text_content() != first_year
    page.click("#zoom-reset")
    assert drawn(page) == total
    page.locator('#timeline-svg .event[data-kind="hospital"]').first.click()
    assert not page.locator("#event-detail").is_hidden()


@sqlite_only
def test_the_language_switch(page: Any, loaded: Loaded) -> None:
    open_passport(page, loaded, "chronic", "en")
    assert page.inner_text("#timeline h2").startswith("Lifelong timeline")
    with page.expect_navigation():
        page.click('a.lang[data-lang="kk"]')
    page.wait_for_selector("body[data-ready=true]")
    assert page.get_attribute("html", "lang") == "kk"
    assert page.inner_text("#timeline h2").startswith("Өмір бойғы хронология")
    assert page.inner_text("#patient-name") == loaded.people.patients["chronic"]["name"][0]["text"]
    assert page.inner_text(".filter.kind-visit").strip().startswith("Емханаға бару")
    with page.expect_navigation():
        page.click('a.lang[data-lang="ru"]')
    page.wait_for_selector("body[data-ready=true]")
    assert page.inner_text("#timeline h2").startswith("Хронология жизни")
    assert page.inner_text('[data-section="problems"] h3').startswith("Активные заболевания")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "passport-ru.png"))


@sqlite_only
def test_find_a_patient_by_iin_and_open_the_passport(page: Any, loaded: Loaded) -> None:
    patient = loaded.people.patients["healthy-adult"]
    page.goto(f"{site(loaded)}/passport?lang=en")
    assert page.locator("#patients tbody tr").count() == len(
        [r for r in loaded.people.resources() if r["resourceType"] == "Patient"]
    )
    page.fill('input[name="q"]', patient["identifier"][0]["value"])
    with page.expect_navigation():
        page.click('button[type="submit"]')
    assert page.locator("#patients tbody tr").count() == 1
    with page.expect_navigation():
        page.click("#patients a")
    page.wait_for_selector("body[data-ready=true]")
    assert page.inner_text("#patient-iin") == patient["identifier"][0]["value"]


@sqlite_only
@pytest.mark.parametrize("language", ["kk", "en"])
def test_the_passport_fits_a_phone(browser: Any, loaded: Loaded, language: str) -> None:
    """On a 390 px wide phone the page reflows into one column: nothing is cut off sideways
    (WCAG 2.1 reflow, 1.4.10), and the language follows the request."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    try:
        phone = context.new_page()
        patient_id = loaded.people.patients["chronic"]["id"]
        response = phone.goto(f"{site(loaded)}/passport/{patient_id}?lang={language}")
        assert response.status == 200
        phone.wait_for_selector("body[data-ready=true]")
        assert phone.get_attribute("html", "lang") == language
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page is {overflow} px wider than the phone"
        ARTIFACTS.mkdir(exist_ok=True)
        phone.screenshot(path=str(ARTIFACTS / f"passport-phone-{language}.png"))
    finally:
        context.close()
