"""Sequences: mails sent one after the other to each enrolled recipient, each after its delay.

A recipient is enrolled by hand or by an event the domains report (`enrol_on_event`: a trial
started, a fan confirmed, a lead created), once per sequence. Each enrolment knows its next
step and when it is due; the periodic job sends what is due, writing the step's mail into the
send ledger first (unique per step and enrolment, so a step goes once), and leaves the
enrolment when an exit condition holds: the trial converted, the address is suppressed
(unsubscribed, bounced, complained), or the recipient replied (reported through the API).

The platform's own trial sequence (`TRIAL_KEY`) mails a new organisation's owners on days 0,
3 and 6 of the trial, with a countdown of the days left.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models.billing import billing_state
from models.core.addresses import normalise_email
from models.core.base import utcnow
from models.core.errors import InvalidInput, NotFound
from models.core.quotas import Tier, days_left
from models.mail import audiences
from models.mail.campaigns import Stats, stats_where
from models.mail.suppression import suppression_of
from models.mail.tables import (
    Enrolment,
    EnrolmentStatus,
    Send,
    Sequence,
    Step,
    Trigger,
)
from models.mail.templates import Parts, check

TRIAL_KEY = "trial"
EXITS = ("trial_converted", "unsubscribed", "replied")
DAY_S = 24 * 3600

# The trial mails (seed 002): day 0, 3 and 6, each with the days left.
TRIAL_STEPS = (
    (
        0,
        "Welcome to Backline: {{ days_left }} days of your trial left",
        "Hi {{ recipient.first_name or 'there' }},\n\n{{ org.name }} is on a free trial: "
        "{{ days_left }} days left. Import your fans, upload a release, search for leads.\n",
    ),
    (
        3 * DAY_S,
        "{{ days_left }} days left in your Backline trial",
        "Hi {{ recipient.first_name or 'there' }},\n\n{{ days_left }} days of {{ org.name }}'s "
        "trial are left. Campaigns and sequences reach your fans while you sleep.\n",
    ),
    (
        3 * DAY_S,
        "Your Backline trial ends in {{ days_left }} day{{ '' if days_left == 1 else 's' }}",
        "Hi {{ recipient.first_name or 'there' }},\n\n{{ org.name }}'s trial ends in "
        "{{ days_left }} day{{ '' if days_left == 1 else 's' }}. Choose a plan to keep "
        "everything you set up.\n",
    ),
)


def parts_of(step: Step) -> Parts:
    return Parts(step.subject, step.text_body, step.html_body)


def ensure_trial_sequence(*, session: Session) -> Sequence:
    """The platform's trial sequence (made the first time it is needed)."""
    session.execute(
        insert(Sequence)
        .values(
            key=TRIAL_KEY,
            name="Trial",
            trigger=Trigger.TRIAL_STARTED.value,
            from_name="Backline",
            exit_on=["trial_converted", "unsubscribed"],
        )
        .on_conflict_do_nothing(constraint="uq_mail_sequences_key")
    )
    sequence = session.scalars(select(Sequence).where(Sequence.key == TRIAL_KEY)).one()
    if not steps_of(session=session, sequence_id=sequence.id):
        for position, (delay, subject, text) in enumerate(TRIAL_STEPS):
            session.add(
                Step(
                    sequence_id=sequence.id,
                    position=position,
                    delay_s=delay,
                    subject=subject,
                    text_body=text,
                    html_body=None,
                )
            )
        session.flush()
    return sequence


def create_sequence(
    *,
    session: Session,
    org_id: uuid.UUID,
    user_id: uuid.UUID | None,
    values: dict[str, Any],
    steps: list[dict[str, Any]],
) -> Sequence:
    """A sequence and its steps; every step's template is checked first."""
    for step in steps:
        check(Parts(step["subject"], step["text_body"], step.get("html_body")))
    sequence = Sequence(org_id=org_id, created_by=user_id, **values)
    session.add(sequence)
    session.flush()
    for position, step in enumerate(steps):
        session.add(Step(sequence_id=sequence.id, position=position, **step))
    session.flush()
    return sequence


def get_sequence(*, session: Session, org_id: uuid.UUID, sequence_id: uuid.UUID) -> Sequence:
    sequence = session.scalar(
        select(Sequence).where(Sequence.id == sequence_id, Sequence.org_id == org_id)
    )
    if sequence is None:
        raise NotFound("no sequence with this id", details={"sequence_id": str(sequence_id)})
    return sequence


def list_sequences(*, session: Session, org_id: uuid.UUID) -> list[Sequence]:
    return list(
        session.scalars(
            select(Sequence).where(Sequence.org_id == org_id).order_by(Sequence.created_at)
        )
    )


def _normal(email: str) -> str:
    try:
        return normalise_email(email)
    except InvalidInput:
        return email.strip().lower()


def steps_of(*, session: Session, sequence_id: uuid.UUID) -> list[Step]:
    return list(
        session.scalars(select(Step).where(Step.sequence_id == sequence_id).order_by(Step.position))
    )


def enrol(
    *,
    session: Session,
    sequence: Sequence,
    org_id: uuid.UUID,
    email: str,
    recipient: dict[str, Any],
) -> Enrolment | None:
    """Enrol the address (once per sequence: None if it was already)."""
    steps = steps_of(session=session, sequence_id=sequence.id)
    if not steps:
        return None
    enrolment_id = session.scalar(
        insert(Enrolment)
        .values(
            sequence_id=sequence.id,
            org_id=org_id,
            email=email.lower(),
            recipient={**recipient, "email": email.lower()},
            next_due_at=utcnow() + timedelta(seconds=steps[0].delay_s),
        )
        .on_conflict_do_nothing(constraint="uq_mail_enrolments_sequence_email")
        .returning(Enrolment.id)
    )
    return None if enrolment_id is None else session.get(Enrolment, enrolment_id)


def enrol_on_event(
    *,
    session: Session,
    trigger: Trigger,
    org_id: uuid.UUID,
    email: str | None = None,
    recipient: dict[str, Any] | None = None,
) -> int:
    """Enrol a recipient in the sequences `trigger` starts; how many enrolments were made.

    The domains call it in the transaction where the event happens: a trial started (the
    organisation's owners go into the platform's trial sequence), a fan confirmed, a lead
    created (the organisation's active sequences of that trigger)."""
    made = 0
    if trigger == Trigger.TRIAL_STARTED:
        if billing_state(session=session, org_id=org_id).trial_ends_at is None:
            return 0  # no trial started (TRIAL_DAYS=0, or it had one already)
        trial = ensure_trial_sequence(session=session)
        owners = audiences.recipients(org_id, {"source": "members", "roles": ["owner"]})
        # Only confirmed addresses: a registration names any address (and any organisation
        # name), and the trial's mails must not go to someone who never asked for them. The
        # verify-email flow enrols an owner when they confirm.
        confirmed = audiences.verified_member_addresses(session=session, org_id=org_id)
        for address, fields in session.execute(owners).all():
            if _normal(address) not in confirmed:
                continue
            made += enrol(session=session, sequence=trial, org_id=org_id, email=address,
                          recipient=dict(fields)) is not None  # fmt: skip
        return made
    if email is None:
        return 0
    for sequence in session.scalars(
        select(Sequence).where(
            Sequence.org_id == org_id, Sequence.trigger == trigger.value, Sequence.active
        )
    ):
        made += (
            enrol(
                session=session,
                sequence=sequence,
                org_id=org_id,
                email=email,
                recipient=recipient or {},
            )
            is not None
        )
    return made


def get_enrolment(*, session: Session, sequence: Sequence, enrolment_id: uuid.UUID) -> Enrolment:
    enrolment = session.scalar(
        select(Enrolment).where(Enrolment.id == enrolment_id, Enrolment.sequence_id == sequence.id)
    )
    if enrolment is None:
        raise NotFound("no enrolment with this id", details={"enrolment_id": str(enrolment_id)})
    return enrolment


def list_enrolments(*, session: Session, sequence: Sequence, limit: int) -> list[Enrolment]:
    return list(
        session.scalars(
            select(Enrolment)
            .where(Enrolment.sequence_id == sequence.id)
            .order_by(Enrolment.enrolled_at, Enrolment.id)
            .limit(limit)
        )
    )


def leave(*, enrolment: Enrolment, reason: str) -> None:
    if enrolment.status == EnrolmentStatus.ACTIVE.value:
        enrolment.status = EnrolmentStatus.EXITED.value
        enrolment.exit_reason = reason
        enrolment.next_due_at = None


def claim_due(*, session: Session, limit: int) -> list[Enrolment]:
    """Lock active enrolments whose next step is due (others' locked ones are passed by)."""
    return list(
        session.scalars(
            select(Enrolment)
            .where(
                Enrolment.status == EnrolmentStatus.ACTIVE.value,
                Enrolment.next_due_at <= utcnow(),
            )
            .order_by(Enrolment.next_due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def exit_reason(*, session: Session, enrolment: Enrolment, sequence: Sequence) -> str | None:
    """Why the enrolment should leave now, if it should."""
    suppressed = suppression_of(session=session, org_id=enrolment.org_id, email=enrolment.email)
    if suppressed is not None:
        return f"suppressed ({suppressed.reason})"
    if sequence.key == TRIAL_KEY and _normal(enrolment.email) not in (
        audiences.verified_member_addresses(session=session, org_id=enrolment.org_id)
    ):
        return "not a member's confirmed address"
    if "trial_converted" in sequence.exit_on:
        state = billing_state(session=session, org_id=enrolment.org_id)
        if state.trial_ends_at is None and state.tier != Tier.FREE:
            return "trial converted"
    return None


def context_for(*, session: Session, enrolment: Enrolment) -> dict[str, Any]:
    """What a step's template may use beyond the recipient: the days left of a trial."""
    state = billing_state(session=session, org_id=enrolment.org_id)
    return {"days_left": days_left(state.trial_ends_at)}


def step_send(*, session: Session, enrolment: Enrolment, step: Step) -> int:
    """The step's mail in the ledger (made once; again: the same row): its id."""
    session.execute(
        insert(Send)
        .values(
            org_id=enrolment.org_id,
            step_id=step.id,
            enrolment_id=enrolment.id,
            email=enrolment.email,
            recipient=enrolment.recipient,
        )
        .on_conflict_do_nothing(
            index_elements=["step_id", "enrolment_id"], index_where=Send.step_id.is_not(None)
        )
    )
    send_id = session.scalar(
        select(Send.id).where(Send.step_id == step.id, Send.enrolment_id == enrolment.id)
    )
    assert send_id is not None  # noqa: S101 - just made
    return int(send_id)


def advance(*, enrolment: Enrolment, steps: list[Step]) -> None:
    """The enrolment moves past its current step: the next is due after its delay."""
    enrolment.next_position += 1
    if enrolment.next_position >= len(steps):
        enrolment.status = EnrolmentStatus.COMPLETED.value
        enrolment.next_due_at = None
        return
    delay = steps[enrolment.next_position].delay_s
    enrolment.next_due_at = utcnow() + timedelta(seconds=delay)


def step_stats(*, session: Session, step: Step) -> Stats:
    return stats_where(session, Send.step_id == step.id)
