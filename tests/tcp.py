"""A TCP server on a free local port, for tests that need a database or a Redis that
misbehaves: a subclass says what happens to each connection."""

from __future__ import annotations

import socket
import threading
from abc import ABC, abstractmethod


class TcpServer(ABC):
    def __init__(self) -> None:
        self.connections = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @abstractmethod
    def handle(self, conn: socket.socket) -> None:
        """What happens to each connection (called on the accepting thread)."""

    def close(self) -> None:
        self._server.shutdown(socket.SHUT_RDWR)  # ends the accept() waiting in its thread
        self._server.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            self.handle(conn)
