"""The assistant end to end over HTTP with a real worker: onboarding, a question answered
from the artist's own wallet through a tool call and streamed as written, history, retries,
the fallback reply and the shared token budget. The OpenAI fake is driven through the real
openai SDK; PostgreSQL and Redis are real."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from config import Settings
from devstack.fakes import serve
from devstack.fakes.openai import FakeOpenAI
from models import leads
from models.core.jobs import JobStatus
from tests.conftest import access_token, make_user, org_of
from tests.sse import sse
from tests.worker.conftest import RunningWorker, load, wait_for
from web import create_app
from workers.assistant import FALLBACK_UNAVAILABLE
from workers.core.setup import Platform

DISTROKID = Path(__file__).resolve().parents[1] / "fixtures" / "revenue" / "DistroKid_Test.tsv"
ONBOARDING = ["Hello!", "Reach 10k monthly listeners", "Synth-pop", "An EP in March", "skip"]


@dataclass
class Artist:
    user_id: uuid.UUID
    org_id: uuid.UUID
    headers: dict[str, str]


@dataclass
class Stack:
    api: FlaskClient
    fake: FakeOpenAI
    settings: Settings
    platform: Platform
    workers: list[RunningWorker]

    def start_worker(self, **changes: Any) -> None:
        self.workers.append(RunningWorker(self.settings.replace(**changes)).start())


@pytest.fixture()
def stack(settings: Settings, committed_platform: Platform) -> Iterator[Stack]:
    fake = FakeOpenAI()
    served = serve(fake)
    workers: list[RunningWorker] = []
    yield Stack(
        create_app(platform=committed_platform).test_client(),
        fake,
        settings.replace(openai_base_url=served.url + "/v1", openai_max_retries=2),
        committed_platform,
        workers,
    )
    for worker in workers:
        worker.stop()
    served.stop()


def artist(platform: Platform) -> Artist:
    with platform.sessions() as session:
        user = make_user(session)
        session.commit()
        token = access_token(platform, session, user)
        return Artist(user.id, org_of(session, user.id), {"Authorization": f"Bearer {token}"})


def ask(stack: Stack, who: Artist, content: str) -> dict[str, Any]:
    """Send a message; the 202's body once the reply's job has finished."""
    sent = stack.api.post(
        "/api/v1/assistant/messages", json={"content": content}, headers=who.headers
    )
    assert sent.status_code == 202, sent.json
    wait_for(stack.platform, uuid.UUID(sent.json["job"]["id"]), timeout_s=30)
    return dict(sent.json)


def reply_of(stack: Stack, who: Artist, sent: dict[str, Any]) -> dict[str, Any]:
    got = stack.api.get(f"/api/v1/assistant/messages/{sent['reply']['id']}", headers=who.headers)
    assert got.status_code == 200
    return dict(got.json)


def onboarded(stack: Stack, who: Artist) -> list[str]:
    return [reply_of(stack, who, ask(stack, who, text))["content"] for text in ONBOARDING]


def test_onboarding_asks_its_questions_then_knows_the_answers(stack: Stack) -> None:
    stack.start_worker()
    alice = artist(stack.platform)

    replies = onboarded(stack, alice)

    assert replies[0].startswith("Welcome!") and "(1/4)" in replies[0]
    assert ["(2/4)" in replies[1], "(3/4)" in replies[2], "(4/4)" in replies[3]] == [True] * 3
    assert replies[4].startswith("Thanks")
    context = stack.api.get("/api/v1/assistant/context", headers=alice.headers).json
    assert context["onboarding"]["status"] == "complete"
    assert context["onboarding"]["answers"] == {
        "goals": "Reach 10k monthly listeners",
        "genre": "Synth-pop",
        "release_plans": "An EP in March",
    }
    assert context["data"]["artist_profile"]["genre"] == "Synth-pop"
    assert stack.fake.requests == []  # onboarding asks no model

    restarted = stack.api.post("/api/v1/assistant/onboarding", headers=alice.headers).json
    assert restarted["onboarding"] == {
        "status": "in_progress",
        "step": "goals",
        "answers": {},
        "completed_at": None,
    }
    assert "(1/4)" in restarted["message"]["content"]
    after = reply_of(stack, alice, ask(stack, alice, "Tour Europe"))
    assert "(2/4)" in after["content"]
    answers = stack.api.get("/api/v1/assistant/context", headers=alice.headers).json
    assert answers["onboarding"]["answers"] == {"goals": "Tour Europe"}


def with_report(stack: Stack, who: Artist) -> None:
    """A distributor report imported into the artist's wallet."""
    uploaded = stack.api.post(
        "/api/v1/revenue/uploads",
        data={"file": (DISTROKID.open("rb"), DISTROKID.name)},
        headers=who.headers,
    )
    assert uploaded.status_code == 202
    wait_for(stack.platform, uuid.UUID(uploaded.json["job"]["id"]))


def test_a_wallet_question_is_answered_with_the_wallets_own_figure_streamed_as_written(
    stack: Stack,
) -> None:
    stack.start_worker()
    alice = artist(stack.platform)
    with_report(stack, alice)
    onboarded(stack, alice)

    sent = ask(stack, alice, "How much money is in my wallet that I can withdraw?")
    streamed = stack.api.get(sent["stream_url"], headers=alice.headers)

    events = sse(streamed.get_data())
    kinds = [e["event"] for e in events]
    assert kinds[0] == "tool" and kinds[-1] == "done" and set(kinds[1:-1]) == {"delta"}
    assert events[0]["data"]["name"] == "wallet_balance"
    done = events[-1]["data"]
    assert "".join(e["data"]["text"] for e in events if e["event"] == "delta") == done["content"]
    assert done["status"] == "complete" and done["meta"]["fallback"] is False
    assert done["meta"]["tools"][0]["name"] == "wallet_balance"
    assert "wallet" in done["meta"]["context"]["included"]
    wallet = stack.api.get("/api/v1/wallet/summary", headers=alice.headers).json
    usd = next(c for c in wallet["currencies"] if c["currency"] == "USD")
    said = re.search(r"available: (\S+)", done["content"])
    assert said is not None and Decimal(said.group(1)) == Decimal(usd["balance"]["available"])
    assert "<ul><li>" in done["html"]
    # The model was given the figure by the tool, not asked to make one up.
    tool_turn = stack.fake.requests[-1]["messages"][-1]
    assert tool_turn["role"] == "tool" and said.group(1) in tool_turn["content"]
    assert stack.fake.requests[0]["stream_options"] == {"include_usage": True}

    # Reconnecting after a piece sends only what came after it.
    deltas = [e for e in events if e["event"] == "delta"]
    resumed = sse(
        stack.api.get(
            sent["stream_url"], headers={**alice.headers, "Last-Event-ID": deltas[0]["id"]}
        ).get_data()
    )
    assert "".join(e["data"]["text"] for e in resumed if e["event"] == "delta") == "".join(
        e["data"]["text"] for e in deltas[1:]
    )

    # History: newest first, the reply above its question, paged by cursor.
    page = stack.api.get("/api/v1/assistant/messages?limit=2", headers=alice.headers).json
    assert [m["id"] for m in page["items"]] == [sent["reply"]["id"], sent["message"]["id"]]
    rest = stack.api.get(
        f"/api/v1/assistant/messages?limit=100&cursor={page['next_cursor']}", headers=alice.headers
    ).json
    assert len(rest["items"]) == 2 * len(ONBOARDING) and rest["next_cursor"] is None

    # Its tokens count in the organisation's monthly OpenAI budget, the lead search's too.
    context = stack.api.get("/api/v1/assistant/context", headers=alice.headers).json
    used = done["meta"]["prompt_tokens"] + done["meta"]["completion_tokens"]
    assert used > 0 and context["openai_budget"]["tokens_used"] == used
    assert (
        stack.api.get("/api/v1/leads/usage", headers=alice.headers).json["tokens"]["used"] == used
    )


def test_earnings_for_a_period_come_from_the_ledger_and_bad_arguments_are_told_to_the_model(
    stack: Stack,
) -> None:
    stack.start_worker()
    alice = artist(stack.platform)
    with_report(stack, alice)
    onboarded(stack, alice)
    stack.fake.script = [
        'tool:earnings_for_period:{"first_month": "last spring", "last_month": "2022-07"}',
        'tool:earnings_for_period:{"first_month": "2022-05", "last_month": "2022-07"}',
    ]

    reply = reply_of(stack, alice, ask(stack, alice, "What did I earn from May to July 2022?"))

    tools = reply["meta"]["tools"]
    assert [t["name"] for t in tools] == ["earnings_for_period"] * 2
    assert "bad arguments" in tools[0]["result"]["error"]
    said = re.search(r"by_currency\[0\]\.amount: (\S+)", reply["content"])
    wallet = stack.api.get("/api/v1/wallet/summary", headers=alice.headers).json
    usd = next(c for c in wallet["currencies"] if c["currency"] == "USD")
    months = [m for m in usd["by_month"] if "2022-05" <= m["month"] <= "2022-07"]
    assert len(months) == 3
    assert said is not None and Decimal(said.group(1)) == sum(Decimal(m["amount"]) for m in months)


def test_a_reply_is_sent_piece_by_piece_while_the_model_writes(stack: Stack) -> None:
    stack.start_worker()
    stack.fake.chunk_delay_s = 0.3
    alice = artist(stack.platform)
    onboarded(stack, alice)
    stack.fake.script = ["say:" + "A long considered answer. " * 4]

    sent = stack.api.post(
        "/api/v1/assistant/messages", json={"content": "Any advice?"}, headers=alice.headers
    ).json
    streamed = stack.api.get(sent["stream_url"], headers=alice.headers, buffered=False)
    first_delta = b""
    for piece in streamed.response:
        if b"event: delta" in piece:
            first_delta = piece
            break
    # The first piece arrived while the reply was still being written.
    assert b"A long considered" in first_delta
    assert reply_of(stack, alice, sent)["status"] == "streaming"
    streamed.close()
    wait_for(stack.platform, uuid.UUID(sent["job"]["id"]), timeout_s=30)
    assert reply_of(stack, alice, sent)["content"] == "A long considered answer. " * 4


def test_transient_model_errors_are_retried_and_slow_answers_tried_again(stack: Stack) -> None:
    stack.start_worker(openai_timeout_s=1.0)
    alice = artist(stack.platform)
    onboarded(stack, alice)
    stack.fake.script = ["429", "500", "slow"]

    sent = ask(stack, alice, "What should I release next?")

    reply = reply_of(stack, alice, sent)
    assert reply["status"] == "complete" and reply["content"]
    # The SDK tried again after the 429 (honouring Retry-After) and the 500, then the job
    # after the slow answer timed out.
    assert len(stack.fake.requests) == 4
    assert load(stack.platform, uuid.UUID(sent["job"]["id"])).attempts == 2


def test_a_stream_cut_short_is_tried_again_and_its_stream_says_to_start_over(
    stack: Stack,
) -> None:
    stack.start_worker()
    alice = artist(stack.platform)
    onboarded(stack, alice)
    whole = "An answer long enough to come in several pieces."
    stack.fake.script = ["cut", f"say:{whole}"]

    sent = ask(stack, alice, "Any advice?")

    events = sse(stack.api.get(sent["stream_url"], headers=alice.headers).get_data())
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["delta", "reset"] and kinds[-1] == "done"
    after_reset = [e["data"]["text"] for e in events[2:] if e["event"] == "delta"]
    assert "".join(after_reset) == whole == events[-1]["data"]["content"]
    assert load(stack.platform, uuid.UUID(sent["job"]["id"])).attempts == 2


def test_a_model_that_stays_down_gets_a_plain_fallback_and_the_message_is_kept(
    stack: Stack,
) -> None:
    stack.start_worker(assistant_model="broken-model", openai_max_retries=0)
    alice = artist(stack.platform)
    onboarded(stack, alice)

    sent = ask(stack, alice, "How are my fans doing?")

    job = load(stack.platform, uuid.UUID(sent["job"]["id"]))
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 3
    reply = reply_of(stack, alice, sent)
    assert reply["status"] == "fallback" and reply["content"] == FALLBACK_UNAVAILABLE
    assert reply["meta"]["reason"] == "model_unavailable" and reply["meta"]["fallback"] is True
    history = stack.api.get("/api/v1/assistant/messages?limit=2", headers=alice.headers).json
    assert history["items"][1]["content"] == "How are my fans doing?"
    events = sse(stack.api.get(sent["stream_url"], headers=alice.headers).get_data())
    assert events[-1]["event"] == "done" and events[-1]["data"]["status"] == "fallback"


def test_a_spent_budget_gets_a_fallback_and_no_model_is_asked(stack: Stack) -> None:
    stack.start_worker()
    alice = artist(stack.platform)
    onboarded(stack, alice)
    with stack.platform.sessions.begin() as session:
        budget = leads.spending_of(session=session, org_id=alice.org_id).budget.tokens
        assert budget is not None
        leads.record_spending(session=session, org_id=alice.org_id, tokens=budget)

    reply = reply_of(stack, alice, ask(stack, alice, "What did I earn last month?"))

    assert reply["status"] == "fallback" and reply["meta"]["reason"] == "budget_exceeded"
    assert "budget" in reply["content"]
    assert stack.fake.requests == []


def test_what_the_model_writes_is_sanitised_before_it_becomes_html(stack: Stack) -> None:
    stack.start_worker()
    alice = artist(stack.platform)
    onboarded(stack, alice)
    stack.fake.script = [
        'say:**Great** news <script>alert(1)</script><img src=x onerror="alert(1)"> '
        "[click](javascript:alert(1)) [site](https://example.com)"
    ]

    reply = reply_of(stack, alice, ask(stack, alice, "Tell me something"))

    html = reply["html"]
    assert "<strong>Great</strong>" in html and "https://example.com" in html
    assert "<script" not in html and "onerror" not in html and "javascript:" not in html
    assert "<script>" in reply["content"]  # the text is kept as written
