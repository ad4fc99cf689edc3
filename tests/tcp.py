"""A TCP server on a free local port, for tests that need a database or a Redis that
misbehaves: a subclass says what happens to each connection."""

from __future__ import annotations

import contextlib
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
        with contextlib.suppress(OSError):  # closed already
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


class Proxy(TcpServer):
    """Forwards each connection to `upstream` (a (host, port) pair or a unix socket's path)
    until it is cut or stalled: a server that goes away, behind a port that stays the same."""

    def __init__(self, upstream: tuple[str, int] | str) -> None:
        self.upstream = upstream
        self._stalled = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        with self._lock:
            self._sockets.append(conn)
        if self._stalled.is_set():
            return  # accepted, and never answered
        if isinstance(self.upstream, str):
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.upstream)
        else:
            upstream = socket.create_connection(self.upstream)
        with self._lock:
            self._sockets.append(upstream)
        for source, sink in ((conn, upstream), (upstream, conn)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def cut(self) -> None:
        """The server is gone: open connections are reset, new ones refused."""
        self.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the pumps reading from it
                sock.close()

    def stall(self) -> None:
        """The server hangs (or the network drops everything): connections stay open, and
        nothing more is answered, on them or on new ones."""
        self._stalled.set()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if self._stalled.is_set():
                    return  # swallowed, and nothing more read: the peer waits for its answer
                sink.sendall(data)
        except OSError:
            pass  # cut
