"""An SMTP server that keeps every message as an .eml file instead of delivering it.

In development the verification and reset mails land in `var/mail/`, where a developer opens
them in any mail reader (or a text editor) and follows the links.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

log = logging.getLogger("devstack.mail")

_UNSAFE = re.compile(r"[^A-Za-z0-9@._-]+")
MAX_NAME_CHARS = 80


def eml_name(recipient: str, when: datetime) -> str:
    """`20240131-093000-123456-ann@example.com.eml`: sortable, with only safe characters."""
    safe = _UNSAFE.sub("_", recipient).strip("._")[:MAX_NAME_CHARS] or "unknown"
    return f"{when:%Y%m%d-%H%M%S-%f}-{safe}.eml"


class SaveToDirectory:
    """aiosmtpd handler: writes each message received to `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        content: bytes = envelope.original_content or envelope.content
        recipient = envelope.rcpt_tos[0] if envelope.rcpt_tos else "unknown"
        path = self._write(recipient, content)
        subject = message_from_bytes(content, policy=policy.default).get("Subject", "")
        log.info("mail to %s: %s", ", ".join(envelope.rcpt_tos), subject)
        log.debug("saved %s", path)
        return "250 Message accepted for delivery"

    def _write(self, recipient: str, content: bytes) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = eml_name(recipient, datetime.now(UTC))
        path = self.directory / name
        suffix = 1
        while True:
            try:
                with path.open("xb") as out:  # never overwrite an earlier message
                    out.write(content)
                return path
            except FileExistsError:
                suffix += 1
                path = self.directory / f"{name.removesuffix('.eml')}-{suffix}.eml"


class MailSink:
    """The SMTP server on `host:port`, running in its own thread between start() and stop()."""

    def __init__(self, directory: Path, port: int, host: str = "127.0.0.1") -> None:
        self.directory = directory
        self.host = host
        self.port = port
        # server_hostname: skip aiosmtpd's FQDN lookup, which can take seconds.
        self._controller = Controller(
            SaveToDirectory(directory), hostname=host, port=port, server_hostname="localhost"
        )

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            self._controller.start()
        except OSError as error:
            raise OSError(f"{error} (the mail sink's SMTP_PORT; set another one)") from error

    def stop(self) -> None:
        self._controller.stop(no_assert=True)  # also after a start that failed
