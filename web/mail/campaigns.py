"""/api/v1/mail/campaigns: an organisation's campaigns, their sending and their figures."""

from __future__ import annotations

import uuid
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from models.core.addresses import normalise_email
from models.core.errors import EmailNotVerified, InvalidInput
from models.core.quotas import consume_job_quota
from models.mail import audiences, campaigns
from models.mail.suppression import suppression_of
from models.mail.tables import Campaign
from models.mail.templates import render, sample_recipient
from web.core import limits
from web.core.auth import BEARER, auth_required, current_org_id, current_viewer
from web.core.context import db, platform
from web.mail.schemas import (
    MailCampaignPage,
    MailCampaignQuery,
    MailCampaignRead,
    MailCampaignUpdate,
    MailCampaignWrite,
    MailFailurePage,
    MailFailureQuery,
    MailPreviewRead,
    MailPreviewWrite,
    MailScheduleWrite,
    MailTestSendRead,
    MailTestSendWrite,
)
from workers.core import enqueue
from workers.core.registry import get_kind
from workers.mail import submit_senders, submit_start

blp = Blueprint(
    "mail_campaigns",
    __name__,
    url_prefix="/api/v1/mail/campaigns",
    description="Mail campaigns: one mail to an audience of fans, leads or members, sent once "
    "to each.",
)


def _read(campaign: Campaign) -> dict[str, Any]:
    stats = campaigns.campaign_stats(session=db(), campaign=campaign).as_dict()
    if not stats["total"]:
        stats["total"] = campaign.total
    return {**{c: getattr(campaign, c) for c in MailCampaignRead().fields if c != "progress"},
            "progress": stats}  # fmt: skip


def _get(campaign_id: uuid.UUID, lock: bool = False) -> Campaign:
    return campaigns.get_campaign(
        session=db(), org_id=current_org_id(), campaign_id=campaign_id, lock=lock
    )


def _require_verified() -> None:
    if not current_viewer().email_verified:
        raise EmailNotVerified("confirm your e-mail address before sending mail")


@blp.route("")
class Campaigns(MethodView):
    @blp.arguments(MailCampaignQuery, location="query")
    @blp.response(200, MailCampaignPage)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """List campaigns, newest first"""
        items, next_cursor = campaigns.list_campaigns(
            session=db(), org_id=current_org_id(), cursor=query.get("cursor"), limit=query["limit"]
        )
        return {"items": [_read(c) for c in items], "next_cursor": next_cursor}

    @limits.per_user("rate_limit_mail_write")
    @blp.arguments(MailCampaignWrite)
    @blp.response(201, MailCampaignRead)
    @blp.alt_response(422, description="A template has an error (the field and line named).")
    @blp.doc(security=BEARER)
    @auth_required
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a draft campaign: subject, text and HTML templates, sender, audience"""
        campaign = campaigns.create_campaign(
            session=db(), org_id=current_org_id(), user_id=current_viewer().user_id, values=body
        )
        db().commit()
        return _read(campaign)


@blp.route("/<uuid:campaign_id>")
class CampaignItem(MethodView):
    @blp.response(200, MailCampaignRead)
    @blp.doc(security=BEARER)
    @auth_required
    def get(self, campaign_id: uuid.UUID) -> dict[str, Any]:
        """One campaign, with its progress and stats (live while it sends)"""
        return _read(_get(campaign_id))

    @limits.per_user("rate_limit_mail_write")
    # Partial at the top only: an audience given is a whole audience, checked as at create.
    @blp.arguments(MailCampaignUpdate(partial=campaigns.EDITABLE))
    @blp.response(200, MailCampaignRead)
    @blp.alt_response(409, description="Only a draft can be edited.")
    @blp.doc(security=BEARER)
    @auth_required
    def patch(self, body: dict[str, Any], campaign_id: uuid.UUID) -> dict[str, Any]:
        """Change a draft"""
        campaign = campaigns.update_campaign(
            session=db(), org_id=current_org_id(), campaign_id=campaign_id, values=body
        )
        db().commit()
        return _read(campaign)

    @blp.response(204)
    @blp.alt_response(
        409,
        description="Only a draft or a cancelled campaign that sent no mail can be deleted.",
    )
    @blp.doc(security=BEARER)
    @auth_required
    def delete(self, campaign_id: uuid.UUID) -> None:
        """Delete a draft, or a cancelled campaign that sent no mail (sent mail's unsubscribe
        links name the campaign's ledger)"""
        campaigns.delete_campaign(session=db(), org_id=current_org_id(), campaign_id=campaign_id)
        db().commit()


@blp.route("/<uuid:campaign_id>/preview", methods=["POST"])
@blp.arguments(MailPreviewWrite)
@blp.response(200, MailPreviewRead)
@blp.alt_response(422, description="A template fails for this recipient (the line named).")
@blp.doc(security=BEARER)
@auth_required
def preview(body: dict[str, Any], campaign_id: uuid.UUID) -> dict[str, Any]:
    """Render the campaign for a recipient (given, or the audience's first)"""
    campaign = _get(campaign_id)
    session = db()
    recipient = body.get("recipient") or audiences.sample(
        session=session, org_id=campaign.org_id, audience=campaign.audience
    ) or sample_recipient()  # fmt: skip
    rendered = render(
        campaigns.parts_of(campaign),
        {
            "recipient": recipient,
            "org": {"name": audiences.org_name(session=session, org_id=campaign.org_id)},
            "unsubscribe_url": f"{platform().settings.public_base_url}/api/v1/mail/u/PREVIEW",
        },
    )
    count = audiences.count(session=session, org_id=campaign.org_id, audience=campaign.audience)
    return {
        "subject": rendered.subject,
        "text": rendered.text,
        "html": rendered.html,
        "recipient": recipient,
        "audience_count": count,
    }


@blp.route("/<uuid:campaign_id>/test", methods=["POST"])
@limits.per_user("rate_limit_mail_test")
@blp.arguments(MailTestSendWrite)
@blp.response(202, MailTestSendRead)
@blp.alt_response(422, description="An address is not a member's confirmed address.")
@blp.alt_response(429, description="Past the test sends one user may make (or the daily quota).")
@blp.doc(security=BEARER)
@auth_required
def test_send(body: dict[str, Any], campaign_id: uuid.UUID) -> dict[str, Any]:
    """Send the campaign, rendered for a sample recipient, to up to 5 of the organisation's
    members (their confirmed addresses); suppressed addresses are skipped and named"""
    _require_verified()
    campaign = _get(campaign_id)
    session = db()
    # A test send is for the team to look at the mail, not a way to mail anyone.
    team = audiences.verified_member_addresses(session=session, org_id=campaign.org_id)
    addresses = list(dict.fromkeys(normalise_email(a) for a in body["to"]))
    outside = [a for a in addresses if a not in team]
    if outside:
        raise InvalidInput(
            "a test mail goes only to the confirmed addresses of the organisation's members",
            details={"fields": {"to": [f"not a member's confirmed address: {a}" for a in outside]}},
        )
    skipped = []
    for address in addresses:
        suppressed = suppression_of(session=session, org_id=campaign.org_id, email=address)
        if suppressed is not None:
            skipped.append({"email": address, "reason": suppressed.reason})
    to = [a for a in addresses if a not in {s["email"] for s in skipped}]
    if not to:
        return {"job_id": None, "to": [], "skipped": skipped}
    rendered = render(
        campaigns.parts_of(campaign),
        {
            "recipient": audiences.sample(
                session=session, org_id=campaign.org_id, audience=campaign.audience
            ) or sample_recipient(),
            "org": {"name": audiences.org_name(session=session, org_id=campaign.org_id)},
            "unsubscribe_url": f"{platform().settings.public_base_url}/api/v1/mail/u/TEST",
        },
    )  # fmt: skip
    kind = get_kind("email.send")
    assert kind is not None  # noqa: S101 - the mail domain declares it
    params: dict[str, Any] = {
        "to": to,
        "subject": f"[Test] {rendered.subject}"[:500],
        "text": rendered.text,
    }
    if rendered.html:
        params["html"] = rendered.html
    if campaign.reply_to:
        params["reply_to"] = campaign.reply_to
    job, _ = enqueue.submit(
        session=session,
        dispatcher=platform().dispatcher,
        owner_id=current_viewer().user_id,
        org_id=campaign.org_id,
        kind=kind,
        params=params,
        internal=True,  # the campaign's test, not a job the user picked a kind for
    )
    # Internal jobs count against nothing: a test send counts against the daily quota.
    consume_job_quota(session=session, org_id=campaign.org_id)
    session.commit()
    return {"job_id": job.id, "to": to, "skipped": skipped}


@blp.route("/<uuid:campaign_id>/schedule", methods=["POST"])
@limits.per_user("rate_limit_mail_write")
@blp.arguments(MailScheduleWrite)
@blp.response(200, MailCampaignRead)
@blp.alt_response(409, description="Only a draft can be scheduled.")
@blp.doc(security=BEARER)
@auth_required
def schedule(body: dict[str, Any], campaign_id: uuid.UUID) -> dict[str, Any]:
    """Send the campaign at `send_at`, or now when it is absent"""
    _require_verified()
    session = db()
    campaign = campaigns.schedule(
        session=session,
        org_id=current_org_id(),
        campaign_id=campaign_id,
        send_at=body.get("send_at"),
    )
    submit_start(
        session=session,
        dispatcher=platform().dispatcher,
        campaign=campaign,
        owner_id=current_viewer().user_id,
    )
    session.commit()
    return _read(campaign)


@blp.route("/<uuid:campaign_id>/pause", methods=["POST"])
@limits.per_user("rate_limit_mail_write")
@blp.response(200, MailCampaignRead)
@blp.alt_response(409, description="Only a sending campaign can be paused.")
@blp.doc(security=BEARER)
@auth_required
def pause(campaign_id: uuid.UUID) -> dict[str, Any]:
    """Pause a sending campaign: no mail starts after this answer"""
    campaign = campaigns.pause(session=db(), org_id=current_org_id(), campaign_id=campaign_id)
    db().commit()
    return _read(campaign)


@blp.route("/<uuid:campaign_id>/resume", methods=["POST"])
@limits.per_user("rate_limit_mail_write")
@blp.response(200, MailCampaignRead)
@blp.alt_response(409, description="Only a paused campaign can be resumed.")
@blp.doc(security=BEARER)
@auth_required
def resume(campaign_id: uuid.UUID) -> dict[str, Any]:
    """Resume a paused campaign where it stopped: each recipient still gets one mail"""
    _require_verified()
    session = db()
    campaign = campaigns.resume(session=session, org_id=current_org_id(), campaign_id=campaign_id)
    campaign.note = None
    submit_senders(
        session=session,
        dispatcher=platform().dispatcher,
        campaign=campaign,
        count=platform().settings.mail_sender_jobs,
    )
    session.commit()
    return _read(campaign)


@blp.route("/<uuid:campaign_id>/cancel", methods=["POST"])
@limits.per_user("rate_limit_mail_write")
@blp.response(200, MailCampaignRead)
@blp.alt_response(409, description="A finished or cancelled campaign cannot be cancelled.")
@blp.doc(security=BEARER)
@auth_required
def cancel(campaign_id: uuid.UUID) -> dict[str, Any]:
    """Cancel a campaign: what has not gone is not sent"""
    campaign = campaigns.cancel(session=db(), org_id=current_org_id(), campaign_id=campaign_id)
    db().commit()
    return _read(campaign)


@blp.route("/<uuid:campaign_id>/failures")
@blp.arguments(MailFailureQuery, location="query")
@blp.response(200, MailFailurePage)
@blp.doc(security=BEARER)
@auth_required
def failures(query: dict[str, Any], campaign_id: uuid.UUID) -> dict[str, Any]:
    """The campaign's mails that did not go (failed or skipped), each with the reason"""
    campaign = _get(campaign_id)
    rows = campaigns.failures(
        session=db(), campaign=campaign, after=query.get("after"), limit=query["limit"]
    )
    next_after = rows[-1].id if len(rows) == query["limit"] else None
    return {"items": rows, "next_after": next_after}
