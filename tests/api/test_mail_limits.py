"""The mail API's guards: templates that cannot change what they are given nor run without
bounds, test sends only to the team, send times that can be stored and read, partial edits
that keep the audience whole, unsubscribe links that outlive their campaign, and headers that
cannot break a mail."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.api.conftest import Caller

CAMPAIGN: dict[str, Any] = {
    "name": "Spring tour",
    "subject": "Hi {{ recipient.first_name }}",
    "text_body": "Hello {{ recipient.name }} from {{ org.name }}",
    "from_name": "The Band",
    "audience": {"source": "fans", "country": "GB"},
}


def create(client: FlaskClient, who: Caller, **overrides: Any) -> Any:
    return client.post(
        "/api/v1/mail/campaigns", json={**CAMPAIGN, **overrides}, headers=who.headers
    )


def test_a_template_cannot_change_the_sample_other_organisations_render_with(
    client: FlaskClient, alice: Caller, bob: Caller
) -> None:
    for body in ("{{ recipient.clear() }}", "{{ recipient.update({'first_name': 'X'}) }}",
                 "{{ recipient.tags.append('x') }}"):  # fmt: skip
        answer = create(client, alice, text_body=body)
        assert answer.status_code == 422, answer.json

    made = create(client, bob)
    assert made.status_code == 201, made.json
    preview = client.post(
        f"/api/v1/mail/campaigns/{made.json['id']}/preview", json={}, headers=bob.headers
    )
    assert preview.status_code == 200, preview.json
    assert preview.json["subject"] == "Hi Sam"
    assert preview.json["recipient"]["tags"] == ["vip"]
