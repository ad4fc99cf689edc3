"""How long POST /api/v1/jobs/batch takes with 500 jobs, next to 500 single POSTs.

The API runs as `make bench` runs it (gunicorn, 2 processes of 16 threads), with no workers:
what is timed is the request, from sending the body to reading the answer (every job
checked, stored in one transaction, charged to the quota, and its message in Redis). Each
job is an `email.send` of a few hundred bytes with an idempotency key, from a verified
platform admin in an enterprise organisation (no quota refusals).

It uses the PostgreSQL and Redis of DATABASE_URL / REDIS_URL (default: local), in a database
and a Redis namespace of its own that it removes at the end.

    .venv/bin/python -m bench.batch --batches 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from typing import Any

import redis

from bench.throughput import (
    BENCH_PASSWORD,
    ROOT,
    Client,
    api_command,
    bench_database,
    bench_env,
    percentile,
    process,
    wait_until_up,
)
from config import load_settings
from models.accounts.users import create_user, start_session, utcnow
from models.core.quotas import Tier
from models.orgs.organizations import Organization, primary_org_id
from tests.smtp import free_port
from web.core.tokens import issue_access_token
from workers.core.setup import connect

BATCH_SIZE = 500


def enterprise_admin(env: dict[str, str]) -> dict[str, str]:
    """The Authorization header of a verified admin whose organisation has no daily limit."""
    settings = load_settings(env)
    platform = connect(settings)
    with platform.sessions.begin() as session:
        admin = create_user(
            session=session, email="batch@example.com", password=BENCH_PASSWORD, is_admin=True
        )
        admin.email_verified_at = utcnow()
        org_id = primary_org_id(session=session, user_id=admin.id)
        session.get_one(Organization, org_id).tier = Tier.ENTERPRISE
        auth_session, _ = start_session(
            session=session, user=admin, ttl_s=settings.refresh_token_ttl_s
        )
    token = issue_access_token(settings, admin.id, auth_session.id)
    platform.engine.dispose()
    return {"Authorization": f"Bearer {token}"}


def item(n: int) -> dict[str, Any]:
    """One job of a batch: a mail of a few hundred bytes, with an idempotency key."""
    return {
        "kind": "email.send",
        "params": {
            "to": [f"fan{n}@example.com"],
            "subject": f"Your order {n} has shipped",
            "text": f"Hello,\n\nyour order {n} left our warehouse today. " * 5,
        },
        "idempotency_key": f"shipping-{uuid.uuid4()}",
    }


def timed_ms(send: Any) -> float:
    start = time.perf_counter()
    send()
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    base = load_settings()
    log = ROOT / "var" / "bench.log"
    log.parent.mkdir(exist_ok=True)
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    with bench_database(base.database_url) as url:
        env = bench_env(url, base.redis_url, namespace, PORT=str(free_port()))
        headers = enterprise_admin(env)
        api = api_command(env["PORT"], ROOT / "var" / "bench-batch-gunicorn.ctl")
        try:
            with process(api, env, log):
                client = Client(env["PORT"], headers)
                wait_until_up(client)
                figures = measure(client, args.batches)
        finally:
            flush_namespace(base.redis_url, namespace)
    print(
        f"POST /api/v1/jobs/batch, {BATCH_SIZE} jobs ({figures['body_kb']:.0f} KB): "
        f"p50 {figures['p50_ms']:.0f} ms, max {figures['max_ms']:.0f} ms "
        f"({args.batches} batches); {BATCH_SIZE} single POSTs one after the other: "
        f"{figures['singles_ms']:.0f} ms"
    )


def measure(client: Client, batches: int) -> dict[str, float]:
    def batch() -> None:
        answer = client.post("/api/v1/jobs/batch", {"items": [item(n) for n in range(BATCH_SIZE)]})
        assert len(answer["items"]) == BATCH_SIZE

    for _ in range(3):
        batch()  # warm up both processes
    times = [timed_ms(batch) for _ in range(batches)]
    singles = timed_ms(lambda: [single(client, item(n)) for n in range(BATCH_SIZE)])
    body = json.dumps({"items": [item(n) for n in range(BATCH_SIZE)]}).encode()
    return {
        "p50_ms": statistics.median(times),
        "max_ms": percentile(times, 100),
        "singles_ms": singles,
        "body_kb": len(body) / 1024,
    }


def single(client: Client, job: dict[str, Any]) -> None:
    """The same job through POST /api/v1/jobs, its key in the Idempotency-Key header."""
    key = job.pop("idempotency_key")
    client.post("/api/v1/jobs", job, {"Idempotency-Key": key})


def flush_namespace(redis_url: str, namespace: str) -> None:
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{namespace}*", count=1000))
    if keys:
        client.delete(*keys)


if __name__ == "__main__":
    main()
