"""Login audit and the per-address throttle: every attempt on record, guessing slowed down,
and the owner still able to get in from where they usually log in."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from models.accounts.users import AuthSession, LoginAttempt, User
from tests.api.conftest import Caller, caller, mailed_token, mails_to
from tests.conftest import make_user
from web import create_app
from workers.core.setup import Platform

PASSWORD = "correct horse battery"
HOME = "203.0.113.10"
ATTACKER = "198.51.100.66"
CAFE = "192.0.2.200"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)


def login(
    client: FlaskClient, email: str, password: str = PASSWORD, ip: str = HOME, **headers: str
) -> TestResponse:
    return client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": ip},
        headers={"User-Agent": CHROME, **headers},
    )


def fail(client: FlaskClient, email: str, times: int, ip: str = HOME) -> list[int]:
    return [login(client, email, "wrong password!!", ip).status_code for _ in range(times)]


def age_attempts(session: Session, seconds: int) -> None:
    """Move the clock: every recorded attempt happened `seconds` earlier."""
    session.execute(
        text("UPDATE login_attempts SET at = at - make_interval(secs => :s)"), {"s": seconds}
    )
    session.commit()


def user(session: Session, email: str) -> User:
    found = make_user(session, email=email)
    session.commit()
    return found


def shape(response: TestResponse) -> tuple[Any, ...]:
    """What a client sees of an answer, but the request id."""
    body = dict(response.json or {})
    body.pop("request_id", None)
    return response.status_code, body, response.headers.get("Retry-After")


def test_every_attempt_is_recorded_with_its_device_even_when_it_fails(
    client: FlaskClient, session: Session
) -> None:
    owner = user(session, "audit@example.com")

    assert login(client, "audit@example.com", "wrong password!!").status_code == 401
    assert login(client, "Audit@Example.com").status_code == 200
    assert login(client, "nobody@example.com").status_code == 401

    rows = session.scalars(select(LoginAttempt).order_by(LoginAttempt.id)).all()
    assert [(r.email, r.user_id, r.outcome) for r in rows] == [
        ("audit@example.com", owner.id, "bad_credentials"),
        ("audit@example.com", owner.id, "success"),
        ("nobody@example.com", None, "bad_credentials"),
    ]
    assert {(r.ip, r.user_agent, r.device, r.browser, r.os) for r in rows} == {
        (HOME, CHROME, "desktop", "Chrome 120", "Windows 10")
    }
    [started] = session.scalars(select(AuthSession).where(AuthSession.user_id == owner.id))
    assert (started.ip, started.device, started.browser, started.os) == (
        HOME,
        "desktop",
        "Chrome 120",
        "Windows 10",
    )


def test_behind_a_trusted_proxy_the_audit_sees_the_client_ip(
    tx_platform: Platform, session: Session
) -> None:
    user(session, "proxied@example.com")
    settings = tx_platform.settings.replace(trusted_proxy_count=1)
    client = create_app(settings, platform=tx_platform).test_client()

    login(client, "proxied@example.com", X_Forwarded_For="192.0.2.44")

    assert session.scalars(select(LoginAttempt.ip)).all() == ["192.0.2.44"]


def test_after_five_wrong_passwords_even_the_right_one_waits_and_the_wait_ends(
    client: FlaskClient, session: Session
) -> None:
    user(session, "target@example.com")

    assert fail(client, "target@example.com", 5) == [401] * 5
    throttled = login(client, "target@example.com")  # the right password, too early

    assert throttled.status_code == 429
    assert throttled.json is not None and throttled.json["code"] == "login_throttled"
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.json["details"] == {"retry_after_s": 1}

    age_attempts(session, 2)  # the 1-second wait is over; one more guess, then 2 s
    assert fail(client, "target@example.com", 1) == [401]
    assert login(client, "target@example.com").headers["Retry-After"] == "2"

    age_attempts(session, 3)
    assert login(client, "target@example.com").status_code == 200
    outcomes = session.scalars(select(LoginAttempt.outcome).order_by(LoginAttempt.id)).all()
    assert outcomes == ["bad_credentials"] * 5 + ["throttled", "bad_credentials"] + [
        "throttled",
        "success",
    ]


def test_a_success_starts_the_count_again(client: FlaskClient, session: Session) -> None:
    user(session, "forgetful@example.com")

    assert fail(client, "forgetful@example.com", 4) == [401] * 4
    assert login(client, "forgetful@example.com").status_code == 200
    assert fail(client, "forgetful@example.com", 4) == [401] * 4

    assert login(client, "forgetful@example.com").status_code == 200


def test_an_attacker_elsewhere_does_not_lock_the_owner_out_of_a_known_ip(
    client: FlaskClient, session: Session
) -> None:
    user(session, "owner@example.com")
    assert login(client, "owner@example.com", ip=HOME).status_code == 200

    assert fail(client, "owner@example.com", 8, ip=ATTACKER) == [401] * 5 + [429] * 3

    # From a new place the owner waits like anyone (at most 15 minutes at a time)...
    assert login(client, "owner@example.com", ip="192.0.2.200").status_code == 429
    # ...but from where they logged in before, only their own failures there count.
    assert login(client, "owner@example.com", ip=HOME).status_code == 200


def test_unknown_and_known_addresses_are_throttled_alike(
    client: FlaskClient, session: Session
) -> None:
    user(session, "exists@example.com")

    known = [login(client, "exists@example.com", "wrong password!!") for _ in range(6)]
    unknown = [login(client, "missing@example.com", "wrong password!!") for _ in range(6)]

    assert [shape(r) for r in known] == [shape(r) for r in unknown]
    assert [r.status_code for r in known] == [401] * 5 + [429]


def test_parallel_guesses_cannot_slip_past_the_throttle(committed_platform: Platform) -> None:
    email = "raced@example.com"
    with committed_platform.sessions.begin() as session:
        make_user(session, email=email)
    app = create_app(platform=committed_platform)
    barrier = threading.Barrier(12)

    def guess(n: int) -> int:
        client = app.test_client()
        barrier.wait()
        return client.post(
            "/api/v1/auth/login", json={"email": email, "password": f"wrong guess {n}"}
        ).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = Counter(pool.map(guess, range(12)))

    # Five wrong passwords are judged, then the address waits; all at once changes nothing.
    assert answers == Counter({401: 5, 429: 7})


def unlock_mails(session: Session, email: str) -> list[str]:
    """The unlock tokens mailed to `email`, oldest first."""
    return [mailed_token(m) for m in mails_to(session, email) if "on hold" in m.params["subject"]]


def test_the_owner_on_a_new_network_gets_in_with_the_mailed_unlock_link(
    client: FlaskClient, session: Session
) -> None:
    user(session, "owner@example.com")
    assert fail(client, "owner@example.com", 6, ip=ATTACKER) == [401] * 5 + [429]
    assert login(client, "owner@example.com", ip=CAFE).status_code == 429

    tokens = unlock_mails(session, "owner@example.com")
    mail = mails_to(session, "owner@example.com")[-1]
    assert CAFE in mail.params["text"] and "Chrome" in mail.params["text"]
    # One mail for the attacker's network, one for the café's; the café's lets the café in.
    assert len(tokens) == 2
    unlocked = client.post("/api/v1/auth/unlock-login", json={"token": tokens[-1]})

    assert unlocked.status_code == 200
    # The attacker's network is still held on its own failures; the café is let in.
    assert login(client, "owner@example.com", ip=ATTACKER).status_code == 429
    assert login(client, "owner@example.com", ip=CAFE).status_code == 200
    again = client.post("/api/v1/auth/unlock-login", json={"token": tokens[-1]})
    assert again.status_code == 422


def test_without_the_link_the_new_network_waits_like_anyone(
    client: FlaskClient, session: Session
) -> None:
    user(session, "waits@example.com")
    fail(client, "waits@example.com", 6, ip=ATTACKER)

    assert login(client, "waits@example.com", ip=CAFE).status_code == 429


def test_unlock_mails_are_capped_and_unknown_addresses_get_none(
    client: FlaskClient, session: Session
) -> None:
    user(session, "capped@example.com")
    fail(client, "capped@example.com", 5, ip=ATTACKER)
    for n in range(5):
        assert login(client, "capped@example.com", ip=f"192.0.2.{n + 1}").status_code == 429
    fail(client, "nobody@example.com", 6, ip=ATTACKER)

    assert len(unlock_mails(session, "capped@example.com")) == 3  # RATE_LIMIT_LOGIN_UNLOCK_MAIL
    assert mails_to(session, "nobody@example.com") == []


def test_change_password_is_limited_per_user_whatever_the_ip(
    tx_platform: Platform, session: Session
) -> None:
    settings = tx_platform.settings.replace(rate_limit_change_password="3/hour")
    client = create_app(platform=dataclasses.replace(tx_platform, settings=settings)).test_client()
    guesser, other = (caller(tx_platform, session) for _ in range(2))

    def change(who: Caller, ip: str) -> int:
        return client.post(
            "/api/v1/auth/change-password",
            json={"current_password": "a guess at it", "new_password": "a new password!"},
            headers=who.headers,
            environ_base={"REMOTE_ADDR": ip},
        ).status_code

    assert [change(guesser, f"192.0.2.{n}") for n in range(1, 5)] == [403, 403, 403, 429]
    assert change(other, "192.0.2.1") == 403
