"""`python -m bench.webhooks`: signed inbound webhooks over HTTP, beside a bare baseline.

1. POST /api/v1/webhooks/resend with Standard Webhooks signatures (each a new message id),
   against a bare Flask app that only INSERTs the body (`create_bare_app`), both under
   config/server.py's settings; they alternate for --rounds rounds, --requests each, from
   --senders threads, and the medians are compared (rate and p99).
2. A flood of --flood signed events, a tenth of them sent twice, concurrently: the events
   stored and the processing jobs queued are counted, workers are started, and every event
   must end processed (here: `ignored`, no handler) by exactly one succeeded job.
3. Outbound: --deliveries notifications to a local receiver that fails a third of them at
   first (503): all must arrive, each verified with the reference library, and none be sent
   again once the receiver answered 2xx.

Uses DATABASE_URL / REDIS_URL (default: local) in a database and namespace of its own.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from flask import Flask, request
from sqlalchemy import create_engine, text

from bench.serving import api
from bench.throughput import (
    BENCH_PASSWORD,
    BIN,
    ROOT,
    bench_database,
    bench_env,
    percentile,
    process,
)
from config import load_settings

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the spec's test secret


def create_bare_app() -> Flask:
    """The baseline: take the body and INSERT it, nothing else."""
    app = Flask(__name__)
    engine = create_engine(
        os.environ["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1),
        pool_size=10,
        max_overflow=20,
    )
    insert = text("INSERT INTO bench_webhook_bodies (body) VALUES (:body)")

    @app.post("/hook")
    def hook() -> tuple[dict[str, Any], int]:
        with engine.begin() as conn:
            conn.execute(insert, {"body": request.get_data()})
        return {"status": "accepted"}, 202

    return app


def signed(msg_id: str) -> tuple[bytes, dict[str, str]]:
    import standardwebhooks  # noqa: PLC0415 - a dev dependency, as the senders' library

    body = f'{{"type":"bench.event","data":{{"id":"{msg_id}"}}}}'
    now = datetime.now(UTC)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": standardwebhooks.Webhook(SECRET).sign(msg_id, now, body),
        "content-type": "application/json",
    }
    return body.encode(), headers


def blast(url: str, requests: list[tuple[bytes, dict[str, str]]], senders: int) -> dict[str, Any]:
    """Post every request from `senders` threads; rate, p50/p99 and the status codes."""
    latencies: list[float] = []
    codes: dict[int, int] = {}

    def one(chunk: list[tuple[bytes, dict[str, str]]]) -> None:
        with httpx.Client(timeout=30) as client:
            for body, headers in chunk:
                t0 = time.perf_counter()
                code = client.post(url, content=body, headers=headers).status_code
                latencies.append((time.perf_counter() - t0) * 1000)
                codes[code] = codes.get(code, 0) + 1

    chunks = [requests[i::senders] for i in range(senders)]
    started = time.perf_counter()
    with ThreadPoolExecutor(senders) as pool:
        list(pool.map(one, chunks))
    elapsed = time.perf_counter() - started
    return {
        "rps": len(requests) / elapsed,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "codes": codes,
    }


def inbound_vs_bare(env: dict[str, str], log: Path, rounds: int, n: int, senders: int) -> None:
    ours, bare = [], []
    with api(env, log) as port, api(env, log, "bench.webhooks:create_bare_app()") as bare_port:
        warm = [signed(f"msg_warm_{uuid.uuid4().hex}") for _ in range(200)]
        blast(f"http://127.0.0.1:{port}/api/v1/webhooks/resend", warm, senders)
        blast(f"http://127.0.0.1:{bare_port}/hook", warm, senders)
        for r in range(rounds):
            batch = [signed(f"msg_{uuid.uuid4().hex}") for _ in range(n)]
            bare.append(blast(f"http://127.0.0.1:{bare_port}/hook", batch, senders))
            ours.append(blast(f"http://127.0.0.1:{port}/api/v1/webhooks/resend", batch, senders))
            print(
                f"  round {r + 1}: bare {bare[-1]['rps']:.0f}/s p99 {bare[-1]['p99_ms']:.1f} ms;"
                f" Backline {ours[-1]['rps']:.0f}/s p99 {ours[-1]['p99_ms']:.1f} ms"
                f" {ours[-1]['codes']}",
                flush=True,
            )
    o_rps = statistics.median(r["rps"] for r in ours)
    b_rps = statistics.median(r["rps"] for r in bare)
    o_p99 = statistics.median(r["p99_ms"] for r in ours)
    b_p99 = statistics.median(r["p99_ms"] for r in bare)
    print(
        f"signed inbound: Backline {o_rps:.0f}/s p99 {o_p99:.1f} ms; bare INSERT {b_rps:.0f}/s"
        f" p99 {b_p99:.1f} ms; {o_rps / b_rps:.2f}x (medians of {rounds} rounds,"
        f" {n} requests, {senders} senders, {os.cpu_count()} cores)"
    )


def flood(env: dict[str, str], log: Path, n: int, senders: int, timeout_s: float) -> None:
    ids = [f"msg_flood_{uuid.uuid4().hex}" for _ in range(n - n // 10)]
    requests = [signed(i) for i in ids] + [signed(i) for i in random.sample(ids, n // 10)]
    random.shuffle(requests)
    engine = create_engine(env["DATABASE_URL"])
    with api(env, log) as port:
        result = blast(f"http://127.0.0.1:{port}/api/v1/webhooks/resend", requests, senders)
    counts = "SELECT count(*) FROM webhook_events WHERE message_id LIKE 'msg_flood_%'"
    with engine.connect() as conn:
        stored = conn.scalar(text(counts))
    print(f"flood: {n} posted ({n // 10} twice): {result['codes']}; stored {stored}")
    started = time.perf_counter()
    with process([str(BIN / "python"), "-m", "workers"], env, log):
        while time.perf_counter() - started < timeout_s:
            with engine.connect() as conn:
                left = conn.scalar(
                    text("SELECT count(*) FROM webhook_events WHERE status = 'received'")
                )
            if left == 0:
                break
            time.sleep(1)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                """SELECT count(*) FILTER (WHERE e.status <> 'received') AS done,
                          count(DISTINCT j.id) AS jobs,
                          count(*) FILTER (WHERE j.attempts <> 1) AS rerun
                   FROM webhook_events e JOIN jobs j ON j.id = e.job_id
                   WHERE e.message_id LIKE 'msg_flood_%'"""
            )
        ).one()
    engine.dispose()
    print(
        f"flood: {row.done} of {stored} processed in {time.perf_counter() - started:.1f} s by"
        f" {row.jobs} jobs; jobs run more than once: {row.rerun}"
    )


class Receiver:
    """Fails the first attempt of every third message, verifies and counts every request."""

    def __init__(self) -> None:
        import standardwebhooks  # noqa: PLC0415

        self.verifier: Any = None
        self.webhook = standardwebhooks
        self.seen: dict[str, int] = {}
        self.ok: dict[str, int] = {}
        self.bad_signatures = 0
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        from werkzeug.wrappers import Request, Response  # noqa: PLC0415

        req = Request(environ)
        msg_id = req.headers.get("webhook-id", "")
        try:
            self.verifier.verify(req.get_data(), dict(req.headers))
        except Exception:  # noqa: BLE001 - counted: the bench fails on any
            with self.lock:
                self.bad_signatures += 1
            return Response("bad", 400)(environ, start_response)
        with self.lock:
            tries = self.seen[msg_id] = self.seen.get(msg_id, 0) + 1
            fail = tries == 1 and int(msg_id[-4:], 16) % 3 == 0
            if not fail:
                self.ok[msg_id] = self.ok.get(msg_id, 0) + 1
        return Response("no" if fail else "ok", 503 if fail else 200)(environ, start_response)


def outbound_deliveries(env: dict[str, str], log: Path, n: int, timeout_s: float) -> None:
    from devstack.fakes import serve  # noqa: PLC0415
    from models.accounts.users import create_user  # noqa: PLC0415
    from models.orgs import primary_org_id  # noqa: PLC0415
    from models.webhooks import create_endpoint  # noqa: PLC0415
    from workers.core.setup import connect  # noqa: PLC0415
    from workers.webhooks import notify  # noqa: PLC0415

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    receiver = Receiver()
    served = serve(receiver)
    env = {**env, "OUTBOUND_ALLOWED_NETWORKS": "127.0.0.1/32"}
    platform = connect(load_settings(env))
    with platform.sessions.begin() as session:
        user = create_user(
            session=session,
            email=f"{uuid.uuid4().hex[:8]}@example.com",
            password=BENCH_PASSWORD,
        )
        org_id = primary_org_id(session=session, user_id=user.id)
        assert org_id is not None  # noqa: S101
        endpoint = create_endpoint(
            session=session, org_id=org_id, url=served.url + "/in", events=["bench.ping"]
        )
        receiver.verifier = receiver.webhook.Webhook(endpoint.secret)
    started = time.perf_counter()
    with platform.sessions.begin() as session:
        for i in range(n):
            notify(
                session=session,
                dispatcher=platform.dispatcher,
                org_id=org_id,
                event_type="bench.ping",
                data={"n": i},
            )
    with process([str(BIN / "python"), "-m", "workers"], env, log):
        while time.perf_counter() - started < timeout_s and len(receiver.ok) < n:
            time.sleep(0.5)
        time.sleep(2)  # anything sent after the last 2xx would show now
    served.stop()
    platform.engine.dispose()
    twice = sum(1 for c in receiver.ok.values() if c > 1)
    failed_first = sum(1 for c in receiver.seen.values() if c > 1)
    print(
        f"outbound: {len(receiver.ok)} of {n} delivered in {time.perf_counter() - started:.1f} s"
        f" ({failed_first} after a 503 first); bad signatures {receiver.bad_signatures};"
        f" delivered twice after a 2xx: {twice}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--flood", type=int, default=10_000)
    parser.add_argument("--deliveries", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()
    base = load_settings()
    log = ROOT / "var" / "bench-webhooks.log"
    log.parent.mkdir(exist_ok=True)
    with bench_database(base.database_url) as url:
        env = bench_env(
            url, base.redis_url, f"bench-{uuid.uuid4().hex[:8]}", RESEND_WEBHOOK_SECRET=SECRET
        )
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(
                text("CREATE TABLE bench_webhook_bodies (id bigserial PRIMARY KEY, body bytea)")
            )
        engine.dispose()
        if args.rounds:
            print("POST /api/v1/webhooks/resend and the bare INSERT app, alternated:", flush=True)
            inbound_vs_bare(env, log, args.rounds, args.requests, args.senders)
        if args.flood:
            flood(env, log, args.flood, args.senders, args.timeout)
        if args.deliveries:
            outbound_deliveries(env, log, args.deliveries, args.timeout)


if __name__ == "__main__":
    main()
