"""The addresses an organisation no longer mails: unsubscribed, hard-bounced, complained.

Every later send to a suppressed address is skipped with the reason (models/mail/sends.py
reads the list in the statement that takes the mail). The first reason stays: a complaint
after an unsubscribe does not rewrite history.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models.core.addresses import normalise_email
from models.core.errors import InvalidInput
from models.mail.tables import Suppression, SuppressionReason


def _normal(email: str) -> str:
    # An address from a provider's event is as the provider wrote it; one the list holds
    # was normalised when it was added. A malformed one is kept as given, lower-cased.
    try:
        return normalise_email(email)
    except InvalidInput:
        return email.strip().lower()


def suppress(
    *,
    session: Session,
    org_id: uuid.UUID,
    email: str,
    reason: SuppressionReason,
    detail: str | None = None,
) -> None:
    session.execute(
        insert(Suppression)
        .values(
            org_id=org_id,
            email=_normal(email),
            reason=reason.value,
            detail=(detail or "")[:2000] or None,
        )
        .on_conflict_do_nothing(index_elements=["org_id", "email"])
    )


def suppression_of(*, session: Session, org_id: uuid.UUID, email: str) -> Suppression | None:
    return session.get(Suppression, (org_id, _normal(email)))


def list_suppressions(
    *, session: Session, org_id: uuid.UUID, limit: int, after: str | None
) -> list[Suppression]:
    query = select(Suppression).where(Suppression.org_id == org_id)
    if after:
        query = query.where(Suppression.email > after)
    return list(session.scalars(query.order_by(Suppression.email).limit(limit)))
