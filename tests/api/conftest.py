"""API fixtures: the app on the rolled-back test transaction, users and their tokens."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.accounts.users import User, utcnow
from models.core.access import Role
from models.core.jobs import Job
from models.orgs.organizations import join
from tests.conftest import access_token, make_user
from web import create_app
from workers.core.setup import Platform


@pytest.fixture()
def app(tx_platform: Platform) -> Flask:
    return create_app(platform=tx_platform)


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class Caller:
    """A user and the headers that authenticate them."""

    def __init__(self, user: User, token: str) -> None:
        self.user = user
        self.token = token
        self.headers = {"Authorization": f"Bearer {token}"}

    def with_headers(self, **extra: str) -> dict[str, str]:
        return {**self.headers, **{k.replace("_", "-"): v for k, v in extra.items()}}


def caller(platform: Platform, session: Session, *, admin: bool = False) -> Caller:
    user = make_user(session, admin=admin)
    session.commit()
    return Caller(user, access_token(platform, session, user))


@pytest.fixture()
def alice(tx_platform: Platform, session: Session) -> Caller:
    return caller(tx_platform, session)


@pytest.fixture()
def bob(tx_platform: Platform, session: Session) -> Caller:
    return caller(tx_platform, session)


@pytest.fixture()
def admin(tx_platform: Platform, session: Session) -> Caller:
    return caller(tx_platform, session, admin=True)


def email_job(**overrides: Any) -> dict[str, Any]:
    """An email.send job (platform admins only)."""
    body: dict[str, Any] = {
        "kind": "email.send",
        "params": {"to": ["fan@example.com"], "subject": "Hello", "text": "Hi there"},
    }
    body.update(overrides)
    return body


def a_job(**overrides: Any) -> dict[str, Any]:
    """A job any member may submit (a test kind, see tests/kinds.py)."""
    body: dict[str, Any] = {"kind": "test.pages", "params": {"pages": 3, "fail_at": 9}}
    body.update(overrides)
    return body


PASSWORD = "correct horse battery"


def mails_to(session: Session, email: str) -> list[Job]:
    """The account mails (email.send jobs) queued to `email`, oldest first."""
    jobs = session.scalars(select(Job).where(Job.kind == "email.send").order_by(Job.created_at))
    return [j for j in jobs if j.params["to"] == [email]]


def mailed_token(mail: Job) -> str:
    """The token a mail carries ("Token: …" on a line of its own)."""
    found = re.search(r"^Token: (\S+)$", mail.params["text"], re.MULTILINE)
    assert found is not None, mail.params["text"]
    return found.group(1)


def post(client: FlaskClient, path: str, body: dict[str, Any], **headers: str) -> Any:
    """POST JSON to /api/v1/auth/<path>."""
    return client.post(f"/api/v1/auth/{path}", json=body, headers=headers)


def org_member(
    platform: Platform, session: Session, org_id: uuid.UUID, role: Role = Role.MEMBER
) -> Caller:
    """A new user (with their own organisation) who then joined `org_id` with `role`."""
    member = caller(platform, session)
    joined = join(session=session, org_id=org_id, user_id=member.user.id, role=role)
    # A test runs in one transaction, where now() does not move: join visibly later, as in
    # life, so the user's own organisation stays their first (the one used without a header).
    joined.created_at = utcnow() + timedelta(seconds=1)
    session.commit()
    return member


def in_org(who: Caller, org_id: uuid.UUID) -> dict[str, str]:
    """`who`'s headers acting in `org_id` (X-Organization-ID)."""
    return who.with_headers(X_Organization_ID=str(org_id))
