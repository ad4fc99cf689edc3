"""A real SMTP server for the tests (aiosmtpd), with the replies of real ones.

Recipients at @bounce.test are refused with 550 (permanent); recipients at @greylist.test
get 451 (try again later) the first time for each message. `peers` lists, per message taken,
the client end of the connection it came on (how many connections were used); with `hang_up`
set the server closes each connection just after taking a message, as an idle timeout would.
"""

from __future__ import annotations

import asyncio
import email
import socket
import threading
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.endswith("@bounce.test"):
            return "550 5.1.1 User unknown"
        if address.endswith("@greylist.test") and address not in self.server.greylisted:
            self.server.greylisted.add(address)
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.server.lock:
            self.server.messages.append(email.message_from_bytes(envelope.content))
            self.server.peers.append(session.peer)
        if self.server.hang_up:
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[Message] = []
        self.greylisted: set[str] = set()
        self.peers: list[Any] = []
        self.hang_up = False
        self.lock = threading.Lock()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if address in (m["To"] or "")]
