"""Logging in: every attempt recorded, wrong passwords throttled per address, and the sessions
a user can see and end.

The throttle counts the consecutive wrong passwords for an address (since its last successful
login, within a day). From the FREE_FAILURES-th on, the address answers nothing but 429 for a
delay that doubles with each further failure (1 s, 2 s, 4 s, ... at most MAX_DELAY_S), counted
from the last failure and checked before the password is: a right guess during the delay is
refused too. Attempts refused by the throttle are recorded but do not count, so hammering
does not extend the delay.

So that an attacker cannot keep the owner out, attempts from an IP the address logged in from
successfully in the last KNOWN_IP_DAYS are judged only by the failures from that IP: the owner
keeps getting in from their usual places while the attacker's IPs are throttled. From a new
network the owner waits like anyone, unless they use the one-time link mailed to them when a
login of their address from that network is throttled: it records the network as unlocked,
which counts as a known IP from then on (`unlock_offer`, `unlock_network`). Unknown
addresses are recorded and throttled exactly like known ones, and cost the same argon2
verification (models.accounts.users.authenticate), so the throttle tells no one who has an account.
"""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Exists, delete, exists, func, insert, or_, select, true
from sqlalchemy.orm import Session

from models.accounts.devices import MAX_USER_AGENT, Device, parse_user_agent
from models.accounts.places import locate
from models.accounts.users import (
    AuthSession,
    LoginAttempt,
    User,
    authenticate,
    find_user_by_email,
    issue_email_token,
    normalise_email,
    revoke_session,
    take_email_token,
    utcnow,
)
from models.core.errors import AuthenticationFailed, LoginThrottled, NotFound

FREE_FAILURES = 5
MAX_DELAY_S = 15 * 60
KNOWN_IP_DAYS = 30
# Failures older than this are forgiven, so a forgotten attack does not weigh on the future.
FAILURE_MEMORY = timedelta(hours=24)


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    BAD_CREDENTIALS = "bad_credentials"
    THROTTLED = "throttled"
    # The owner vouched for the network through a mailed link: it counts as a known IP.
    UNLOCKED = "unlocked"


KNOWN = (Outcome.SUCCESS, Outcome.UNLOCKED)
UNLOCK_PURPOSE = "login_unlock"


def delay_s(failures: int) -> int:
    """How long the address is refused after `failures` consecutive wrong passwords."""
    if failures < FREE_FAILURES:
        return 0
    return int(min(2 ** (failures - FREE_FAILURES), MAX_DELAY_S))


def _failures(session: Session, email: str, ip: str | None, now: datetime) -> tuple[int, datetime]:
    """The failures that count for this attempt, and when the last of them happened."""
    mine = LoginAttempt.email == email
    last_success = (
        select(func.max(LoginAttempt.at))
        .where(mine, LoginAttempt.outcome == Outcome.SUCCESS)
        .scalar_subquery()
    )
    known_ip = _known_ip(email, ip, now)
    failures = LoginAttempt.__table__.alias("failures")
    count, last = session.execute(
        select(func.count(), func.max(failures.c.at)).where(
            failures.c.email == email,
            failures.c.outcome == Outcome.BAD_CREDENTIALS,
            failures.c.at > now - FAILURE_MEMORY,
            or_(last_success.is_(None), failures.c.at > last_success),
            or_(~known_ip, failures.c.ip == ip) if ip is not None else true(),
        )
    ).one()
    return count, last or now


def _known_ip(email: str, ip: str | None, now: datetime) -> Exists:
    """Whether the address logged in from `ip` (or its owner unlocked it) lately."""
    return exists().where(
        LoginAttempt.email == email,
        LoginAttempt.ip == ip,
        LoginAttempt.outcome.in_(KNOWN),
        LoginAttempt.at > now - timedelta(days=KNOWN_IP_DAYS),
    )


def retry_after_s(*, session: Session, email: str, ip: str | None, now: datetime) -> int:
    """Seconds until an attempt for `email` from `ip` will be judged (0: now)."""
    count, last = _failures(session, normalise_email(email), ip, now)
    wait = (last + timedelta(seconds=delay_s(count)) - now).total_seconds()
    return math.ceil(wait) if wait > 0 else 0


def record_attempt(
    *,
    session: Session,
    email: str,
    ip: str | None,
    device: Device,
    user_agent: str | None,
    outcome: Outcome,
    at: datetime,
) -> None:
    """Add an attempt to the audit trail (linked to the address's account, if there is one)."""
    session.execute(
        insert(LoginAttempt).values(
            user_id=select(User.id).where(User.email == email).scalar_subquery(),
            email=email,
            ip=ip,
            user_agent=(user_agent or "")[:MAX_USER_AGENT] or None,
            outcome=outcome,
            at=at,
            **device.as_dict(),
            **locate(ip).as_dict(),
        )
    )


PRUNE_BATCH = 5_000


def prune_attempts(*, session: Session, keep_days: int, now: datetime) -> int:
    """Delete one batch of attempts older than `keep_days`; how many went (0: none left).

    The throttle looks back KNOWN_IP_DAYS at most, so the settings keep at least that long.
    """
    old = (
        select(LoginAttempt.id)
        .where(LoginAttempt.at < now - timedelta(days=keep_days))
        .limit(PRUNE_BATCH)
        .scalar_subquery()
    )
    result = session.execute(delete(LoginAttempt).where(LoginAttempt.id.in_(old)))
    return result.rowcount  # type: ignore[attr-defined,no-any-return]


# The first key of the two-part advisory lock that serialises one address's logins.
LOGIN_LOCK_CLASS = 7_101


def log_in(
    *, session: Session, email: str, password: str, ip: str | None, user_agent: str | None
) -> tuple[User, Device]:
    """The user with these credentials, unless the address is throttled; recorded either way.

    The caller commits even when this raises, so that failures are remembered.
    """
    email = normalise_email(email)
    device = parse_user_agent(user_agent)

    def record(outcome: Outcome) -> None:
        # Stamped when judged (after argon2's work), so a delay runs from the answer.
        record_attempt(
            session=session,
            email=email,
            ip=ip,
            device=device,
            user_agent=user_agent,
            outcome=outcome,
            at=utcnow(),
        )

    # One judgement at a time per address, held until the caller commits the attempt:
    # otherwise parallel guesses would all read the failure count before any was written.
    session.execute(select(func.pg_advisory_xact_lock(LOGIN_LOCK_CLASS, func.hashtext(email))))
    wait = retry_after_s(session=session, email=email, ip=ip, now=utcnow())
    if wait:
        record(Outcome.THROTTLED)
        raise LoginThrottled(
            "too many failed logins for this address; try again later",
            retry_after_s=wait,
            details={"retry_after_s": wait},
        )
    try:
        user = authenticate(session=session, email=email, password=password)
    except AuthenticationFailed:
        record(Outcome.BAD_CREDENTIALS)
        raise
    record(Outcome.SUCCESS)
    return user, device


def unlock_offer(
    *, session: Session, email: str, ip: str | None, ttl_s: int
) -> tuple[User, str] | None:
    """A one-time token that lets `ip` in for the account of `email`, if there is an account
    and `ip` is new to it (from a known network the owner is not held up to begin with).

    Older unused tokens stay valid: an attacker's throttled attempts must not void the link
    the owner is about to use.
    """
    if ip is None:
        return None
    user = find_user_by_email(session=session, email=email)
    if user is None or session.scalar(select(_known_ip(user.email, ip, utcnow()))):
        return None
    token = issue_email_token(
        session=session,
        user=user,
        purpose=UNLOCK_PURPOSE,
        ttl_s=ttl_s,
        data={"ip": ip},
        replace=False,
    )
    return user, token


def unlock_network(*, session: Session, token: str) -> str:
    """Use an unlock token: its network counts as known to the address from now on."""
    row = take_email_token(session=session, token=token, purpose=UNLOCK_PURPOSE)
    user = session.get_one(User, row.user_id)
    ip = str((row.data or {})["ip"])
    record_attempt(
        session=session,
        email=user.email,
        ip=ip,
        device=parse_user_agent(None),
        user_agent=None,
        outcome=Outcome.UNLOCKED,
        at=utcnow(),
    )
    return ip


END_SESSION_PURPOSE = "end_session"
END_SESSION_LINK_TTL_S = 7 * 24 * 3600


def first_login_from(*, session: Session, user_id: uuid.UUID, country: str | None) -> bool:
    """Whether the login just recorded is the account's first from `country`, and not its
    first login at all (a new account has no usual places yet)."""
    if country is None:
        return False
    successes = select(func.count(), func.count().filter(LoginAttempt.country == country)).where(
        LoginAttempt.user_id == user_id, LoginAttempt.outcome == Outcome.SUCCESS
    )
    total, here = session.execute(successes).one()
    return bool(here == 1 and total > 1)


def end_session_link(*, session: Session, user: User, session_id: uuid.UUID) -> str:
    """A one-time token that ends one session, for the mail that tells of it."""
    return issue_email_token(
        session=session,
        user=user,
        purpose=END_SESSION_PURPOSE,
        ttl_s=END_SESSION_LINK_TTL_S,
        data={"session_id": str(session_id)},
        replace=False,
    )


def end_session_by_link(*, session: Session, token: str) -> uuid.UUID:
    row = take_email_token(session=session, token=token, purpose=END_SESSION_PURPOSE)
    session_id = uuid.UUID(str((row.data or {})["session_id"]))
    end_session(session=session, user_id=row.user_id, session_id=session_id)
    return session_id


def recent_attempts(*, session: Session, user_id: uuid.UUID, limit: int) -> Sequence[LoginAttempt]:
    """The user's login attempts (their address's), newest first."""
    return session.scalars(
        select(LoginAttempt)
        .where(LoginAttempt.user_id == user_id)
        .order_by(LoginAttempt.at.desc(), LoginAttempt.id.desc())
        .limit(limit)
    ).all()


def live_sessions(*, session: Session, user_id: uuid.UUID) -> Sequence[AuthSession]:
    """The user's sessions that have not ended, most recently used first."""
    return session.scalars(
        select(AuthSession)
        .where(
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > func.now(),
        )
        .order_by(AuthSession.last_used_at.desc(), AuthSession.created_at.desc())
    ).all()


def end_session(*, session: Session, user_id: uuid.UUID, session_id: uuid.UUID) -> None:
    """End one of the user's sessions (its tokens stop working); someone else's is not found."""
    owner = session.scalar(select(AuthSession.user_id).where(AuthSession.id == session_id))
    if owner != user_id:
        raise NotFound("session not found", details={"session_id": str(session_id)})
    revoke_session(session=session, session_id=session_id)
