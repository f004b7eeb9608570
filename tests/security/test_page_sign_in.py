"""Signing in to EHP's pages through an external OpenID provider (EHP the relying party), and with
EHP's own passwords.

Two ``oidc-provider`` instances (npm, unmodified, their own development login forms) play the
national eGov ID and a region's provider: one names the doctor in its PS256 ID token's ``fhirUser``
claim, the other names a citizen by an IIN that only its UserInfo answer holds. A real Chromium
signs in through each and reads the passport pages under that person's legal bases; the access is
audited as them; signing out revokes the session. Forged, replayed and cross-site requests are
refused.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest

from ehp.bench.servers import BenchServer
from ehp.registry.iin import IIN_SYSTEM, make_iin
from ehp.security.authenticator import DEFAULT_AUDIENCE
from ehp.security.issuers import parse_trusted_issuers
from tests.access.conftest import World, _put, give_world_roles, world_resources
from tests.passport.test_browser import ARTIFACTS, CHROMIUM, require_chromium
from tests.security.test_app_launch import ehp
from tests.security.test_identity_providers import Provider
from tests.servers import database_url

CITIZEN_IIN = make_iin(date(1990, 3, 8), "female", 1234)
PASSWORD = "correct horse battery"
APP_REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, dict[str, Provider]]]:
    assert CITIZEN_IIN is not None
    folder = tmp_path_factory.mktemp("sign-in")
    log = folder / "idp.log"
    with database_url("sqlite", folder) as url:
        server = BenchServer(url, folder / "server.log", auth="required", extra_args=[])
        callback = f"http://127.0.0.1:{server.port}/auth/callback"
        providers = {"egov": Provider("fhirUser", "Practitioner/doc-A", log, (callback, "id_token", "PS256"))}
        try:
            providers["region"] = Provider("iin", CITIZEN_IIN, log, (callback, "userinfo", "RS256"))
            trusted: list[dict[str, Any]] = [
                {
                    "issuer": providers["egov"].issuer,
                    "jwks_uri": providers["egov"].discovery["jwks_uri"],
                    "audience": DEFAULT_AUDIENCE,
                    "algorithms": ["ES384", "PS256"],
                    "subject": "fhirUser",
                    "sign_in": {
                        "id": "egov",
                        "name": "eGov ID",
                        "client_id": "ehp-pages",
                        "client_secret": "a-test-secret-for-the-pages",
                        "scope": "openid fhirUser",
                    },
                },
                {
                    "issuer": providers["region"].issuer,
                    "jwks_uri": providers["region"].discovery["jwks_uri"],
                    "audience": DEFAULT_AUDIENCE,
                    "algorithms": ["RS256"],
                    "subject": "iin:iin",
                    "subject_type": "Patient",
                    "sign_in": {
                        "id": "region",
                        "name": "Region ID",
                        "client_id": "ehp-pages",
                        "client_secret_file": str(folder / "region-secret"),
                        "scope": "openid iin",
                    },
                },
            ]
            (folder / "region-secret").write_text("a-test-secret-for-the-pages\n")
            (folder / "trusted.json").write_text(json.dumps(trusted))
            server.extra_args = ["--trusted-issuers", str(folder / "trusted.json")]
            with server:
                built = World(server, give_world_roles(url))
                resources = world_resources()
                for resource in resources:
                    if resource["resourceType"] == "Patient" and resource["id"] == "pat-P":
                        resource["identifier"] = [{"system": IIN_SYSTEM, "value": CITIZEN_IIN}]
                with built.client("admin", "system/*.cruds") as admin:
                    entries = [_put(r) for r in resources]
                    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
                    assert admin.post("", json=bundle).status_code == 200
                ehp("client", "register-app", "--database", url, "--client-id", "chart-app",
                    "--redirect-uri", APP_REDIRECT, "--scope", "openid fhirUser user/*.rs")  # fmt: skip
                ehp("user", "add", "--database", url, "--username", "doc-a",
                    "--subject", "Practitioner/doc-A", "--password", PASSWORD)  # fmt: skip
                yield built, providers
        finally:
            for provider in providers.values():
                provider.stop()


def _root(world: World) -> str:
    return world.server.base.removesuffix("/fhir")


def _sign_in_in_browser(page: Any, root: str, provider_label: str, shots: str | None = None) -> None:
    """From the passport index, through the provider's own login and consent forms, and back."""
    page.goto(f"{root}/passport")
    page.wait_for_url(re.compile(r".*/auth/signin\?.*"))
    if shots:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{shots}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, "no sideways scrolling"
    page.get_by_role("link", name=provider_label).click()
    page.wait_for_selector("input[name=login]", timeout=30_000)
    page.fill("input[name=login]", "someone")
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if "/interaction/" in page.url:  # the provider asks to consent
        page.click("button[type=submit]")
    page.wait_for_url(f"{root}/passport", timeout=30_000)


def test_a_doctor_signs_in_with_the_national_provider(world: tuple[World, dict[str, Provider]]) -> None:
    built, _ = world
    root = _root(built)
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            context = browser.new_context(locale="kk-KZ", viewport={"width": 390, "height": 844})
            page = context.new_page()
            _sign_in_in_browser(page, root, "eGov ID арқылы кіру", shots="signin-kk")
            assert page.locator("a[href^='/passport/pat-P']").count() == 1, page.content()
            assert "pat-Q" not in page.content(), "only patients the doctor has a basis for"
            page.screenshot(path=str(ARTIFACTS / "signed-in-kk.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            session = next(c for c in context.cookies() if c["name"] == "ehp_session")
            assert session["httpOnly"] and session["sameSite"] == "Lax"
            cookie = {"ehp_session": session["value"]}
            assert httpx.get(f"{root}/passport/pat-P", cookies=cookie).status_code == 200
            assert httpx.get(f"{root}/passport/pat-Q", cookies=cookie).status_code == 404
            assert httpx.get(f"{built.server.base}/Patient/pat-P", cookies=cookie).status_code == 401, (
                "the page cookie never authorises the FHIR API"
            )
            page.get_by_role("button", name="Шығу").click()
            page.wait_for_url(re.compile(r".*/auth/signin.*"))
            deadline = time.monotonic() + 5  # a revocation counts in every process within a second
            while httpx.get(f"{root}/passport", cookies=cookie).status_code != 401:
                assert time.monotonic() < deadline, "signing out revoked the session token"
                time.sleep(0.2)
        finally:
            browser.close()
    log = httpx.get(
        f"{built.server.base}/AuditEvent",
        params={"patient": "Patient/pat-P", "_count": "200"},
        headers={"Authorization": f"Bearer {built.token('admin', 'system/*.rs')}"},
    ).json()
    assert "Practitioner/doc-A" in json.dumps(log), "the page views are audited as the doctor"


def test_a_citizen_signs_in_by_iin_from_userinfo_and_a_replayed_answer_is_refused(
    world: tuple[World, dict[str, Provider]],
) -> None:
    built, _ = world
    root = _root(built)
    require_chromium()
    from playwright.sync_api import sync_playwright

    answers: list[Any] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
        try:
            context = browser.new_context(locale="en-US")
            page = context.new_page()

            page.on(
                "request",
                lambda request: answers.append(request) if "/auth/callback?" in request.url else None,
            )
            _sign_in_in_browser(page, root, "Sign in with Region ID")
            assert page.locator("a[href^='/passport/pat-P']").count() == 1, page.content()
            value = next(c["value"] for c in context.cookies() if c["name"] == "ehp_session")
            cookie = {"ehp_session": value}
            own = httpx.get(f"{root}/passport/pat-P?lang=en", cookies=cookie)
            assert own.status_code == 200 and str(CITIZEN_IIN) in own.text, (
                "the citizen sees their own passport"
            )
            assert httpx.get(f"{root}/passport/pat-Q", cookies=cookie).status_code == 404
            assert len(answers) == 1
            url, cookies = answers[0].url, answers[0].all_headers().get("cookie", "")
        finally:
            browser.close()
    assert "ehp_signin=" in cookies
    replayed = httpx.get(url, headers={"cookie": cookies})
    assert replayed.status_code == 401 and "refused" in replayed.text, replayed.text


def test_sign_in_refuses_what_it_cannot_trust(world: tuple[World, dict[str, Provider]]) -> None:
    built, providers = world
    root = _root(built)
    with httpx.Client(base_url=root, follow_redirects=False, timeout=30) as browser:
        bare = browser.get("/passport")
        assert bare.status_code == 303
        assert bare.headers["location"].startswith("/auth/signin?return_to=%2Fpassport")
        lost = browser.get("/auth/callback", params={"code": "x", "state": "y"})
        assert lost.status_code == 401 and "did not start a sign-in" in lost.text
        assert browser.get("/auth/signin/nobody").status_code == 404
        start = browser.get("/auth/signin/egov", params={"return_to": "//evil.example/x"})
        assert start.status_code == 302
        asked = parse_qs(urlparse(start.headers["location"]).query)
        assert start.headers["location"].startswith(providers["egov"].discovery["authorization_endpoint"])
        assert asked["code_challenge_method"] == ["S256"] and asked["nonce"] and asked["state"]
        assert asked["redirect_uri"] == [f"{root}/auth/callback"]
        wrong_state = browser.get("/auth/callback", params={"code": "x", "state": "not-this-one"})
        assert wrong_state.status_code == 401 and "state differs" in wrong_state.text
        assert "ehp_signin" not in browser.cookies, "a failed answer ends the attempt"
        again = parse_qs(urlparse(browser.get("/auth/signin/egov").headers["location"]).query)
        denied = browser.get("/auth/callback", params={"state": again["state"][0], "error": "access_denied"})
        assert denied.status_code == 401 and "access_denied" in denied.text
        assert "evil.example" not in browser.get("/auth/signin", params={"return_to": "//evil.example"}).text


def test_password_sign_in_and_cross_site_forms(world: tuple[World, dict[str, Provider]]) -> None:
    built, _ = world
    root = _root(built)
    with httpx.Client(base_url=root, follow_redirects=False, timeout=30) as browser:
        form = {"username": "doc-a", "password": "wrong", "return_to": "/passport/pat-P"}
        wrong = browser.post("/auth/signin?lang=en", data=form)
        assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
        assert "ehp_session" not in browser.cookies
        good = browser.post("/auth/signin?lang=en", data={**form, "password": PASSWORD})
        assert good.status_code == 303 and good.headers["location"] == "/passport/pat-P"
        set_cookie = good.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=lax" in set_cookie
        assert browser.get("/passport/pat-P").status_code == 200
        evil = {"Origin": "https://evil.example"}
        launch = browser.post("/passport/pat-P/launch", data={"client_id": "x"}, headers=evil)
        assert launch.status_code == 403
        assert browser.post("/auth/signout", headers=evil).status_code == 403
        assert browser.get("/passport/pat-P").status_code == 200, "the forged sign-out did nothing"
        out = browser.post("/auth/signout", headers={"Origin": root})
        assert out.status_code == 303
        assert browser.get("/passport/pat-P").status_code == 303, "signed out: back to the sign-in page"


def test_a_signed_in_user_continues_into_a_smart_app_without_a_password(
    world: tuple[World, dict[str, Provider]],
) -> None:
    """SMART's log-in page offers the identity providers (returning to the same authorization
    request) and, to a browser with a page session, "continue as" that user."""
    built, _ = world
    root = _root(built)
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    params = {
        "response_type": "code",
        "client_id": "chart-app",
        "redirect_uri": APP_REDIRECT,
        "scope": "openid fhirUser user/*.rs",
        "state": "s-1",
        "aud": built.server.base,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    english = {"Accept-Language": "en"}
    with httpx.Client(base_url=root, follow_redirects=False, timeout=30, headers=english) as browser:
        anonymous = browser.get("/auth/authorize", params=params)
        assert anonymous.status_code == 200 and "Continue as" not in anonymous.text
        link = re.search(r'href="(/auth/signin/egov\?[^"]+)"', anonymous.text)
        assert link is not None, "the providers are offered"
        back = parse_qs(urlparse(link.group(1).replace("&amp;", "&")).query)["return_to"][0]
        assert back.startswith("/auth/authorize?") and parse_qs(urlparse(back).query)["state"] == ["s-1"]
        signed = browser.post("/auth/signin", data={"username": "doc-a", "password": PASSWORD})
        assert signed.status_code == 303
        page = browser.get("/auth/authorize", params=params)
        assert "Continue as Practitioner/doc-A" in page.text
        fields = {name: value for name, value in params.items()} | {"session": "1"}
        forged = browser.post("/auth/authorize", data=fields, headers={"Origin": "https://evil.example"})
        assert forged.status_code == 401, "another site cannot continue a session into an app"
        answer = browser.post("/auth/authorize", data=fields, headers={"Origin": root})
        assert answer.status_code == 302 and answer.headers["location"].startswith(APP_REDIRECT)
        code = parse_qs(urlparse(answer.headers["location"]).query)["code"][0]
    token = httpx.post(
        f"{root}/auth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": APP_REDIRECT,
            "client_id": "chart-app",
            "code_verifier": verifier,
        },
    )
    assert token.status_code == 200, token.text
    assert jwt.decode(token.json()["id_token"], options={"verify_signature": False})["fhirUser"].endswith(
        "Practitioner/doc-A"
    )


def test_a_sign_in_configuration_is_checked_when_read(tmp_path: Path) -> None:
    base = {"issuer": "https://idp", "jwks_uri": "https://idp/jwks", "audience": "a"}
    good = {"id": "egov", "name": "eGov ID", "client_id": "ehp", "client_secret": "s"}
    (parsed,) = parse_trusted_issuers([base | {"sign_in": good}])
    assert parsed.sign_in is not None and parsed.sign_in.scope == "openid"
    wrong = {
        "'id'": good | {"id": "Has Spaces"},
        "client_secret": {k: v for k, v in good.items() if k != "client_secret"},
        "'scope'": good | {"scope": "profile"},
        "secret file": good | {"client_secret_file": str(tmp_path / "missing")},
        "unknown sign_in keys": good | {"redirect_uri": "https://x"},
    }
    for told, sign_in in wrong.items():
        with pytest.raises(ValueError, match=told):
            parse_trusted_issuers([base | {"sign_in": sign_in}])
    with pytest.raises(ValueError, match="same id"):
        parse_trusted_issuers([base | {"sign_in": good}, base | {"issuer": "https://other", "sign_in": good}])
