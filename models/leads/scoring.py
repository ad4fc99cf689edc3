"""What makes a lead good, as a score from 0 to 100 with the reasons that add up to it.

The reasons are shown to the user beside the score, so a score is never a bare number."""

from __future__ import annotations

from dataclasses import dataclass, field

from models.leads.contacts import ROLE_LOCALPARTS


@dataclass(frozen=True)
class Evidence:
    """What is known about one company when it is scored."""

    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    social: list[str] = field(default_factory=list)
    company_name: str = ""
    text: str = ""  # the page's words (and the result's title and snippet), lower-cased
    rank: int | None = None  # best position in the search results, from 0


def score(evidence: Evidence, signals: list[str]) -> tuple[int, list[str]]:
    points = 0
    reasons = []
    personal = [e for e in evidence.emails if e.split("@", 1)[0] not in ROLE_LOCALPARTS]
    if personal:
        points += 30
        reasons.append(f"+30 a named person's e-mail address ({personal[0]})")
    elif evidence.emails:
        points += 20
        reasons.append(f"+20 a shared e-mail address ({evidence.emails[0]})")
    if evidence.phones:
        points += 10
        reasons.append("+10 a phone number")
    if evidence.social:
        points += 5
        reasons.append("+5 social profiles")
    if evidence.company_name:
        points += 5
        reasons.append("+5 a company name")
    matched = [s for s in signals if s.strip() and s.strip().lower() in evidence.text]
    if matched:
        gained = min(40, 10 * len(matched))
        points += gained
        reasons.append(f"+{gained} matches the strategy's signals: {', '.join(matched[:4])}")
    if evidence.rank is not None and evidence.rank < 10:
        points += 10
        reasons.append(f"+10 ranked {evidence.rank + 1} in the search results")
    return min(points, 100), reasons
