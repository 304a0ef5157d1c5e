"""Processes and measurements shared by the benchmark sections."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

import redis

from cli import DEFAULT_WEB_WORKERS, gunicorn_args

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-webhook-token-0123456789abcdef"


@cache
def log_sink():
    """One open /dev/null for the sections' quiet logging, shared by every run: a file opened per
    run is dropped unclosed when logging is configured again (a ResourceWarning; an error in tests)."""
    return open(os.devnull, "w")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"gave up waiting for {what}")
        time.sleep(0.05)


class RedisProcess:
    """A redis-server of our own, configured as README's production notes say (AOF, everysec)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="kgbridge-bench-redis-")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--maxmemory-policy", "noeviction"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        wait_for(lambda: _ping(client), 10, "redis-server")
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def _ping(client) -> bool:
    try:
        return client.ping()
    except redis.RedisError:
        return False


def base_env(**kgbridge) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGBRIDGE_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update({f"KGBRIDGE_{k.upper()}": str(v) for k, v in kgbridge.items()})
    return env


class Gunicorn:
    """gunicorn with `kgbridge serve`'s command line (gthread workers, access log on) on a free port;
    its output is discarded."""

    def __init__(self, app: str, env: dict[str, str], workers: int = DEFAULT_WEB_WORKERS) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", *gunicorn_args(f"127.0.0.1:{self.port}", workers, app)],  # python -m gunicorn --bind ...
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"http://127.0.0.1:{self.port}"
        try:
            wait_for(self._up, 180, f"gunicorn {app}")  # a loaded machine imports slowly
        except RuntimeError:
            self.stop()  # never leave a server behind
            raise
        time.sleep(0.5)  # let every worker boot

    def _up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def pids(self) -> list[int]:
        return [self.proc.pid, *children(self.proc.pid)]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, PSS) of a process in MB; PSS shares pages between forked processes fairly."""
    rss = pss = 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) / 1024
    except OSError:
        pass
    return rss, pss


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, cells)])
