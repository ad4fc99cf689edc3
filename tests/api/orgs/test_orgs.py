"""Organisations and roles through the API: another organisation is a 404 whatever the
route or header, roles decide inside one's own, and an organisation never loses its last
owner."""

from __future__ import annotations

import uuid

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.core.access import Role
from models.core.jobs import Job, JobStatus
from models.orgs.invitations import Invitation
from models.orgs.organizations import MAX_OWNED_ORGANIZATIONS, Membership, Organization
from tests.api.conftest import Caller, a_job, in_org, org_member
from tests.conftest import org_of
from workers.core.setup import Platform


def roles(session: Session, org_id: uuid.UUID) -> dict[uuid.UUID, Role]:
    session.expire_all()
    rows = session.execute(
        select(Membership.user_id, Membership.role).where(Membership.org_id == org_id)
    )
    return {user_id: role for user_id, role in rows}


# -- organisations ---------------------------------------------------------------------------
def test_a_new_user_is_the_owner_of_one_free_organization(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    response = client.get("/api/v1/orgs", headers=alice.headers)

    assert response.status_code == 200
    [org] = response.json["items"]
    assert org["id"] == str(org_of(session, alice.user.id))
    assert (org["role"], org["tier"]) == ("owner", "free")


def test_creating_an_organization_makes_the_caller_its_owner(
    client: FlaskClient, alice: Caller
) -> None:
    created = client.post("/api/v1/orgs", json={"name": "  Label Ops  "}, headers=alice.headers)

    assert created.status_code == 201
    assert created.json["name"] == "Label Ops"
    assert (created.json["role"], created.json["tier"]) == ("owner", "free")
    listed = client.get("/api/v1/orgs", headers=alice.headers).json["items"]
    assert created.json in listed and len(listed) == 2
    got = client.get(f"/api/v1/orgs/{created.json['id']}", headers=alice.headers)
    assert got.json == created.json


def test_a_user_may_own_only_so_many_organizations(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    for n in range(MAX_OWNED_ORGANIZATIONS - 1):  # register made the first
        assert (
            client.post("/api/v1/orgs", json={"name": f"o{n}"}, headers=alice.headers).status_code
            == 201
        )

    refused = client.post("/api/v1/orgs", json={"name": "one too many"}, headers=alice.headers)

    assert refused.status_code == 409
    assert refused.json["code"] == "organization_limit_reached"
    assert refused.json["details"] == {"limit": MAX_OWNED_ORGANIZATIONS}
    assert session.scalar(select(func.count()).where(Organization.name == "one too many")) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Fine", "tier": "enterprise"},
        {"name": "Fine", "role": "owner"},
        {"name": ""},
        {"name": "   "},
        {"name": "Two\nlines"},
        {"name": "x" * 201},
        {},
    ],
)
def test_bad_organization_bodies_are_422_and_change_nothing(
    client: FlaskClient, alice: Caller, session: Session, body: dict[str, str]
) -> None:
    org_id = org_of(session, alice.user.id)
    before = session.get_one(Organization, org_id).name

    created = client.post("/api/v1/orgs", json=body, headers=alice.headers)
    renamed = client.patch(f"/api/v1/orgs/{org_id}", json=body, headers=alice.headers)

    for response in (created, renamed):
        assert response.status_code == 422
        assert response.json["code"] == "validation_failed"
        assert set(response.json["details"]["fields"]) <= {"name", "tier", "role"}
    session.expire_all()
    org = session.get_one(Organization, org_id)
    assert (org.name, org.tier.value) == (before, "free")
    assert len(client.get("/api/v1/orgs", headers=alice.headers).json["items"]) == 1


def test_owners_and_admins_rename_members_may_not(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    member = org_member(tx_platform, session, org_id)
    admin = org_member(tx_platform, session, org_id, Role.ADMIN)

    refused = client.patch(f"/api/v1/orgs/{org_id}", json={"name": "Mine"}, headers=member.headers)
    renamed = client.patch(f"/api/v1/orgs/{org_id}", json={"name": "Ours"}, headers=admin.headers)

    assert refused.status_code == 403
    assert refused.json["code"] == "permission_denied"
    assert refused.json["details"] == {"required_role": "admin", "role": "member"}
    assert renamed.status_code == 200
    assert (renamed.json["name"], renamed.json["role"]) == ("Ours", "admin")


# -- the 404 rule ----------------------------------------------------------------------------
def test_another_organization_is_a_404_on_every_route_and_nothing_changes(
    client: FlaskClient, alice: Caller, bob: Caller, session: Session
) -> None:
    theirs = org_of(session, bob.user.id)
    invited = client.post(
        f"/api/v1/orgs/{theirs}/invitations",
        json={"email": "friend@example.com"},
        headers=bob.headers,
    ).json["id"]
    base = f"/api/v1/orgs/{theirs}"
    attempts = [
        client.get(base, headers=alice.headers),
        client.patch(base, json={"name": "Pwned"}, headers=alice.headers),
        client.get(f"{base}/members", headers=alice.headers),
        client.patch(
            f"{base}/members/{bob.user.id}", json={"role": "member"}, headers=alice.headers
        ),
        client.patch(
            f"{base}/members/{alice.user.id}", json={"role": "owner"}, headers=alice.headers
        ),
        client.delete(f"{base}/members/{bob.user.id}", headers=alice.headers),
        client.get(f"{base}/invitations", headers=alice.headers),
        client.post(
            f"{base}/invitations",
            json={"email": alice.user.email, "role": "owner"},
            headers=alice.headers,
        ),
        client.delete(f"{base}/invitations/{invited}", headers=alice.headers),
        client.get(f"{base}/usage", headers=alice.headers),
    ]
    missing = client.get(f"/api/v1/orgs/{uuid.uuid4()}", headers=alice.headers)

    for response in attempts:
        assert response.status_code == 404, response.request.path
        assert response.json["code"] == "not_found"
        assert response.json["message"] == missing.json["message"]
        assert "bob" not in response.get_data(as_text=True)
    session.expire_all()
    assert session.get_one(Organization, theirs).name != "Pwned"
    assert roles(session, theirs) == {bob.user.id: Role.OWNER}
    [invitation] = session.scalars(select(Invitation).where(Invitation.org_id == theirs))
    assert invitation.revoked_at is None and invitation.email == "friend@example.com"


def test_another_organizations_jobs_are_404_by_id_and_through_the_header(
    client: FlaskClient, alice: Caller, bob: Caller, session: Session
) -> None:
    theirs = org_of(session, bob.user.id)
    job_id = client.post("/api/v1/jobs", json=a_job(), headers=bob.headers).json["id"]
    jobs_before = session.scalar(select(func.count()).select_from(Job))

    for headers in (alice.headers, in_org(alice, theirs)):
        for response in (
            client.get(f"/api/v1/jobs/{job_id}", headers=headers),
            client.get(f"/api/v1/jobs/{job_id}/events", headers=headers),
            client.post(f"/api/v1/jobs/{job_id}/cancel", headers=headers),
            client.post(f"/api/v1/jobs/{job_id}/retry", headers=headers),
        ):
            assert response.status_code == 404, response.request.path
    listed = client.get("/api/v1/jobs", headers=in_org(alice, theirs))
    submitted = client.post("/api/v1/jobs", json=a_job(), headers=in_org(alice, theirs))
    garbled = client.get("/api/v1/jobs", headers=in_org(alice, "not-a-uuid"))  # type: ignore[arg-type]

    assert listed.status_code == submitted.status_code == garbled.status_code == 404
    assert listed.json["code"] == "not_found"
    session.expire_all()
    job = session.get_one(Job, uuid.UUID(job_id))
    assert (job.status, job.cancel_requested_at) == (JobStatus.QUEUED, None)
    assert session.scalar(select(func.count()).select_from(Job)) == jobs_before


def test_members_see_each_others_jobs_and_only_managers_cancel_them(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    submitter = org_member(tx_platform, session, org_id)
    colleague = org_member(tx_platform, session, org_id)
    manager = org_member(tx_platform, session, org_id, Role.ADMIN)
    job_id = client.post("/api/v1/jobs", json=a_job(), headers=in_org(submitter, org_id)).json["id"]

    seen = client.get(f"/api/v1/jobs/{job_id}", headers=in_org(colleague, org_id))
    listed = client.get("/api/v1/jobs", headers=in_org(colleague, org_id)).json["items"]
    outside = client.get(f"/api/v1/jobs/{job_id}", headers=colleague.headers)  # their own org
    refused = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=in_org(colleague, org_id))
    cancelled = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=in_org(manager, org_id))

    assert seen.status_code == 200 and job_id in [j["id"] for j in listed]
    assert seen.json["org_id"] == str(org_id)
    assert seen.json["owner_id"] == str(submitter.user.id)  # who submitted it
    assert outside.status_code == 404
    assert refused.status_code == 403 and refused.json["code"] == "permission_denied"
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert session.get_one(Job, uuid.UUID(job_id)).org_id == org_id


# -- members and roles -----------------------------------------------------------------------
def test_members_list_everyone_with_their_roles(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    member = org_member(tx_platform, session, org_id)

    response = client.get(f"/api/v1/orgs/{org_id}/members", headers=member.headers)

    assert response.status_code == 200
    assert [(m["email"], m["role"]) for m in response.json["items"]] == [
        (alice.user.email, "owner"),
        (member.user.email, "member"),
    ]


def test_plain_members_manage_nobody(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    member = org_member(tx_platform, session, org_id)
    other = org_member(tx_platform, session, org_id)
    base = f"/api/v1/orgs/{org_id}"

    attempts = [
        client.patch(
            f"{base}/members/{other.user.id}", json={"role": "admin"}, headers=member.headers
        ),
        client.patch(
            f"{base}/members/{member.user.id}", json={"role": "admin"}, headers=member.headers
        ),
        client.delete(f"{base}/members/{other.user.id}", headers=member.headers),
        client.post(f"{base}/invitations", json={"email": "x@example.com"}, headers=member.headers),
        client.get(f"{base}/invitations", headers=member.headers),
    ]

    for response in attempts:
        assert response.status_code == 403, response.request.path
        assert response.json["details"]["required_role"] == "admin"
    assert roles(session, org_id)[other.user.id] == Role.MEMBER


def test_admins_move_people_between_member_and_admin_but_never_touch_owners(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    admin = org_member(tx_platform, session, org_id, Role.ADMIN)
    member = org_member(tx_platform, session, org_id)
    base = f"/api/v1/orgs/{org_id}/members"

    promoted = client.patch(
        f"{base}/{member.user.id}", json={"role": "admin"}, headers=admin.headers
    )
    to_owner = client.patch(
        f"{base}/{member.user.id}", json={"role": "owner"}, headers=admin.headers
    )
    self_owner = client.patch(
        f"{base}/{admin.user.id}", json={"role": "owner"}, headers=admin.headers
    )
    demote_owner = client.patch(
        f"{base}/{alice.user.id}", json={"role": "member"}, headers=admin.headers
    )
    remove_owner = client.delete(f"{base}/{alice.user.id}", headers=admin.headers)
    demoted = client.patch(
        f"{base}/{member.user.id}", json={"role": "member"}, headers=admin.headers
    )

    assert promoted.status_code == 200 and promoted.json["role"] == "admin"
    for response in (to_owner, self_owner, demote_owner, remove_owner):
        assert response.status_code == 403
        assert response.json["details"]["required_role"] == "owner"
    assert demoted.status_code == 200 and demoted.json["role"] == "member"
    assert roles(session, org_id) == {
        alice.user.id: Role.OWNER,
        admin.user.id: Role.ADMIN,
        member.user.id: Role.MEMBER,
    }


def test_owners_change_any_role_and_remove_anyone(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    admin = org_member(tx_platform, session, org_id, Role.ADMIN)
    member = org_member(tx_platform, session, org_id)
    base = f"/api/v1/orgs/{org_id}/members"

    made_owner = client.patch(
        f"{base}/{admin.user.id}", json={"role": "owner"}, headers=alice.headers
    )
    removed = client.delete(f"{base}/{member.user.id}", headers=alice.headers)

    assert made_owner.status_code == 200 and made_owner.json["role"] == "owner"
    assert removed.status_code == 204
    assert roles(session, org_id) == {alice.user.id: Role.OWNER, admin.user.id: Role.OWNER}
    gone = client.get(f"/api/v1/orgs/{org_id}", headers=member.headers)
    assert gone.status_code == 404


def test_the_last_owner_can_neither_leave_nor_be_demoted(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    other = org_member(tx_platform, session, org_id, Role.ADMIN)
    me = f"/api/v1/orgs/{org_id}/members/{alice.user.id}"

    leave = client.delete(me, headers=alice.headers)
    demote = client.patch(me, json={"role": "admin"}, headers=alice.headers)

    for response in (leave, demote):
        assert response.status_code == 409
        assert response.json["code"] == "conflict"
        assert "at least one owner" in response.json["message"]
    assert roles(session, org_id)[alice.user.id] == Role.OWNER
    # With a second owner, the first may step down and leave.
    client.patch(
        f"/api/v1/orgs/{org_id}/members/{other.user.id}",
        json={"role": "owner"},
        headers=alice.headers,
    )
    assert client.delete(me, headers=alice.headers).status_code == 204
    assert roles(session, org_id) == {other.user.id: Role.OWNER}


def test_anyone_may_leave_and_then_the_organization_is_gone_for_them(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    member = org_member(tx_platform, session, org_id)

    left = client.delete(f"/api/v1/orgs/{org_id}/members/{member.user.id}", headers=member.headers)

    assert left.status_code == 204
    assert client.get(f"/api/v1/orgs/{org_id}", headers=member.headers).status_code == 404
    assert client.get("/api/v1/jobs", headers=in_org(member, org_id)).status_code == 404
    assert member.user.id not in roles(session, org_id)


def test_unknown_members_and_bad_roles_are_refused(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    base = f"/api/v1/orgs/{org_of(session, alice.user.id)}/members"

    unknown = client.patch(f"{base}/{uuid.uuid4()}", json={"role": "admin"}, headers=alice.headers)
    bad_role = client.patch(f"{base}/{alice.user.id}", json={"role": "god"}, headers=alice.headers)
    extra = client.patch(
        f"{base}/{alice.user.id}", json={"role": "owner", "is_admin": True}, headers=alice.headers
    )

    assert unknown.status_code == 404 and unknown.json["message"] == "member not found"
    assert bad_role.status_code == 422 and "role" in bad_role.json["details"]["fields"]
    assert extra.status_code == 422 and "is_admin" in extra.json["details"]["fields"]
    assert alice.user.is_admin is False


def test_an_idempotency_key_replay_never_reaches_into_another_organization(
    client: FlaskClient, alice: Caller, session: Session, tx_platform: Platform
) -> None:
    org_id = org_of(session, alice.user.id)
    bob = org_member(tx_platform, session, org_id)
    keyed = {**in_org(bob, org_id), "Idempotency-Key": "k-1"}
    first = client.post("/api/v1/jobs", json=a_job(), headers=keyed)
    assert first.status_code == 202
    assert client.delete(f"/api/v1/orgs/{org_id}/members/{bob.user.id}", headers=alice.headers)

    replay = client.post(
        "/api/v1/jobs", json=a_job(), headers={**bob.headers, "Idempotency-Key": "k-1"}
    )

    assert replay.status_code == 409 and replay.json["code"] == "conflict"
    assert first.json["id"] not in replay.get_data(as_text=True)
