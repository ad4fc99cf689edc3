"""Whether a lead's e-mail addresses can be written to: a verdict per address, with the
reasons, the source that gave it and when (a verdict is true at one moment only, so old ones
are checked again before use).

The checks here need no network: syntax (email-validator), disposable domains and role
addresses. The job adds the domain's MX records (dnspython) and passes what it found."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Identity,
    String,
    Text,
    UniqueConstraint,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from models.core.base import Base, utcnow
from models.leads.contacts import ROLE_LOCALPARTS

# A short list of throwaway-mail domains; a provider's verdict catches the rest.
DISPOSABLE_DOMAINS = frozenset(
    {
        "mailinator.com",
        "guerrillamail.com",
        "10minutemail.com",
        "tempmail.com",
        "temp-mail.org",
        "yopmail.com",
        "trashmail.com",
        "sharklasers.com",
        "getnada.com",
        "dispostable.com",
        "maildrop.cc",
        "throwawaymail.com",
        "fakeinbox.com",
        "mailnesia.com",
    }
)


class Verdict(enum.StrEnum):
    VALID = "valid"  # well-formed, its domain takes mail, a person's address
    RISKY = "risky"  # deliverable, but a role or disposable address
    INVALID = "invalid"  # malformed, or its domain takes no mail
    UNKNOWN = "unknown"  # the domain could not be asked (a DNS timeout): check again


@dataclass(frozen=True)
class MxAnswer:
    """What DNS said about a domain's mail servers."""

    hosts: list[str]
    error: str | None = None  # "no such domain", "timeout", ...
    transient: bool = False


class EmailCheck(Base):
    __tablename__ = "lead_email_checks"
    __table_args__ = (
        UniqueConstraint("lead_id", "email", name="uq_lead_email_checks_lead_email"),
        CheckConstraint("verdict IN ('valid', 'risky', 'invalid', 'unknown')", name="verdict"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    lead_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("leads.id", ondelete="CASCADE"), nullable=False
    )
    email: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(String(20))
    reasons: Mapped[list[str]] = mapped_column(JSONB)
    source: Mapped[str] = mapped_column(String(50))  # "syntax+mx", or a provider's name
    checked_at: Mapped[datetime] = mapped_column(server_default=func.now())


def syntax_problem(address: str) -> str | None:
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


def judge(address: str, mx: MxAnswer | None) -> tuple[Verdict, list[str]]:
    """The verdict on one address, from its syntax, its kind and (if asked) its domain's MX."""
    problem = syntax_problem(address)
    if problem:
        return Verdict.INVALID, [f"malformed: {problem}"]
    local, domain = address.lower().rsplit("@", 1)
    if mx is not None and mx.transient:
        return Verdict.UNKNOWN, [f"the domain's mail servers could not be asked: {mx.error}"]
    if mx is not None and not mx.hosts:
        return Verdict.INVALID, [f"the domain takes no mail: {mx.error or 'no MX record'}"]
    reasons = [f"mail servers: {', '.join(mx.hosts[:3])}"] if mx else []
    if domain in DISPOSABLE_DOMAINS:
        return Verdict.RISKY, [*reasons, "a disposable address"]
    if local in ROLE_LOCALPARTS:
        return Verdict.RISKY, [*reasons, "a role address, not a person"]
    return Verdict.VALID, reasons


# A verification provider's results, as verdicts (NeverBounce's words; Hunter's and
# ZeroBounce's map the same way: accept_all/catch-all are "catchall").
PROVIDER_VERDICTS = {
    "valid": Verdict.VALID,
    "invalid": Verdict.INVALID,
    "disposable": Verdict.RISKY,
    "catchall": Verdict.RISKY,
    "unknown": Verdict.UNKNOWN,
}
_SEVERITY = (Verdict.VALID, Verdict.RISKY, Verdict.UNKNOWN, Verdict.INVALID)


def with_provider(
    verdict: Verdict, reasons: list[str], provider: str, result: str
) -> tuple[Verdict, list[str]]:
    """The verdict once a provider has answered: the worse of the two, both reasons kept."""
    theirs = PROVIDER_VERDICTS.get(result, Verdict.UNKNOWN)
    worse = max(verdict, theirs, key=_SEVERITY.index)
    return worse, [*reasons, f"{provider}: {result}"]


def is_fresh(*, session: Session, lead_id: uuid.UUID, email: str, max_age: timedelta) -> bool:
    """Whether the address has a verdict younger than `max_age` (an unknown one never is)."""
    return (
        session.scalar(
            select(EmailCheck.id).where(
                EmailCheck.lead_id == lead_id,
                EmailCheck.email == email,
                EmailCheck.verdict != Verdict.UNKNOWN.value,
                EmailCheck.checked_at > utcnow() - max_age,
            )
        )
        is not None
    )


def record_check(
    *,
    session: Session,
    lead_id: uuid.UUID,
    email: str,
    verdict: Verdict,
    reasons: list[str],
    source: str,
) -> None:
    values: dict[str, Any] = {"verdict": verdict.value, "reasons": reasons, "source": source}
    session.execute(
        insert(EmailCheck)
        .values(lead_id=lead_id, email=email, **values)
        .on_conflict_do_update(
            constraint="uq_lead_email_checks_lead_email",
            set_={**values, "checked_at": func.now()},
        )
    )


def checks_of(*, session: Session, lead_id: uuid.UUID) -> list[EmailCheck]:
    return list(
        session.scalars(
            select(EmailCheck).where(EmailCheck.lead_id == lead_id).order_by(EmailCheck.email)
        )
    )
