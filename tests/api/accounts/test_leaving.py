"""Deleting an account: the password is asked again, organisations are settled first, and
what the organisation keeps (its jobs) names no one afterwards."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from models.accounts.users import User
from models.core.access import Role
from models.core.jobs import Job
from models.orgs import Membership
from tests.api.conftest import PASSWORD, Caller, a_job, in_org, org_member
from tests.conftest import org_of
from workers.core.setup import Platform


def delete_me(client: FlaskClient, who: Caller, **body: object) -> tuple[int, dict]:
    answer = client.delete(
        "/api/v1/auth/me", json={"password": PASSWORD, **body}, headers=who.headers
    )
    return answer.status_code, answer.get_json(silent=True) or {}


def naming(session: Session, *needles: str) -> int:
    """How many jobs of an account (with their events) hold one of `needles` anywhere; the
    goodbye mail, of no account, forgets its recipient once sent (tests/worker)."""
    found = session.scalar(
        text(
            "SELECT count(*) FROM jobs j WHERE j.owner_id IS NOT NULL AND (j::text || "
            "coalesce((SELECT string_agg(e::text, '') FROM job_events e "
            "WHERE e.job_id = j.id), '')) ILIKE ANY(:p)"
        ),
        {"p": [f"%{n}%" for n in needles]},
    )
    return found or 0


def test_a_wrong_password_deletes_nothing(
    client: FlaskClient, session: Session, alice: Caller
) -> None:
    status, body = delete_me(client, alice, password="not the password", delete_organizations=True)

    assert (status, body["code"]) == (403, "wrong_password")
    assert client.get("/api/v1/auth/me", headers=alice.headers).status_code == 200
    assert session.get_one(User, alice.user.id).deleted_at is None


def test_the_only_owner_of_a_team_hands_it_over_first(
    client: FlaskClient, session: Session, tx_platform: Platform, alice: Caller
) -> None:
    org_id = org_of(session, alice.user.id)
    email = alice.user.email
    bob = org_member(tx_platform, session, org_id)
    submitted = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers)
    assert submitted.status_code == 202
    export = client.post("/api/v1/auth/me/export", headers=alice.headers)
    assert export.status_code == 202
    # Jobs of hers that name her: an account mail to her address, and one carrying her name.
    client.patch("/api/v1/auth/me", json={"display_name": "Alice Liddell"}, headers=alice.headers)
    client.post("/api/v1/auth/request-password-reset", json={"email": email})
    session.execute(
        text('UPDATE jobs SET params = params || \'{"note": "for Alice Liddell"}\' WHERE id = :id'),
        {"id": submitted.json["id"]},
    )
    session.commit()
    assert naming(session, email, "Alice Liddell") == 2

    status, body = delete_me(client, alice, delete_organizations=True)
    assert (status, body["code"]) == (409, "organization_needs_owner")
    assert body["details"]["organization_ids"] == [str(org_id)]

    promoted = client.patch(
        f"/api/v1/orgs/{org_id}/members/{bob.user.id}",
        json={"role": Role.OWNER.value},
        headers=alice.headers,
    )
    assert promoted.status_code == 200, promoted.json
    assert delete_me(client, alice)[0] == 204

    # The team and its job stay; the job's owner is a tombstone that names no one.
    assert (
        client.get(f"/api/v1/jobs/{submitted.json['id']}", headers=in_org(bob, org_id)).status_code
        == 200
    )
    session.expire_all()
    ghost = session.get_one(User, alice.user.id)
    assert ghost.deleted_at is not None and ghost.display_name is None
    assert email not in ghost.email
    assert session.scalar(select(Job.owner_id).where(Job.id == submitted.json["id"])) == ghost.id
    assert session.get(Job, export.json["job_id"]) is None  # the archive goes with the person
    assert naming(session, email, "Alice Liddell") == 0
    members = session.scalars(select(Membership.user_id).where(Membership.org_id == org_id)).all()
    assert members == [bob.user.id]


def test_the_address_can_register_again_after_leaving(
    client: FlaskClient, session: Session, alice: Caller
) -> None:
    email = alice.user.email
    assert delete_me(client, alice, delete_organizations=True)[0] == 204

    again = client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})

    assert again.status_code == 202
    assert session.scalar(select(User).where(User.email == email)) is not None
