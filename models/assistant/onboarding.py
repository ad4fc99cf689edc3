"""Onboarding: a new artist's first messages answer a few questions (goals, genre, release
plans, links), one at a time, and the answers become part of what the assistant knows.

A state machine on the artist's profile: no profile yet, then each step in STEPS awaiting its
answer, then "done". The first message of an artist without a profile starts it (that message
is kept but answers nothing); each later message answers the step awaited and the next
question follows; "skip" leaves a step unanswered. `restart` starts again from the first
question (what the assistant knew is forgotten), as the artist asks for it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.assistant.tables import Profile
from models.core.base import utcnow

DONE = "done"
MAX_ANSWER_CHARS = 1000


@dataclass(frozen=True)
class Step:
    name: str
    question: str


STEPS: tuple[Step, ...] = (
    Step("goals", "What are your goals as an artist for the next year?"),
    Step("genre", "Which genre (or genres) describes your music best?"),
    Step("release_plans", "What are you planning to release next, and when?"),
    Step(
        "links",
        "Where can fans find you? Share your links (streaming profiles, socials, website).",
    ),
)
_INDEX = {step.name: i for i, step in enumerate(STEPS)}
WELCOME = (
    "Welcome! I'm your assistant: I answer from your own wallet, releases, fans and page. "
    'First, four quick questions so I know you (answer "skip" to leave one out).'
)
FINISHED = (
    "Thanks, that's everything. I'll keep it in mind: ask me anything about your earnings, "
    "releases or fans."
)


@dataclass(frozen=True)
class Turn:
    """What onboarding says to a message: the reply, and whether onboarding is now over."""

    reply: str
    completed: bool


def profile_of(*, session: Session, org_id: uuid.UUID, lock: bool = False) -> Profile | None:
    query = select(Profile).where(Profile.org_id == org_id)
    if lock:
        query = query.with_for_update()
    return session.scalar(query)


def is_onboarded(profile: Profile | None) -> bool:
    return profile is not None and profile.step == DONE


def _question(step: str) -> str:
    index = _INDEX[step]
    return f"({index + 1}/{len(STEPS)}) {STEPS[index].question}"


def answer(*, session: Session, org_id: uuid.UUID, text: str) -> Turn:
    """Take `text` as the artist's next onboarding message (the caller knows onboarding is not
    over): store the answer, move on, and say what comes next."""
    profile = profile_of(session=session, org_id=org_id, lock=True)
    if profile is None:
        first = STEPS[0].name
        session.add(Profile(org_id=org_id, step=first, answers={}))
        session.flush()
        return Turn(f"{WELCOME}\n\n{_question(first)}", completed=False)
    if profile.step == DONE:
        return Turn(FINISHED, completed=True)
    given = text.strip()[:MAX_ANSWER_CHARS]
    answers = dict(profile.answers)
    if given.lower() != "skip":
        answers[profile.step] = given
    following = _INDEX[profile.step] + 1
    profile.answers = answers
    profile.updated_at = utcnow()
    if following < len(STEPS):
        profile.step = STEPS[following].name
        session.flush()
        return Turn(_question(profile.step), completed=False)
    profile.step = DONE
    profile.completed_at = utcnow()
    session.flush()
    return Turn(FINISHED, completed=True)


def restart(*, session: Session, org_id: uuid.UUID) -> str:
    """Start onboarding again at the first question; its text (the assistant's message)."""
    profile = profile_of(session=session, org_id=org_id, lock=True)
    first = STEPS[0].name
    if profile is None:
        session.add(Profile(org_id=org_id, step=first, answers={}))
    else:
        profile.step, profile.answers, profile.completed_at = first, {}, None
        profile.updated_at = utcnow()
    session.flush()
    return f"{WELCOME}\n\n{_question(first)}"


def onboarding_state(profile: Profile | None) -> dict[str, object]:
    """Where onboarding is, as GET /assistant/context shows it."""
    if profile is None:
        return {"status": "not_started", "step": None, "answers": {}, "completed_at": None}
    return {
        "status": "complete" if profile.step == DONE else "in_progress",
        "step": None if profile.step == DONE else profile.step,
        "answers": dict(profile.answers),
        "completed_at": profile.completed_at,
    }
