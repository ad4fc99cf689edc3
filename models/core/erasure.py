"""What each domain keeps about a person, for the two things a user may ask of it: a copy of
their data, and erasure when they leave.

Core knows no domain, so each domain registers what it holds when its models module is
imported (every one is, through models/__init__.py):

    @personal_data("fans", export=export_fans)
    def erase_fans(session: Session, person: Person) -> None: ...

An eraser deletes or anonymises the rows that name the person, in the caller's transaction
(account deletion erases everything in one); an exporter returns JSON-ready data. A domain
whose tables reference users.id must register one: a deleted account keeps its users row as
a nameless tombstone (so the jobs and audit rows that must stay keep a valid owner), so
nothing cascades for it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, cast, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from models.core.jobs.tables import Job, JobEffect, JobEvent


@dataclass(frozen=True)
class Person:
    """Who is leaving or asking for their data: the account, the address and name it had."""

    user_id: uuid.UUID
    email: str
    display_name: str | None = None


Eraser = Callable[[Session, Person], None]
Exporter = Callable[[Session, Person], Any]


@dataclass(frozen=True)
class _Holder:
    erase: Eraser
    export: Exporter | None


_HOLDERS: dict[str, _Holder] = {}


def personal_data(name: str, *, export: Exporter | None = None) -> Callable[[Eraser], Eraser]:
    """Register the eraser (and exporter) of the personal data `name` holds."""

    def register(erase: Eraser) -> Eraser:
        if name in _HOLDERS and _HOLDERS[name].erase is not erase:
            raise ValueError(f"personal data holder {name!r} is registered twice")
        _HOLDERS[name] = _Holder(erase, export)
        return erase

    return register


def holders() -> list[str]:
    return sorted(_HOLDERS)


def erase_person(*, session: Session, person: Person) -> None:
    """Run every registered eraser, in the caller's transaction."""
    for name in holders():
        _HOLDERS[name].erase(session, person)


def export_person(*, session: Session, person: Person) -> dict[str, Any]:
    """What every registered exporter returns, by holder's name."""
    return {
        name: holder.export(session, person)
        for name, holder in sorted(_HOLDERS.items())
        if holder.export is not None
    }


ERASED = "[erased]"


def _scrubbed(column: Any, person: Person) -> Any:
    """A JSON or text column with every occurrence of the person's address (and name, if it
    is distinctive enough to search for) replaced. JSON escapes none of an address's
    characters but backslash and quote, which addresses we accept do not hold."""
    is_json = isinstance(column.type, JSONB)
    scrubbed = cast(column, Text) if is_json else column
    for needle in _needles(person):
        scrubbed = func.replace(scrubbed, needle, ERASED)
    return cast(scrubbed, JSONB) if is_json else scrubbed


def _needles(person: Person) -> list[str]:
    name = (person.display_name or "").strip()
    # A name of a few letters would match inside unrelated words: only the address then.
    plain = len(name) >= 4 and not set(name) & set('"\\')
    return [person.email, *([name] if plain else [])]


EXPORT_JOBS = 1_000


def _export_jobs(session: Session, person: Person) -> list[dict[str, Any]]:
    """The person's newest jobs: what ran for them, not what it carried."""
    rows = session.execute(
        text(
            "SELECT id, org_id, kind, status, created_at, finished_at FROM jobs "
            "WHERE owner_id = :user_id AND NOT internal ORDER BY created_at DESC LIMIT :n"
        ),
        {"user_id": person.user_id, "n": EXPORT_JOBS},
    ).all()
    return [
        {
            "id": str(r.id),
            "org_id": str(r.org_id),
            "kind": r.kind,
            "status": str(r.status),
            "created_at": r.created_at.isoformat(),
            "finished_at": r.finished_at.isoformat() if r.finished_at else None,
        }
        for r in rows
    ]


@personal_data("jobs", export=_export_jobs)
def _erase_from_jobs(session: Session, person: Person) -> None:
    """The person's jobs stay (their organisation's history), without their address or name."""
    theirs = select(Job.id).where(Job.owner_id == person.user_id)
    session.execute(
        update(Job)
        .where(Job.owner_id == person.user_id)
        .values(
            {
                c: _scrubbed(c, person)
                for c in (Job.params, Job.result, Job.error, Job.checkpoint, Job.progress_message)
            }
        )
    )
    session.execute(
        update(JobEvent)
        .where(JobEvent.job_id.in_(theirs))
        .values(data=_scrubbed(JobEvent.data, person), message=_scrubbed(JobEvent.message, person))
    )
    session.execute(
        update(JobEffect)
        .where(JobEffect.job_id.in_(theirs))
        .values(result=_scrubbed(JobEffect.result, person))
    )
