"""Leaving for good, end to end: export first, then delete; the goodbye mail arrives over
SMTP, and afterwards no table holds the address or the name any more."""

from __future__ import annotations

import time
import uuid

from sqlalchemy import text

from models import Base
from models.core.jobs import JobStatus
from tests.smtp import SmtpServer
from tests.worker.accounts.test_account_mail import delivered, token_in
from tests.worker.conftest import wait_for
from web import create_app
from workers.core.setup import Platform
from workers.core.tracking import Runtime

PASSWORD = "correct horse battery"


def tables_holding(platform: Platform, *needles: str) -> dict[str, int]:
    """Every table with rows whose text holds one of `needles` (case-insensitive)."""
    found = {}
    with platform.sessions() as session:
        for table in Base.metadata.sorted_tables:
            count = session.scalar(
                text(f'SELECT count(*) FROM "{table.name}" t WHERE t::text ILIKE ANY(:p)'),  # noqa: S608 - names from the models
                {"p": [f"%{n}%" for n in needles]},
            )
            if count:
                found[table.name] = count
    return found


def test_export_then_delete_leaves_no_personal_data_anywhere(
    committed_platform: Platform, worker: Runtime, smtp: SmtpServer
) -> None:
    client = create_app(platform=committed_platform).test_client()
    tag = uuid.uuid4().hex[:8]
    email, name = f"leaver-{tag}@example.com", f"Leaver {tag}"
    client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": name}
    )
    token = token_in(delivered(smtp, email, "Confirm your e-mail address"))
    assert client.post("/api/v1/auth/verify-email", json={"token": token}).status_code == 200
    client.post("/api/v1/auth/login", json={"email": email, "password": "a wrong password"})
    tokens = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert tables_holding(committed_platform, email, name)  # the search finds what is there

    # The export: a job only its owner reads, here.
    started = client.post("/api/v1/auth/me/export", headers=headers)
    assert started.status_code == 202, started.json
    assert client.get(f"/api/v1/jobs/{started.json['job_id']}", headers=headers).status_code == 404
    wait_for(committed_platform, uuid.UUID(started.json["job_id"]), JobStatus.SUCCEEDED)
    export = client.get("/api/v1/auth/me/export", headers=headers).json
    archive = export["archive"]
    assert export["status"] == "succeeded"
    assert archive["accounts"]["profile"]["email"] == email
    assert archive["accounts"]["profile"]["display_name"] == name
    assert [a["outcome"] for a in archive["accounts"]["login_attempts"]] == [
        "success",
        "bad_credentials",
    ]
    assert archive["orgs"][0]["role"] == "owner"

    # Leaving: the password again, and the confirmation that the own organisation goes too.
    refused = client.delete("/api/v1/auth/me", json={"password": PASSWORD}, headers=headers)
    assert refused.status_code == 409
    assert refused.json["code"] == "confirm_organization_deletion"
    gone = client.delete(
        "/api/v1/auth/me",
        json={"password": PASSWORD, "delete_organizations": True},
        headers=headers,
    )

    assert gone.status_code == 204
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    refreshed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 401
    assert "deleted" in delivered(smtp, email, "Your Backline account is deleted")["Subject"]
    deadline = time.monotonic() + 10
    while tables_holding(committed_platform, email, name) and time.monotonic() < deadline:
        time.sleep(0.05)  # the goodbye mail's job forgets the address once it is sent
    assert tables_holding(committed_platform, email, name) == {}
    # (A later attempt to log in as the address is a new event, recorded like any stranger's.)
    relogin = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert relogin.status_code == 401
