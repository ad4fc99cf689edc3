"""Start Backline's real processes (gunicorn, Dramatiq workers, scheduler) for a test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from config import Settings
from tests.servers import ROOT
from tests.smtp import free_port

BIN = Path(sys.executable).parent


class Stack:
    def __init__(self, settings: Settings, logs: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = logs
        self.env = {
            **os.environ,
            "BACKLINE_ENV": "test",
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "BROKER_NAMESPACE": settings.broker_namespace,
            "RATE_LIMIT_KEY_PREFIX": settings.broker_namespace,
            "SMTP_HOST": settings.smtp_host,
            "SMTP_PORT": str(settings.smtp_port),
            "PORT": str(self.port),
            "HEARTBEAT_INTERVAL_S": "0.3",
            "HEARTBEAT_STALE_S": "2",
            "QUEUED_STALE_S": "2",
            "SWEEP_INTERVAL_S": "0.5",
            "WORKER_PROCESSES": "1",
            "WORKER_THREADS": "2",
            "LOG_LEVEL": "INFO",
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            env=self.env,
            cwd=ROOT,
            text=True,
            capture_output=True,
            timeout=60,
            check=False,
        )

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            args,
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def start_api(self) -> None:
        self.start(
            "api",
            str(BIN / "gunicorn"),
            "-c",
            "python:config.server",
            "web:create_app()",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "1",
            "--control-socket",
            str(self.logs / "gunicorn.ctl"),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/openapi.json", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError(f"the API did not come up; see {self.logs / 'api.log'}")

    def start_worker(self, name: str = "worker") -> subprocess.Popen[bytes]:
        return self.start(name, sys.executable, "-m", "workers")

    def start_scheduler(self) -> None:
        self.start("scheduler", sys.executable, "-m", "workers.core.scheduler")

    def kill(self, name: str) -> None:
        """SIGKILL the whole process group: the Dramatiq parent and its worker processes."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> dict[str, int]:
        """SIGTERM everything, as an operator would; the exit codes."""
        # To the leader only: Dramatiq's and gunicorn's parents pass it on to their children,
        # and a child that gets a second SIGTERM takes it as "kill now".
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        codes = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                codes[name] = process.wait()
        return codes
