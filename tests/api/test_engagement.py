"""/api/v1/metrics over HTTP: points recorded one at a time or in batches (all or none), the
dashboard's figures against the points, its cache never stale after a write, and another
organisation seeing none of it."""

from __future__ import annotations

import dataclasses
import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import hypothesis
import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import strategies as st
from schemathesis import Case
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from config.settings import RATE_LIMIT_SETTINGS
from models import engagement
from tests.api.conftest import Caller
from tests.api.test_openapi_fuzz import FUZZ_SETTINGS, call, caller_of, cases, operations, spoil
from tests.conftest import make_user, org_of
from web import create_app
from workers.core.setup import Platform

MONDAY = datetime(2026, 11, 2, tzinfo=UTC)


def at(days: float = 0, hours: float = 0, minutes: float = 0) -> str:
    return (MONDAY + timedelta(days=days, hours=hours, minutes=minutes)).isoformat()


def point(metric: str, value: float | str, when: str, platform: str = "tiktok") -> dict[str, Any]:
    return {"metric": metric, "value": value, "platform": platform, "recorded_at": when}


# Two days of one week, a day of the next, and a point in the day before the first.
POINTS = [
    point("views", 70, at(-1, 8)),
    point("views", 100, at(0, 10, 15)),
    point("views", 50, at(0, 10, 45), platform="youtube"),
    point("likes", 10, at(0, 10, 20)),
    point("views", 200, at(1, 9)),
    point("comments", 5, at(1, 9, 30)),
    point("views", 400, at(7, 12)),
    point("likes", 20, at(7, 12)),
    point("shares", 5, at(7, 12, 30)),
]


def record(client: FlaskClient, who: Caller, body: Any) -> Any:
    return client.post("/api/v1/metrics", json=body, headers=who.headers)


def dashboard(client: FlaskClient, who: Caller, **query: Any) -> Any:
    return client.get("/api/v1/metrics/dashboard", query_string=query, headers=who.headers)


def metric(body: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in body["metrics"] if m["metric"] == name)


def points_of(session: Session, who: Caller) -> int:
    org_id = org_of(session, who.user.id)
    return session.scalar(
        select(func.count()).select_from(engagement.Point).where(engagement.Point.org_id == org_id)
    )


def test_a_single_point_is_recorded_and_shows_on_the_dashboard(
    client: FlaskClient, alice: Caller
) -> None:
    answer = record(client, alice, point("views", "12.5", at(0, 10)))

    assert answer.status_code == 201
    body = answer.get_json()
    assert body["recorded"] == 1
    assert body["points"][0]["metric"] == "views" and body["points"][0]["value"] == 12.5
    read = dashboard(client, alice, grain="day", since=at(0), until=at(1)).get_json()
    assert metric(read, "views")["series"]["sum"] == [12.5]
    assert metric(read, "views")["latest"] == {"value": 12.5, "recorded_at": at(0, 10)}


def test_a_batch_is_recorded_whole(client: FlaskClient, alice: Caller, session: Session) -> None:
    answer = record(client, alice, {"points": POINTS})

    assert answer.status_code == 201
    assert answer.get_json()["recorded"] == len(POINTS)
    assert [p["value"] for p in answer.get_json()["points"]] == [p["value"] for p in POINTS]
    assert points_of(session, alice) == len(POINTS)


def test_the_points_are_listed_as_recorded_last_first_page_by_page(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    record(client, alice, {"points": POINTS})
    record(client, alice, point("views", 1, at(0)))

    first = client.get("/api/v1/metrics?limit=4", headers=alice.headers).get_json()
    rest = client.get(
        f"/api/v1/metrics?before={first['next_before']}", headers=alice.headers
    ).get_json()
    likes = client.get("/api/v1/metrics?metric=likes", headers=alice.headers).get_json()

    values = [p["value"] for p in first["items"] + rest["items"]]
    assert values == [1.0] + [float(p["value"]) for p in reversed(POINTS)]
    assert rest["next_before"] is None
    assert [p["value"] for p in likes["items"]] == [20.0, 10.0]
    assert client.get("/api/v1/metrics", headers=bob.headers).get_json()["items"] == []


def test_a_bad_point_refuses_the_batch_naming_it_and_nothing_is_stored(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    bad_value = [point("views", 1, at(0)), point("views", "lots", at(0)), point("likes", 2, at(0))]
    bad_name = [point("views", 1, at(0)), point("views", 1, at(0)), point("Likes!", 2, at(0))]
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    in_the_future = [point("views", 1, at(0)), point("views", 1, future)]
    too_precise = [point("views", "0.0000001", at(0))]

    answers = [
        record(client, alice, {"points": batch})
        for batch in (bad_value, bad_name, in_the_future, too_precise)
    ]

    assert [a.status_code for a in answers] == [422, 422, 422, 422]
    for answer in answers:
        assert set(answer.get_json()) == {"code", "message", "details", "request_id"}
    assert list(answers[0].get_json()["details"]["fields"]["points"]) == ["1"]
    assert list(answers[1].get_json()["details"]["fields"]["points"]) == ["2"]
    assert answers[2].get_json()["details"]["index"] == 1
    assert answers[3].get_json()["details"]["index"] == 0
    assert points_of(session, alice) == 0
    assert dashboard(client, alice, since=at(0), until=at(1)).get_json()["metrics"] == []


def test_a_batch_past_the_cap_or_empty_is_refused(client: FlaskClient, alice: Caller) -> None:
    too_many = [point("views", 1, at(0))] * (engagement.MAX_BATCH + 1)

    assert record(client, alice, {"points": too_many}).status_code == 422
    assert record(client, alice, {"points": []}).status_code == 422
    assert record(client, alice, [point("views", 1, at(0))]).status_code == 422


def test_the_dashboard_by_day_sums_the_points_with_growth_and_the_latest_value(
    client: FlaskClient, alice: Caller
) -> None:
    record(client, alice, {"points": POINTS})

    read = dashboard(client, alice, grain="day", since=at(0, 10, 30), until=at(2))

    assert read.status_code == 200
    body = read.get_json()
    assert body["buckets"] == [at(0), at(1)]  # since widened to the start of its day
    views = metric(body, "views")
    assert views["series"] == {
        "sum": [150.0, 200.0],
        "count": [2, 1],
        "min": [50.0, 200.0],
        "max": [100.0, 200.0],
        "last": [50.0, 200.0],
    }
    assert views["total"] == 350.0 and views["count"] == 3
    assert views["latest"] == {"value": 200.0, "recorded_at": at(1, 9)}
    # the two days before: 70 views
    assert views["growth"] == {"previous_total": 70.0, "change": 280.0, "rate": 4.0}
    assert metric(body, "likes")["growth"]["rate"] is None  # nothing before to compare with
    assert [m["metric"] for m in body["metrics"]] == ["comments", "likes", "views"]


def test_the_dashboard_by_hour_and_by_week(client: FlaskClient, alice: Caller) -> None:
    record(client, alice, {"points": POINTS})

    hours = dashboard(client, alice, grain="hour", since=at(0, 10), until=at(0, 12)).get_json()
    weeks = dashboard(client, alice, grain="week", since=at(0), until=at(14)).get_json()

    assert hours["buckets"] == [at(0, 10), at(0, 11)]
    assert metric(hours, "views")["series"]["sum"] == [150.0, 0.0]
    assert metric(hours, "views")["series"]["last"] == [50.0, None]
    assert weeks["buckets"] == [at(0), at(7)]  # weeks start on Monday
    assert metric(weeks, "views")["series"]["sum"] == [350.0, 400.0]
    assert metric(weeks, "views")["growth"]["previous_total"] == 70.0
    assert metric(weeks, "views")["latest"] == {"value": 400.0, "recorded_at": at(7, 12)}


def test_a_platform_and_metrics_can_be_chosen(client: FlaskClient, alice: Caller) -> None:
    record(client, alice, {"points": POINTS})

    youtube = dashboard(client, alice, since=at(0), until=at(2), platform="youtube").get_json()
    views = dashboard(client, alice, since=at(0), until=at(2), metric=["views"]).get_json()

    assert [(m["metric"], m["total"]) for m in youtube["metrics"]] == [("views", 50.0)]
    assert [m["metric"] for m in views["metrics"]] == ["views"]
    assert views["derived"][0]["value"] == round(15 / 350, 6)  # its inputs are still read


def test_the_engagement_rate_names_its_formula_and_version(
    client: FlaskClient, alice: Caller
) -> None:
    record(client, alice, {"points": POINTS})

    body = dashboard(client, alice, grain="week", since=at(0), until=at(14)).get_json()

    assert body["derived"] == [
        {
            "name": "engagement_rate",
            "formula": "(likes + comments + shares) / views",
            "version": 1,
            "value": round((10 + 5 + 20 + 5) / 750, 6),
            "previous_value": 0.0,
            "series": [round(15 / 350, 6), round(25 / 400, 6)],
        }
    ]


def test_a_dashboard_without_views_has_no_engagement_rate(
    client: FlaskClient, alice: Caller
) -> None:
    record(client, alice, point("likes", 3, at(0, 1)))

    body = dashboard(client, alice, since=at(0), until=at(1)).get_json()

    assert body["derived"][0]["value"] is None and body["derived"][0]["series"] == [None]


def test_a_new_formula_version_is_not_served_from_the_old_ones_cache(
    client: FlaskClient, alice: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(client, alice, {"points": POINTS})
    first = dashboard(client, alice, since=at(0), until=at(2))
    assert dashboard(client, alice, since=at(0), until=at(2)).headers["X-Cache"] == "hit"
    reach = dataclasses.replace(engagement.ENGAGEMENT_RATE, version=2, numerator=("likes",))
    monkeypatch.setattr("models.engagement.dashboards.DERIVED", (reach,))
    monkeypatch.setattr("models.engagement.DERIVED_VERSIONS", "engagement_rate@2")

    second = dashboard(client, alice, since=at(0), until=at(2))

    assert second.headers["X-Cache"] == "miss"
    old, new = first.get_json()["derived"][0], second.get_json()["derived"][0]
    assert (old["version"], old["value"]) == (1, round(15 / 350, 6))
    assert (new["version"], new["formula"], new["value"]) == (2, "(likes) / views", 0.028571)


def test_the_cached_dashboard_is_never_stale_after_a_write(
    client: FlaskClient, alice: Caller
) -> None:
    record(client, alice, {"points": POINTS})
    window = {"grain": "day", "since": at(0), "until": at(2)}

    first = dashboard(client, alice, **window)
    again = dashboard(client, alice, **window)
    record(client, alice, point("views", 1000, at(1, 23)))
    after = dashboard(client, alice, **window)
    after_again = dashboard(client, alice, **window)

    assert (first.headers["X-Cache"], again.headers["X-Cache"]) == ("miss", "hit")
    assert again.get_json() == first.get_json()
    assert after.headers["X-Cache"] == "miss"
    assert metric(after.get_json(), "views")["series"]["sum"] == [150.0, 1200.0]
    assert after_again.headers["X-Cache"] == "hit" and after_again.get_json() == after.get_json()


def test_a_refused_batch_leaves_the_cache_as_it_was(client: FlaskClient, alice: Caller) -> None:
    record(client, alice, {"points": POINTS})
    dashboard(client, alice, since=at(0), until=at(2))

    record(client, alice, {"points": [point("views", "x", at(0))]})

    assert dashboard(client, alice, since=at(0), until=at(2)).headers["X-Cache"] == "hit"


def test_another_organisation_sees_none_of_it(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    record(client, alice, {"points": POINTS})
    window = {"grain": "day", "since": at(0), "until": at(2)}
    dashboard(client, alice, **window)  # cached for alice

    bobs = dashboard(client, bob, **window)
    record(client, bob, point("views", 1, at(0, 1)))

    assert bobs.headers["X-Cache"] == "miss" and bobs.get_json()["metrics"] == []
    assert metric(dashboard(client, bob, **window).get_json(), "views")["total"] == 1.0
    assert metric(dashboard(client, alice, **window).get_json(), "views")["total"] == 350.0


def test_a_range_past_the_bucket_cap_or_backwards_is_refused(
    client: FlaskClient, alice: Caller
) -> None:
    too_long = dashboard(client, alice, grain="hour", since=at(0), until=at(60))
    backwards = dashboard(client, alice, since=at(2), until=at(0))
    unknown = dashboard(client, alice, grain="month")

    assert too_long.status_code == 422
    assert too_long.get_json()["details"]["max_buckets"] == engagement.MAX_BUCKETS
    assert backwards.status_code == 422 and unknown.status_code == 422


def test_the_rollups_match_the_points_over_random_batches(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    rng = random.Random(23)  # noqa: S311 - test data
    for _ in range(5):
        batch = [
            point(
                rng.choice(["views", "likes"]),
                str(Decimal(rng.randint(-500, 5000)) / 100),
                at(minutes=rng.randint(0, 3 * 24 * 60 - 1)),
                platform=rng.choice(["tiktok", "youtube"]),
            )
            for _ in range(rng.randint(1, 200))
        ]
        assert record(client, alice, {"points": batch}).status_code == 201

    body = dashboard(client, alice, grain="hour", since=at(0), until=at(3)).get_json()

    org_id = org_of(session, alice.user.id)
    raw = session.execute(
        text(
            "SELECT metric, date_trunc('hour', recorded_at, 'UTC'), sum(value)::float8, count(*),"
            " min(value)::float8, max(value)::float8 FROM engagement_points WHERE org_id = :org"
            " GROUP BY 1, 2"
        ),
        {"org": org_id},
    )
    expected = {(m, b.isoformat()): (s, c, lo, hi) for m, b, s, c, lo, hi in raw}
    for one in body["metrics"]:
        s = one["series"]
        for i, bucket in enumerate(body["buckets"]):
            want = expected.get((one["metric"], bucket), (0.0, 0, None, None))
            got = (s["sum"][i], s["count"][i], s["min"][i], s["max"][i])
            assert got == pytest.approx(want), (one["metric"], bucket)


def test_writes_past_the_rate_limit_are_a_429(tx_platform: Platform, alice: Caller) -> None:
    settings = tx_platform.settings.replace(rate_limit_engagement_write="2/minute")
    client = create_app(platform=dataclasses.replace(tx_platform, settings=settings)).test_client()

    codes = [record(client, alice, point("views", 1, at(0))).status_code for _ in range(3)]

    assert codes == [201, 201, 429]


def test_a_live_sessions_points_are_recorded_and_totalled(
    session: Session, alice: Caller, bob: Caller
) -> None:
    org_id, other_org = org_of(session, alice.user.id), org_of(session, bob.user.id)
    live = uuid.uuid4()
    when = MONDAY + timedelta(hours=1)
    engagement.record_points(
        session,
        org_id,
        [
            engagement.NewPoint("viewers", Decimal(10), "twitch", when),
            engagement.NewPoint("viewers", Decimal(25), "twitch", when + timedelta(minutes=1)),
            engagement.NewPoint("chat_messages", Decimal(3), "twitch", when),
        ],
        live_session_id=live,
    )
    engagement.record_points(
        session, org_id, [engagement.NewPoint("viewers", Decimal(99), "twitch", when)]
    )

    totals = engagement.session_totals(session, org_id, live)

    assert totals["viewers"] == engagement.Totals(
        count=2, sum=Decimal(35), last_value=Decimal(25), last_at=when + timedelta(minutes=1)
    )
    assert totals["chat_messages"].sum == Decimal(3)
    assert engagement.session_totals(session, other_org, live) == {}


def test_concurrent_writers_of_one_organisation_lose_no_rollup(
    committed_platform: Platform,
) -> None:
    with committed_platform.sessions() as session:
        user = make_user(session)
        session.commit()
        org_id = org_of(session, user.id)
    when = MONDAY + timedelta(hours=5)

    def writer(n: int) -> None:
        for _ in range(10):
            points = [
                engagement.NewPoint(name, Decimal(n + 1), "tiktok", when + timedelta(seconds=s))
                for s, name in enumerate(["views", "likes"] * 10)
            ]
            with committed_platform.sessions.begin() as session:
                engagement.record_points(session, org_id, points)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(writer, range(4)))

    with committed_platform.sessions() as session:
        rollups = session.execute(
            select(engagement.Rollup.grain, engagement.Rollup.count, engagement.Rollup.sum).where(
                engagement.Rollup.org_id == org_id, engagement.Rollup.metric == "views"
            )
        ).all()
        version = engagement.data_version(session, org_id)
    # 4 writers x 10 batches x 10 views, each writer's value its number: 100 x (1+2+3+4)
    assert sorted(rollups) == [("day", 400, Decimal(1000)), ("hour", 400, Decimal(1000))]
    assert version == 40


@pytest.fixture()
def fuzz_app(tx_platform: Platform) -> Flask:
    settings = tx_platform.settings.replace(
        **{name: "100000/minute" for name in RATE_LIMIT_SETTINGS}
    )
    return create_app(platform=dataclasses.replace(tx_platform, settings=settings))


def test_no_metrics_operation_answers_a_5xx_or_another_shape(
    fuzz_app: Flask, tx_platform: Platform, session: Session, subtests: pytest.Subtests
) -> None:
    caller = caller_of(fuzz_app, tx_platform, session, admin=False)
    mine = [op for op in operations(fuzz_app) if op.path.startswith("/api/v1/metrics")]

    for operation in mine:

        @FUZZ_SETTINGS
        @hypothesis.given(case=cases(operation), aim=st.booleans(), data=st.data())
        def run(case: Case, aim: bool, data: st.DataObject) -> None:
            if data.draw(st.booleans()):
                spoil(case, data.draw)
            call(case, caller, aim)

        with subtests.test(operation.label):
            run()
    assert len(mine) == 3
