"""Marshmallow fields shared by the blueprints.

The storable types every input field is built on (Text, BigInt, Email, JsonValue) live in
models.core.fields, where the job kinds' params schemas reach them too; they are named here
as well so a blueprint finds every field type in one place.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError

from models.core.addresses import normalise_email
from models.core.errors import InvalidInput
from models.core.fields import BigInt, Email, JsonValue, Text, Url

__all__ = ["BigInt", "Email", "EmailAddress", "JsonValue", "Name", "Text", "Url"]


class EmailAddress(Text):
    """An e-mail address, loaded in its canonical form (models.core.addresses.normalise_email).

    Look-alikes (fullwidth, zero-width, bidi overrides, mixed-script domains) are refused
    with a field error, so every view sees the one form accounts are stored under.
    """

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        raw = super()._deserialize(value, attr, data, **kwargs)
        if len(raw) > 320:
            raise ValidationError("Longer than maximum length 320.")
        try:
            return normalise_email(raw)
        except InvalidInput as error:
            raise ValidationError(error.message) from None


class Name(Text):
    """A one-line name: surrounding blanks dropped, 1–200 characters, no control characters."""

    MAX_LENGTH = 200

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not 1 <= len(text) <= self.MAX_LENGTH:
            raise ValidationError(f"must be 1 to {self.MAX_LENGTH} characters")
        if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in text):
            raise ValidationError("must be one line, without control or format characters")
        return text
