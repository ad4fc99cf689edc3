"""/api/v1/assistant over HTTP: sending a message starts its reply's job, history pages,
a reply's stream (whole, resumed, refused), the context, onboarding's restart, and another
organisation's ids answering 404. The replies' writing is in tests/worker/test_assistant.py."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import assistant
from models.core.erasure import Person, erase_person, export_person
from models.core.jobs import Job
from tests.api.conftest import Caller
from tests.conftest import org_of
from tests.sse import sse


def send(client: FlaskClient, who: Caller, content: str = "How is my wallet?") -> Any:
    return client.post("/api/v1/assistant/messages", json={"content": content}, headers=who.headers)


def written(session: Session, reply_id: str, pieces: list[str]) -> None:
    """The reply as its job would write it: piece by piece, then whole."""
    for seq, piece in enumerate(pieces, start=1):
        assistant.add_chunk(
            session=session,
            message_id=uuid.UUID(reply_id),
            seq=seq,
            kind=assistant.ChunkKind.TEXT,
            text=piece,
        )
    assistant.finish_reply(
        session=session, message_id=uuid.UUID(reply_id), content="".join(pieces), meta={}
    )
    session.commit()


def test_a_message_is_stored_and_its_reply_job_started(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    answer = send(client, alice)

    assert answer.status_code == 202
    body = answer.get_json()
    assert body["message"]["role"] == "user" and body["message"]["content"] == "How is my wallet?"
    assert body["reply"]["role"] == "assistant" and body["reply"]["status"] == "pending"
    assert body["reply"]["reply_to"] == body["message"]["id"]
    assert body["job"]["kind"] == "assistant.reply"
    assert body["stream_url"] == f"/api/v1/assistant/messages/{body['reply']['id']}/stream"
    assert answer.headers["Location"] == f"/api/v1/jobs/{body['job']['id']}"
    job = session.get_one(Job, body["job"]["id"])
    assert job.params == {"message_id": body["reply"]["id"]} and job.queue == "assistant"


def test_an_empty_or_huge_message_is_refused(client: FlaskClient, alice: Caller) -> None:
    for content in ("", "x" * (assistant.MAX_MESSAGE_CHARS + 1)):
        answer = send(client, alice, content)
        assert answer.status_code == 422
        assert set(answer.get_json()["details"]["fields"]) == {"content"}
    assert client.get("/api/v1/assistant/messages", headers=alice.headers).json["items"] == []


def test_history_is_newest_first_and_paged_by_cursor(client: FlaskClient, alice: Caller) -> None:
    sent = [send(client, alice, f"question {n}").get_json() for n in range(3)]

    first = client.get("/api/v1/assistant/messages?limit=4", headers=alice.headers).json
    second = client.get(
        f"/api/v1/assistant/messages?limit=4&cursor={first['next_cursor']}", headers=alice.headers
    ).json

    # Each reply comes just after its question (one transaction here: the clock's order).
    ids = [m["id"] for m in first["items"] + second["items"]]
    assert len(ids) == 6 == len(set(ids)) and second["next_cursor"] is None
    for pair in sent:
        assert ids.index(pair["reply"]["id"]) == ids.index(pair["message"]["id"]) - 1
    bad = client.get("/api/v1/assistant/messages?cursor=nonsense", headers=alice.headers)
    assert bad.status_code == 422


def test_another_organizations_messages_are_not_found(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    body = send(client, alice).get_json()

    for message_id in (body["message"]["id"], body["reply"]["id"]):
        path = f"/api/v1/assistant/messages/{message_id}"
        assert client.get(path, headers=bob.headers).status_code == 404
        assert client.get(f"{path}/stream", headers=bob.headers).status_code == 404
        assert client.get(path, headers=alice.headers).status_code == 200
    assert client.get("/api/v1/assistant/messages", headers=bob.headers).json["items"] == []
    assert client.get("/api/v1/assistant/messages").status_code == 401


def test_a_written_reply_streams_whole_and_resumes_after_a_piece(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    body = send(client, alice).get_json()
    written(session, body["reply"]["id"], ["Your wallet ", "holds ", "**12.50 USD**."])

    response = client.get(body["stream_url"], headers=alice.headers)

    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    events = sse(response.get_data())
    assert [e["event"] for e in events] == ["delta", "delta", "delta", "done"]
    assert [e["id"] for e in events[:3]] == ["1", "2", "3"]
    done = events[-1]["data"]
    assert done["content"] == "Your wallet holds **12.50 USD**." and done["status"] == "complete"
    assert done["html"] == "<p>Your wallet holds <strong>12.50 USD</strong>.</p>"
    resumed = client.get(body["stream_url"], headers=alice.with_headers(Last_Event_ID="2"))
    assert [e["data"].get("text") for e in sse(resumed.get_data())] == ["**12.50 USD**.", None]
    for bad in ("x", "-1", "99999999999", "\u00e9"):
        refused = client.get(body["stream_url"], headers=alice.with_headers(Last_Event_ID=bad))
        assert refused.status_code == 422, bad


def test_the_context_shows_what_the_assistant_knows(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    context = client.get("/api/v1/assistant/context", headers=alice.headers)

    assert context.status_code == 200
    body = context.json
    assert body["onboarding"]["status"] == "not_started"
    assert body["included"] == [
        "artist_profile",
        "wallet",
        "earnings_trend",
        "releases",
        "fans",
        "landing_page",
    ]
    assert body["data"]["wallet"] == [] and body["data"]["fans"]["total"] == 0
    assert body["data"]["landing_page"] is None
    assert body["tokens"] <= body["budget_tokens"]
    assert body["openai_budget"]["tokens_used"] == 0
    assert body["openai_budget"]["tokens_budget"] == 200_000  # the free tier's


def test_onboarding_restarts_with_its_first_question(
    client: FlaskClient, alice: Caller, bob: Caller, session: Session
) -> None:
    answer = client.post("/api/v1/assistant/onboarding", headers=alice.headers)

    assert answer.status_code == 200
    body = answer.json
    assert body["onboarding"]["status"] == "in_progress" and body["onboarding"]["step"] == "goals"
    assert body["message"]["role"] == "assistant" and "(1/4)" in body["message"]["content"]
    history = client.get("/api/v1/assistant/messages", headers=alice.headers).json["items"]
    assert [m["id"] for m in history] == [body["message"]["id"]]
    other = client.get("/api/v1/assistant/context", headers=bob.headers).json
    assert other["onboarding"]["status"] == "not_started"
    assert org_of(session, alice.user.id) != org_of(session, bob.user.id)


def test_a_leaving_members_messages_are_exported_then_erased_with_their_replies(
    client: FlaskClient, alice: Caller, session: Session
) -> None:
    body = send(client, alice, "Am I doing well?").get_json()
    written(session, body["reply"]["id"], ["You are."])
    person = Person(user_id=alice.user.id, email=alice.user.email)

    exported = export_person(session=session, person=person)["assistant"]
    erase_person(session=session, person=person)
    session.commit()

    assert [(m["role"], m["content"]) for m in exported["messages"]] == [
        ("user", "Am I doing well?"),
        ("assistant", "You are."),
    ]
    assert session.scalars(select(assistant.Message.id)).all() == []
