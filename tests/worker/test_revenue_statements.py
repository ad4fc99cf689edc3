"""CSV statements over HTTP with a real worker: totals that match the wallet, the same bytes
for the same period, a revert that changes the next statement, other artists kept out, bad
periods refused, a limit per artist, and a statement longer than one batch streamed in order."""

from __future__ import annotations

import csv
import dataclasses
import io
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient

from models.core.jobs import JobStatus
from models.revenue.statements import BATCH_ROWS, COLUMNS
from tests.revenue_reports import Report
from tests.worker.conftest import wait_for
from tests.worker.test_revenue import FIXTURES, Artist, artist, imported, wallet
from web import create_app
from workers.core.setup import Platform
from workers.core.tracking import Runtime


@pytest.fixture()
def api(committed_platform: Platform) -> FlaskClient:
    return create_app(platform=committed_platform).test_client()


def statement(
    api: FlaskClient, platform: Platform, who: Artist, first: str, last: str, query: str = ""
) -> dict[str, Any]:
    """Ask for a statement, wait for its job, and return it with its file's bytes."""
    response = api.post(
        f"/api/v1/revenue/statements{query}", json={"from": first, "to": last}, headers=who.headers
    )
    assert response.status_code == 202, response.json
    job = wait_for(platform, uuid.UUID(response.json["job"]["id"]))
    assert job.status == JobStatus.SUCCEEDED, job.error
    url = f"/api/v1/revenue/statements/{response.json['statement']['id']}"
    got = dict(api.get(f"{url}{query}", headers=who.headers).json)
    assert got["status"] == "ready", got
    download = api.get(f"{url}/file{query}", headers=who.headers)
    assert download.status_code == 200
    assert download.mimetype == "text/csv"
    got["bytes"] = download.data
    return got


def lines(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def per_currency(data: bytes) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in lines(data):
        totals[line["currency"]] += Decimal(line["amount"])
    return dict(totals)


def import_fixtures(api: FlaskClient, platform: Platform, who: Artist) -> dict[str, dict]:
    done = {}
    for name in ("CdBaby_Test.txt", "DistroKid_Test.tsv", "Tunecore_Test.csv"):
        done[name] = imported(api, platform, who, (FIXTURES / name).read_bytes(), name)
        assert done[name]["status"] == "imported", done[name]
    return done


def test_a_statement_of_the_fixtures_matches_the_wallet_per_currency(
    api: FlaskClient, committed_platform: Platform, worker: Runtime
) -> None:
    alice = artist(committed_platform)
    import_fixtures(api, committed_platform, alice)
    got = statement(api, committed_platform, alice, "2000-01", "2025-12")
    money = wallet(api, alice)
    assert per_currency(got["bytes"]) == {c: Decimal(money[c]["total"]) for c in money}
    assert got["bytes"].decode().splitlines()[0] == ",".join(COLUMNS)
    rows = lines(got["bytes"])
    assert got["lines"] == len(rows)
    assert got["size_bytes"] == len(got["bytes"])
    napster = [r for r in rows if r["store"] == "Napster" and r["currency"] == "USD"]
    in_wallet = next(s for s in money["USD"]["by_store"] if s["key"] == "Napster")
    assert sum(Decimal(r["amount"]) for r in napster) == Decimal(in_wallet["amount"])
    assert all(len(r["amount"].split(".")[1]) == 12 for r in rows)  # exact, as stored
    gbp = [r for r in rows if r["currency"] == "GBP"]
    assert {r["month"] for r in gbp} == {"2020-04"}
    # A period of one month holds only that month's lines.
    april = statement(api, committed_platform, alice, "2020-04", "2020-04")
    assert {r["month"] for r in lines(april["bytes"])} == {"2020-04"}
    assert per_currency(april["bytes"])["GBP"] == Decimal(money["GBP"]["total"])


def test_the_same_period_twice_gives_the_same_bytes_and_a_revert_changes_the_next(
    api: FlaskClient, committed_platform: Platform, worker: Runtime
) -> None:
    alice = artist(committed_platform)
    done = import_fixtures(api, committed_platform, alice)
    first = statement(api, committed_platform, alice, "2000-01", "2025-12")
    second = statement(api, committed_platform, alice, "2000-01", "2025-12")
    assert first["id"] != second["id"]
    assert second["bytes"] == first["bytes"]
    assert second["sha256"] == first["sha256"]
    tunecore = done["Tunecore_Test.csv"]["id"]
    reverted = api.post(f"/api/v1/revenue/uploads/{tunecore}/revert", headers=alice.headers)
    assert reverted.status_code == 200, reverted.json
    after = statement(api, committed_platform, alice, "2000-01", "2025-12")
    assert after["sha256"] != first["sha256"]
    assert "GBP" not in per_currency(after["bytes"])  # TuneCore's lines left with it
    assert per_currency(after["bytes"])["USD"] == per_currency(first["bytes"])["USD"]
    # The earlier statement is a snapshot: its file did not change.
    again = api.get(f"/api/v1/revenue/statements/{first['id']}/file", headers=alice.headers)
    assert again.data == first["bytes"]


def test_another_artists_statement_is_not_found(
    api: FlaskClient, committed_platform: Platform, worker: Runtime
) -> None:
    alice, bob = artist(committed_platform), artist(committed_platform)
    import_fixtures(api, committed_platform, alice)
    mine = statement(api, committed_platform, alice, "2000-01", "2025-12")
    for path in ("", "/file"):
        got = api.get(f"/api/v1/revenue/statements/{mine['id']}{path}", headers=bob.headers)
        assert got.status_code == 404, got.json
        assert got.json["code"] == "not_found"
    listed = api.get("/api/v1/revenue/statements", headers=bob.headers).json
    assert listed["items"] == []
    named = api.get(f"/api/v1/revenue/statements?org_id={alice.org_id}", headers=bob.headers)
    assert named.status_code == 404
    # Bob's statement of the same period says nothing of Alice's earnings.
    assert lines(statement(api, committed_platform, bob, "2000-01", "2025-12")["bytes"]) == []
    ours = api.get("/api/v1/revenue/statements", headers=alice.headers).json
    assert [s["id"] for s in ours["items"]] == [mine["id"]]


def test_a_bad_or_future_period_is_refused_and_nothing_is_queued(
    api: FlaskClient, committed_platform: Platform, worker: Runtime
) -> None:
    alice = artist(committed_platform)
    this_month = datetime.now(UTC).strftime("%Y-%m")
    for first, last, field in (
        ("2024-13", "2024-12", "from"),
        ("January", "2024-12", "from"),
        ("2024-05", "2024-02", "from"),
        ("2024-01", this_month, "to"),
        ("2024-01", "2999-01", "to"),
    ):
        response = api.post(
            "/api/v1/revenue/statements", json={"from": first, "to": last}, headers=alice.headers
        )
        assert response.status_code == 422, (first, last, response.json)
        assert field in str(response.json), response.json
    assert api.get("/api/v1/revenue/statements", headers=alice.headers).json["items"] == []


def test_a_statement_longer_than_a_batch_streams_in_one_stable_order(
    api: FlaskClient, committed_platform: Platform, worker: Runtime
) -> None:
    alice = artist(committed_platform)
    report = Report("distrokid", rows=3 * BATCH_ROWS, seed=11)
    done = imported(api, committed_platform, alice, report.bytes(), "big.tsv")
    assert done["status"] == "imported", done
    got = statement(api, committed_platform, alice, "2021-01", "2024-12")
    rows = lines(got["bytes"])
    assert len(rows) > BATCH_ROWS
    keys = [(r["currency"], r["month"], r["store"], r["country"], r["isrc"]) for r in rows]
    encoded = [tuple(part.encode() for part in key) for key in keys]
    assert encoded == sorted(encoded)  # byte order, whatever the database's locale
    assert len(set(keys)) == len(keys)
    assert per_currency(got["bytes"]) == report.totals
    assert sum(int(r["lines"]) for r in rows) == done["rows_imported"]


def test_statements_past_the_artists_limit_are_a_429_and_bad_periods_do_not_count(
    committed_platform: Platform, worker: Runtime
) -> None:
    settings = committed_platform.settings.replace(rate_limit_revenue_statement="2/hour")
    api = create_app(platform=dataclasses.replace(committed_platform, settings=settings))
    client = api.test_client()
    alice = artist(committed_platform)

    def ask(last: str) -> int:
        body = {"from": "2021-01", "to": last}
        response = client.post("/api/v1/revenue/statements", json=body, headers=alice.headers)
        return response.status_code

    assert [ask("2999-01"), ask("2021-02"), ask("2021-03"), ask("2021-04")] == [422, 202, 202, 429]
