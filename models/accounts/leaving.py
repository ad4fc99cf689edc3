"""Leaving for good, and a copy of one's data first.

Deleting an account erases the person in one transaction: every domain's registered eraser
runs (models/core/erasure.py), the account's own rows go (sessions, tokens, the login audit
of its address), and the users row stays as a nameless tombstone, so the jobs and audit rows
an organisation keeps still have a valid owner and name no one. A user who is the only owner
of an organisation with other members hands it over first; one they are alone in is deleted
with its data, once they confirm.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from models.accounts.flows import check_password
from models.accounts.identities import ProviderIdentity, ProviderSignIn, identities_of
from models.accounts.users import (
    AuthSession,
    EmailToken,
    LoginAttempt,
    User,
    revoke_all_sessions,
    utcnow,
)
from models.core.erasure import Person, erase_person, export_person, personal_data
from models.core.errors import Conflict, PermissionDenied
from models.core.jobs import Job
from models.orgs import delete_organization, sole_ownerships

EXPORT_ROWS = 1_000  # the newest sessions and login attempts an export carries


class OrganizationNeedsOwner(Conflict):
    """The user is the only owner of an organisation that has other members."""

    code = "organization_needs_owner"


class ConfirmOrganizationDeletion(Conflict):
    """The user's own organisations would be deleted with the account: confirm it."""

    code = "confirm_organization_deletion"


def tombstone_email(user_id: uuid.UUID) -> str:
    return f"deleted-{user_id}@deleted.invalid"


FRESH_PROVIDER_LOGIN = timedelta(minutes=10)


class FreshLoginNeeded(PermissionDenied):
    """An account without a password proves itself by a provider login of a few minutes ago."""

    code = "fresh_login_needed"


def _check_it_is_them(
    session: Session, user: User, password: str | None, session_id: uuid.UUID
) -> None:
    """The password again, or (for an account without one) a provider login just now."""
    if user.has_password or password:
        check_password(user, password or "")
        return
    current = session.get_one(AuthSession, session_id)
    if current.provider is None or current.created_at < utcnow() - FRESH_PROVIDER_LOGIN:
        raise FreshLoginNeeded(
            "your account has no password: sign in with your provider again, then delete "
            "within 10 minutes"
        )


def delete_account(
    *,
    session: Session,
    user: User,
    password: str | None,
    session_id: uuid.UUID,
    delete_organizations: bool,
) -> Person:
    """Erase the user; returns who they were (to say goodbye at the old address)."""
    _check_it_is_them(session, user, password, session_id)
    sole = sole_ownerships(session=session, user_id=user.id)
    if sole.shared:
        raise OrganizationNeedsOwner(
            "you are the only owner of organizations with other members: make someone else "
            "owner (or remove the members) first",
            details={"organization_ids": [str(i) for i in sole.shared]},
        )
    if sole.alone and not delete_organizations:
        raise ConfirmOrganizationDeletion(
            "your organizations and all their data will be deleted with your account: send "
            '"delete_organizations": true to confirm',
            details={"organization_ids": [str(i) for i in sole.alone]},
        )
    for org_id in sole.alone:
        delete_organization(session=session, org_id=org_id)
    person = Person(user_id=user.id, email=user.email, display_name=user.display_name)
    revoke_all_sessions(session=session, user_id=user.id)
    erase_person(session=session, person=person)
    user.email = tombstone_email(user.id)
    user.display_name = None
    user.password_hash = ""  # matches no password; the address is gone anyway
    user.is_admin = False
    user.deleted_at = utcnow()
    session.flush()
    return person


def export_account(*, session: Session, user_id: uuid.UUID) -> dict[str, Any]:
    """Everything the domains hold about the user, as JSON-ready data."""
    user = session.get_one(User, user_id)
    return export_person(session=session, person=Person(user_id=user.id, email=user.email))


EXPORT_KIND = "accounts.export"


def latest_export(*, session: Session, user_id: uuid.UUID) -> Job | None:
    """The user's most recent export job (it is internal: teammates cannot read it)."""
    return session.scalar(
        select(Job)
        .where(Job.owner_id == user_id, Job.kind == EXPORT_KIND)
        .order_by(Job.created_at.desc())
        .limit(1)
    )


def _export(session: Session, person: Person) -> dict[str, Any]:
    user = session.get_one(User, person.user_id)
    sessions = session.scalars(
        select(AuthSession)
        .where(AuthSession.user_id == person.user_id)
        .order_by(AuthSession.created_at.desc())
        .limit(EXPORT_ROWS)
    )
    attempts = session.scalars(
        select(LoginAttempt)
        .where(LoginAttempt.user_id == person.user_id)
        .order_by(LoginAttempt.at.desc())
        .limit(EXPORT_ROWS)
    )
    return {
        "profile": {
            "id": str(user.id),
            "email": user.email,
            "display_name": user.display_name,
            "email_verified_at": _iso(user.email_verified_at),
            "created_at": _iso(user.created_at),
        },
        "sessions": [
            {
                "id": str(s.id),
                "ip": s.ip,
                "device": s.device,
                "browser": s.browser,
                "os": s.os,
                "created_at": _iso(s.created_at),
                "last_used_at": _iso(s.last_used_at),
                "revoked_at": _iso(s.revoked_at),
            }
            for s in sessions
        ],
        "identities": [
            {"provider": i.provider, "email": i.email, "linked_at": _iso(i.created_at)}
            for i in identities_of(session=session, user_id=person.user_id)
        ],
        "login_attempts": [
            {"at": _iso(a.at), "ip": a.ip, "outcome": a.outcome, "device": a.device}
            for a in attempts
        ],
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


@personal_data("accounts", export=_export)
def _erase(session: Session, person: Person) -> None:
    session.execute(delete(AuthSession).where(AuthSession.user_id == person.user_id))
    session.execute(delete(ProviderIdentity).where(ProviderIdentity.user_id == person.user_id))
    session.execute(delete(ProviderSignIn).where(ProviderSignIn.link_user_id == person.user_id))
    session.execute(delete(EmailToken).where(EmailToken.user_id == person.user_id))
    # The archives of earlier exports are the person's data through and through.
    session.execute(delete(Job).where(Job.owner_id == person.user_id, Job.kind == EXPORT_KIND))
    session.execute(
        delete(LoginAttempt).where(
            or_(LoginAttempt.user_id == person.user_id, LoginAttempt.email == person.email)
        )
    )
