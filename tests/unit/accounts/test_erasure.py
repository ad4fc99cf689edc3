"""Every table that names a user is erased when the account is deleted: a deleted account's
row stays as a tombstone, so nothing cascades, and a table no eraser knows keeps the person."""

from __future__ import annotations

from models import Base
from models.core.erasure import holders

# The tables referencing users.id, and who erases their rows (a domain's eraser, or the
# tombstone itself for rows that must stay and name no one but it).
ERASED_BY = {
    "auth_sessions": "accounts",
    "refresh_tokens": "accounts (with auth_sessions)",
    "email_tokens": "accounts",
    "login_attempts": "accounts",
    "provider_identities": "accounts",
    "provider_sign_ins": "accounts",
    "memberships": "orgs",
    "invitations": "orgs",
    "jobs": "jobs (scrubbed of the address; the owner is the tombstone)",
    "ops_audit": "stays: names the tombstone, carries no address",
    "queue_pauses": "stays: names the tombstone (paused_by), carries no address",
    "influencer_campaigns": "influencers (created_by emptied; the organisation keeps them)",
    "influencer_searches": "influencers (created_by emptied; the organisation keeps them)",
    "billing_checkouts": "billing (who started it is cleared; the organisation's checkout stays)",
    "fan_imports": "fans (the import stays the organisation's, without its uploader)",
    "releases": "fans (the release stays the organisation's, without who started it)",
    "release_events": "fans (the history stays, without who moved it)",
    "revenue_uploads": "revenue (the upload stays the organisation's, without who made it)",
    "revenue_withdrawals": "revenue (the withdrawal stays, without who asked for it)",
    "revenue_withdrawal_events": "revenue (the history stays, without who moved it)",
    "revenue_statements": "revenue (the statement stays, without who asked for it)",
    "lead_goals": "leads (created_by emptied; the organisation keeps them)",
    "lead_reports": "leads (created_by emptied)",
    "lead_report_schedules": "leads (created_by emptied; the schedule stays the organisation's)",
    "lead_changes": "leads (actor_id emptied; the lead keeps its history)",
    "lead_interactions": "leads (actor_id emptied; the lead keeps its timeline)",
    "notification_reads": "notifications (a member's readings go; the notifications stay)",
    "live_sessions": "live (created_by emptied, active ones ended; the organisation keeps them)",
    "mail_campaigns": "mail (created_by emptied; mail sent to the address keeps only a digest)",
    "mail_sequences": "mail (created_by emptied; the person's enrolments are removed)",
    "assistant_messages": "assistant (the person's messages and their replies deleted)",
}


def test_every_table_that_references_users_has_an_eraser() -> None:
    referencing = {
        table.name
        for table in Base.metadata.sorted_tables
        for key in table.foreign_keys
        if key.column.table.name == "users"
    }

    assert referencing == set(ERASED_BY), (
        "a table references users.id: register its eraser with @personal_data "
        "(models/core/erasure.py) and name it here"
    )


def test_the_domains_register_their_erasers() -> None:
    assert {
        "accounts",
        "fans",
        "jobs",
        "orgs",
        "influencers",
        "revenue",
        "leads",
        "notifications",
        "live",
        "mail",
        "assistant",
    } <= set(holders())
