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


def test_a_template_past_a_cap_of_a_render_is_refused_naming_the_cap(
    client: FlaskClient, alice: Caller
) -> None:
    for body, cap in (
        ('{{ "x" * 10**10 }}', "MAX_VALUE"),
        ("{{ 9 ** 9999999 }}", "MAX_VALUE"),
        ('{% set s = "x" * 150000 %}{{ s ~ s }}', "MAX_VALUE"),
        ('{{ "x"|center(999999999) }}', "MAX_VALUE"),
        ('{{ "{:>999999999}".format(1) }}', "MAX_VALUE"),
        ("{% for i in range(100000) %}{% endfor %}", "MAX_RANGE"),
        ("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
         "MAX_STEPS"),
        ('{% for i in range(9000) %}{{ "x" * 100 }}{% endfor %}', "MAX_OUTPUT"),
    ):  # fmt: skip
        answer = create(client, alice, text_body=body)
        assert answer.status_code == 422, (body, answer.json)
        assert cap in answer.json["details"]["fields"]["text_body"][0], (body, answer.json)

    made = create(client, alice, text_body="{{ recipient.first_name * 1000 }}").json
    preview = client.post(
        f"/api/v1/mail/campaigns/{made['id']}/preview",
        json={"recipient": {"first_name": "x" * 500}},
        headers=alice.headers,
    )
    assert preview.status_code == 422
    assert "MAX_VALUE" in preview.json["details"]["fields"]["text_body"][0]
    fine = create(client, alice, text_body="{% for t in recipient.tags %}{{ t|upper }} {% endfor %}"
                  "{{ range(3)|join(',') }} {{ '%03d' % 7 }} {{ 2 ** 10 }}")  # fmt: skip
    assert fine.status_code == 201, fine.json
    assert fine.json["text_body"].startswith("{% for")
