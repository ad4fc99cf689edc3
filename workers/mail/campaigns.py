"""Campaign jobs: the start, the senders, and the sweep that keeps a campaign moving.

`mail.campaign_start` (at the campaign's `send_at`): the audience goes into the ledger,
pending, and the run's senders are submitted, in one transaction with the state change.
`mail.campaign_send`: one of a run's MAIL_SENDER_JOBS senders; each takes the next pending
mail under its lock until none is left, so they share the work without dividing it
beforehand, and a sender run twice (a redelivery, a retry, a recovery after kill -9) sends
only what is still pending. A pause or a cancel stops them before their next mail; a resume
is a new run whose senders carry on from the ledger. The last sender to find nothing
pending finishes the campaign. `mail.campaigns_sweep` (every 30 s) gives a sending campaign
whose senders have all ended with mail still pending (their attempts used up, say) a new run.
"""

from __future__ import annotations

import time
import uuid
from functools import partial
from typing import Any

from marshmallow import Schema, fields
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.core.fields import BigInt
from models.core.jobs import Job, JobStatus
from models.mail import audiences, campaigns, sends
from models.mail.tables import Campaign, CampaignStatus
from workers.clients.mailer import MailAccountRefused
from workers.core import enqueue
from workers.core.context import JobContext
from workers.core.enqueue import Dispatcher
from workers.core.errors import TransientError
from workers.core.periodic import periodic
from workers.core.registry import get_kind, job_kind
from workers.mail.engine import Letter, Outcome, Sender


class CampaignParams(Schema):
    campaign_id = fields.UUID(required=True)


class SenderParams(Schema):
    campaign_id = fields.UUID(required=True)
    run = BigInt(required=True)  # the start or resume it belongs to


def submit_start(
    *, session: Session, dispatcher: Dispatcher, campaign: Campaign, owner_id: uuid.UUID
) -> None:
    """The campaign's start job, due at its `send_at` (the caller commits)."""
    kind = get_kind("mail.campaign_start")
    assert kind is not None  # noqa: S101 - declared below
    enqueue.submit(
        session=session,
        dispatcher=dispatcher,
        owner_id=owner_id,
        org_id=campaign.org_id,
        kind=kind,
        params={"campaign_id": str(campaign.id)},
        run_at=campaign.send_at,
        idempotency_key=f"mail.campaign_start:{campaign.id}",
        internal=True,
    )


def submit_senders(
    *, session: Session, dispatcher: Dispatcher, campaign: Campaign, count: int
) -> None:
    """The run's senders (the caller holds the campaign's lock and commits)."""
    kind = get_kind("mail.campaign_send")
    assert kind is not None  # noqa: S101 - declared below
    owner_id = campaign.created_by or audiences.org_owner_id(
        session=session, org_id=campaign.org_id
    )
    if owner_id is None:  # an organisation without an owner sends nothing more
        campaign.status = CampaignStatus.PAUSED.value
        campaign.note = "the organisation has no owner to send in the name of"
        return
    submissions = [
        enqueue.Submission.checked(
            kind,
            {"campaign_id": str(campaign.id), "run": campaign.run},
            idempotency_key=f"mail.campaign_send:{campaign.id}:{campaign.run}:{index}",
        )
        for index in range(count)
    ]
    made = enqueue.submit_many(
        session=session,
        dispatcher=dispatcher,
        owner_id=owner_id,
        org_id=campaign.org_id,
        submissions=submissions,
    )
    campaign.job_ids = [job.id for job, _ in made]


@job_kind(
    "mail.campaign_start",
    params=CampaignParams,
    queue="mail",
    requires_verified_email=True,
    counts_toward_quota=False,
    max_attempts=8,
)
def start_campaign(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Put a scheduled campaign's audience in the send ledger and start its senders."""
    with ctx.sessions.begin() as session:
        campaign = campaigns.lock_campaign(session=session, campaign_id=params["campaign_id"])
        if campaign is None or not campaigns.start(session=session, campaign=campaign):
            return {"started": False}
        submit_senders(
            session=session,
            dispatcher=ctx.dispatcher,
            campaign=campaign,
            count=ctx.settings.mail_sender_jobs,
        )
        return {"started": True, "total": campaign.total}


def _letter(ctx: JobContext, campaign_id: uuid.UUID) -> Letter | None:
    with ctx.sessions() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            return None
        return Letter(
            parts=campaigns.parts_of(campaign),
            from_name=campaign.from_name,
            reply_to=campaign.reply_to,
            org_name=audiences.org_name(session=session, org_id=campaign.org_id),
            extra={},
            tag=f"campaign:{campaign.id}",
        )


def _stop_for_the_account(ctx: JobContext, campaign_id: uuid.UUID, reason: str) -> None:
    with ctx.sessions.begin() as session:
        campaign = campaigns.lock_campaign(session=session, campaign_id=campaign_id)
        if campaign is not None and campaign.status == CampaignStatus.SENDING.value:
            campaign.status = CampaignStatus.PAUSED.value
            campaign.note = f"paused: the mail provider refused the account: {reason}"


@job_kind(
    "mail.campaign_send",
    params=SenderParams,
    queue="mail",
    requires_verified_email=True,
    counts_toward_quota=False,
    max_attempts=30,
    time_limit_ms=6 * 3600 * 1000,
    min_backoff_ms=1000,
    max_backoff_ms=10 * 60 * 1000,
)
def send_campaign(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Send a campaign's pending mails, one at a time under each one's lock, until none is left."""
    campaign_id: uuid.UUID = params["campaign_id"]
    letter = _letter(ctx, campaign_id)
    if letter is None:
        return {"sent": 0}
    counts = dict.fromkeys(
        (Outcome.SENT, Outcome.FAILED, Outcome.SKIPPED, Outcome.DEFERRED, Outcome.HELD), 0
    )
    last_progress = 0.0
    with Sender(ctx.settings) as sender:
        while True:
            with ctx.sessions() as session:
                claimed = sends.claim_next(session=session, campaign_id=campaign_id)
                if claimed is None:
                    session.rollback()
                    break
                try:
                    outcome, _ = sender.deliver(
                        session,
                        claimed,
                        letter,
                        still_wanted=partial(
                            campaigns.is_sending, session=session, campaign_id=campaign_id
                        ),
                    )
                except MailAccountRefused as exc:
                    session.rollback()
                    _stop_for_the_account(ctx, campaign_id, str(exc))
                    return {**counts, "stopped": str(exc)}
                session.commit()
            counts[outcome] += 1
            if outcome == Outcome.HELD:  # paused or cancelled: resume starts new senders
                break
            if time.monotonic() - last_progress > 0.5:  # also checks for a cancel
                last_progress = time.monotonic()
                ctx.progress(sum(counts.values()), None, f"{counts[Outcome.SENT]} sent")
    with ctx.sessions.begin() as session:
        if campaigns.finish_if_done(session=session, campaign_id=campaign_id):
            return {**counts, "finished": True}
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None and campaign.status == CampaignStatus.CANCELLED.value:
            # What a sender held while the cancel ran (left pending by it) is cancelled now.
            sends.cancel_pending(session=session, campaign_id=campaign_id)
        sending = campaign is not None and campaign.status == CampaignStatus.SENDING.value
        retry_in = sends.next_retry_in_s(session=session, campaign_id=campaign_id)
    if sending and retry_in is not None:
        # Mails the provider deferred are due later: this sender comes back for them.
        raise TransientError("deferred mails are due later", retry_after_s=retry_in + 0.1)
    return counts


def _senders_alive(session: Session, job_ids: list[uuid.UUID]) -> bool:
    if not job_ids:
        return False
    statuses = session.scalars(select(Job.status).where(Job.id.in_(job_ids)))
    return any(not JobStatus(s).finished for s in statuses)


@periodic("mail.campaigns_sweep", every_s=30, queue="mail")
def sweep_campaigns(ctx: JobContext, params: dict[str, Any]) -> dict[str, Any]:
    """Give each sending campaign whose senders all ended with mail pending a new run, and
    finish those with nothing pending."""
    restarted = finished = 0
    with ctx.sessions() as session:
        ids = [c.id for c in campaigns.sending_campaigns(session=session)]
    for campaign_id in ids:
        with ctx.sessions.begin() as session:
            campaign = campaigns.lock_campaign(session=session, campaign_id=campaign_id)
            if campaign is None or campaign.status != CampaignStatus.SENDING.value:
                continue
            if _senders_alive(session, list(campaign.job_ids)):
                continue
            if not sends.pending_count(session=session, campaign_id=campaign_id):
                finished += campaigns.finish_if_done(session=session, campaign_id=campaign_id)
                continue
            campaign.run += 1
            submit_senders(
                session=session,
                dispatcher=ctx.dispatcher,
                campaign=campaign,
                count=ctx.settings.mail_sender_jobs,
            )
            restarted += 1
    return {"restarted": restarted, "finished": finished}
