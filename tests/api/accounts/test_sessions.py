"""The caller's login history and sessions: listing them, ending one, ending all."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.api.conftest import Caller
from tests.conftest import make_user
from web.core.auth import BEARER

PASSWORD = "correct horse battery"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"


class Login:
    """One login of a test user: its tokens and the headers that use them."""

    def __init__(self, client: FlaskClient, email: str, user_agent: str, ip: str) -> None:
        response = client.post(
            "/api/v1/auth/login",
            json={"email": email, "password": PASSWORD},
            headers={"User-Agent": user_agent},
            environ_base={"REMOTE_ADDR": ip},
        )
        assert response.status_code == 200, response.json
        assert response.json is not None
        self.refresh_token = response.json["refresh_token"]
        self.headers = {"Authorization": f"Bearer {response.json['access_token']}"}


def two_logins(client: FlaskClient, session: Session, email: str) -> tuple[Login, Login]:
    make_user(session, email=email)
    session.commit()
    phone = Login(client, email, IPHONE, "203.0.113.1")
    laptop = Login(client, email, FIREFOX, "203.0.113.2")
    return phone, laptop


def test_sessions_list_where_the_caller_is_logged_in_and_which_is_this_one(
    client: FlaskClient, session: Session
) -> None:
    phone, _laptop = two_logins(client, session, "two@example.com")

    listed = client.get("/api/v1/auth/sessions", headers=phone.headers)

    assert listed.status_code == 200
    assert listed.json is not None
    seen = {(s["device"], s["browser"], s["os"], s["ip"], s["current"]) for s in listed.json}
    assert seen == {
        ("mobile", "Mobile Safari 17", "iOS 17", "203.0.113.1", True),
        ("desktop", "Firefox 121", "Linux", "203.0.113.2", False),
    }
    assert set(listed.json[0]) == {
        "id", "created_at", "last_used_at", "ip", "device", "browser", "os", "country", "city",
        "current",
    }  # fmt: skip


def test_ending_a_session_stops_its_tokens_at_once(client: FlaskClient, session: Session) -> None:
    phone, laptop = two_logins(client, session, "lost.phone@example.com")
    sessions = client.get("/api/v1/auth/sessions", headers=laptop.headers).json
    assert sessions is not None
    [phone_session] = [s for s in sessions if not s["current"]]

    ended = client.delete(f"/api/v1/auth/sessions/{phone_session['id']}", headers=laptop.headers)

    assert ended.status_code == 204
    assert client.get("/api/v1/auth/me", headers=phone.headers).status_code == 401
    refresh = client.post("/api/v1/auth/refresh", json={"refresh_token": phone.refresh_token})
    assert refresh.status_code == 401
    assert client.get("/api/v1/auth/me", headers=laptop.headers).status_code == 200
    left = client.get("/api/v1/auth/sessions", headers=laptop.headers).json
    assert left is not None and [s["current"] for s in left] == [True]


def test_another_users_session_is_not_found_and_keeps_working(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    bobs = client.get("/api/v1/auth/sessions", headers=bob.headers).json
    assert bobs is not None
    [bobs_session] = bobs

    stolen = client.delete(f"/api/v1/auth/sessions/{bobs_session['id']}", headers=alice.headers)
    made_up = client.delete(f"/api/v1/auth/sessions/{uuid.uuid4()}", headers=alice.headers)

    assert stolen.status_code == made_up.status_code == 404
    assert stolen.json is not None and stolen.json["code"] == "not_found"
    assert client.get("/api/v1/auth/me", headers=bob.headers).status_code == 200


def test_logout_all_ends_every_session_of_the_caller_only(
    client: FlaskClient, session: Session, bob: Caller
) -> None:
    phone, laptop = two_logins(client, session, "everywhere@example.com")

    out = client.post("/api/v1/auth/logout-all", headers=phone.headers)

    assert out.status_code == 200 and out.json == {"revoked": 2}
    for login in (phone, laptop):
        assert client.get("/api/v1/auth/me", headers=login.headers).status_code == 401
        again = client.post("/api/v1/auth/refresh", json={"refresh_token": login.refresh_token})
        assert again.status_code == 401
    assert client.get("/api/v1/auth/me", headers=bob.headers).status_code == 200


def test_logins_show_the_callers_attempts_newest_first(
    client: FlaskClient, session: Session, bob: Caller
) -> None:
    make_user(session, email="history@example.com")
    session.commit()
    for password in ("wrong password!!", PASSWORD):
        client.post(
            "/api/v1/auth/login",
            json={"email": "history@example.com", "password": password},
            headers={"User-Agent": IPHONE},
        )
    login = Login(client, "history@example.com", FIREFOX, "203.0.113.9")

    history = client.get("/api/v1/auth/logins", headers=login.headers)
    latest = client.get("/api/v1/auth/logins?limit=1", headers=login.headers)

    assert history.status_code == 200 and history.json is not None
    assert [(a["outcome"], a["device"]) for a in history.json] == [
        ("success", "desktop"),
        ("success", "mobile"),
        ("bad_credentials", "mobile"),
    ]
    assert history.json[0]["ip"] == "203.0.113.9" and history.json[0]["browser"] == "Firefox 121"
    assert latest.json == history.json[:1]
    assert client.get("/api/v1/auth/logins", headers=bob.headers).json == []
    too_many = client.get("/api/v1/auth/logins?limit=1000", headers=login.headers)
    assert too_many.status_code == 422 and too_many.json is not None
    assert "limit" in too_many.json["details"]["fields"]


def test_the_session_endpoints_need_a_token_and_are_documented(client: FlaskClient) -> None:
    assert client.get("/api/v1/auth/sessions").status_code == 401
    assert client.post("/api/v1/auth/logout-all").status_code == 401

    paths = client.get("/api/openapi.json").json["paths"]  # type: ignore[index]
    for path, method in [
        ("/api/v1/auth/logins", "get"),
        ("/api/v1/auth/sessions", "get"),
        ("/api/v1/auth/sessions/{session_id}", "delete"),
        ("/api/v1/auth/logout-all", "post"),
    ]:
        assert paths[path][method]["security"] == BEARER  # a token (header or cookie)
