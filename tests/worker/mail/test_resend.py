"""A campaign through the HTTP provider (the fake of Resend's API, devstack/fakes/resend.py):
each mail carries its Message-ID as the idempotency key, a 429 and a 5xx defer mails that
are sent later, and every recipient is sent exactly one mail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devstack.fakes import Served, serve
from devstack.fakes.resend import KEY, FakeResend
from tests.worker.mail.conftest import Stack
from tests.worker.mail.test_campaigns import finished


@pytest.fixture()
def resend() -> Iterator[tuple[FakeResend, Served]]:
    app = FakeResend()
    served = serve(app)
    yield app, served
    served.stop()


@pytest.fixture()
def mail_overrides(resend: tuple[FakeResend, Served]) -> dict[str, Any]:
    return {"mail_provider": "resend", "resend_base_url": resend[1].url, "resend_api_key": KEY}


def test_deferred_mails_are_sent_later_and_each_recipient_gets_one(
    stack: Stack, resend: tuple[FakeResend, Served]
) -> None:
    app, _ = resend
    app.retry_after_s = 1
    app.script.extend(["429", "500"])  # the first two requests fail
    auth, _, org_id = stack.caller()
    fans = stack.fans(org_id, 12)
    campaign = stack.campaign(auth)

    stack.send_now(auth, campaign["id"])
    done = stack.wait(auth, campaign["id"], finished, timeout_s=60)

    assert done["progress"]["sent"] == 12
    taken = [e for e in app.emails if e["to"][0] in fans]
    assert sorted(e["to"][0] for e in taken) == sorted(fans)
    assert all(e["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" for e in taken)
    assert len({e["idempotency_key"] for e in taken}) == 12
    assert all(e["idempotency_key"].startswith("mail-") for e in taken)
