"""Instructions per webhook under gunicorn, counted by valgrind's callgrind: the bare endpoint and kgbridge.

    python -m benchmarks.instructions [--requests N] [--keep DIR]

Wall-clock req/s on a shared machine moves with the neighbours' load; callgrind counts the
instructions a process executes, which do not. Each side runs as ``kgbridge serve`` runs it
(``cli.gunicorn_args``: the gthread worker, ``--preload``, the access log through kgbridge's logger
class), with one worker, under ``valgrind --tool=callgrind``, against its own redis-server (not
counted). One client sends the intake benchmark's notifications one at a time over keep-alive, every
one new (new notification id and record id), so kgbridge takes its full path, access line included.

Each side is started twice: once answering a warm-up and ``N`` requests, once the warm-up and ``3 N``;
instructions per request = (the second worker's count − the first's) / (2 N), so start-up, warm-up
and shut-down cancel (callgrind_control cannot reach a forked gunicorn worker, so no counter is
zeroed in flight). The worker's whole process is counted: gunicorn's HTTP parsing, the WSGI app, the
access line, redis-py's round trip; the master and Redis are not. ``--keep DIR`` keeps the callgrind
files for ``callgrind_annotate``.

Needs valgrind (``apt-get install -y valgrind``) and redis-server. About 5 minutes: python under
callgrind runs some 50× slower, start-up included.
"""

from __future__ import annotations

import argparse
import http.client
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, TOKEN, RedisProcess, base_env, children, free_port, wait_for
from benchmarks.intake import BARE, OURS, body_for, notification_template
from cli import gunicorn_args

APPS = {
    BARE: ("benchmarks.bare_app:create_app()", lambda url: {"BENCH_REDIS_URL": url}),
    OURS: ("webhooks:create_app()", lambda url: {}),
}
WARM_UP = 100  # lazy first-request work (imports, caches, a first full GC) falls in here


class Client:
    """One keep-alive connection sending notifications one after another; every answer must be a 200."""

    def __init__(self, port: int, template: str, run: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.template, self.run, self.sent = template, run, 0
        self.path = f"/webhooks/kintone/{TOKEN}"

    def send(self, count: int) -> None:
        for _ in range(count):
            self.sent += 1
            self.conn.request("POST", self.path, body_for(self.template, self.sent, self.run),
                              {"Content-Type": "application/json"})
            answer = self.conn.getresponse()
            body = answer.read()
            if answer.status != 200:
                raise RuntimeError(f"answer {answer.status}: {body[:200]!r}")


def _total(path: Path) -> int:
    """The instructions a callgrind file counted (its ``totals:`` or ``summary:`` line)."""
    text = path.read_text(errors="replace")
    match = re.search(r"^(?:totals|summary):\s+(\d+)", text, re.M)
    if match is None:
        raise RuntimeError(f"no totals in {path}")
    return int(match.group(1))


def serve(name: str, template: str, requests: int, out_dir: Path) -> tuple[int, Path]:
    """One gunicorn under callgrind answering ``WARM_UP + requests`` notifications, then stopped:
    the worker's instruction count and its callgrind file."""
    app, extra = APPS[name]
    redis_proc = RedisProcess()
    port = free_port()
    env = base_env(redis_url=redis_proc.url, connector_mode="fake", webhook_token=TOKEN, log_level="INFO")
    env.update(extra(redis_proc.url))
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_dir}/callgrind.%p",
           sys.executable, "-m", *gunicorn_args(f"127.0.0.1:{port}", 1, app)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _listening(port), 600, f"gunicorn {app} under callgrind")
        wait_for(lambda: bool(children(proc.pid)), 120, "the gunicorn worker")
        worker = children(proc.pid)[0]
        run = f"cg{time.time_ns():x}"  # hex, as kintone's ids (benchmarks.intake.run_id says why)
        Client(port, template, run).send(WARM_UP + requests)
    finally:
        proc.terminate()  # the worker exits gracefully, and callgrind writes its file
        try:
            proc.wait(300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        redis_proc.stop()
    path = out_dir / f"callgrind.{worker}"
    return _total(path), path


def measure(name: str, template: str, requests: int, out_dir: Path) -> dict:
    """Instructions per request: two servers, ``N`` and ``3 N`` requests after the warm-up; the difference
    of the workers' counts over the difference of requests (start-up and shut-down cancel)."""
    side = out_dir / _side(name)
    counts = {n: serve(name, template, n, side / f"n{n}") for n in (requests, 3 * requests)}
    (small, _), (large, path) = counts[requests], counts[3 * requests]
    return {"per_request": (large - small) / (2 * requests), "windows": {n: c for n, (c, _) in counts.items()},
            "file": str(path)}


def _listening(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def run(requests: int = 100, keep: Path | None = None, only: str | None = None) -> dict:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise RuntimeError("valgrind is not installed: apt-get install -y valgrind")
    out_dir = keep or Path(tempfile.mkdtemp(prefix="kgbridge-callgrind-"))
    template = notification_template()
    try:
        results = {name: measure(name, template, requests, out_dir) for name in APPS
                   if only is None or _side(name) == only}
    finally:
        if keep is None:
            shutil.rmtree(out_dir, ignore_errors=True)
    if len(results) == len(APPS):
        results["ratio"] = results[BARE]["per_request"] / results[OURS]["per_request"]
    return results


def _side(name: str) -> str:
    return "bare" if name == BARE else "kgbridge"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, metavar="N",
                        help="the first window's requests; the second sends 3 N (default 100)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the callgrind files here")
    parser.add_argument("--only", choices=("bare", "kgbridge"), help="measure one side only")
    args = parser.parse_args(argv)
    results = run(args.requests, args.keep, args.only)
    for name in (n for n in APPS if n in results):
        r = results[name]
        windows = ", ".join(f"{WARM_UP} + {n} requests {total:,}" for n, total in r["windows"].items())
        print(f"{name}: {r['per_request'] / 1e6:.3f} M instructions per request (the worker's counts: {windows})"
              + (f"; callgrind_annotate {r['file']}" if args.keep else ""))
    if "ratio" in results:
        print(f"bare / kgbridge by instructions per request: {results['ratio']:.2f} (the wall-clock ratio also "
              "counts what both sides share: the load generator, Redis, the kernel)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
