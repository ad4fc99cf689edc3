"""A password reset end to end: the API queues the mail, a real worker delivers it over SMTP,
and the token read from the delivered message resets the password."""

from __future__ import annotations

import re
import time
import uuid
from email.message import Message

from tests.conftest import make_user
from tests.smtp import SmtpServer
from web import create_app
from workers.setup import Platform
from workers.tracking import Runtime

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
