"""The fans domain's pure rules: the import's fast address check agrees with the platform's
canonical form; UPC check digits; ISRC shapes; CSV cells to fan fields."""

from __future__ import annotations

import pytest

from models.core.addresses import normalise_email
from models.core.errors import InvalidInput
from models.fans.imports import clean_row, plain_email
from models.fans.releases import check_upc, normalise_isrc

ADDRESSES = [
    "ada@example.com", " Ada.Lovelace+news@Example.CO.UK ", "a@b.co", "x_y-z@sub.domain.org",
    "o'brien@example.ie", "a..b@example.com", ".a@example.com", "a.@example.com",
    "a@-example.com", "a@example-.com", "a@example..com", "a@example", "a@example.c",
    "a@foo.test", "a@foo.localhost", "a@xn--bcher-kva.example", "a@ex--ample.com",
    "user@[127.0.0.1]", '"quoted"@example.com', "ünï@example.com", "a@bücher.de",
    "a b@example.com", "a@example.com\n", "a\u200b@example.com", "x" * 65 + "@example.com",
    "a@" + "b" * 64 + ".com", "a@123.com", "a@example.123",
]  # fmt: skip


def _canonical(address: str) -> str | None:
    try:
        return normalise_email(address)
    except InvalidInput:
        return None


@pytest.mark.parametrize("address", ADDRESSES)
def test_the_fast_check_never_disagrees_with_the_canonical_form(address: str) -> None:
    fast = plain_email(address)
    if fast is not None:
        assert fast == _canonical(address)


def test_the_fast_check_takes_everyday_addresses() -> None:
    assert plain_email(" Ada.Lovelace+news@Example.CO.UK ") == "ada.lovelace+news@example.co.uk"
    assert plain_email("a@foo.test") is None  # special-use: normalise_email refuses it


def test_upc_check_digits() -> None:
    assert check_upc("036000291452") == "036000291452"
    assert check_upc("4006381333931") == "4006381333931"  # an EAN-13
    for bad in ("036000291453", "03600029145", "٠٣٦٠٠٠٢٩١٤٥٢", "03600029145x"):
        with pytest.raises(ValueError):
            check_upc(bad)


def test_isrc_shapes() -> None:
    assert normalise_isrc("us-rc1-76-07839") == "USRC17607839"
    for bad in ("USRC1760783", "USRC176078390", "U1RC17607839", "USRC1760783\n9"):
        with pytest.raises(ValueError):
            normalise_isrc(bad)


def test_csv_cells_become_fan_fields_or_field_errors() -> None:
    values, errors = clean_row(
        {"email": "A@Example.com", "gender": "F", "consent": "yes", "tags": "b; a;a", "age": ""}
    )
    assert values == {
        "email": "a@example.com", "gender": "female", "consent": True, "tags": ["a", "b"],
        "age": None,
    }  # fmt: skip
    assert errors == {}
    _, errors = clean_row({"country": "France", "age": "-3", "status": "gold", "consent": "?"})
    assert set(errors) == {"country", "age", "status", "consent"}
