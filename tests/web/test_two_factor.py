"""Two-factor login, enrolment, re-authentication, password change and throttling, through the web."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.testclient import TestClient

import factories as f
from datahealth.auth.tables import Role, User, WebSession
from web_client import CSRF, Browser


def _password_step(browser: Browser, login_id: str, password: str = f.PASSWORD):
    browser.get("/login")
    return browser.post(
        "/login", {"login_id": login_id, "password": password, "next": "/admin"}, follow_redirects=False
    )


def test_enrolled_admin_needs_the_code_and_pending_sessions_reach_nothing(browser, world, clock):
    first = _password_step(browser, "admin")
    assert first.status_code == 303 and first.headers["location"].startswith("/login/2fa")
    blocked = browser.get("/admin", follow_redirects=False)
    assert blocked.status_code == 303 and blocked.headers["location"] == "/login/2fa"
    browser.get("/login/2fa")
    wrong = browser.post("/login/2fa", {"code": "000000", "next": "/admin"})
    assert wrong.status_code == 401 and "確認コードが正しくないか" in wrong.text
    clock.moment += timedelta(seconds=30)
    right = browser.post(
        "/login/2fa", {"code": pyotp.TOTP(f.TOTP_SECRET).at(clock.moment), "next": "/admin"}, follow_redirects=False
    )
    assert right.status_code == 303 and right.headers["location"] == "/admin"
    assert browser.get("/admin").status_code == 200


def test_a_code_works_only_once(browser, other_browser, world, clock):
    clock.moment += timedelta(seconds=30)
    code = pyotp.TOTP(f.TOTP_SECRET).at(clock.moment)
    for person in (browser, other_browser):
        _password_step(person, "admin")
        person.get("/login/2fa")
    assert browser.post("/login/2fa", {"code": code, "next": "/"}, follow_redirects=False).status_code == 303
    assert other_browser.post("/login/2fa", {"code": code, "next": "/"}).status_code == 401


def test_recovery_code_logs_in_once(browser, world, clock, session_factory: sessionmaker[Session]):
    from datahealth.auth import totp

    with session_factory.begin() as db:
        admin = db.scalar(select(User).where(User.login_id == "admin"))
        codes = totp.new_recovery_codes(db, admin, clock.moment)
    _password_step(browser, "admin")
    browser.get("/login/2fa")
    assert browser.post("/login/2fa", {"code": codes[0], "next": "/admin"}, follow_redirects=False).status_code == 303
    browser.post("/logout")
    _password_step(browser, "admin")
    browser.get("/login/2fa")
    assert browser.post("/login/2fa", {"code": codes[0], "next": "/admin"}).status_code == 401


def test_required_role_must_enrol_before_anything_else(browser, clock, session_factory: sessionmaker[Session]):
    with session_factory.begin() as db:
        ministry = f.make_org(db, code="MHLW", name="厚生労働省", kind=f.OrgKind.MINISTRY)
        f.make_user(db, ministry, "new-admin", role=Role.ADMIN, two_factor=False)
    first = _password_step(browser, "new-admin")
    assert first.headers["location"].startswith("/account/2fa/setup")
    assert browser.get("/admin", follow_redirects=False).headers["location"] == "/account/2fa/setup"
    page = browser.get("/account/2fa/setup")
    assert "この役割のアカウントは二要素認証が必須です" in page.text and "<svg" in page.text
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page.text).group(1)
    token = re.search(r'name="setup_token" value="([^"]+)"', page.text).group(1)
    wrong = browser.post("/account/2fa/setup", {"setup_token": token, "code": "123456", "next": "/admin"})
    assert wrong.status_code == 400
    clock.moment += timedelta(seconds=30)
    done = browser.post(
        "/account/2fa/setup", {"setup_token": token, "code": pyotp.TOTP(secret).at(clock.moment), "next": "/admin"}
    )
    assert (
        done.status_code == 200 and len(re.findall(r"<li><code>[0-9a-f]{6}-[0-9a-f]{6}</code></li>", done.text)) == 10
    )
    assert browser.get("/admin").status_code == 200
    with session_factory() as db:
        user = db.scalar(select(User).where(User.login_id == "new-admin"))
        assert user.two_factor_enabled and secret not in (user.totp_secret or "")


def test_hospital_user_may_opt_in_and_out(browser, world, clock):
    browser.login("hosp-a")
    assert "二要素認証を設定する" in browser.get("/account").text
    page = browser.get("/account/2fa/setup")
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page.text).group(1)
    token = re.search(r'name="setup_token" value="([^"]+)"', page.text).group(1)
    clock.moment += timedelta(seconds=30)
    browser.post("/account/2fa/setup", {"setup_token": token, "code": pyotp.TOTP(secret).at(clock.moment), "next": "/"})
    browser.post("/logout")
    assert _password_step(browser, "hosp-a").headers["location"].startswith("/login/2fa")
    browser.get("/login/2fa")
    clock.moment += timedelta(seconds=30)
    browser.post("/login/2fa", {"code": pyotp.TOTP(secret).at(clock.moment), "next": "/"})
    browser.get("/account")
    off = browser.post("/account/2fa/disable", follow_redirects=False)
    assert off.headers["location"] == "/account?changed=2fa"


def test_required_role_cannot_turn_it_off(browser, world):
    browser.login("admin")
    browser.get("/account")
    refused = browser.post("/account/2fa/disable")
    assert refused.status_code == 400 and "無効にできません" in refused.text


def test_export_asks_for_the_password_again_after_a_while(browser, world, clock):
    browser.login("admin")
    url = f"/admin/surveys/{world.survey_id}/export.csv"
    assert browser.get(url).status_code == 200  # just logged in
    clock.moment += timedelta(minutes=11)
    asked = browser.get(url, follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"].startswith("/reauth?next=/admin/surveys/")
    browser.get("/reauth")
    bad = browser.post("/reauth", {"password": "wrong", "code": "000000", "next": url})
    assert bad.status_code == 401
    clock.moment += timedelta(seconds=30)
    good = browser.post(
        "/reauth", {"password": f.PASSWORD, "code": pyotp.TOTP(f.TOTP_SECRET).at(clock.moment), "next": url}
    )
    assert good.status_code == 200 and good.content.startswith(b"\xef\xbb\xbf")


def test_password_change_rules_and_other_sessions_end(
    browser, other_browser, world, session_factory: sessionmaker[Session]
):
    browser.login("hosp-a")
    other_browser.login("hosp-a")
    browser.get("/account/password")
    wrong = browser.post(
        "/account/password",
        {
            "current_password": "nope",
            "password": "a new long passphrase",
            "password_confirmation": "a new long passphrase",
        },
    )
    assert wrong.status_code == 400 and "現在のパスワードが正しくありません" in wrong.text
    common = browser.post(
        "/account/password",
        {"current_password": f.PASSWORD, "password": "password1234567", "password_confirmation": "password1234567"},
    )
    assert "よく使われており" in common.text
    new = "桜の咲く頃に会いましょう 2025"
    ok = browser.post(
        "/account/password",
        {"current_password": f.PASSWORD, "password": new, "password_confirmation": new},
        follow_redirects=False,
    )
    assert ok.headers["location"] == "/account?changed=password"
    assert browser.get("/").status_code == 200
    assert other_browser.get("/", follow_redirects=False).status_code == 303  # logged out elsewhere
    with session_factory() as db:
        assert db.scalar(select(User.password_changed_at).where(User.login_id == "hosp-a")) is not None


def test_failed_logins_are_throttled(browser, world):
    for _ in range(5):
        assert _password_step(browser, "hosp-a", "wrong password").status_code == 401
    locked = _password_step(browser, "hosp-a")
    assert locked.status_code == 429 and "しばらくログインできません" in locked.text


def test_session_cookie_flags(settings, clock, world):
    from datahealth.web.app import create_app

    secure = create_app(settings.model_copy(update={"secure_cookies": True}), clock=clock)
    with TestClient(secure, base_url="https://testserver") as client:
        page = client.get("/login")
        token = CSRF.search(page.text).group(1)
        response = client.post(
            "/login", data={"csrf_token": token, "login_id": "hosp-a", "password": f.PASSWORD}, follow_redirects=False
        )
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-dh_session=")
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Domain" not in cookie


def test_login_creates_a_new_session_id(app: FastAPI, world, session_factory: sessionmaker[Session], clock):
    with TestClient(app, base_url="http://testserver") as client:
        person = Browser(client, clock)
        person.login("hosp-a")
        first = client.cookies.get("dh_session")
        person.post("/logout")
        person.login("hosp-a")
        assert client.cookies.get("dh_session") != first
    with session_factory() as db:
        assert len(db.scalars(select(WebSession)).all()) == 1  # logout removed the first one
