"""Mail: a 10,000-recipient campaign sent by the workers to a local SMTP sink, beside a plain
smtplib loop sending the same number of mails to the same sink in the same run; then the
chaos run: another 10,000-recipient campaign during which the workers are killed with -9
twice and the campaign is paused and resumed, and the sink counts what each recipient got.

    python -m bench.mail [--recipients 10000] [--senders 8]

The sink is aiosmtpd in a process of its own (it writes one line per mail taken). The
workers are `python -m workers` (WORKER_PROCESSES=2) with the scheduler beside them (its
sweep takes back the jobs of killed workers); the pace (MAIL_SEND_PER_S) is set far above
what a sink on one machine takes, as the bench measures the engine, not the pace. It uses the
PostgreSQL and Redis of DATABASE_URL and REDIS_URL, in a database and namespace of its own.
"""

from __future__ import annotations

import argparse
import smtplib
import subprocess
import sys
import time
import uuid
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

import redis
from sqlalchemy import insert

from bench.recovery import Workers, flush_namespace, wait_for_workers
from bench.throughput import ROOT, bench_database, bench_env
from config import load_settings
from models.accounts.users import create_user
from models.fans import Fan
from models.mail import campaigns
from models.mail.tables import Campaign
from models.orgs.organizations import primary_org_id
from workers.core.setup import Platform, connect
from workers.mail import submit_senders, submit_start

TEXT = "Hello {{ recipient.name }}!\n\nWe play Lisbon on May 3. Tickets: https://tickets.example.com/lisbon\n"
HTML = '<p>Hello {{ recipient.name }}!</p><p><a href="https://tickets.example.com/lisbon">Tickets</a></p>'


# -- the sink --------------------------------------------------------------------------------
def wait_for_sink(port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def sink_counts(path: Path, subject: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    with path.open() as f:
        for line in f:
            rcpt, _, got = line.rstrip("\n").partition("\t")
            if got.startswith(subject):
                counts[rcpt] += 1
    return counts


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the baseline ----------------------------------------------------------------------------
def plain_loop(port: int, recipients: list[str]) -> float:
    """Mails per second of one smtplib connection sending a comparable mail to each."""
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for n, address in enumerate(recipients):
            message = EmailMessage()
            message["From"] = "The Band <no-reply@backline.local>"
            message["To"] = address
            message["Subject"] = "Baseline: Hi Fan"
            message["Message-ID"] = f"<baseline-{n}@backline.local>"
            message["List-Unsubscribe"] = "<https://backline.example/api/v1/mail/u/token>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            message.set_content(TEXT.replace("{{ recipient.name }}", f"Fan {n}"))
            message.add_alternative(HTML.replace("{{ recipient.name }}", f"Fan {n}"), "html")
            smtp.send_message(message)
    return len(recipients) / (time.perf_counter() - start)


# -- the campaigns ---------------------------------------------------------------------------
def setup(platform: Platform, count: int) -> tuple[uuid.UUID, uuid.UUID, list[str]]:
    with platform.sessions.begin() as session:
        user = create_user(
            session=session,
            email=f"bench-{uuid.uuid4().hex[:8]}@example.com",
            password="bench password 123",  # noqa: S106 - a throwaway account
        )
        org_id = primary_org_id(session=session, user_id=user.id)
        assert org_id is not None
        addresses = [f"fan{n}@example.com" for n in range(count)]
        for first in range(0, count, 2000):
            session.execute(
                insert(Fan),
                [
                    {"org_id": org_id, "email": a, "name": f"Fan {first + i}", "consent": True}
                    for i, a in enumerate(addresses[first : first + 2000])
                ],
            )
        return user.id, org_id, addresses


def start_campaign(
    platform: Platform, user_id: uuid.UUID, org_id: uuid.UUID, name: str
) -> uuid.UUID:
    with platform.sessions.begin() as session:
        campaign = campaigns.create_campaign(
            session=session,
            org_id=org_id,
            user_id=user_id,
            values={
                "name": name,
                "subject": f"{name}: Hi {{{{ recipient.first_name }}}}",
                "text_body": TEXT,
                "html_body": HTML,
                "from_name": "The Band",
                "audience": {"source": "fans"},
            },
        )
        campaigns.schedule(session=session, org_id=org_id, campaign_id=campaign.id, send_at=None)
        submit_start(
            session=session, dispatcher=platform.dispatcher, campaign=campaign, owner_id=user_id
        )
        return campaign.id


def state(platform: Platform, campaign_id: uuid.UUID) -> tuple[str, dict[str, int]]:
    with platform.sessions() as session:
        campaign = session.get_one(Campaign, campaign_id)
        return campaign.status, campaigns.campaign_stats(
            session=session, campaign=campaign
        ).as_dict()


def wait_finished(platform: Platform, campaign_id: uuid.UUID, timeout_s: float) -> float:
    deadline = time.monotonic() + timeout_s
    while True:
        status, stats = state(platform, campaign_id)
        if status == "finished":
            return time.perf_counter()
        if time.monotonic() > deadline:
            raise SystemExit(f"campaign still {status} after {timeout_s} s: {stats}")
        time.sleep(0.05)


def pause(platform: Platform, org_id: uuid.UUID, campaign_id: uuid.UUID) -> None:
    with platform.sessions.begin() as session:
        campaigns.pause(session=session, org_id=org_id, campaign_id=campaign_id)


def resume(platform: Platform, org_id: uuid.UUID, campaign_id: uuid.UUID, senders: int) -> None:
    with platform.sessions.begin() as session:
        campaign = campaigns.resume(session=session, org_id=org_id, campaign_id=campaign_id)
        submit_senders(
            session=session, dispatcher=platform.dispatcher, campaign=campaign, count=senders
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--senders", type=int, default=8)
    args = parser.parse_args()
    base = load_settings()
    var = ROOT / "var"
    var.mkdir(exist_ok=True)
    sink_file, log = var / "bench-mail-sink.txt", var / "bench-mail.log"
    sink_file.write_text("")
    log.write_bytes(b"")
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, "-m", "bench.mail_sink", str(port), str(sink_file)], cwd=ROOT
    )
    client = redis.Redis.from_url(base.redis_url)
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        wait_for_sink(port)
        with bench_database(base.database_url) as url:
            env = bench_env(
                url,
                base.redis_url,
                namespace,
                SMTP_HOST="127.0.0.1",
                SMTP_PORT=str(port),
                MAIL_PROVIDER="smtp",
                MAIL_SENDER_JOBS=str(args.senders),
                MAIL_SEND_PER_S="1000000",
                MAIL_SEND_PER_DOMAIN_PER_S="1000000",
                HEARTBEAT_INTERVAL_S="0.5",
                HEARTBEAT_STALE_S="3",
                SWEEP_INTERVAL_S="0.5",
                PUBLIC_BASE_URL="https://backline.example",
            )
            platform = connect(load_settings(env))
            user_id, org_id, addresses = setup(platform, args.recipients)
            baseline = plain_loop(port, addresses)
            print(f"plain smtplib loop: {baseline:.0f} mails/s", flush=True)
            workers = Workers(env, log)
            with log.open("ab") as out:
                scheduler = subprocess.Popen(
                    [sys.executable, "-m", "workers.core.scheduler"],
                    env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
            try:
                workers.start()
                wait_for_workers(client, namespace, base.worker_processes)
                measure(platform, user_id, org_id, addresses, sink_file, baseline)
                chaos(platform, workers, org_id, user_id, addresses, sink_file, args.senders)
            finally:
                workers.stop()
                scheduler.terminate()
                scheduler.wait(timeout=30)
                platform.engine.dispose()
                platform.broker.close()
    finally:
        sink.terminate()
        sink.wait(timeout=10)
        flush_namespace(client, namespace)


def measure(
    platform: Platform,
    user_id: uuid.UUID,
    org_id: uuid.UUID,
    addresses: list[str],
    sink_file: Path,
    baseline: float,
) -> None:
    start = time.perf_counter()
    campaign_id = start_campaign(platform, user_id, org_id, "Throughput")
    end = wait_finished(platform, campaign_id, timeout_s=300)
    rate = len(addresses) / (end - start)
    counts = sink_counts(sink_file, "Throughput")
    print(
        f"campaign: {rate:.0f} mails/s ({rate / baseline:.2f}x the plain loop), "
        f"{sum(counts.values())} at the sink for {len(addresses)} recipients",
        flush=True,
    )


def chaos(
    platform: Platform,
    workers: Workers,
    org_id: uuid.UUID,
    user_id: uuid.UUID,
    addresses: list[str],
    sink_file: Path,
    senders: int,
) -> None:
    """Kill the workers at 10 % and 60 % of the send, pause at 30 % and resume 2 s later
    (counted at the sink, so each happens while mail is going out)."""
    start = time.perf_counter()
    campaign_id = start_campaign(platform, user_id, org_id, "Chaos")
    total = len(addresses)

    def at_sink() -> int:
        return sum(sink_counts(sink_file, "Chaos").values())

    def when(share: float) -> int:
        while (count := at_sink()) < share * total:
            time.sleep(0.05)
        return count

    def say(what: str, count: int) -> None:
        print(f"  t+{time.perf_counter() - start:5.1f} s: {what}; {count} at the sink", flush=True)

    when(0.10)
    workers.kill()
    say("workers killed (-9), restarted", at_sink())
    workers.start()
    when(0.30)
    pause(platform, org_id, campaign_id)
    time.sleep(1.0)  # what was being sent when the pause came has landed
    paused_at = at_sink()
    time.sleep(2.0)
    say(f"paused; {at_sink() - paused_at} more in the 2 s after the first second", paused_at)
    resume(platform, org_id, campaign_id, senders)
    say("resumed", at_sink())
    when(0.60)
    workers.kill()
    say("workers killed (-9), restarted", at_sink())
    workers.start()
    wait_finished(platform, campaign_id, timeout_s=600)
    counts = sink_counts(sink_file, "Chaos")
    missing = [a for a in addresses if counts[a] == 0]
    twice = {a: n for a, n in counts.items() if n > 1}
    status, stats = state(platform, campaign_id)
    print(
        f"chaos: {status} in {time.perf_counter() - start:.1f} s; ledger sent {stats['sent']} "
        f"of {stats['total']}; at the sink {sum(counts.values())} mails to "
        f"{len(counts)} recipients: missing {len(missing)}, sent twice {len(twice)} "
        f"(at most {senders} per kill: a mail in flight when its worker died)",
        flush=True,
    )


if __name__ == "__main__":
    main()
