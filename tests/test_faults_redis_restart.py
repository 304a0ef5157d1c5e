"""Redis killed and started again while webhooks arrive and a worker runs jobs.

Our own redis-server (AOF, ``appendfsync always``, as README's production notes say) is killed with
SIGKILL in the middle of a stream of webhooks and started again on the same data. The receiver
(real HTTP) answers 503 with Retry-After while it cannot record; the sender here retries a 503
like a retrying webhook sender would. Every event answered 2xx must end in its effect, once.
The worker is a real ``python worker.py`` on the live loopback kintone, kept running by a small
supervisor (as systemd or Docker's restart policy would).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
import requests
from werkzeug.serving import make_server

from kgbridge import bootstrap
from tests.conftest import WEBHOOK_TOKEN
from tests.fault_kit import ORDERS, seed_client, seed_order, start_kintone, webhook_body
from tests.pii import API_TOKENS
from tests.procs import RedisServer, start_worker, stop_process, wait_until, worker_env
from webhooks import create_app

pytestmark = pytest.mark.timeout(120)

EVENTS = 80
KILL_AFTER = 25  # events acknowledged before Redis is killed
EFFECTS_BEFORE_KILL = 3  # ... and orders the worker has already handled
REFUSED_BEFORE_RESTART = 5  # 503 answers seen before Redis comes back


@dataclass
class Sender:
    """Posts each body until it is acknowledged (2xx), retrying 503 quickly; records every answer."""

    url: str
    bodies: list[str]
    answers: list[tuple[int, int, str | None]] = field(default_factory=list)  # (event, status, Retry-After)
    acked: list[int] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    pause_after: int = KILL_AFTER  # wait for ``go_on`` after this many events, so the rest meet the outage
    paused: threading.Event = field(default_factory=threading.Event)
    go_on: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        deadline = time.monotonic() + 60
        with requests.Session() as session:
            for index, body in enumerate(self.bodies):
                if index == self.pause_after:
                    self.paused.set()
                    self.go_on.wait(30)
                while time.monotonic() < deadline:
                    try:
                        r = session.post(self.url, data=body.encode(), timeout=10,
                                         headers={"Content-Type": "application/json"})
                        status, retry_after = r.status_code, r.headers.get("Retry-After")
                    except requests.ConnectionError:
                        status, retry_after = 0, None
                    self.answers.append((index, status, retry_after))
                    if 200 <= status < 300:
                        self.acked.append(index)
                        break
                    time.sleep(0.05)
        self.done.set()

    def refused(self) -> int:
        return sum(1 for _, status, _ in self.answers if status == 503)


class Supervisor:
    """Keeps one worker process running, restarting it when it exits."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.procs = [start_worker(env, "worker-supervised")]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.stopping.wait(0.1):
            if self.procs[-1].poll() is not None:
                self.procs.append(start_worker(self.env, "worker-supervised"))

    @property
    def restarts(self) -> int:
        return len(self.procs) - 1

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)
        for proc in self.procs:
            stop_process(proc)


@pytest.fixture
def own_redis():
    server = RedisServer().start()
    yield server
    server.stop()


def test_redis_restarted_under_load_loses_no_acknowledged_event(own_redis, settings, kintone, mappings):
    app_settings = settings.model_copy(update={"redis_url": own_redis.url})
    receiver = make_server("127.0.0.1", 0, create_app(app_settings, connection=bootstrap.redis_client(app_settings)),
                           threaded=True)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    client = seed_client(kintone)
    orders = [seed_order(kintone, client) for _ in range(EVENTS)]
    sender = Sender(f"http://127.0.0.1:{receiver.server_port}/webhooks/kintone/{WEBHOOK_TOKEN}",
                    [webhook_body(kintone, rid) for rid in orders])

    with start_kintone(kintone, mappings) as kintone_server:
        supervisor = Supervisor(worker_env(own_redis.url, kintone_server.url, API_TOKENS))
        try:
            threading.Thread(target=sender.run, daemon=True).start()
            assert sender.paused.wait(30), f"the first {KILL_AFTER} events were not acknowledged"
            # Kill while the worker is busy too, not only while events arrive.
            wait_until(lambda: kintone.calls[("update_status", ORDERS)] >= EFFECTS_BEFORE_KILL, 30,
                       "the worker to be working")
            own_redis.kill()
            sender.go_on.set()
            wait_until(lambda: sender.refused() >= REFUSED_BEFORE_RESTART, 30, "the receiver to refuse events")
            own_redis.start()
            assert sender.done.wait(60), "the sender did not finish"
            acked_orders = [orders[i] for i in sender.acked]
            # A job dequeued in the instant Redis died sits in RQ's intermediate queue; RQ's maintenance
            # hands it back for a retry once it has been seen there for over a minute: hence 120 s.
            wait_until(lambda: all(kintone.record_values(ORDERS, rid)["ステータス"] == "上長承認待ち"
                                   for rid in acked_orders), 120, "every acknowledged event's effect")
        finally:
            supervisor.stop()
            receiver.shutdown()
            receiver.server_close()

    statuses = Counter(status for _, status, _ in sender.answers)
    assert set(statuses) <= {200, 503}, f"only 2xx or 503, never a 500: {statuses}"
    assert statuses[503] >= REFUSED_BEFORE_RESTART
    assert all(retry_after for _, status, retry_after in sender.answers if status == 503)
    assert sorted(sender.acked) == list(range(EVENTS))  # the retrying sender got every event in
    for rid in orders:
        record = kintone.record_values(ORDERS, rid)
        assert (record["ステータス"], record["$revision"]) == ("上長承認待ち", "3"), f"order {rid}"
    assert kintone.calls[("update_status", ORDERS)] == EVENTS
