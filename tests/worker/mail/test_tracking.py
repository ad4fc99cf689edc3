"""What recipients and the provider report about sent mail, over HTTP with a real worker:
one-click unsubscribe (a POST with no session unsubscribes, a GET never does), the open pixel,
signed click redirects that are no open redirect, and Resend's delivered, bounced and
complained events, all in the campaign's stats."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import standardwebhooks

from tests.worker.mail.conftest import RESEND, Stack
from tests.worker.mail.test_campaigns import body_of, finished


def resend_event(stack: Stack, kind: str, message_id: str, **extra: Any) -> None:
    raw = json.dumps(
        {
            "type": kind,
            "created_at": datetime.now(UTC).isoformat(),
            "data": {"email_id": "re_unknown", "message_id": message_id, **extra},
        }
    )
    msg_id = f"msg_{uuid.uuid4().hex}"
    now = datetime.now(UTC)
    answer = stack.client.post(
        "/api/v1/webhooks/resend",
        data=raw,
        content_type="application/json",
        headers={
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": standardwebhooks.Webhook(RESEND).sign(msg_id, now, raw),
        },
    )
    assert answer.status_code == 202, answer.json


def path_of(url: str) -> str:
    return url.removeprefix("https://backline.example")


def test_recipients_and_provider_events_show_in_the_stats_and_suppress_who_must_be(
    stack: Stack,
) -> None:
    auth, _, org_id = stack.caller()
    fans = stack.fans(org_id, 4)
    campaign = stack.campaign(auth)
    stack.send_now(auth, campaign["id"])
    stack.wait(auth, campaign["id"], finished)
    mails = [stack.mails_to(a)[0] for a in fans]

    # Unsubscribe: the page a GET shows changes nothing; the one-click POST, no session, does.
    unsubscribe = path_of(" ".join(mails[0]["List-Unsubscribe"].split()).strip("<>"))
    page = stack.client.get(unsubscribe)
    assert page.status_code == 200
    assert b'<form method="post"' in page.data
    assert stack.client.get("/api/v1/mail/suppressions", headers=auth).json["items"] == []
    done = stack.client.post(
        unsubscribe,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert done.status_code == 200, done.data
    forged = stack.client.post(unsubscribe[:-3] + "AAA", data="List-Unsubscribe=One-Click")
    assert forged.status_code == 404

    # Open pixel and click, from the second mail's HTML.
    html = body_of(mails[1], "text/html")
    pixel = re.search(r'src="(https://backline\.example/api/v1/mail/o/[^"]+)"', html)
    click = re.search(r'href="(https://backline\.example/api/v1/mail/c/[^"]+)"', html)
    assert pixel and click
    opened = stack.client.get(path_of(pixel.group(1)))
    assert (opened.status_code, opened.mimetype) == (200, "image/gif")
    clicked = stack.client.get(path_of(click.group(1)))
    assert (clicked.status_code, clicked.location) == (302, "https://tickets.example.com/a")
    tampered = path_of(click.group(1)).replace("/c/", "/c/x")
    assert stack.client.get(tampered).status_code == 404

    # The provider's events, found by the Message-ID the mail carried.
    resend_event(stack, "email.delivered", mails[1]["Message-ID"])
    resend_event(stack, "email.complained", mails[2]["Message-ID"])
    resend_event(
        stack,
        "email.bounced",
        mails[3]["Message-ID"],
        bounce={"type": "Permanent", "subType": "General", "message": "no such user"},
    )
    stats = stack.wait(auth, campaign["id"], lambda c: c["progress"]["bounced"] == 1, timeout_s=20)[
        "progress"
    ]

    assert {k: stats[k] for k in ("sent", "delivered", "opened", "clicked")} == {
        "sent": 4,
        "delivered": 1,
        "opened": 1,
        "clicked": 1,
    }
    assert (stats["unsubscribed"], stats["complained"], stats["bounced"]) == (1, 1, 1)
    suppressed = stack.client.get("/api/v1/mail/suppressions", headers=auth).json["items"]
    assert sorted((s["email"], s["reason"]) for s in suppressed) == sorted(
        [(fans[0], "unsubscribed"), (fans[2], "complaint"), (fans[3], "hard_bounce")]
    )

    # The next campaign skips all three, each with its reason.
    second = stack.campaign(auth, name="Next")
    stack.send_now(auth, second["id"])
    stack.wait(auth, second["id"], finished)
    skipped = stack.client.get(
        f"/api/v1/mail/campaigns/{second['id']}/failures", headers=auth
    ).json["items"]
    assert sorted((f["email"], f["reason"]) for f in skipped) == sorted(
        [
            (fans[0], "suppressed: unsubscribed"),
            (fans[2], "suppressed: complaint"),
            (fans[3], "suppressed: hard_bounce"),
        ]
    )
    assert len(stack.mails_to(fans[1])) == 2
