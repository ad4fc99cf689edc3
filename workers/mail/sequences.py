"""Sequence jobs: `mail.sequence_due`, every 15 s, sends each enrolment's step that is due.

Enrolments due are taken under their row lock (SKIP LOCKED, so two runs share them); each
first leaves the sequence if an exit condition holds (trial converted, address suppressed),
else its step's mail is written into the ledger (once per step and enrolment) and sent
through the engine, and the enrolment moves to its next step, due after that step's delay.
A mail the provider deferred keeps the enrolment on its step, due again after the backoff.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.mail import audiences, sends, sequences
from models.mail.tables import Enrolment, Sequence, Step
from workers.core.context import JobContext
from workers.core.periodic import periodic
from workers.mail.engine import Letter, Outcome, Sender

BATCH = 100


def _letter(session: Session, sequence: Sequence, step: Step, enrolment: Enrolment) -> Letter:
    return Letter(
        parts=sequences.parts_of(step),
        from_name=sequence.from_name,
        reply_to=None,
        org_name=audiences.org_name(session=session, org_id=enrolment.org_id),
        extra=sequences.context_for(session=session, enrolment=enrolment),
        tag=f"step:{step.id}",
    )


def _one(sender: Sender, session: Session, enrolment: Enrolment) -> str:
    """Send the enrolment's due step (or let it leave); what happened."""
    sequence = session.get_one(Sequence, enrolment.sequence_id)
    steps = sequences.steps_of(session=session, sequence_id=sequence.id)
    reason = sequences.exit_reason(session=session, enrolment=enrolment, sequence=sequence)
    if reason is not None:
        sequences.leave(enrolment=enrolment, reason=reason)
        return "exited"
    if enrolment.next_position >= len(steps):
        sequences.advance(enrolment=enrolment, steps=steps)
        return "completed"
    step = steps[enrolment.next_position]
    send_id = sequences.step_send(session=session, enrolment=enrolment, step=step)
    claimed = sends.claim(session=session, send_id=send_id)
    if claimed is None:  # sent already (a run before this one): only the move was missing
        sequences.advance(enrolment=enrolment, steps=steps)
        return Outcome.SENT
    outcome, _ = sender.deliver(session, claimed, _letter(session, sequence, step, enrolment))
    if outcome == Outcome.DEFERRED:
        enrolment.next_due_at = claimed.send.next_attempt_at or utcnow()
        claimed.send.next_attempt_at = None  # the enrolment is what is due again
    else:
        sequences.advance(enrolment=enrolment, steps=steps)
    return outcome


@periodic("mail.sequence_due", every_s=15, queue="mail", max_attempts=5)
def send_due_steps(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Send every sequence step that is due, each once."""
    counts: dict[str, int] = {}
    with Sender(ctx.settings) as sender:
        while True:
            with ctx.sessions() as session:
                due = sequences.claim_due(session=session, limit=1)
                if not due:
                    break
                outcome = _one(sender, session, due[0])
                session.commit()
            counts[outcome] = counts.get(outcome, 0) + 1
            ctx.check_cancelled()
    return counts
