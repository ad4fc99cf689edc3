"""The functions the model may call for a figure (OpenAI function calling), each running one
of the domains' own queries for the caller's organisation, so no figure in a reply is made up.

`TOOLS` is what the model is offered; `run_tool` checks the arguments the model wrote against
the same schema and answers JSON-ready data, or `{"error": ...}` (the model reads it and can
try again or say it could not find out).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import jsonschema
from sqlalchemy.orm import Session

from models import fans, revenue

_MONTH = {"type": "string", "pattern": r"^[0-9]{4}-(0[1-9]|1[0-2])$"}


def _function(name: str, description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": list(properties),
                "additionalProperties": False,
            },
        },
    }


TOOLS: list[dict[str, Any]] = [
    _function("wallet_balance", "The artist's earned, held and available money per currency.", {}),
    _function(
        "earnings_for_period",
        "What the artist earned per currency over sale months first_month..last_month.",
        {"first_month": {**_MONTH}, "last_month": {**_MONTH}},
    ),
    _function(
        "top_tracks",
        "The artist's best-earning tracks per currency over the last `days` (null: all time).",
        {
            "days": {"type": ["integer", "null"], "enum": [7, 30, 90, None]},
            "limit": {"type": "integer", "minimum": 1, "maximum": 10},
        },
    ),
    _function(
        "fans_by_country",
        "How many fans the artist has in each country, most first.",
        {"limit": {"type": "integer", "minimum": 1, "maximum": 20}},
    ),
]
_SCHEMAS = {t["function"]["name"]: t["function"]["parameters"] for t in TOOLS}


def _month(value: str, *, last: bool) -> date:
    year, month = (int(part) for part in value.split("-"))
    if not last:
        return date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    return date.fromordinal(following.toordinal() - 1)


def _earnings(session: Session, org_id: uuid.UUID, args: dict[str, Any]) -> Any:
    first = _month(args["first_month"], last=False)
    last = _month(args["last_month"], last=True)
    if last < first:
        return {"error": "last_month is before first_month"}
    amounts = revenue.earnings_between(session=session, org_id=org_id, first=first, last=last)
    return {
        "first_month": args["first_month"],
        "last_month": args["last_month"],
        "by_currency": amounts,
    }


_RUN: dict[str, Callable[[Session, uuid.UUID, dict[str, Any]], Any]] = {
    "wallet_balance": lambda s, o, a: {"balances": revenue.balances(session=s, org_id=o)},
    "earnings_for_period": _earnings,
    "top_tracks": lambda s, o, a: {
        "days": a["days"],
        "by_currency": revenue.top_tracks(session=s, org_id=o, days=a["days"], limit=a["limit"]),
    },
    "fans_by_country": lambda s, o, a: {
        "countries": fans.fans_by_country(session=s, org_id=o, limit=a["limit"])
    },
}


def _plain(value: Any) -> Any:
    """Decimals as exact strings (never floats: a figure is given as the ledger holds it)."""
    return json.loads(
        json.dumps(value, default=lambda v: str(v) if isinstance(v, Decimal) else v.isoformat())
    )


def run_tool(*, session: Session, org_id: uuid.UUID, name: str, arguments: str) -> dict[str, Any]:
    """Run the tool the model called, with the arguments it wrote (a JSON string)."""
    if name not in _RUN:
        return {"error": f"there is no tool {name!r}"}
    try:
        args = json.loads(arguments or "{}")
        jsonschema.validate(args, _SCHEMAS[name])
    except (ValueError, jsonschema.ValidationError) as exc:
        return {"error": f"bad arguments: {str(exc).splitlines()[0][:200]}"}
    result: dict[str, Any] = _plain(_RUN[name](session, org_id, args))
    return result
