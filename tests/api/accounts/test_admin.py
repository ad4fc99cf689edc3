"""Platform admin endpoints: admins only, searchable, paginated, and no self-demotion."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from models.accounts.users import User
from models.core.quotas import Tier
from models.orgs.organizations import Organization, create_organization
from tests.api.conftest import Caller, a_job
from tests.conftest import make_user, org_of


def test_everyone_but_platform_admins_gets_403_and_changes_nothing(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    org_id = org_of(session, alice.user.id)

    attempts = [
        client.get("/api/v1/admin/users", headers=alice.headers),
        client.get("/api/v1/admin/orgs", headers=alice.headers),
        client.patch(
            f"/api/v1/admin/orgs/{org_id}", json={"tier": "enterprise"}, headers=alice.headers
        ),
        client.patch(
            f"/api/v1/admin/users/{alice.user.id}", json={"is_admin": True}, headers=alice.headers
        ),
    ]

    for response in attempts:
        assert response.status_code == 403 and response.json["code"] == "permission_denied"
    assert client.get("/api/v1/admin/users").status_code == 401
    session.expire_all()
    assert session.get_one(Organization, org_id).tier == Tier.FREE
    assert session.get_one(User, alice.user.id).is_admin is False


def test_admins_search_users_page_by_page(
    client: FlaskClient, admin: Caller, session: Session
) -> None:
    marker = uuid.uuid4().hex[:8]
    emails = {make_user(session, email=f"{marker}.{n}@example.com").email for n in range(3)}
    make_user(session, email=f"{marker}x1@example.com")  # `_` in q is literal, not a wildcard
    session.commit()

    first = client.get(f"/api/v1/admin/users?q={marker}.&limit=2", headers=admin.headers)
    second = client.get(
        f"/api/v1/admin/users?q={marker}.&limit=2&cursor={first.json['next_cursor']}",
        headers=admin.headers,
    )
    underscore = client.get(f"/api/v1/admin/users?q={marker}_", headers=admin.headers)

    assert first.status_code == second.status_code == 200
    assert len(first.json["items"]) == 2 and first.json["next_cursor"]
    assert second.json["next_cursor"] is None
    found = [u["email"] for u in first.json["items"] + second.json["items"]]
    assert sorted(found) == sorted(emails)
    assert "password_hash" not in first.json["items"][0]
    assert underscore.json["items"] == []


def test_admins_search_organizations_with_their_tier_and_size(
    client: FlaskClient, admin: Caller, alice: Caller, session: Session
) -> None:
    marker = uuid.uuid4().hex[:8]
    org = create_organization(session=session, name=f"Label {marker}", owner_id=alice.user.id)
    session.commit()

    response = client.get(f"/api/v1/admin/orgs?q=label {marker.upper()}", headers=admin.headers)

    assert response.status_code == 200
    [row] = response.json["items"]
    assert (row["id"], row["tier"], row["members"]) == (str(org.id), "free", 1)


def test_admins_change_tiers_and_admin_rights_but_not_their_own(
    client: FlaskClient, admin: Caller, alice: Caller, session: Session
) -> None:
    org_id = org_of(session, alice.user.id)

    tier = client.patch(f"/api/v1/admin/orgs/{org_id}", json={"tier": "pro"}, headers=admin.headers)
    smuggled = client.patch(
        f"/api/v1/admin/orgs/{org_id}", json={"tier": "creator", "name": "x"}, headers=admin.headers
    )
    promoted = client.patch(
        f"/api/v1/admin/users/{alice.user.id}", json={"is_admin": True}, headers=admin.headers
    )
    self_demoted = client.patch(
        f"/api/v1/admin/users/{admin.user.id}", json={"is_admin": False}, headers=admin.headers
    )
    demoted_by_peer = client.patch(
        f"/api/v1/admin/users/{admin.user.id}", json={"is_admin": False}, headers=alice.headers
    )

    assert tier.status_code == smuggled.status_code == 422
    assert promoted.status_code == 200 and promoted.json["is_admin"] is True
    assert self_demoted.status_code == 403
    assert demoted_by_peer.status_code == 200 and demoted_by_peer.json["is_admin"] is False
    assert client.get("/api/v1/admin/users", headers=admin.headers).status_code == 403
    session.expire_all()
    assert session.get_one(Organization, org_id).tier == Tier.FREE


def test_unknown_ids_and_bad_cursors_are_clear_errors(client: FlaskClient, admin: Caller) -> None:
    org = client.patch(
        f"/api/v1/admin/orgs/{uuid.uuid4()}", json={"tier": "creator"}, headers=admin.headers
    )
    user = client.patch(
        f"/api/v1/admin/users/{uuid.uuid4()}", json={"is_admin": True}, headers=admin.headers
    )
    cursor = client.get("/api/v1/admin/orgs?cursor=garbage", headers=admin.headers)

    assert org.status_code == user.status_code == 404
    assert cursor.status_code == 422 and "cursor" in cursor.json["details"]["fields"]


def test_every_admin_change_is_in_the_operators_audit_log(
    client: FlaskClient, admin: Caller, alice: Caller, session: Session
) -> None:
    org_id = org_of(session, alice.user.id)
    job_id = client.post("/api/v1/jobs", json=a_job(), headers=alice.headers).json["id"]

    tier = client.patch(
        f"/api/v1/admin/orgs/{org_id}", json={"tier": "creator"}, headers=admin.headers
    )
    rights = client.patch(
        f"/api/v1/admin/users/{alice.user.id}", json={"is_admin": True}, headers=admin.headers
    )
    # Through the ordinary jobs API, on someone else's organisation's job.
    cancelled = client.post(f"/api/v1/jobs/{job_id}/cancel", headers=admin.headers)
    audit = client.get("/api/v1/admin/ops/audit", headers=admin.headers).json["items"]

    assert (tier.status_code, rights.status_code, cancelled.status_code) == (200, 200, 200)
    logged = {(e["action"], e["target"]) for e in audit}
    assert logged >= {
        ("org.set_tier", f"org:{org_id}"),
        ("user.set_platform_admin", f"user:{alice.user.id}"),
        ("job.cancel", f"job:{job_id}"),
    }
    assert all(e["actor_id"] == str(admin.user.id) for e in audit)
