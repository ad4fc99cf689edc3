"""The mail domain's pure parts: signed links and templates."""

from __future__ import annotations

import pytest

from models.core.errors import InvalidInput
from models.mail import links
from models.mail.templates import Parts, check, render

SECRET = "a-secret-of-the-deployment"


def test_a_link_verifies_only_for_its_purpose_and_secret() -> None:
    token = links.unsubscribe_token(SECRET, 42)

    assert links.send_of(SECRET, "unsubscribe", token) == 42
    assert links.send_of(SECRET, "open", token) is None
    assert links.send_of("another-secret", "unsubscribe", token) is None
    assert links.send_of(SECRET, "unsubscribe", token[:-2] + "xx") is None
    assert links.send_of(SECRET, "unsubscribe", "no-dot-at-all") is None


def test_a_click_link_redirects_only_where_it_was_signed_for() -> None:
    token = links.click_token(SECRET, 7, "https://tickets.example.com/a?b=c")

    assert links.click_of(SECRET, token) == (7, "https://tickets.example.com/a?b=c")
    forged = links.sign(SECRET, "unsubscribe", "7 https://evil.example")
    assert links.click_of(SECRET, forged) is None
    not_web = links.sign(SECRET, "click", "7 javascript:alert(1)")
    assert links.click_of(SECRET, not_web) is None


def test_a_template_error_names_the_part_and_line() -> None:
    with pytest.raises(InvalidInput) as raised:
        check(Parts("Hi", "line one\nline two {{ recipient.name ", None))

    assert raised.value.details["fields"]["text_body"][0].startswith("line 2:")


def test_a_runtime_error_names_its_line_too() -> None:
    with pytest.raises(InvalidInput) as raised:
        check(Parts("Hi", "fine\nfine\n{{ 1 // 0 }}", None))

    assert raised.value.details["fields"]["text_body"][0].startswith("line 3:")


def test_the_sandbox_refuses_reaching_into_python() -> None:
    with pytest.raises(InvalidInput):
        check(Parts("Hi", "{{ recipient.__class__.__base__.__subclasses__() }}", None))


def test_html_is_escaped_and_text_is_not_and_the_subject_is_one_line() -> None:
    rendered = render(
        Parts("Hi\n{{ recipient.name }}", "{{ recipient.name }}", "<p>{{ recipient.name }}</p>"),
        {"recipient": {"name": "<b>Ann</b>"}},
    )

    assert rendered.subject == "Hi <b>Ann</b>"
    assert rendered.text == "<b>Ann</b>"
    assert rendered.html == "<p>&lt;b&gt;Ann&lt;/b&gt;</p>"
