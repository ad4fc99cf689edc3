"""Two browser tabs refreshing with one refresh token: within the grace window both carry on
with the same successor; a replay after it is taken for theft and ends the session."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from flask.testing import FlaskClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.conftest import make_user
from web import create_app
from workers.core.setup import Platform

PASSWORD = "correct horse battery"


def login(client: FlaskClient, email: str) -> dict[str, str]:
    answer = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.json
    return answer.json  # type: ignore[no-any-return]


def refresh(client: FlaskClient, token: str) -> tuple[int, dict[str, str]]:
    answer = client.post("/api/v1/auth/refresh", json={"refresh_token": token})
    return answer.status_code, answer.json or {}


def me(client: FlaskClient, access_token: str) -> int:
    return client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {access_token}"}
    ).status_code


def age_rotations(session: Session, seconds: int) -> None:
    session.execute(
        text("UPDATE refresh_tokens SET rotated_at = rotated_at - make_interval(secs => :s)"),
        {"s": seconds},
    )
    session.commit()


def test_the_second_tab_within_the_window_gets_the_same_successor(
    client: FlaskClient, session: Session
) -> None:
    make_user(session, email="tabs@example.com")
    session.commit()
    first = login(client, "tabs@example.com")["refresh_token"]

    tab_a = refresh(client, first)
    tab_b = refresh(client, first)

    assert tab_a[0] == tab_b[0] == 200
    assert tab_a[1]["refresh_token"] == tab_b[1]["refresh_token"] != first
    # The session lives on: both tabs' access tokens work, and the successor rotates.
    assert me(client, tab_a[1]["access_token"]) == me(client, tab_b[1]["access_token"]) == 200
    assert refresh(client, tab_b[1]["refresh_token"])[0] == 200


def test_a_replay_after_the_window_still_revokes_the_session(
    client: FlaskClient, session: Session
) -> None:
    make_user(session, email="stolen@example.com")
    session.commit()
    first = login(client, "stolen@example.com")["refresh_token"]
    status, owner = refresh(client, first)
    assert status == 200

    age_rotations(session, 6)  # the grace window is 5 s
    replay = refresh(client, first)

    assert replay[0] == 401
    assert refresh(client, owner["refresh_token"])[0] == 401
    assert me(client, owner["access_token"]) == 401


def test_a_revoked_session_is_not_revived_within_the_window(
    client: FlaskClient, session: Session
) -> None:
    make_user(session, email="out@example.com")
    session.commit()
    first = login(client, "out@example.com")["refresh_token"]
    _, second = refresh(client, first)
    client.post(
        "/api/v1/auth/logout",
        json={},
        headers={"Authorization": f"Bearer {second['access_token']}"},
    )

    assert refresh(client, first)[0] == 401


def test_a_racing_pair_both_get_the_one_successor(committed_platform: Platform) -> None:
    with committed_platform.sessions.begin() as session:
        make_user(session, email="race@example.com")
    app = create_app(platform=committed_platform)
    first = login(app.test_client(), "race@example.com")["refresh_token"]
    barrier = threading.Barrier(4)

    def tab(_: int) -> tuple[int, str]:
        client = app.test_client()
        barrier.wait()
        status, body = refresh(client, first)
        return status, body.get("refresh_token", "")

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = Counter(pool.map(tab, range(4)))

    assert len(answers) == 1, answers
    ((status, successor),) = answers
    assert status == 200 and successor != first
