"""The mail domain end to end: the API and a real worker on one database and broker, the mail
read from the SMTP sink (tests/smtp.py), an authoritative DNS server for the MX look-ups."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import insert

from config import Settings
from models.fans import Fan
from tests.conftest import access_token, make_user, org_of
from tests.dns import DnsServer
from tests.smtp import SmtpServer
from tests.worker.conftest import RunningWorker
from web import create_app
from workers.core.setup import Platform

RESEND = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Stack:
    platform: Platform
    client: FlaskClient
    smtp: SmtpServer
    start_worker: Callable[[], RunningWorker]

    def caller(self) -> tuple[dict[str, str], uuid.UUID, uuid.UUID]:
        """A new verified user's headers, their id and their organisation's."""
        with self.platform.sessions() as session:
            user = make_user(session)
            session.commit()
            token = access_token(self.platform, session, user)
            return {"Authorization": f"Bearer {token}"}, user.id, org_of(session, user.id)

    def fans(self, org_id: uuid.UUID, count: int, **values: Any) -> list[str]:
        """`count` fans who consented (unless told), with unique addresses; their addresses."""
        tag = uuid.uuid4().hex[:8]
        rows = [
            {
                "org_id": org_id,
                "email": f"fan{i}-{tag}@example.com",
                "name": f"Fan{i} Example",
                "consent": True,
                **values,
            }
            for i in range(count)
        ]
        with self.platform.sessions.begin() as session:
            session.execute(insert(Fan), rows)
        return [r["email"] for r in rows]

    def fan(self, org_id: uuid.UUID, email: str) -> None:
        """A fan at `email` as given (the sink's special domains are not addresses the API
        takes)."""
        with self.platform.sessions.begin() as session:
            session.execute(insert(Fan).values(org_id=org_id, email=email, consent=True))

    def mails_to(self, address: str) -> list[Message]:
        return self.smtp.to(address)

    def campaign(self, auth: dict[str, str], **overrides: Any) -> dict[str, Any]:
        body = {
            "name": "Spring tour",
            "subject": "Hi {{ recipient.first_name }}, {{ org.name }} is on tour",
            "text_body": "Hello {{ recipient.name }}!\nTickets: https://tickets.example.com/a",
            "html_body": '<p>Hello {{ recipient.name }}</p><a href="https://tickets.example.com/a">'
            "Tickets</a>",
            "from_name": "The Band",
            "audience": {"source": "fans"},
            **overrides,
        }
        answer = self.client.post("/api/v1/mail/campaigns", json=body, headers=auth)
        assert answer.status_code == 201, answer.json
        return dict(answer.json)

    def send_now(self, auth: dict[str, str], campaign_id: str) -> dict[str, Any]:
        answer = self.client.post(
            f"/api/v1/mail/campaigns/{campaign_id}/schedule", json={}, headers=auth
        )
        assert answer.status_code == 200, answer.json
        return dict(answer.json)

    def read(self, auth: dict[str, str], campaign_id: str) -> dict[str, Any]:
        answer = self.client.get(f"/api/v1/mail/campaigns/{campaign_id}", headers=auth)
        assert answer.status_code == 200, answer.json
        return dict(answer.json)

    def wait(
        self,
        auth: dict[str, str],
        campaign_id: str,
        until: Callable[[dict[str, Any]], bool],
        timeout_s: float = 30.0,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            campaign = self.read(auth, campaign_id)
            if until(campaign):
                return campaign
            if time.monotonic() > deadline:
                raise AssertionError(f"campaign still {campaign['status']}: {campaign['progress']}")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def dns_server() -> Iterator[DnsServer]:
    server = DnsServer({"example.com": ["10 mx.example.com"], "example.net": ["10 mx.example.net"]})
    yield server
    server.stop()


@pytest.fixture()
def mail_overrides() -> dict[str, Any]:
    """More settings for the worker (a test module overrides this fixture)."""
    return {}


@pytest.fixture()
def mail_settings(
    settings: Settings, dns_server: DnsServer, mail_overrides: dict[str, Any]
) -> Settings:
    return settings.replace(
        leads_dns_nameservers=(dns_server.address,),
        leads_dns_timeout_s=0.5,
        resend_webhook_secrets=(RESEND,),
        public_base_url="https://backline.example",
        mail_sender_jobs=2,
        # The pace is not what these tests are about (bench/mail.py measures it).
        mail_send_per_s=5000.0,
        mail_send_per_domain_per_s=5000.0,
        **mail_overrides,
    )


@pytest.fixture()
def stack(
    committed_platform: Platform, mail_settings: Settings, smtp: SmtpServer
) -> Iterator[Stack]:
    workers: list[RunningWorker] = []

    def start_worker() -> RunningWorker:
        worker = RunningWorker(mail_settings).start()
        workers.append(worker)
        return worker

    start_worker()
    platform = dataclasses.replace(
        committed_platform,
        settings=committed_platform.settings.replace(
            **{
                k: getattr(mail_settings, k)
                for k in (
                    "leads_dns_nameservers",
                    "resend_webhook_secrets",
                    "public_base_url",
                    "mail_sender_jobs",
                )
            }
        ),
    )
    yield Stack(platform, create_app(platform=platform).test_client(), smtp, start_worker)
    for worker in workers:
        worker.stop()
