"""Races the API cannot show in one transaction: two real sessions changing one organisation
(or the platform's admins) at the same moment must still leave an owner (an admin)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.accounts import admin
from models.accounts.users import User
from models.core.access import Role
from models.core.errors import BacklineError
from models.orgs import organizations as orgs
from models.orgs.organizations import Membership
from tests.conftest import make_user, org_of
from workers.core.setup import Platform

Change = Callable[[Session, uuid.UUID, uuid.UUID, uuid.UUID], object]


def demote(session: Session, org_id: uuid.UUID, actor: uuid.UUID, target: uuid.UUID) -> object:
    return orgs.change_role(
        session=session, org_id=org_id, actor_id=actor, user_id=target, role=Role.ADMIN
    )


def leave(session: Session, org_id: uuid.UUID, actor: uuid.UUID, target: uuid.UUID) -> object:
    return orgs.remove_member(session=session, org_id=org_id, actor_id=actor, user_id=actor)


def withdraw_admin(
    session: Session, org_id: uuid.UUID, actor: uuid.UUID, target: uuid.UUID
) -> object:
    return admin.set_platform_admin(session=session, actor_id=actor, user_id=target, is_admin=False)


def race(
    platform: Platform, change: Change, org_id: uuid.UUID, a: uuid.UUID, b: uuid.UUID
) -> BaseException | None:
    """`a` changes `b` and holds its transaction open while `b` tries the same on `a`."""
    outcome: dict[str, BaseException | None] = {}

    def second() -> None:
        with platform.sessions() as session:
            try:
                change(session, org_id, b, a)
                session.commit()
                outcome["error"] = None
            except BacklineError as exc:
                outcome["error"] = exc

    with platform.sessions() as first:
        change(first, org_id, a, b)
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive(), "the second change did not wait for the first"
        first.commit()
    thread.join(10)
    return outcome["error"]


@pytest.fixture()
def pair(committed_platform: Platform) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """Two owners of one organisation (a's), who are also both platform admins."""
    with committed_platform.sessions() as session:
        a = make_user(session, admin=True)
        b = make_user(session, admin=True)
        session.commit()
        org_id = org_of(session, a.id)  # a's only organisation
        orgs.join(session=session, org_id=org_id, user_id=b.id, role=Role.OWNER)
        session.commit()
        return org_id, a.id, b.id


@pytest.mark.parametrize("change", [demote, leave], ids=["demote", "leave"])
def test_two_owners_stepping_down_at_once_leave_one_owner(
    committed_platform: Platform, pair: tuple[uuid.UUID, uuid.UUID, uuid.UUID], change: Change
) -> None:
    org_id, a, b = pair

    error = race(committed_platform, change, org_id, a, b)

    assert error is not None
    with committed_platform.sessions() as session:
        owners = session.scalars(
            select(Membership.user_id).where(
                Membership.org_id == org_id, Membership.role == Role.OWNER
            )
        ).all()
    assert len(owners) == 1


def test_two_admins_withdrawing_each_others_rights_at_once_leave_one_admin(
    committed_platform: Platform, pair: tuple[uuid.UUID, uuid.UUID, uuid.UUID]
) -> None:
    org_id, a, b = pair

    error = race(committed_platform, withdraw_admin, org_id, a, b)

    assert error is not None and error.message == "platform admins only"  # type: ignore[attr-defined]
    with committed_platform.sessions() as session:
        admins = session.scalars(select(User.id).where(User.is_admin.is_(True))).all()
    assert admins == [a]
