"""Endpoints that take a file: a body larger than MAX_REQUEST_BYTES, streamed, not JSON.

Every other request body is JSON, read whole and capped at MAX_REQUEST_BYTES before the view
runs (web/core/errors.py). A view marked with `@accepts_upload` is let through that check with
its own cap, and reads the file with `uploaded_file()`:

    @blp.route("/uploads", methods=["POST"])
    @accepts_upload(lambda settings: settings.revenue_max_upload_bytes)
    def post():
        upload = uploaded_file()                 # multipart/form-data, field "file"
        stored = storage(settings).put(key, upload.stream, max_bytes=cap)

Werkzeug's multipart parser spools a file part past 500 kB to a temporary file, so memory
stays constant whatever the size; other form fields are capped at MAX_FORM_MEMORY_SIZE's
default. A body past the cap is a 413 in the one error shape, whether it declared its length
or came chunked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from flask import current_app, request

from config import Settings
from models.core.errors import InvalidInput
from web.core.context import platform

F = TypeVar("F", bound=Callable[..., Any])
_ATTRIBUTE = "backline_upload_max_bytes"


def accepts_upload(max_bytes: Callable[[Settings], int]) -> Callable[[F], F]:
    """Mark a view as taking a file body of at most `max_bytes(settings)` bytes."""

    def mark(view: F) -> F:
        setattr(view, _ATTRIBUTE, max_bytes)
        return view

    return mark


def upload_cap() -> int | None:
    """The cap of the view this request goes to, when it takes uploads; else None."""
    view = current_app.view_functions.get(request.endpoint or "")
    cap = getattr(view, _ATTRIBUTE, None)
    return None if cap is None else int(cap(platform().settings))


@dataclass(frozen=True)
class UploadedFile:
    filename: str  # as the client named it: for display only, never a path
    content_type: str
    stream: IO[bytes]


def uploaded_file(field: str = "file") -> UploadedFile:
    """The file part `field` of a multipart/form-data body; a 422 naming it when absent."""
    if request.mimetype != "multipart/form-data":
        raise InvalidInput(
            f"send the file as multipart/form-data, in a part named {field!r}",
            details={"fields": {field: ["missing"]}},
        )
    part = request.files.get(field)
    if part is None or not part.filename:
        raise InvalidInput(
            f"no file in the part named {field!r}", details={"fields": {field: ["missing"]}}
        )
    return UploadedFile(part.filename, part.mimetype or "application/octet-stream", part.stream)
