"""Campaigns: one mail to an audience, and the states it goes through.

    draft -> scheduled -> sending <-> paused -> cancelled | finished

A change of state takes the campaign's row lock, so a pause, a resume, a cancel and the
senders' "nothing left, finished" never cross. The senders read the status in the statement
that takes each mail, so a pause or a cancel stops them before their next mail.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.core.base import utcnow
from models.core.errors import Conflict, NotFound
from models.core.pages import newest_first
from models.mail import audiences, sends
from models.mail.tables import Campaign, CampaignStatus, Send, SendStatus
from models.mail.templates import Parts, check

EDITABLE = ("name", "subject", "text_body", "html_body", "from_name", "reply_to", "audience")


def parts_of(campaign: Campaign) -> Parts:
    return Parts(campaign.subject, campaign.text_body, campaign.html_body)


def create_campaign(
    *, session: Session, org_id: uuid.UUID, user_id: uuid.UUID | None, values: dict[str, Any]
) -> Campaign:
    """A draft; its templates are checked first (InvalidInput with the line)."""
    campaign = Campaign(org_id=org_id, created_by=user_id, **values)
    check(parts_of(campaign))
    session.add(campaign)
    session.flush()
    return campaign


def get_campaign(
    *, session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, lock: bool = False
) -> Campaign:
    """The organisation's campaign; NotFound for any other."""
    query = select(Campaign).where(Campaign.id == campaign_id, Campaign.org_id == org_id)
    campaign = session.scalar(query.with_for_update() if lock else query)
    if campaign is None:
        raise NotFound("no campaign with this id", details={"campaign_id": str(campaign_id)})
    return campaign


def is_sending(*, session: Session, campaign_id: uuid.UUID) -> bool:
    """Whether the campaign is sending now (as last committed: not paused, not cancelled)."""
    status = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
    return status == CampaignStatus.SENDING.value


def lock_campaign(*, session: Session, campaign_id: uuid.UUID) -> Campaign | None:
    return session.scalar(select(Campaign).where(Campaign.id == campaign_id).with_for_update())


def list_campaigns(
    *, session: Session, org_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[Campaign], str | None]:
    return newest_first(
        session=session,
        query=select(Campaign).where(Campaign.org_id == org_id),
        created_at=Campaign.created_at,
        row_id=Campaign.id,
        cursor=cursor,
        limit=limit,
    )


def _require(campaign: Campaign, *allowed: CampaignStatus, doing: str) -> None:
    if campaign.status not in allowed:
        raise Conflict(
            f"a {campaign.status} campaign cannot be {doing}",
            details={"status": campaign.status, "allowed": [s.value for s in allowed]},
        )


def update_campaign(
    *, session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, values: dict[str, Any]
) -> Campaign:
    campaign = get_campaign(session=session, org_id=org_id, campaign_id=campaign_id, lock=True)
    _require(campaign, CampaignStatus.DRAFT, doing="edited")
    for name, value in values.items():
        setattr(campaign, name, value)
    check(parts_of(campaign))
    return campaign


def schedule(
    *, session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID, send_at: datetime | None
) -> Campaign:
    """Due at `send_at` (None: now). The caller submits the start job for that moment."""
    campaign = get_campaign(session=session, org_id=org_id, campaign_id=campaign_id, lock=True)
    _require(campaign, CampaignStatus.DRAFT, doing="scheduled")
    campaign.status = CampaignStatus.SCHEDULED.value
    campaign.send_at = send_at or utcnow()
    return campaign


def start(*, session: Session, campaign: Campaign) -> bool:
    """A scheduled campaign's recipients go into the ledger and it starts sending (the
    caller holds its lock and submits the senders). False: it is not scheduled any more."""
    if campaign.status != CampaignStatus.SCHEDULED.value:
        return False
    campaign.total = audiences.write_ledger(
        session=session,
        org_id=campaign.org_id,
        campaign_id=campaign.id,
        audience=campaign.audience,
    )
    campaign.status = CampaignStatus.SENDING.value
    campaign.started_at = utcnow()
    campaign.run += 1
    return True


def pause(*, session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    campaign = get_campaign(session=session, org_id=org_id, campaign_id=campaign_id, lock=True)
    _require(campaign, CampaignStatus.SENDING, doing="paused")
    campaign.status = CampaignStatus.PAUSED.value
    return campaign


def resume(*, session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    """Sending again from where it stopped (the caller submits the run's senders)."""
    campaign = get_campaign(session=session, org_id=org_id, campaign_id=campaign_id, lock=True)
    _require(campaign, CampaignStatus.PAUSED, doing="resumed")
    campaign.status = CampaignStatus.SENDING.value
    campaign.run += 1
    return campaign


def cancel(*, session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    campaign = get_campaign(session=session, org_id=org_id, campaign_id=campaign_id, lock=True)
    _require(
        campaign,
        CampaignStatus.DRAFT,
        CampaignStatus.SCHEDULED,
        CampaignStatus.SENDING,
        CampaignStatus.PAUSED,
        doing="cancelled",
    )
    campaign.status = CampaignStatus.CANCELLED.value
    campaign.finished_at = utcnow()
    sends.cancel_pending(session=session, campaign_id=campaign.id)
    return campaign


def finish_if_done(*, session: Session, campaign_id: uuid.UUID) -> bool:
    """Finished, if sending and nothing is pending any more (under the campaign's lock)."""
    campaign = lock_campaign(session=session, campaign_id=campaign_id)
    if campaign is None or campaign.status != CampaignStatus.SENDING.value:
        return False
    if sends.pending_count(session=session, campaign_id=campaign_id):
        return False
    campaign.status = CampaignStatus.FINISHED.value
    campaign.finished_at = utcnow()
    return True


def sending_campaigns(*, session: Session) -> list[Campaign]:
    return list(
        session.scalars(select(Campaign).where(Campaign.status == CampaignStatus.SENDING.value))
    )


def delete_campaign(*, session: Session, org_id: uuid.UUID, campaign_id: uuid.UUID) -> None:
    campaign = get_campaign(session=session, org_id=org_id, campaign_id=campaign_id, lock=True)
    _require(campaign, CampaignStatus.DRAFT, CampaignStatus.CANCELLED, doing="deleted")
    # Its sent mails carry unsubscribe links that name their ledger rows: deleting the rows
    # would turn those links into 404s that never suppress the address.
    sent = session.scalar(
        select(func.count())
        .select_from(Send)
        .where(Send.campaign_id == campaign.id, Send.status == SendStatus.SENT.value)
    )
    if sent:
        raise Conflict(
            "a campaign that has sent mail cannot be deleted (its unsubscribe links must keep "
            "working)",
            details={"status": campaign.status, "sent": sent},
        )
    session.delete(campaign)


# -- progress and stats ----------------------------------------------------------------------
STAT_EVENTS = ("delivered", "opened", "clicked", "bounced", "complained", "unsubscribed")


@dataclass(frozen=True)
class Stats:
    total: int
    by_status: dict[str, int]
    events: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "pending": self.by_status.get(SendStatus.PENDING.value, 0),
            "sent": self.by_status.get(SendStatus.SENT.value, 0),
            "failed": self.by_status.get(SendStatus.FAILED.value, 0),
            "skipped": self.by_status.get(SendStatus.SKIPPED.value, 0),
            "cancelled": self.by_status.get(SendStatus.CANCELLED.value, 0),
            **self.events,
        }


def stats_where(session: Session, *where: Any) -> Stats:
    """Counts of the ledger's rows matching `where`: by status, and by event."""
    by_status: dict[str, int] = {
        status: int(n)
        for status, n in session.execute(
            select(Send.status, func.count()).where(*where).group_by(Send.status)
        )
    }
    columns = [func.count(getattr(Send, f"{e}_at")) for e in STAT_EVENTS]
    counted = session.execute(select(*columns).where(*where)).one()
    return Stats(
        sum(by_status.values()),
        by_status,
        dict(zip(STAT_EVENTS, (int(c) for c in counted), strict=True)),
    )


def campaign_stats(*, session: Session, campaign: Campaign) -> Stats:
    return stats_where(session, Send.campaign_id == campaign.id)


def failures(*, session: Session, campaign: Campaign, after: int | None, limit: int) -> list[Send]:
    """The campaign's mails that did not go (failed or skipped), with the reason."""
    query = select(Send).where(
        Send.campaign_id == campaign.id,
        Send.status.in_([SendStatus.FAILED.value, SendStatus.SKIPPED.value]),
    )
    if after is not None:
        query = query.where(Send.id > after)
    return list(session.scalars(query.order_by(Send.id).limit(limit)))
