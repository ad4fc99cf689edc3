"""An organisation's job feed misses no event that commits out of id order, live or resumed."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.orm import Session

from models.core.jobs import feed
from tests.conftest import make_user, org_of
from workers.core.changes import org_jobs_channel
from workers.core.enqueue import Submission, submit, submit_many
from workers.core.registry import get_kind
from workers.core.setup import Platform


def a_job(
    platform: Platform, session: Session, owner_id: uuid.UUID, org_id: uuid.UUID
) -> uuid.UUID:
    job, _ = submit(
        session=session,
        dispatcher=platform.dispatcher,
        owner_id=owner_id,
        org_id=org_id,
        kind=get_kind("test.bug"),
        params={},
    )
    return job.id


def event(session: Session, job_id: uuid.UUID, type_: str) -> int:
    return int(
        session.execute(
            text("INSERT INTO job_events (job_id, type) VALUES (:j, :t) RETURNING id"),
            {"j": job_id, "t": type_},
        ).scalar_one()
    )


def test_an_event_committed_after_a_later_one_is_read_live_and_after_a_resume(
    committed_platform: Platform,
) -> None:
    platform = committed_platform
    with platform.sessions.begin() as session:
        owner = make_user(session)
        org_id = org_of(session, owner.id)
        first, second = (
            a_job(platform, session, owner.id, org_id),
            a_job(platform, session, owner.id, org_id),
        )
    with platform.sessions() as reader:
        live = feed.org_cursor_now(session=reader, org_id=org_id)
        written_out = live  # what an event stream's id keeps of it
        slow, quick = platform.sessions(), platform.sessions()
        slow_id = event(slow, first, "progress")  # written first, committed last
        quick_id = event(quick, second, "progress")
        quick.commit()
        assert slow_id < quick_id

        seen, live = feed.org_events(session=reader, org_id=org_id, cursor=live)
        reader.commit()
        assert [e.id for e in seen] == [quick_id]
        written_out = feed.Cursor.parse(str(feed.Cursor(quick_id, None, live.oldest_running)))

        slow.commit()
        later, live = feed.org_events(session=reader, org_id=org_id, cursor=live)
        assert [e.id for e in later] == [slow_id]  # read once, though below the last id
        again, _ = feed.org_events(session=reader, org_id=org_id, cursor=live)
        assert again == []

        resumed, _ = feed.org_events(session=reader, org_id=org_id, cursor=written_out)
        assert slow_id in [e.id for e in resumed]  # resumed: never fewer (maybe more)
        slow.close()
        quick.close()


def test_another_organisations_events_are_not_in_the_feed(committed_platform: Platform) -> None:
    platform = committed_platform
    with platform.sessions.begin() as session:
        mine, theirs = make_user(session), make_user(session)
        my_org, their_org = org_of(session, mine.id), org_of(session, theirs.id)
        cursor = feed.org_cursor_now(session=session, org_id=my_org)
        a_job(platform, session, theirs.id, their_org)
        own = a_job(platform, session, mine.id, my_org)
    with platform.sessions() as session:
        events, _ = feed.org_events(session=session, org_id=my_org, cursor=cursor)
    assert [(e.job_id, e.type) for e in events] == [(own, "queued")]


def test_a_cursor_that_is_not_ours_is_refused() -> None:
    for bad in ("", "abc", "1.2.3", "-1", str(2**63), "1." + "9" * 30):
        try:
            feed.Cursor.parse(bad)
        except Exception as error:  # noqa: BLE001 - the type is asserted below
            assert type(error).__name__ == "InvalidInput"
        else:
            raise AssertionError(f"{bad!r} was taken as a cursor")


def test_submissions_are_announced_on_the_organisations_channel_once_committed(
    committed_platform: Platform,
) -> None:
    platform = committed_platform
    with platform.sessions.begin() as session:
        owner = make_user(session)
        org_id = org_of(session, owner.id)
    with platform.changes.watch_channel(org_jobs_channel(org_id)) as announced:
        with platform.sessions() as session:
            a_job(platform, session, owner.id, org_id)
            assert not announced.wait(0.3)  # not before the commit
            session.commit()
        assert announced.wait(2)
        announced.clear()
        with platform.sessions() as session:
            submit_many(
                session=session,
                dispatcher=platform.dispatcher,
                owner_id=owner.id,
                org_id=org_id,
                submissions=[Submission.checked(get_kind("test.bug"), {})] * 3,  # type: ignore[arg-type]
            )
            session.commit()
        assert announced.wait(2)


def test_a_resumed_read_over_several_pages_misses_nothing_and_repeats_little(
    committed_platform: Platform,
) -> None:
    platform = committed_platform
    with platform.sessions.begin() as session:
        owner = make_user(session)
        org_id = org_of(session, owner.id)
        job = a_job(platform, session, owner.id, org_id)
    with platform.sessions() as reader:
        live = feed.org_cursor_now(session=reader, org_id=org_id)
        reader.commit()
        written_out = feed.Cursor.parse(str(feed.Cursor(live.after_id, None, live.oldest_running)))
        slow = platform.sessions()
        slow.execute(text("UPDATE jobs SET updated_at = now() WHERE id = :j"), {"j": job})
        slow_id = event(slow, job, "progress")  # written first, committed between two pages
        with platform.sessions.begin() as quick:
            quick_ids = [event(quick, job, "progress") for _ in range(3)]
        seen: list[int] = []
        page, cursor = feed.org_events(session=reader, org_id=org_id, cursor=written_out, limit=2)
        reader.commit()
        seen += [e.id for e in page]
        slow.commit()
        slow.close()
        for _ in range(4):
            page, cursor = feed.org_events(session=reader, org_id=org_id, cursor=cursor, limit=2)
            reader.commit()
            seen += [e.id for e in page]
    assert {slow_id, *quick_ids} <= set(seen)  # nothing missed
    # Resumed, a read may give again events from before the cursor (a transaction anywhere on
    # the server, another test's say, holds the oldest running one back): the job's queued
    # event at most, and each at most twice.
    with platform.engine.connect() as conn:
        org_events = set(
            conn.execute(text("SELECT id FROM job_events WHERE job_id = :j"), {"j": job}).scalars()
        )
    assert set(seen) <= org_events
    assert len(seen) <= 2 * len(set(seen))


def test_a_quiet_organisations_cursor_moves_with_the_others_events(
    committed_platform: Platform,
) -> None:
    platform = committed_platform
    with platform.sessions.begin() as session:
        quiet, busy = make_user(session), make_user(session)
        quiet_org, busy_org = org_of(session, quiet.id), org_of(session, busy.id)
        busy_job = a_job(platform, session, busy.id, busy_org)
    with platform.sessions() as reader:
        cursor = feed.org_cursor_now(session=reader, org_id=quiet_org)
        with platform.sessions.begin() as other:
            last = max(event(other, busy_job, "progress") for _ in range(5))
        events, cursor = feed.org_events(session=reader, org_id=quiet_org, cursor=cursor)
    assert events == []
    assert cursor.after_id >= last
