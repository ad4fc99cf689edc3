"""The login mails end to end: a real worker delivers them over SMTP, and the token read from
the delivered message does what the mail says (lets a network in; ends a session)."""

from __future__ import annotations

import uuid

from tests.conftest import make_user
from tests.smtp import SmtpServer
from tests.worker.accounts.test_account_mail import delivered, text_of, token_in
from web import create_app
from workers.core.setup import Platform
from workers.core.tracking import Runtime

PASSWORD = "correct horse battery"
LONDON, STOCKHOLM, ATTACKER = "81.2.69.142", "89.160.20.112", "198.51.100.66"


def test_the_unlock_and_new_country_mails_work_from_the_inbox(
    committed_platform: Platform, worker: Runtime, smtp: SmtpServer
) -> None:
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    with committed_platform.sessions.begin() as session:
        make_user(session, email=email)
    client = create_app(platform=committed_platform).test_client()

    def login(ip: str, password: str = PASSWORD) -> int:
        return client.post(
            "/api/v1/auth/login",
            json={"email": email, "password": password},
            environ_base={"REMOTE_ADDR": ip},
        ).status_code

    assert login(LONDON) == 200
    assert [login(ATTACKER, "a wrong guess!") for _ in range(5)] == [401] * 5
    assert login(STOCKHOLM) == 429
    unlock = delivered(smtp, email, "A login to your Backline account is on hold")
    assert STOCKHOLM in text_of(unlock)
    let_in = client.post("/api/v1/auth/unlock-login", json={"token": token_in(unlock)})
    assert let_in.status_code == 200
    assert login(STOCKHOLM) == 200

    notice = delivered(smtp, email, "New login to your Backline account from SE")
    ended = client.post("/api/v1/auth/end-session", json={"token": token_in(notice)})
    assert ended.status_code == 200
