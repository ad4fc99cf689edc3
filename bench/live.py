"""Live: 1,000 overlays (SSE connections) on one API process, trigger → delivered to all,
beside Redis pub/sub fanning the same message out to 1,000 subscriber connections.

    python -m bench.live [--overlays 1000] [--triggers 30]

One gunicorn process (config/server.py's gevent worker) serves 1,000 overlay streams of one
session, opened with an overlay link as an OBS browser source would; a trigger is POSTed
over HTTP and the clock runs, for each overlay, from the moment the request is sent until
that overlay's socket has the entry. The baseline, in the same run and by the same client
loop, is the floor of the fan-out: 1,000 connections SUBSCRIBEd to one Redis channel, a
PUBLISH of a message of the same size, the clock stopped as each subscriber has it — no
HTTP, no database, no commit. It uses the PostgreSQL and Redis of DATABASE_URL / REDIS_URL
(default: local), in a database and a Redis namespace of its own, removed at the end.
"""

from __future__ import annotations

import argparse
import select
import socket
import statistics
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import text

from bench.serving import api
from bench.throughput import ROOT, bench_database, bench_env, percentile
from config import load_settings
from models.accounts.users import create_user, start_session
from models.live.effects import BUILT_INS
from models.live.overlays import create_token
from models.live.sessions import start_session as start_live
from models.orgs.organizations import primary_org_id
from web.core.tokens import issue_access_token
from workers.core.setup import connect

PASSWORD = "bench password 123"  # noqa: S105 - a throwaway account, dropped after
WIPE = next(str(e.id) for e in BUILT_INS if e.animation == "wipe")  # 1 s on screen
TIMEOUT_S = 30.0


class Fanout:
    """Sockets that each receive the same messages; when each got the one awaited."""

    def __init__(self, sockets: list[socket.socket]) -> None:
        self.sockets = sockets
        self.poll = select.epoll()
        self.by_fd = {s.fileno(): s for s in sockets}
        self.tails = {s.fileno(): b"" for s in sockets}
        for s in sockets:
            s.setblocking(False)
            self.poll.register(s.fileno(), select.EPOLLIN)

    def await_marker(
        self, marker: bytes, t0: float, answer: socket.socket | None = None
    ) -> tuple[list[float], float | None]:
        """Milliseconds from t0 until each socket has received `marker` (and until `answer`,
        the request's own socket, had its first bytes back)."""
        answered: float | None = None
        if answer is not None:
            self.poll.register(answer.fileno(), select.EPOLLIN)
        waiting = set(self.by_fd)
        taken: list[float] = []
        deadline = time.monotonic() + TIMEOUT_S
        while waiting and time.monotonic() < deadline:
            for fd, _ in self.poll.poll(0.5):
                if answer is not None and fd == answer.fileno():
                    answered = (time.perf_counter() - t0) * 1000
                    self.poll.unregister(fd)
                    continue
                try:
                    data = self.by_fd[fd].recv(65536)
                except BlockingIOError:
                    continue
                now = time.perf_counter()
                seen = self.tails[fd] + data
                self.tails[fd] = seen[-64:]
                if fd in waiting and marker in seen:
                    waiting.discard(fd)
                    taken.append((now - t0) * 1000)
        if waiting:
            raise SystemExit(f"{len(waiting)} of {len(self.by_fd)} never got {marker!r}")
        if answer is not None and answered is None:
            self.poll.unregister(answer.fileno())
        return taken, answered

    def close(self) -> None:
        for s in self.sockets:
            s.close()
        self.poll.close()


def prepare(database_url: str) -> tuple[str, str, str]:
    """A creator with a live session and an overlay link: (access token, session, link)."""
    settings = load_settings().replace(database_url=database_url)
    platform = connect(settings)
    try:
        with platform.sessions() as session:
            user = create_user(
                session=session,
                email=f"live-{uuid.uuid4().hex[:8]}@example.com",
                password=PASSWORD,
            )
            org_id = primary_org_id(session=session, user_id=user.id)
            assert org_id is not None
            session.execute(
                text("UPDATE organizations SET tier = 'enterprise' WHERE id = :id"), {"id": org_id}
            )
            live = start_live(
                session=session,
                org_id=org_id,
                user_id=user.id,
                platform="twitch",
                title="bench",
                brand_kit_id=None,
            )
            session.flush()
            _, link = create_token(session=session, org_id=org_id, session_id=live.id, label="b")
            auth, _ = start_session(session=session, user=user, ttl_s=3600)
            session.commit()
            token = issue_access_token(settings, user.id, auth.id)
            return token, str(live.id), link
    finally:
        platform.engine.dispose()


def open_overlays(port: int, session_id: str, link: str, n: int) -> Fanout:
    request = (
        f"GET /api/v1/live/overlay/{session_id}/events?token={link} HTTP/1.1\r\n"
        "Host: bench\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    sockets = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(request)
        sockets.append(s)
    for s in sockets:  # each answered 200 and said where it starts
        head = b""
        while b"retry:" not in head:
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit("an overlay stream closed at once: " + head.decode()[:300])
            head += chunk
        if not head.startswith(b"HTTP/1.1 200"):
            raise SystemExit("an overlay stream was refused: " + head.decode()[:300])
    time.sleep(2.0)  # every stream past its first read and subscribed
    return Fanout(sockets)


def read_answer(sock: socket.socket) -> bytes:
    """One whole HTTP answer with a Content-Length."""
    sock.setblocking(True)
    got = b""
    while b"\r\n\r\n" not in got:
        got += sock.recv(65536)
    head, _, body = got.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def trigger_request(session_id: str, token: str, n: int) -> bytes:
    body = f'{{"effect_id": "{WIPE}"}}'.encode()
    return (
        f"POST /api/v1/live/sessions/{session_id}/effects HTTP/1.1\r\nHost: bench\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Idempotency-Key: bench-{n}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def through_api(
    env: dict[str, str], log: Path, overlays: int, triggers: int, app: str = "web:create_app()"
) -> list[list[float]]:
    token, session_id, link = prepare(env["DATABASE_URL"])
    rounds: list[list[float]] = []
    answered: list[float] = []
    with api(env, log, app) as port:
        fanout = open_overlays(port, session_id, link, overlays)
        poster = socket.create_connection(("127.0.0.1", port), timeout=30)
        poster.sendall(
            f"GET /api/v1/live/sessions/{session_id} HTTP/1.1\r\nHost: bench\r\n"
            f"Authorization: Bearer {token}\r\n\r\n".encode()
        )
        read_answer(poster)  # the process's first request pays for imports and connections
        time.sleep(0.5)
        try:
            for n in range(1, triggers + 1):
                t0 = time.perf_counter()
                poster.sendall(trigger_request(session_id, token, n))
                taken, answered_ms = fanout.await_marker(f"id: {n}\n".encode(), t0, poster)
                rounds.append(taken)
                answer = read_answer(poster)
                assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
                answered.append(answered_ms or (time.perf_counter() - t0) * 1000)
                time.sleep(0.2)
        finally:
            poster.close()
            fanout.close()
    print(
        f"the trigger's own answer (201): median {statistics.median(answered):.1f} ms, "
        f"p99 {percentile(answered, 99):.1f} ms"
    )
    return rounds


def redis_command(*parts: str) -> bytes:
    out = f"*{len(parts)}\r\n"
    for part in parts:
        out += f"${len(part.encode())}\r\n{part}\r\n"
    return out.encode()


def through_redis(redis_url: str, overlays: int, triggers: int, size: int) -> list[list[float]]:
    where = urlsplit(redis_url)
    address = (where.hostname or "127.0.0.1", where.port or 6379)
    channel = f"bench-live-{uuid.uuid4().hex[:8]}"
    sockets = []
    for _ in range(overlays):
        s = socket.create_connection(address, timeout=30)
        s.sendall(redis_command("SUBSCRIBE", channel))
        sockets.append(s)
    for s in sockets:
        got = b""
        while channel.encode() not in got or not got.endswith(b":1\r\n"):
            got += s.recv(65536)
    fanout = Fanout(sockets)
    publisher = socket.create_connection(address, timeout=30)
    rounds = []
    try:
        for n in range(1, triggers + 1):
            payload = f"id: {n}\n" + "x" * max(0, size - 8)
            t0 = time.perf_counter()
            publisher.sendall(redis_command("PUBLISH", channel, payload))
            rounds.append(fanout.await_marker(f"id: {n}\n".encode(), t0)[0])
            publisher.recv(65536)
            time.sleep(0.2)
    finally:
        publisher.close()
        fanout.close()
    return rounds


def report(name: str, rounds: list[list[float]]) -> None:
    every = [ms for r in rounds for ms in r]
    last = [max(r) for r in rounds]
    print(
        f"{name:<28} first {min(every):6.1f} ms  p50 {percentile(every, 50):6.1f} ms"
        f"  p99 {percentile(every, 99):6.1f} ms"
        f"  all delivered: median {statistics.median(last):6.1f} ms, "
        f"worst {max(last):6.1f} ms  ({len(rounds)} triggers × {len(rounds[0])})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overlays", type=int, default=1000)
    parser.add_argument("--triggers", type=int, default=30)
    args = parser.parse_args()
    settings = load_settings()
    namespace = f"bench-live-{uuid.uuid4().hex[:6]}"
    log = ROOT / "var" / "bench-live.log"
    log.parent.mkdir(exist_ok=True)
    with bench_database(settings.database_url) as database_url:
        env = bench_env(
            database_url,
            settings.redis_url,
            namespace,
            API_WORKERS="1",
            LIVE_MAX_OVERLAY_STREAMS=str(args.overlays + 10),
            # All the bench's overlays share one link, and it triggers faster than a person.
            LIVE_MAX_STREAMS_PER_LINK=str(args.overlays + 10),
            RATE_LIMIT_LIVE_TRIGGER="100000/minute",
            LIVE_QUEUE_CAP="10000",
        )
        api_rounds = through_api(env, log, args.overlays, args.triggers)
    size = 420  # about an entry's size as sent
    redis_rounds = through_redis(settings.redis_url, args.overlays, args.triggers, size)
    print(f"{args.overlays} overlays on one API process, {args.triggers} triggers")
    report("trigger → every overlay", api_rounds)
    report("Redis PUBLISH → subscribers", redis_rounds)


if __name__ == "__main__":
    main()
