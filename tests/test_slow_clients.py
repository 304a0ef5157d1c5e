"""Slow clients do not stop the receiver (issue 16). Under `kgbridge serve`'s gunicorn on loopback,
50 clients trickle their requests one byte a second while a burst of webhooks and /healthz probes
arrive: every webhook is answered and recorded, the probes answer at once, and each slow client is
cut off at the request deadline (KGBRIDGE_WEB_REQUEST_SECONDS) instead of holding its thread."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from connectors.kintone.fake import FakeKintone
from kgbridge.inbox import inbox_key
from kgbridge.samples import notification, seed_embedded
from tests.conftest import WEBHOOK_TOKEN
from tests.procs import Gunicorn, children, wait_until

SLOW_CLIENTS = 50
BURST = 200
DEADLINE = 6  # seconds a client has for one request, in this test


class Trickle:
    """``count`` connections, each sending a webhook request one byte a second, on one thread."""

    def __init__(self, port: int, count: int) -> None:
        head = (f"POST /webhooks/kintone/{WEBHOOK_TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n").encode()
        self.data = head + b" " * 4000
        self.socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
        for sock in self.socks:
            sock.setblocking(False)  # one loop looks at all of them: nothing may wait
        self.sent = [0] * count
        self.closed_after: dict[int, float] = {}  # connection -> seconds from its first byte to the server's close
        self.stop = threading.Event()
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Trickle:
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.is_set():
            for i, sock in enumerate(self.socks):
                if i in self.closed_after:
                    continue
                try:
                    if sock.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b"":
                        self.closed_after[i] = time.monotonic() - self.started
                        continue
                except BlockingIOError:
                    pass  # still open, nothing to read: the server is waiting for the rest
                except OSError:
                    self.closed_after[i] = time.monotonic() - self.started
                    continue
                try:
                    sock.send(self.data[self.sent[i]:self.sent[i] + 1])
                    self.sent[i] += 1
                except OSError:
                    self.closed_after[i] = time.monotonic() - self.started
            self.stop.wait(1.0)

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(5)
        for sock in self.socks:
            sock.close()


def test_fifty_slow_clients_neither_stall_a_burst_of_webhooks_nor_the_probes_and_are_cut_off(redis_url, redis_conn,
                                                                                              settings, mappings):
    fake = FakeKintone.from_mappings(mappings)
    ids = seed_embedded(fake, mappings)
    template = notification(fake, "3", ids["order_complete"])
    env = {"KGBRIDGE_REDIS_URL": redis_url, "KGBRIDGE_CONNECTOR_MODE": "fake", "KGBRIDGE_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
           "KGBRIDGE_WEB_REQUEST_SECONDS": str(DEADLINE), "KGBRIDGE_LOG_LEVEL": "WARNING"}
    probes: list[float] = []

    with Gunicorn(env, name="gunicorn-slow") as web, Trickle(web.port, SLOW_CLIENTS) as slow:
        wait_until(lambda: min(slow.sent) >= 2, 10, "every slow client to have sent its first bytes")
        done = threading.Event()

        def probe() -> None:  # a new connection each time, as kintone makes one per webhook
            while not done.is_set():
                start = time.monotonic()
                assert requests.get(f"{web.url}/healthz", timeout=DEADLINE * 2).status_code == 200
                probes.append(time.monotonic() - start)
                done.wait(0.1)

        def post(n: int) -> int:
            body = {**template, "id": f"burst-{n}"}
            return requests.post(f"{web.url}/webhooks/kintone/{WEBHOOK_TOKEN}", data=json.dumps(body),
                                 timeout=DEADLINE * 2).status_code

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        burst_started = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            codes = list(pool.map(post, range(BURST)))
        burst_seconds = time.monotonic() - burst_started
        open_during_burst = SLOW_CLIENTS - len(slow.closed_after)
        done.set()
        prober.join(DEADLINE * 2)
        wait_until(lambda: len(slow.closed_after) == SLOW_CLIENTS, DEADLINE + 10,
                   lambda: f"the server to cut off every slow client ({len(slow.closed_after)} were, bytes sent "
                           f"{sorted(slow.sent)})")

    probes.sort()
    print(f"\n{SLOW_CLIENTS} slow clients: {BURST} webhooks in {burst_seconds:.2f} s; /healthz median "
          f"{probes[len(probes) // 2] * 1000:.0f} ms, max {probes[-1] * 1000:.0f} ms over {len(probes)} probes; "
          f"slow clients cut off after {min(slow.closed_after.values()):.1f}-{max(slow.closed_after.values()):.1f} s")
    assert codes == [200] * BURST
    assert redis_conn.llen(inbox_key(settings)) == BURST  # every webhook recorded
    assert open_during_burst == SLOW_CLIENTS  # the slow clients held their connections throughout
    assert probes and max(probes) < DEADLINE / 2, sorted(probes)[-5:]  # never waited behind a slow client
    # Each slow client was cut off at the deadline (give or take the poll), not after sending everything.
    assert max(slow.closed_after.values()) < DEADLINE + 8 and max(slow.sent) < 60


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_keep_alive_clients_are_served_by_every_worker_not_pinned_to_one(redis_url, redis_conn, settings, mappings):
    """A gthread worker keeps the connections it accepted: a client (or a proxy) that keeps its
    connections alive had all of them served by one of the two workers in 4 of 10 two-second rounds
    (the other worker idle, half the capacity). `kgbridge serve` closes each connection after its
    answer, so every new request goes to whichever worker is free."""
    fake = FakeKintone.from_mappings(mappings)
    template = notification(fake, "3", seed_embedded(fake, mappings)["order_complete"])
    env = {"KGBRIDGE_REDIS_URL": redis_url, "KGBRIDGE_CONNECTOR_MODE": "fake", "KGBRIDGE_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
           "KGBRIDGE_LOG_LEVEL": "WARNING"}
    with Gunicorn(env, workers=2, name="gunicorn-keepalive") as web:
        # gunicorn answers once its first worker is up; on a loaded machine the second may still be
        # booting (seen once in CI: one child listed), so wait for both before measuring them
        wait_until(lambda: len(children(web.proc.pid)) == 2, 30, "both gunicorn workers to have started")
        workers = children(web.proc.pid)
        before = {pid: _cpu_seconds(pid) for pid in workers}

        def session_posts(k: int) -> list[str]:
            with requests.Session() as session:  # keeps its connection alive where the server lets it
                return [session.post(f"{web.url}/webhooks/kintone/{WEBHOOK_TOKEN}", timeout=10,
                                     data=json.dumps({**template, "id": f"kept-{k}-{n}"})).headers["Connection"]
                        for n in range(150)]

        with ThreadPoolExecutor(4) as pool:
            answers = [c for part in pool.map(session_posts, range(4)) for c in part]
        used = {pid: _cpu_seconds(pid) - before[pid] for pid in workers}

    assert len(workers) == 2 and set(answers) == {"close"}
    assert redis_conn.llen(inbox_key(settings)) == 600
    assert all(seconds > 0.05 for seconds in used.values()), used  # both workers answered webhooks
