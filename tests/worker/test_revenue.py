"""Upload -> revenue.import job -> wallet, over HTTP with a real worker: the real fixtures,
re-uploads, bad files and rows, other artists, reverts, and withdrawals racing each other."""

from __future__ import annotations

import io
import threading
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from models.core.access import Role
from models.core.jobs import JobStatus
from models.orgs.organizations import join
from models.revenue.tables import Balance, Earning
from models.revenue.withdrawals import (
    InsufficientBalance,
    request_withdrawal,
    set_payout_method,
)
from tests.conftest import access_token, make_user, org_of
from tests.revenue_reports import Report
from tests.worker.conftest import eventually, wait_for
from web import create_app
from workers.core.setup import Platform
from workers.core.tracking import Runtime
from workers.revenue import import_report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "revenue"


@dataclass
class Artist:
    user_id: uuid.UUID
    org_id: uuid.UUID
    headers: dict[str, str]


def artist(platform: Platform, *, admin: bool = False) -> Artist:
    with platform.sessions() as session:
        user = make_user(session, admin=admin)
        session.commit()
        token = access_token(platform, session, user)
        return Artist(user.id, org_of(session, user.id), {"Authorization": f"Bearer {token}"})


@pytest.fixture()
def api(committed_platform: Platform) -> FlaskClient:
    return create_app(platform=committed_platform).test_client()


def upload(api: FlaskClient, who: Artist, data: bytes, name: str, query: str = "") -> Any:
    return api.post(
        f"/api/v1/revenue/uploads{query}",
        data={"file": (io.BytesIO(data), name)},
        headers=who.headers,
    )


def imported(api: FlaskClient, platform: Platform, who: Artist, data: bytes, name: str) -> dict:
    response = upload(api, who, data, name)
    assert response.status_code == 202, response.json
    wait_for(platform, uuid.UUID(response.json["job"]["id"]))
    got = api.get(f"/api/v1/revenue/uploads/{response.json['upload']['id']}", headers=who.headers)
    return dict(got.json)


def wallet(api: FlaskClient, who: Artist, query: str = "") -> dict[str, dict]:
    response = api.get(f"/api/v1/wallet/summary{query}", headers=who.headers)
    assert response.status_code == 200, response.json
    return {c["currency"]: c for c in response.json["currencies"]}


def test_every_fixture_goes_from_upload_to_the_wallet_in_exact_per_currency_figures(
    api: FlaskClient, committed_platform: Platform, worker: Runtime
) -> None:
    alice = artist(committed_platform)
    formats = {}
    for path in sorted(FIXTURES.glob("*_Test*")) + [FIXTURES / "DistroKid_NonAscii.tsv"]:
        done = imported(api, committed_platform, alice, path.read_bytes(), path.name)
        assert done["status"] == "imported", done
        formats[path.name] = (done["format"], done["rows_imported"], done["rows_rejected"])
    assert formats == {
        "CdBaby_Test.txt": ("cdbaby", 2, 0),
        "DistroKid_Test.tsv": ("distrokid", 4, 0),
        "Tunecore_Test.csv": ("tunecore", 4, 0),
        "DistroKid_NonAscii.tsv": ("distrokid", 4, 0),
    }
    money = wallet(api, alice)
    assert sorted(money) == ["GBP", "USD"]  # never converted
    assert money["GBP"]["total"] == "0.135500000000"
    usd = Decimal("0.0998269974") + Decimal("0.0598269974")  # CD Baby
    usd += Decimal("0.00789993") + Decimal("0.00031410") + Decimal("0.00048066")
    usd += Decimal("0.00061710") + Decimal(1 + 2 + 3 + 4)
    assert Decimal(money["USD"]["total"]) == usd
    assert Decimal(money["USD"]["balance"]["available"]) == usd
    napster = next(s for s in money["USD"]["by_store"] if s["key"] == "Napster")
    assert Decimal(napster["amount"]) == Decimal("1.00789993")
    assert {m["month"] for m in money["GBP"]["by_month"]} == {"2020-04"}
    track = next(t for t in money["USD"]["by_track"] if t["key"] == "AAAAA1234567")
    assert Decimal(track["amount"]) == Decimal("10.00789993")
    assert track["title"]
    recent = wallet(api, alice, "?days=90")["USD"]  # the fixtures' sales are years old
    assert (recent["total"], recent["by_month"], recent["by_store"]) == ("0", [], [])
    assert Decimal(recent["balance"]["available"]) == usd
    assert api.get("/api/v1/wallet/summary?days=45", headers=alice.headers).status_code == 422


def test_the_same_file_again_is_a_409_naming_the_earlier_upload(
    api: FlaskClient, committed_platform: Platform, worker: Runtime
) -> None:
    alice, bob = artist(committed_platform), artist(committed_platform)
    data = (FIXTURES / "DistroKid_Test.tsv").read_bytes()
    first = upload(api, alice, data, "january.tsv")
    assert first.status_code == 202
    again = upload(api, alice, data, "renamed.tsv")
    assert again.status_code == 409
    assert again.json["details"]["upload_id"] == first.json["upload"]["id"]
    assert "january.tsv" in again.json["message"]
    assert upload(api, bob, data, "mine.tsv").status_code == 202  # another artist may


def test_another_artists_upload_and_wallet_are_not_found(
    api: FlaskClient, committed_platform: Platform, worker: Runtime
) -> None:
    alice, bob = artist(committed_platform), artist(committed_platform)
    done = imported(
        api, committed_platform, alice, (FIXTURES / "CdBaby_Test.txt").read_bytes(), "c.txt"
    )
    for path in ("", "/rejections"):
        got = api.get(f"/api/v1/revenue/uploads/{done['id']}{path}", headers=bob.headers)
        assert got.status_code == 404
    assert (
        api.post(f"/api/v1/revenue/uploads/{done['id']}/revert", headers=bob.headers).status_code
        == 404
    )
    assert (
        api.get(f"/api/v1/wallet/summary?org_id={alice.org_id}", headers=bob.headers).status_code
        == 404
    )
    assert wallet(api, bob) == {}


def test_a_platform_admin_uploads_on_an_artists_behalf(
    api: FlaskClient, committed_platform: Platform, worker: Runtime
) -> None:
    alice, admin = artist(committed_platform), artist(committed_platform, admin=True)
    data = (FIXTURES / "Tunecore_Test.csv").read_bytes()
    response = upload(api, admin, data, "t.csv", f"?org_id={alice.org_id}")
    assert response.status_code == 202, response.json
    assert response.json["upload"]["org_id"] == str(alice.org_id)
    wait_for(committed_platform, uuid.UUID(response.json["job"]["id"]))
    assert wallet(api, alice)["GBP"]["total"] == "0.135500000000"
    assert wallet(api, admin) == {}


def test_bad_rows_are_listed_page_by_page_and_the_good_ones_imported(
    api: FlaskClient, committed_platform: Platform, worker: Runtime
) -> None:
    alice = artist(committed_platform)
    lines = (FIXTURES / "DistroKid_Test.tsv").read_bytes().split(b"\r\n")
    bad = [line.replace(b"\tUS\t", b"\tUSA\t") for line in lines[1:]]
    data = b"\r\n".join([lines[0], *bad, lines[1]])
    done = imported(api, committed_platform, alice, data, "bad.tsv")
    assert (done["status"], done["rows_imported"], done["rows_rejected"]) == ("imported", 1, 4)
    page = api.get(
        f"/api/v1/revenue/uploads/{done['id']}/rejections?limit=3", headers=alice.headers
    ).json
    assert [r["row_number"] for r in page["items"]] == [2, 3, 4]
    assert page["items"][0]["reason"] == "country 'USA' is not a two-letter code"
    rest = api.get(
        f"/api/v1/revenue/uploads/{done['id']}/rejections?after={page['next_after']}",
        headers=alice.headers,
    ).json
    assert ([r["row_number"] for r in rest["items"]], rest["next_after"]) == ([5], None)


def test_a_file_in_no_known_format_fails_the_job_and_leaves_nothing(
    api: FlaskClient, committed_platform: Platform, worker: Runtime
) -> None:
    alice = artist(committed_platform)
    response = upload(api, alice, b"when,how much\r\n2024-01-01,12\r\n", "mystery.csv")
    job = wait_for(committed_platform, uuid.UUID(response.json["job"]["id"]))
    assert job.status == JobStatus.FAILED
    assert job.attempts == 1  # not worth retrying
    got = api.get(f"/api/v1/revenue/uploads/{response.json['upload']['id']}", headers=alice.headers)
    assert got.json["status"] == "failed"
    assert "Known formats: DistroKid (classic TSV)" in got.json["error"]
    assert "'when', 'how much'" in got.json["error"]
    assert wallet(api, alice) == {}


def test_a_revert_takes_every_figure_out_and_says_who_did_it(
    api: FlaskClient, committed_platform: Platform, worker: Runtime
) -> None:
    alice = artist(committed_platform)
    keep = imported(
        api, committed_platform, alice, (FIXTURES / "DistroKid_Test.tsv").read_bytes(), "a.tsv"
    )
    drop = imported(
        api, committed_platform, alice, (FIXTURES / "DistroKid_NonAscii.tsv").read_bytes(), "b.tsv"
    )
    assert drop["overlapping_keys"] == 1  # Napster, 2021-04, AAAAA1234567, US: in both
    with committed_platform.sessions() as session:
        helper = make_user(session)
        join(session=session, org_id=alice.org_id, user_id=helper.id, role=Role.MEMBER)
        session.commit()
        member = {"Authorization": f"Bearer {access_token(committed_platform, session, helper)}"}
    as_member = api.post(
        f"/api/v1/revenue/uploads/{drop['id']}/revert",
        headers={**member, "X-Organization-ID": str(alice.org_id)},
    )
    assert as_member.status_code == 403  # a member sees the wallet, an owner moves money
    reverted = api.post(f"/api/v1/revenue/uploads/{drop['id']}/revert", headers=alice.headers)
    assert reverted.status_code == 200, reverted.json
    assert reverted.json["status"] == "reverted"
    assert reverted.json["reverted_by"] == str(alice.user_id)
    assert reverted.json["reverted_at"] is not None
    money = wallet(api, alice)["USD"]
    assert Decimal(money["total"]) == Decimal("0.00931179")
    assert Decimal(money["balance"]["earned"]) == Decimal("0.00931179")
    with committed_platform.sessions() as session:
        left = session.scalar(select(func.count()).select_from(Earning))
        assert left == keep["rows_imported"]
    again = api.post(f"/api/v1/revenue/uploads/{drop['id']}/revert", headers=alice.headers)
    assert again.status_code == 409
    # Reverted, the same file may come in again.
    data = (FIXTURES / "DistroKid_NonAscii.tsv").read_bytes()
    assert upload(api, alice, data, "b-again.tsv").status_code == 202


def _funded(platform: Platform, amount: str) -> Artist:
    alice = artist(platform)
    with platform.sessions.begin() as session:
        session.add(Balance(org_id=alice.org_id, currency="USD", earned=Decimal(amount)))
        set_payout_method(session=session, org_id=alice.org_id, kind="paypal", details="a@b.c")
    return alice


def test_concurrent_withdrawals_never_take_the_balance_below_zero(
    committed_platform: Platform,
) -> None:
    alice = _funded(committed_platform, "100")
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def withdraw() -> None:
        with committed_platform.sessions() as session:
            start.wait()
            try:
                request_withdrawal(
                    session=session,
                    org_id=alice.org_id,
                    user_id=alice.user_id,
                    currency="USD",
                    amount=Decimal("30"),
                    minimum=Decimal("10"),
                )
                session.commit()
                outcomes.append("ok")
            except InsufficientBalance:
                outcomes.append("refused")

    threads = [threading.Thread(target=withdraw) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * 5
    with committed_platform.sessions() as session:
        balance = session.get_one(Balance, (alice.org_id, "USD"))
        assert (balance.earned, balance.held) == (Decimal("100"), Decimal("90"))


def test_withdrawals_over_http_with_admin_decisions_mails_and_an_audit_trail(
    api: FlaskClient, committed_platform: Platform
) -> None:
    alice = _funded(committed_platform, "50.25")
    admin = artist(committed_platform, admin=True)
    too_much = {"currency": "USD", "amount": "50.26"}
    refused = api.post("/api/v1/wallet/withdrawals", json=too_much, headers=alice.headers)
    assert refused.status_code == 409
    small = {"currency": "USD", "amount": "9.99"}
    assert (
        api.post("/api/v1/wallet/withdrawals", json=small, headers=alice.headers).status_code == 422
    )
    made = api.post(
        "/api/v1/wallet/withdrawals",
        json={"currency": "USD", "amount": "50.25"},
        headers=alice.headers,
    )
    assert made.status_code == 201, made.json
    assert wallet(api, alice)["USD"]["balance"] == {
        "earned": "50.250000000000",
        "held": "50.250000000000",
        "available": "0.000000000000",
    }
    decision = f"/api/v1/wallet/withdrawals/{made.json['id']}/decision"
    assert api.post(decision, json={"action": "approve"}, headers=alice.headers).status_code == 403
    no_reason = api.post(decision, json={"action": "reject"}, headers=admin.headers)
    assert no_reason.status_code == 422
    rejected = api.post(
        decision, json={"action": "reject", "reason": "account closed"}, headers=admin.headers
    )
    assert rejected.status_code == 200, rejected.json
    assert Decimal(wallet(api, alice)["USD"]["balance"]["available"]) == Decimal("50.25")
    assert api.post(decision, json={"action": "pay"}, headers=admin.headers).status_code == 409
    trail = api.get(f"/api/v1/wallet/withdrawals/{made.json['id']}", headers=alice.headers).json
    assert [(e["status"], e["note"]) for e in trail["audit"]] == [
        ("requested", None),
        ("rejected", "account closed"),
    ]
    bob = artist(committed_platform)
    assert (
        api.get(f"/api/v1/wallet/withdrawals/{made.json['id']}", headers=bob.headers).status_code
        == 404
    )


def test_a_cancelled_import_leaves_nothing_and_the_file_may_come_again(
    api: FlaskClient, committed_platform: Platform, worker: Runtime
) -> None:
    alice = artist(committed_platform)
    data = Report("distrokid", rows=150_000, seed=5).bytes()
    response = upload(api, alice, data, "big.tsv")
    job_id = response.json["job"]["id"]

    def started() -> bool:
        job = api.get(f"/api/v1/jobs/{job_id}", headers=alice.headers).json
        return bool(job["progress"]["done"])

    assert eventually(started, timeout_s=60)
    assert api.post(f"/api/v1/jobs/{job_id}/cancel", headers=alice.headers).status_code < 300
    job = wait_for(committed_platform, uuid.UUID(job_id), timeout_s=60)
    assert job.status == JobStatus.CANCELLED
    got = api.get(f"/api/v1/revenue/uploads/{response.json['upload']['id']}", headers=alice.headers)
    assert got.json["status"] == "failed"
    assert "cancelled" in got.json["error"]
    with committed_platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Earning)) == 0
    assert wallet(api, alice) == {}
    assert upload(api, alice, data, "big.tsv").status_code == 202


@dataclass
class Redelivery:
    """The context of a second delivery of an import's message (no worker needed)."""

    settings: Any
    sessions: Any
    job_id: str

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        pass


def test_a_second_delivery_of_a_finished_import_adds_no_rows(
    api: FlaskClient, committed_platform: Platform, worker: Runtime
) -> None:
    alice = artist(committed_platform)
    done = imported(
        api, committed_platform, alice, (FIXTURES / "DistroKid_Test.tsv").read_bytes(), "a.tsv"
    )
    ctx = Redelivery(committed_platform.settings, committed_platform.sessions, done["job_id"])
    again = import_report(ctx, {"upload_id": done["id"]})  # type: ignore[arg-type]
    assert (again["status"], again["rows_imported"]) == ("imported", 4)
    with committed_platform.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Earning)) == 4
    assert Decimal(wallet(api, alice)["USD"]["total"]) == Decimal("0.00931179")
