"""Where a login came from: the country from the IP (offline), on attempts and sessions; a
login from a country the account never used mails the owner a link that ends that session."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.accounts.users import LoginAttempt
from tests.api.accounts.test_logins import login, user
from tests.api.conftest import mailed_token, mails_to

LONDON = "81.2.69.142"  # GB in the package's database
STOCKHOLM = "89.160.20.112"  # SE


def notices(session: Session, email: str) -> list:
    return [m for m in mails_to(session, email) if m.params["subject"].startswith("New login")]


def test_attempts_and_sessions_carry_the_country(client: FlaskClient, session: Session) -> None:
    user(session, "placed@example.com")
    login(client, "placed@example.com", "wrong password!!", ip=LONDON)
    tokens = login(client, "placed@example.com", ip=LONDON).json

    countries = session.scalars(select(LoginAttempt.country).order_by(LoginAttempt.id)).all()
    assert countries == ["GB", "GB"]
    listed = client.get(
        "/api/v1/auth/sessions", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ).json
    assert [s["country"] for s in listed] == ["GB"]
    # A private address has no place.
    login(client, "placed@example.com", ip="10.1.2.3")
    assert (
        session.scalars(select(LoginAttempt.country).order_by(LoginAttempt.id.desc())).first()
        is None
    )


def test_a_login_from_a_new_country_mails_a_link_that_ends_that_session(
    client: FlaskClient, session: Session
) -> None:
    user(session, "traveller@example.com")
    home = login(client, "traveller@example.com", ip=LONDON).json
    login(client, "traveller@example.com", ip=LONDON)
    assert notices(session, "traveller@example.com") == []  # the first login and home: quiet

    abroad = login(client, "traveller@example.com", ip=STOCKHOLM).json
    (notice,) = notices(session, "traveller@example.com")
    assert "SE" in notice.params["subject"] and STOCKHOLM in notice.params["text"]
    assert "Chrome" in notice.params["text"] and "Token:" in notice.params["text"]
    login(client, "traveller@example.com", ip=STOCKHOLM)
    assert len(notices(session, "traveller@example.com")) == 1  # known from now on

    ended = client.post("/api/v1/auth/end-session", json={"token": mailed_token(notice)})

    assert ended.status_code == 200
    assert client.get("/api/v1/auth/me", headers=bearer(abroad)).status_code == 401
    assert client.get("/api/v1/auth/me", headers=bearer(home)).status_code == 200
    again = client.post("/api/v1/auth/end-session", json={"token": mailed_token(notice)})
    assert again.status_code == 422


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}
