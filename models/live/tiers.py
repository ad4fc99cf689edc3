"""Which subscription tier unlocks what in the live domain: the one table that says so.

Every check of a live feature reads TIER_RULES; a refusal names the feature and the lowest
tier that has it (`tier_required`, 403). docs/live.md shows the same table.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.core.errors import PermissionDenied
from models.core.quotas import Tier
from models.core.tenants import organizations


@dataclass(frozen=True)
class LiveRules:
    """What one tier may do live."""

    concurrent_sessions: int | None  # active sessions per organisation; None: unlimited
    effect_uploads: bool  # its own effects, uploaded to the library
    brand_kits: bool  # brand kits, and sessions that follow one
    overlays_per_session: int  # overlay links live at once on one session


TIER_RULES: dict[Tier, LiveRules] = {
    Tier.FREE: LiveRules(
        concurrent_sessions=1, effect_uploads=False, brand_kits=False, overlays_per_session=2
    ),
    Tier.CREATOR: LiveRules(
        concurrent_sessions=2, effect_uploads=True, brand_kits=False, overlays_per_session=5
    ),
    Tier.PROFESSIONAL: LiveRules(
        concurrent_sessions=5, effect_uploads=True, brand_kits=True, overlays_per_session=10
    ),
    Tier.ENTERPRISE: LiveRules(
        concurrent_sessions=None, effect_uploads=True, brand_kits=True, overlays_per_session=25
    ),
}


class TierRequired(PermissionDenied):
    """The organisation's tier does not include this feature; a higher one does."""

    code = "tier_required"

    def __init__(self, message: str, *, feature: str, needed: Tier | None, tier: Tier) -> None:
        super().__init__(
            message,
            details={
                "feature": feature,
                "tier_required": needed.value if needed else None,
                "tier": tier.value,
            },
        )
        self.needed = needed


def tier_of(*, session: Session, org_id: uuid.UUID) -> Tier:
    tier = session.scalar(select(organizations.c.tier).where(organizations.c.id == org_id))
    return Tier(str(tier))


def rules_of(*, session: Session, org_id: uuid.UUID) -> tuple[Tier, LiveRules]:
    tier = tier_of(session=session, org_id=org_id)
    return tier, TIER_RULES[tier]


def lock_rules(*, session: Session, org_id: uuid.UUID) -> tuple[Tier, LiveRules]:
    """The organisation's tier and rules, its row locked until the transaction ends: a count
    checked against a rule under it (active sessions, uploads) cannot be raced past by a
    second request. FOR NO KEY UPDATE, so rows that merely reference the organisation are
    still inserted meanwhile."""
    tier = session.scalar(
        select(organizations.c.tier)
        .where(organizations.c.id == org_id)
        .with_for_update(key_share=True)
    )
    return Tier(str(tier)), TIER_RULES[Tier(str(tier))]


def lowest_tier(allows: str) -> Tier | None:
    """The first tier (in the order of Tier) whose rules have the flag `allows` set."""
    return next((t for t in Tier if getattr(TIER_RULES[t], allows)), None)


def require(*, session: Session, org_id: uuid.UUID, feature: str, what: str) -> None:
    """TierRequired unless the organisation's tier has the flag `feature` of LiveRules."""
    tier, rules = rules_of(session=session, org_id=org_id)
    if getattr(rules, feature):
        return
    needed = lowest_tier(feature)
    raise TierRequired(
        f"{what} need the {needed.value if needed else 'a higher'} plan; "
        f"your organization is on {tier.value}",
        feature=feature,
        needed=needed,
        tier=tier,
    )


def more_needed(*, feature: str, what: str, tier: Tier, count: int) -> TierRequired:
    """The refusal when `count` of a counted feature is what the tier allows at most."""
    needed = next(
        (
            t
            for t in Tier
            if list(Tier).index(t) > list(Tier).index(tier)
            and ((limit := getattr(TIER_RULES[t], feature)) is None or limit > count)
        ),
        None,
    )
    return TierRequired(
        f"your organization's {tier.value} plan allows {count} {what}; "
        + (f"the {needed.value} plan allows more" if needed else "end one first"),
        feature=feature,
        needed=needed,
        tier=tier,
    )
