"""Processes and waits for the fault tests: our own redis-server, worker processes, bounded polling.

Every wait is bounded: ``wait_until`` fails the test with what it was waiting for.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from kgbridge import periodic
from tests.log_capture import log_file

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = "redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition: Callable[[], object], timeout: float, what, every: float = 0.02):
    """Poll ``condition`` until it returns something true; fail after ``timeout`` seconds, saying
    ``what`` it waited for (a string, or a function that describes the state then)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {timeout} s waiting for {what() if callable(what) else what}")
        time.sleep(every)


class RedisServer:
    """A redis-server of our own on a free loopback port, which a test may kill and start again.

    AOF with ``appendfsync always``: every write the receiver acknowledged is on disk before
    the answer, so a kill -9 loses nothing that was acknowledged.
    """

    def __init__(self, fsync: str = "always") -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="kgbridge-redis-")
        self.fsync = fsync
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
                "--appendonly", "yes", "--appendfsync", self.fsync, "--save", "",
                "--maxmemory-policy", "noeviction", "--protected-mode", "yes"]
        with open(log_file(f"redis-{self.port}"), "ab") as out:  # the child keeps its own copy
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        wait_until(lambda: _pings(client), 10, f"redis-server on port {self.port} to answer")
        client.close()
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown, no final save."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        self.kill()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def worker_env(redis_url: str, kintone_url: str, tokens: dict[str, str], **settings: object) -> dict[str, str]:
    """Environment for ``python worker.py`` on the live kintone connector, fast heartbeats."""
    from tests.conftest import LIVE_ENV  # G-Staff and GMO Sign settings live mode requires

    env = {k: v for k, v in os.environ.items() if not k.startswith("KGBRIDGE_")}
    env.update(LIVE_ENV)
    env.update({
        "KGBRIDGE_REDIS_URL": redis_url,
        "KGBRIDGE_CONNECTOR_MODE": "live",
        "KGBRIDGE_KINTONE_BASE_URL": kintone_url,
        "KGBRIDGE_KINTONE_API_TOKENS": json.dumps(tokens),
        "KGBRIDGE_KINTONE_TIMEOUT_SECONDS": "5",
        "KGBRIDGE_KINTONE_RETRY_BUDGET_SECONDS": "5",
        "KGBRIDGE_RETRY_INTERVALS": "0,0,0",
        "KGBRIDGE_WORKER_HEARTBEAT_SECONDS": "1",
        "KGBRIDGE_WORKER_DEAD_AFTER_SECONDS": "3",
        "KGBRIDGE_WORKER_MAINTENANCE_SECONDS": "1",
        "KGBRIDGE_LOG_LEVEL": "DEBUG",
        # The fault tests watch their own jobs; the periodic sweeps would add jobs of their own
        # against a loopback kintone that serves only what the test scripted.
        # Every task of kgbridge.periodic.TASKS, so a new task cannot be forgotten here.
        **{f"KGBRIDGE_{task.interval_setting.upper()}": "0" for task in periodic.TASKS},
        # Business hours whatever time the tests run at: comments are posted at once (quiet hours).
        "KGBRIDGE_CLOCK_START": "2026-12-01T10:00:00+09:00",
        "PYTHONPATH": str(ROOT),
    })
    env.update({f"KGBRIDGE_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def start_worker(env: dict[str, str], name: str = "worker") -> subprocess.Popen:
    """``python worker.py`` in its own session (so a test can kill its whole process group)."""
    with open(log_file(name), "ab") as out:  # the child keeps its own copy
        return subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def work_horse(worker_pid: int) -> int | None:
    """The RQ work horse of a worker: its child in a process group of its own."""
    for pid in children(worker_pid):
        try:
            if os.getpgid(pid) == pid:
                return pid
        except ProcessLookupError:
            continue
    return None


class Gunicorn:
    """The receiver as ``kgbridge serve`` runs it (``cli.gunicorn_args``), on a free loopback port,
    its access log, error log and output in scanned files (tests/log_capture.py).

    ``app`` names another app factory (a test's broken receiver, say); ``env`` the KGBRIDGE_* settings.
    """

    def __init__(self, env: dict[str, str], workers: int = 2, app: str = "webhooks:create_app()",
                 name: str = "gunicorn") -> None:
        from cli import gunicorn_args

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access, self.errors, self.output = log_file(f"{name}-access"), log_file(f"{name}-error"), log_file(name)
        args = gunicorn_args(f"127.0.0.1:{self.port}", workers, app=app)
        args[args.index("--access-logfile") + 1] = str(self.access)
        self.args = [sys.executable, "-m", *args, "--error-logfile", str(self.errors)]
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("KGBRIDGE_")},
                    "PYTHONPATH": str(ROOT), **env}
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        with open(self.output, "ab") as out:  # the child keeps its own copy
            self.proc = subprocess.Popen(self.args, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        wait_until(self._answers, 30, f"gunicorn on port {self.port} to answer /healthz", every=0.1)
        return self

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {self.proc.returncode}: {self.output.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
                return sock.recv(64).split(b"\r\n", 1)[0].endswith(b" 200 OK")
        except OSError:
            return False

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                stop_process(self.proc)
