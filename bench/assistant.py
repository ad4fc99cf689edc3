"""The assistant: how soon the model's first piece of a reply reaches a client following the
reply's stream, and how long assembling the context takes for a big artist.

    python -m bench.assistant [--samples 100] [--earnings 1000000] [--fans 100000]

First token: the OpenAI fake (in this process) records when it sends each reply's first
piece of text; a client (a raw socket, in this process) follows the reply's stream on the API
as it is run everywhere (gunicorn with config/server.py, another process), through the
workers (`python -m workers`, other processes) that store and announce each piece. The
baseline, in the same run: the openai SDK reading the fake's stream directly, the same hop
with nothing in between.

Context: an artist with `--earnings` earnings rows (generate_series, rolled up by the import's
own roll-up) and `--fans` fans; `assemble()` timed as the reply job calls it (the fan count
held for a minute, as between questions, and read afresh each time), beside the baseline of
summing the artist's raw earnings rows per currency (what a wallet without its totals would
read). It uses the PostgreSQL and Redis of DATABASE_URL and REDIS_URL, in a
database and namespace of its own.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
import uuid

import httpx
import openai
from sqlalchemy import text

from bench.serving import api
from bench.throughput import ROOT, bench_database, bench_env, percentile, process
from config import load_settings
from devstack.fakes import serve
from devstack.fakes.openai import FakeOpenAI
from models import assistant
from models.accounts.users import create_user, start_session
from models.assistant.context import recent_fans
from models.core.base import utcnow
from models.orgs.organizations import primary_org_id
from models.revenue.ledger import apply_upload
from web.core.tokens import issue_access_token
from workers.core.setup import Platform, connect

FIRST_TOKEN_DELAY_S = 0.3


def artist(platform: Platform) -> tuple[str, uuid.UUID]:
    """A verified artist past onboarding, on the tier without quotas (a bench sends more
    messages than the free tier's jobs a day): a token and their organisation."""
    with platform.sessions.begin() as session:
        user = create_user(
            session=session,
            email=f"assistant-{uuid.uuid4().hex[:12]}@example.com",
            password="bench password 123",  # noqa: S106 - a throwaway database
        )
        user.email_verified_at = utcnow()
        auth, _ = start_session(session=session, user=user, ttl_s=3600)
        org_id = primary_org_id(session=session, user_id=user.id)
        assert org_id is not None
        session.add(assistant.Profile(org_id=org_id, step="done", answers={}))
        session.execute(
            text("UPDATE organizations SET tier = 'enterprise' WHERE id = :org"), {"org": org_id}
        )
        return issue_access_token(platform.settings, user.id, auth.id), org_id


def first_piece(port: int, token: str, path: str) -> float:
    """Follow a reply's stream: when its first piece arrived (perf_counter); read to its end."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
        )
        received = b""
        while b"event: delta" not in received:
            received += sock.recv(65536)
        arrived = time.perf_counter()
        while b"event: done" not in received:
            received += sock.recv(65536)
    return arrived


def ready(port: int) -> None:
    """Wait until the API's processes answer (loading the app takes a while on a busy box)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the API did not answer /healthz")


def stream_latency(port: int, token: str, fake: FakeOpenAI, samples: int) -> list[float]:
    taken = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        for n in range(samples):
            before = len(fake.first_token_at)
            sent = client.post(
                "/api/v1/assistant/messages",
                json={"content": f"Give me one idea for my next single, number {n}"},
                headers={"Authorization": f"Bearer {token}"},
            )
            assert sent.status_code == 202, sent.text
            arrived = first_piece(port, token, sent.json()["stream_url"])
            taken.append((arrived - fake.first_token_at[before]) * 1000)
    return taken


def direct_latency(base_url: str, fake: FakeOpenAI, samples: int) -> list[float]:
    """The baseline: the SDK reading the fake's stream itself."""
    taken = []
    with openai.OpenAI(api_key="bench", base_url=base_url) as client:
        for n in range(samples):
            before = len(fake.first_token_at)
            stream = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"Give me one idea, number {n}"}],
                stream=True,
            )
            arrived = None
            for chunk in stream:
                if arrived is None and chunk.choices and chunk.choices[0].delta.content:
                    arrived = time.perf_counter()
            assert arrived is not None
            taken.append((arrived - fake.first_token_at[before]) * 1000)
    return taken


def big_artist(platform: Platform, org_id: uuid.UUID, earnings: int, fans: int) -> None:
    """`earnings` rows over 24 months, 15 stores, 13 countries, 500 tracks, 2 currencies,
    rolled up as an import rolls them up; `fans` fans over a year; a few releases; a page."""
    upload_id = uuid.uuid4()
    with platform.sessions.begin() as session:
        session.execute(
            text(
                "INSERT INTO revenue_uploads (id, org_id, filename, storage_key, size_bytes,"
                " sha256, status) VALUES (:id, :org, 'bench.tsv', 'bench', 0, :sha, 'imported')"
            ),
            {"id": upload_id, "org": org_id, "sha": "0" * 64},
        )
        session.execute(
            text(
                "INSERT INTO revenue_earnings (upload_id, row_number, org_id, sale_month, store,"
                " country, isrc, upc, artist, title, quantity, amount, currency)"
                " SELECT :upload, i, :org,"
                " (date '2025-01-01' + make_interval(months => i % 24))::date,"
                " 'Store ' || (i % 15), chr(65 + i % 13) || chr(65 + i % 7),"
                " 'USAB1' || lpad((i % 500)::text, 7, '0'), '0123456789012', 'Bench Artist',"
                " 'Track ' || (i % 500), 1 + i % 40, round((i % 1000) / 3000.0, 8),"
                " CASE WHEN i % 5 = 0 THEN 'EUR' ELSE 'USD' END"
                " FROM generate_series(1, :n) AS i"
            ),
            {"upload": upload_id, "org": org_id, "n": earnings},
        )
        apply_upload(session, org_id=org_id, upload_id=upload_id, sign=1)
        session.execute(
            text(
                "INSERT INTO fans (org_id, name, email, country, status, created_at)"
                " SELECT :org, 'Fan ' || i, 'fan' || i || '@example.com',"
                " (ARRAY['US','GB','FR','NG','BR','JP','DE','SE'])[1 + i % 8],"
                " CASE WHEN i % 10 = 0 THEN 'paid' ELSE 'free' END,"
                " now() - make_interval(mins => i * 5)"
                " FROM generate_series(1, :n) AS i"
            ),
            {"org": org_id, "n": fans},
        )
        session.execute(
            text(
                "INSERT INTO releases (org_id, type, title, artist_name, status)"
                " SELECT :org, 'single', 'Single ' || i, 'Bench Artist',"
                " (ARRAY['draft','under_review','approved','rejected'])[1 + i % 4]"
                " FROM generate_series(1, 30) AS i"
            ),
            {"org": org_id},
        )
        session.execute(
            text(
                "INSERT INTO artist_pages (org_id, slug, name, bio)"
                " VALUES (:org, 'bench-artist', 'Bench Artist', 'Synth-pop from Lyon.')"
            ),
            {"org": org_id},
        )
    with platform.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def context_times(
    platform: Platform, org_id: uuid.UUID, samples: int, *, cold: bool
) -> list[float]:
    """`assemble()` timed; `cold`: with the fan count read afresh each time (the first
    question of a minute), else as the following questions read it."""
    taken = []
    with platform.sessions() as session:
        for _ in range(samples):
            if cold:
                recent_fans.forget()
            start = time.perf_counter()
            assistant.assemble(session=session, org_id=org_id, budget_tokens=1500)
            taken.append((time.perf_counter() - start) * 1000)
            session.rollback()
    return taken


def raw_sum_times(platform: Platform, org_id: uuid.UUID, samples: int) -> list[float]:
    taken = []
    query = text(
        "SELECT currency, sum(amount) FROM revenue_earnings WHERE org_id = :org GROUP BY currency"
    )
    with platform.sessions() as session:
        for _ in range(samples):
            start = time.perf_counter()
            session.execute(query, {"org": org_id}).all()
            taken.append((time.perf_counter() - start) * 1000)
    return taken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--earnings", type=int, default=1_000_000)
    parser.add_argument("--fans", type=int, default=100_000)
    args = parser.parse_args()
    base = load_settings()
    log = ROOT / "var" / "bench-assistant.log"
    log.parent.mkdir(exist_ok=True)
    fake = FakeOpenAI()
    # The model thinks a moment before it writes, as models do: the client, which opens the
    # stream once its message is accepted, is listening by then.
    fake.first_token_delay_s = FIRST_TOKEN_DELAY_S
    served = serve(fake)
    try:
        with bench_database(base.database_url) as url:
            env = bench_env(
                url,
                base.redis_url,
                f"bench-{uuid.uuid4().hex[:8]}",
                OPENAI_BASE_URL=served.url + "/v1",
                OPENAI_API_KEY="bench",
            )
            platform = connect(load_settings(env))
            token, _ = artist(platform)
            workers = [sys.executable, "-m", "workers"]
            with process(workers, env, log), api(env, log) as port:
                ready(port)
                stream_latency(port, token, fake, 5)  # warm the API's processes
                ours = stream_latency(port, token, fake, args.samples)
            direct = direct_latency(served.url + "/v1", fake, args.samples)
            print(
                f"model's first piece -> stream client  p50 {percentile(ours, 50):.2f} ms"
                f"  p99 {percentile(ours, 99):.2f} ms ({args.samples} replies); the SDK reading"
                f" the fake directly  p50 {percentile(direct, 50):.2f} ms"
                f"  p99 {percentile(direct, 99):.2f} ms"
            )
            _, org_id = artist(platform)
            start = time.perf_counter()
            big_artist(platform, org_id, args.earnings, args.fans)
            print(
                f"{args.earnings} earnings rows and {args.fans} fans made in"
                f" {time.perf_counter() - start:.0f} s"
            )
            warm = context_times(platform, org_id, 300, cold=False)
            cold = context_times(platform, org_id, 50, cold=True)
            raw = raw_sum_times(platform, org_id, 20)
            print(
                f"context assembly  p50 {percentile(warm, 50):.1f} ms"
                f"  p99 {percentile(warm, 99):.1f} ms (300 runs); with the fans counted afresh"
                f"  p50 {percentile(cold, 50):.1f} ms  p99 {percentile(cold, 99):.1f} ms"
                f" (50 runs); summing the raw rows per currency instead"
                f"  p50 {percentile(raw, 50):.1f} ms  p99 {percentile(raw, 99):.1f} ms (20 runs)"
            )
            platform.engine.dispose()
    finally:
        served.stop()


if __name__ == "__main__":
    main()
