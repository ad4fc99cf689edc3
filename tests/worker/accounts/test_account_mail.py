"""A password reset end to end: the API queues the mail, a real worker delivers it over SMTP,
and the token read from the delivered message resets the password."""

from __future__ import annotations

import re
import time
import uuid
from email.message import Message

from sqlalchemy import select

from models.core.jobs import Job, JobStatus
from tests.conftest import make_user
from tests.smtp import SmtpServer
from tests.worker.conftest import wait_for
from web import create_app
from workers.core.setup import Platform
from workers.core.tracking import Runtime
from workers.mail.single import REDACTED

NEW_PASSWORD = "a brand new passphrase"


def delivered(smtp: SmtpServer, to: str, subject: str, timeout_s: float = 15.0) -> Message:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for message in smtp.to(to):
            if message["Subject"] == subject:
                return message
        time.sleep(0.05)
    raise AssertionError(f"no {subject!r} mail to {to} after {timeout_s} s")


def text_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def test_a_reset_mail_is_delivered_and_its_token_resets_the_password(
    committed_platform: Platform, worker: Runtime, smtp: SmtpServer
) -> None:
    email = f"reset-{uuid.uuid4().hex[:8]}@example.com"
    with committed_platform.sessions.begin() as session:
        make_user(session, email=email)
    client = create_app(platform=committed_platform).test_client()

    asked = client.post("/api/v1/auth/request-password-reset", json={"email": email})
    mail = delivered(smtp, email, "Reset your Backline password")
    found = re.search(r"^Token: (\S+)", text_of(mail), re.MULTILINE)
    assert asked.status_code == 202 and found is not None

    reset = client.post(
        "/api/v1/auth/reset-password", json={"token": found.group(1), "password": NEW_PASSWORD}
    )

    assert reset.status_code == 200
    new = client.post("/api/v1/auth/login", json={"email": email, "password": NEW_PASSWORD})
    old = client.post(
        "/api/v1/auth/login", json={"email": email, "password": "correct horse battery"}
    )
    assert new.status_code == 200 and old.status_code == 401
    notice = delivered(smtp, email, "Your Backline password was changed")
    assert "Token:" not in text_of(notice)

    # Once sent, the stored mail keeps no usable token: not in the database, not for admins.
    with committed_platform.sessions() as session:
        mails = session.scalars(select(Job).where(Job.kind == "email.send")).all()
        sent = [wait_for(committed_platform, m.id) for m in mails]
    assert {m.status for m in sent} == {JobStatus.SUCCEEDED}
    assert all(m.params["text"] == REDACTED for m in sent)
    assert found.group(1) not in str([m.params for m in sent])


def token_in(message: Message) -> str:
    found = re.search(r"^Token: (\S+)", text_of(message), re.MULTILINE)
    assert found is not None, text_of(message)
    return found.group(1)


def test_every_mailed_flow_works_over_http_with_the_mail_read_from_smtp(
    committed_platform: Platform, worker: Runtime, smtp: SmtpServer
) -> None:
    """Register, resend, verify, log in, change address, invite, accept: each token is read
    from the message a real worker delivered to the SMTP server, never from the database."""
    client = create_app(platform=committed_platform).test_client()
    tag = uuid.uuid4().hex[:8]
    owner, moved, invitee = (f"{who}-{tag}@example.com" for who in ("owner", "moved", "guest"))
    password = "correct horse battery"

    def login(email: str) -> dict[str, str]:
        answer = client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert answer.status_code == 200, answer.json
        return {"Authorization": f"Bearer {answer.json['access_token']}"}

    # Register, ask for the mail again; the newest token confirms, and ends the older one.
    assert (
        client.post(
            "/api/v1/auth/register",
            json={"email": owner, "password": password, "organization_name": "Acme Records"},
        ).status_code
        == 202
    )
    first = token_in(delivered(smtp, owner, "Confirm your e-mail address"))
    assert client.post("/api/v1/auth/resend-verification", json={"email": owner}).status_code == 202
    deadline = time.monotonic() + 15
    while len(smtp.to(owner)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    second = token_in(smtp.to(owner)[-1])
    assert second != first
    verified = client.post("/api/v1/auth/verify-email", json={"token": second})
    assert verified.status_code == 200 and verified.json["email_verified"] is True
    assert client.post("/api/v1/auth/verify-email", json={"token": first}).status_code == 422

    # A second registration of the address only warns its owner.
    assert (
        client.post(
            "/api/v1/auth/register", json={"email": owner, "password": "another long one"}
        ).status_code
        == 202
    )
    delivered(smtp, owner, "Someone tried to register with your address")

    # Move the account to a new address: confirmed from there, the old one is told.
    headers = login(owner)
    asked = client.post(
        "/api/v1/auth/request-email-change",
        json={"new_email": moved, "password": password},
        headers=headers,
    )
    assert asked.status_code == 202
    delivered(smtp, owner, "Your Backline e-mail address is about to change")
    change = token_in(delivered(smtp, moved, "Confirm your new e-mail address"))
    confirmed = client.post("/api/v1/auth/confirm-email-change", json={"token": change})
    assert confirmed.status_code == 200 and confirmed.json["email"] == moved
    headers = login(moved)

    # Invite a colleague; they register, verify and accept with the token from their mail.
    [org] = client.get("/api/v1/orgs", headers=headers).json["items"]
    invited = client.post(
        f"/api/v1/orgs/{org['id']}/invitations",
        json={"email": invitee, "role": "admin"},
        headers=headers,
    )
    assert invited.status_code == 201, invited.json
    invitation = token_in(
        delivered(smtp, invitee, "You are invited to join Acme Records on Backline")
    )
    client.post("/api/v1/auth/register", json={"email": invitee, "password": password})
    client.post(
        "/api/v1/auth/verify-email",
        json={"token": token_in(delivered(smtp, invitee, "Confirm your e-mail address"))},
    )
    guest = login(invitee)
    accepted = client.post("/api/v1/invitations/accept", json={"token": invitation}, headers=guest)

    assert accepted.status_code == 200, accepted.json
    roles = {o["name"]: o["role"] for o in client.get("/api/v1/orgs", headers=guest).json["items"]}
    assert roles["Acme Records"] == "admin"
