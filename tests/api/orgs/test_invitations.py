"""Invitations end to end: the mail job and its token, accepting, and every way it fails."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.accounts.users import utcnow
from models.core.access import Role
from models.core.jobs import Job
from models.orgs.invitations import MAX_INVITATIONS_PER_DAY, Invitation
from tests.api.conftest import Caller, caller, org_member
from tests.conftest import access_token, make_user, org_of
from workers.core.setup import Platform


def invite(
    client: FlaskClient, who: Caller, org_id: uuid.UUID, email: str, role: str = "member"
) -> Any:
    return client.post(
        f"/api/v1/orgs/{org_id}/invitations",
        json={"email": email, "role": role},
        headers=who.headers,
    )


def mail_to(session: Session, email: str) -> Job:
    """The last invitation mail (an email.send job) sent to `email`."""
    jobs = session.scalars(select(Job).where(Job.kind == "email.send").order_by(Job.created_at))
    return [j for j in jobs if j.params["to"] == [email]][-1]


def token_in(mail: Job) -> str:
    return re.search(r"Token: (\S+)", mail.params["text"]).group(1)  # type: ignore[union-attr]


def user_with_email(platform: Platform, session: Session, email: str) -> Caller:
    user = make_user(session, email=email)
    session.commit()
    return Caller(user, access_token(platform, session, user))


def accept(client: FlaskClient, who: Caller, token: str) -> Any:
    return client.post("/api/v1/invitations/accept", json={"token": token}, headers=who.headers)


def test_an_invitation_is_mailed_and_accepted_by_the_addressee(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)

    created = invite(client, alice, org_id, "Carol@Example.com", "admin")

    assert created.status_code == 201
    assert created.json["email"] == "carol@example.com" and created.json["role"] == "admin"
    assert "token" not in created.json
    ttl = timedelta(seconds=tx_platform.settings.invitation_ttl_s)
    expires = created.json["expires_at"]
    assert abs(utcnow() + ttl - datetime.fromisoformat(expires)) < timedelta(minutes=1)
    mail = mail_to(session, "carol@example.com")
    assert (mail.internal, mail.org_id, mail.owner_id) == (True, org_id, alice.user.id)
    assert "/api/v1/invitations/accept" in mail.params["text"]
    assert "Register" in mail.params["text"] and "log in" in mail.params["text"]
    listed = client.get(f"/api/v1/orgs/{org_id}/invitations", headers=alice.headers).json
    assert [i["id"] for i in listed["items"]] == [created.json["id"]]

    carol = user_with_email(tx_platform, session, "carol@example.com")
    joined = accept(client, carol, token_in(mail))

    assert joined.status_code == 200
    assert (joined.json["id"], joined.json["role"]) == (str(org_id), "admin")
    members = client.get(f"/api/v1/orgs/{org_id}/members", headers=carol.headers).json["items"]
    assert {m["email"]: m["role"] for m in members}["carol@example.com"] == "admin"
    assert client.get(f"/api/v1/orgs/{org_id}/invitations", headers=alice.headers).json == {
        "items": []
    }


def test_the_mail_job_with_the_token_is_hidden_from_the_organization(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    admin = org_member(tx_platform, session, org_id, Role.ADMIN)
    invite(client, alice, org_id, "dave@example.com")
    mail = mail_to(session, "dave@example.com")

    for who in (alice, admin):
        headers = who.with_headers(X_Organization_ID=str(org_id))
        assert client.get(f"/api/v1/jobs/{mail.id}", headers=headers).status_code == 404
        listed = client.get("/api/v1/jobs", headers=headers).json["items"]
        assert str(mail.id) not in [j["id"] for j in listed]


def test_every_failed_acceptance_gets_the_same_answer_and_joins_nobody(
    client: FlaskClient, alice: Caller, bob: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    erin = user_with_email(tx_platform, session, "erin@example.com")
    invite(client, alice, org_id, "erin@example.com")
    for_erin = token_in(mail_to(session, "erin@example.com"))
    invite(client, alice, org_id, "expired@example.com")
    expired = token_in(mail_to(session, "expired@example.com"))
    session.execute(
        Invitation.__table__.update()
        .where(Invitation.email == "expired@example.com")
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    revoked_id = invite(client, alice, org_id, "revoked@example.com").json["id"]
    revoked = token_in(mail_to(session, "revoked@example.com"))
    assert (
        client.delete(
            f"/api/v1/orgs/{org_id}/invitations/{revoked_id}", headers=alice.headers
        ).status_code
        == 204
    )
    expired_user = user_with_email(tx_platform, session, "expired@example.com")
    revoked_user = user_with_email(tx_platform, session, "revoked@example.com")

    failures = [
        accept(client, bob, for_erin),  # someone else's invitation
        accept(client, erin, "not-a-token"),
        accept(client, expired_user, expired),
        accept(client, revoked_user, revoked),
    ]
    assert accept(client, erin, for_erin).status_code == 200
    failures.append(accept(client, erin, for_erin))  # used twice

    for response in failures:
        assert response.status_code == 422
        assert (response.json["code"], response.json["message"], response.json["details"]) == (
            failures[0].json["code"],
            failures[0].json["message"],
            failures[0].json["details"],
        )
    for who in (bob, expired_user, revoked_user):
        assert client.get(f"/api/v1/orgs/{org_id}", headers=who.headers).status_code == 404


def test_only_owners_invite_owners_and_members_invite_nobody(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    admin = org_member(tx_platform, session, org_id, Role.ADMIN)
    member = org_member(tx_platform, session, org_id)

    by_admin = invite(client, admin, org_id, "boss@example.com", "owner")
    by_member = invite(client, member, org_id, "pal@example.com")
    admin_invites_admin = invite(client, admin, org_id, "peer@example.com", "admin")
    owner_invites_owner = invite(client, alice, org_id, "co-owner@example.com", "owner")

    assert by_admin.status_code == 403 and by_admin.json["details"]["required_role"] == "owner"
    assert by_member.status_code == 403 and by_member.json["details"]["required_role"] == "admin"
    assert admin_invites_admin.status_code == owner_invites_owner.status_code == 201
    emails = {i.email for i in session.scalars(select(Invitation))}
    assert emails == {"peer@example.com", "co-owner@example.com"}


def test_inviting_again_replaces_the_open_invitation(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    invite(client, alice, org_id, "frank@example.com")
    first = token_in(mail_to(session, "frank@example.com"))
    invite(client, alice, org_id, "frank@example.com", "admin")
    second = token_in(mail_to(session, "frank@example.com"))
    frank = user_with_email(tx_platform, session, "frank@example.com")

    listed = client.get(f"/api/v1/orgs/{org_id}/invitations", headers=alice.headers).json
    assert [i["role"] for i in listed["items"]] == ["admin"]
    assert accept(client, frank, first).status_code == 422
    assert accept(client, frank, second).json["role"] == "admin"


def test_members_are_not_invited_and_bad_bodies_are_refused(
    client: FlaskClient, alice: Caller, bob: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    member = org_member(tx_platform, session, org_id)
    url = f"/api/v1/orgs/{org_id}/invitations"

    again = invite(client, alice, org_id, member.user.email.upper())
    smuggled = client.post(
        url,
        json={"email": "g@example.com", "org_id": str(org_of(session, bob.user.id))},
        headers=alice.headers,
    )
    not_an_address = invite(client, alice, org_id, "not-an-address")
    bad_role = invite(client, alice, org_id, "h@example.com", "superuser")

    assert again.status_code == 409
    assert smuggled.status_code == 422 and "org_id" in smuggled.json["details"]["fields"]
    assert not_an_address.status_code == 422 and "email" in not_an_address.json["details"]["fields"]
    assert bad_role.status_code == 422 and "role" in bad_role.json["details"]["fields"]
    assert list(session.scalars(select(Invitation))) == []


def test_an_unverified_account_cannot_send_invitations(
    client: FlaskClient, session: Session, tx_platform: Platform
) -> None:
    user = make_user(session, verified=False)
    session.commit()
    unverified = Caller(user, access_token(tx_platform, session, user))

    response = invite(client, unverified, org_of(session, user.id), "victim@example.com")

    assert response.status_code == 403 and response.json["code"] == "email_not_verified"
    assert list(session.scalars(select(Invitation))) == []


def test_revoking_needs_an_open_invitation_of_the_organization(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    other = caller(tx_platform, session)
    theirs = invite(client, other, org_of(session, other.user.id), "i@example.com").json["id"]

    cross = client.delete(f"/api/v1/orgs/{org_id}/invitations/{theirs}", headers=alice.headers)
    unknown = client.delete(
        f"/api/v1/orgs/{org_id}/invitations/{uuid.uuid4()}", headers=alice.headers
    )

    assert cross.status_code == unknown.status_code == 404
    assert session.get_one(Invitation, uuid.UUID(theirs)).revoked_at is None


def test_an_organization_sends_only_so_many_invitations_a_day(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    org_id = org_of(session, alice.user.id)
    session.add_all(
        Invitation(
            org_id=org_id,
            email=f"n{n}@example.com",
            role=Role.MEMBER,
            token_hash=f"{n:064d}",
            expires_at=utcnow() + timedelta(days=7),
        )
        for n in range(MAX_INVITATIONS_PER_DAY)
    )
    session.commit()

    response = invite(client, alice, org_id, "one-more@example.com")

    assert response.status_code == 429 and response.json["code"] == "limit_reached"
    assert 0 < int(response.headers["Retry-After"]) <= 24 * 3600 + 1
    assert (
        session.scalar(select(Invitation).where(Invitation.email == "one-more@example.com")) is None
    )


@pytest.mark.parametrize("fate", ["removed", "demoted"])
def test_an_invitation_dies_with_its_senders_standing(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform, fate: str
) -> None:
    org_id = org_of(session, alice.user.id)
    mallory = org_member(tx_platform, session, org_id, Role.ADMIN)
    assert invite(client, mallory, org_id, "sidekick@example.com", "admin").status_code == 201
    token = token_in(mail_to(session, "sidekick@example.com"))
    target = f"/api/v1/orgs/{org_id}/members/{mallory.user.id}"
    if fate == "removed":
        assert client.delete(target, headers=alice.headers).status_code == 204
    else:
        changed = client.patch(target, json={"role": "member"}, headers=alice.headers)
        assert changed.status_code == 200

    sidekick = user_with_email(tx_platform, session, "sidekick@example.com")
    refused = accept(client, sidekick, token)

    assert refused.status_code == 422
    members = client.get(f"/api/v1/orgs/{org_id}/members", headers=alice.headers).json["items"]
    assert "sidekick@example.com" not in {m["email"] for m in members}


def test_an_unverified_account_cannot_accept_until_it_proves_its_address(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    invite(client, alice, org_id, "pending@example.com")
    token = token_in(mail_to(session, "pending@example.com"))
    user = make_user(session, email="pending@example.com", verified=False)
    session.commit()
    pending = Caller(user, access_token(tx_platform, session, user))

    refused = accept(client, pending, token)
    user.email_verified_at = utcnow()
    session.commit()
    accepted = accept(client, pending, token)

    assert refused.status_code == 403 and refused.json["code"] == "email_not_verified"
    assert accepted.status_code == 200  # the refusal did not use the invitation up
