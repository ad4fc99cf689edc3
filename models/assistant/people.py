"""What the assistant holds about a person: the messages they sent and the replies to them,
for account export and erasure (models/core/erasure.py). A conversation is the person's own
words: erasing the account deletes them (and their replies, which quote and answer them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from models.assistant.tables import Message
from models.core.erasure import Person, personal_data


def _export(session: Session, person: Person) -> dict[str, Any]:
    messages = session.scalars(
        select(Message)
        .where(Message.user_id == person.user_id)
        .order_by(Message.created_at, Message.id)
    )
    return {
        "messages": [
            {
                "id": str(m.id),
                "role": m.role,
                "content": m.content,
                "created_at": m.created_at.isoformat(),
            }
            for m in messages
        ]
    }


@personal_data("assistant", export=_export)
def _erase(session: Session, person: Person) -> None:
    session.execute(delete(Message).where(Message.user_id == person.user_id))
