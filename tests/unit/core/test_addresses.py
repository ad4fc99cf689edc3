"""Address normalisation: one canonical form, and no look-alikes of it."""

from __future__ import annotations

import pytest

from models.core.addresses import normalise_email
from models.core.errors import InvalidInput


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("  alice@example.com\t", "alice@example.com"),
        ("alice+tag@example.com", "alice+tag@example.com"),
        ("alice@bücher.de", "alice@xn--bcher-kva.de"),
        ("alice@пример.рф", "alice@xn--e1afmkfd.xn--p1ai"),
        ("alice@xn--bcher-kva.de", "alice@xn--bcher-kva.de"),
        ("alice@例え.jp", "alice@xn--r8jz45g.jp"),
    ],
)
def test_addresses_have_one_canonical_ascii_form(raw: str, canonical: str) -> None:
    assert normalise_email(raw) == canonical
    assert normalise_email(canonical) == canonical


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("ａｌｉｃｅ@example.com", "look-alike"),  # fullwidth
        ("alice@ｅｘａｍｐｌｅ.com", "look-alike"),
        ("ﬁona@example.com", "look-alike"),  # the fi ligature
        ("al\u200bice@example.com", "invisible"),  # zero-width space
        ("alice\u200d@example.com", "invisible"),  # zero-width joiner
        ("\u202ealice@example.com", "invisible"),  # right-to-left override
        ("alice@exa\u2066mple.com", "invisible"),  # left-to-right isolate
        ("ali ce@example.com", "invisible"),
        ("alice@example.com\x00", "invisible"),
        ("\u0430lice@example.com", "ASCII"),  # Cyrillic a
        ("alice@ex\u0430mple.com", "alphabets"),  # Cyrillic a inside a Latin domain
        ("alice@\u0440aypal.com", "alphabets"),
        ("alice", "@"),
        ("alice@localhost", "period"),
    ],
)
def test_look_alikes_and_hidden_characters_are_refused(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as error:
        normalise_email(raw)
    assert reason in error.value.message
    assert error.value.details["fields"]["email"] == [error.value.message]
