"""Webhook in → effect in kintone, end to end: gunicorn receiver, one ``python worker.py`` on the
live kintone client, kintone as a loopback server (tests/kintone_server.py) over the fake's state.

Each event is a new complete order; its effect is the approval request (上長承認依頼) landing in
kintone. Latency = the moment kintone applied the action − the moment the webhook was sent.
Resident memory of the receiver and the worker is sampled during the run.

The worker runs with its periodic tasks off (``PERIODIC_OFF``): the reconcile sweep's first look-back
is a day, so it would find the seeded orders and run them before their webhooks are sent, and the
"latency" would be the sweep's (negative: the effect before the webhook). A latency below zero, an
order whose effect came before its webhook, or a kintone request count other than 4 per order
means the run measured something else: ``run`` raises ``MeasurementError`` instead of printing it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import requests

from benchmarks.common import (
    ROOT,
    TOKEN,
    Gunicorn,
    RedisProcess,
    base_env,
    children,
    median,
    memory_mb,
    percentile,
    wait_for,
)

# What live mode requires for the connectors this flow never calls (G-Staff, GMO Sign): loopback values.
UNUSED_CONNECTORS = {"gstaff_base_url": "http://127.0.0.1:9", "gstaff_api_key": "bench-gstaff-key",
                     "gmosign_base_url": "http://127.0.0.1:9", "gmosign_customer_id": "bench-customer",
                     "gmosign_secret_key": "bench-gmosign-secret", "gmosign_webhook_token": "bench-gmosign-webhook-token"}


# Every periodic task off in the measured worker (kgbridge/periodic.py: 0 turns a task off).
PERIODIC_OFF = {"reconcile_interval_seconds": 0, "deadline_sweep_seconds": 0, "workflow_delay_sweep_seconds": 0,
                "open_envelope_check_seconds": 0, "held_message_seconds": 0, "gmosign_lookup_seconds": 0,
                "retention_kpi_seconds": 0}
CALLS_PER_ORDER = 4  # read order, the client's visits (seed A-3), read client, 上長承認依頼 (docs/benchmarks.md §5)


class MeasurementError(RuntimeError):
    """The run did not measure webhook → effect; the figure would be wrong, so none is printed."""


def run(events: int, rate: float, web_workers: int) -> dict:
    from connectors.kintone.fake import FakeKintone
    from kgbridge.samples import COMPLETE_ORDER, notification, seed_visit
    from mappings import load_mappings
    from tests.kintone_server import KintoneServer

    applied: dict[str, float] = {}

    class TimedKintone(FakeKintone):
        def update_status(self, app, record_id, action, assignee=None, revision=None):
            revision = super().update_status(app, record_id, action, assignee=assignee, revision=revision)
            applied[str(record_id)] = time.perf_counter()
            return revision

    mappings = load_mappings(ROOT / "mappings" / "default")
    fake = TimedKintone.from_mappings(mappings)
    client_id = fake.seed("1", {"会社名": "株式会社サンプル物流", "与信状態": "承認"})
    seed_visit(fake, mappings, client_id)  # orders need a completed visit (seed A-3)
    ids = [fake.seed("3", dict(COMPLETE_ORDER, 顧客レコード番号=client_id)) for _ in range(events)]
    bodies = [json.dumps(notification(fake, "3", rid), ensure_ascii=False).encode() for rid in ids]
    tokens = {"orders": "benchOrdersToken0001", "clients": "benchClientsToken0001", "visits": "benchVisitsToken0001"}

    redis_proc = RedisProcess()
    server = KintoneServer(fake, tokens={"3": tokens["orders"], "1": tokens["clients"], "6": tokens["visits"]}).start()
    env = base_env(redis_url=redis_proc.url, connector_mode="live", kintone_base_url=server.url,
                   kintone_api_tokens=json.dumps(tokens), webhook_token=TOKEN, log_level="INFO", **UNUSED_CONNECTORS,
                   **PERIODIC_OFF)
    receiver = Gunicorn("webhooks:create_app()", env, web_workers)
    worker = subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = {"receiver": (0.0, 0.0), "worker": (0.0, 0.0)}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            for name, pids in (("receiver", receiver.pids()), ("worker", [worker.pid, *children(worker.pid)])):
                sizes = [memory_mb(pid) for pid in pids]
                total = (sum(r for r, _ in sizes), sum(p for _, p in sizes))
                peak[name] = (max(peak[name][0], total[0]), max(peak[name][1], total[1]))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    sent: dict[str, float] = {}
    try:
        connection = redis_proc.client()  # the worker is up (registered with RQ) before the first webhook
        wait_for(lambda: connection.scard("rq:workers") >= 1, 180, "the worker to start")
        time.sleep(0.5)  # its dispatcher thread starts right after the registration
        url = f"{receiver.url}/webhooks/kintone/{TOKEN}"
        start = time.perf_counter()
        with requests.Session() as session:
            for k, (rid, body) in enumerate(zip(ids, bodies, strict=True)):
                due = start + k / rate
                if (delay := due - time.perf_counter()) > 0:
                    time.sleep(delay)
                sent[rid] = time.perf_counter()
                session.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=10)
        deadline = time.perf_counter() + 60
        while len(applied) < events and time.perf_counter() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        sampler.join()
        worker.terminate()
        worker.wait(20)
        receiver.stop()
        server.stop()
        redis_proc.stop()
    latencies = [(applied[rid] - sent[rid]) * 1000 for rid in ids if rid in applied]
    check(latencies, len(server.requests), events)
    return {"events": events, "rate": rate, "done": len(latencies), "p50": median(latencies),
            "p99": percentile(latencies, 99), "max": max(latencies) if latencies else float("nan"),
            "kintone_requests": len(server.requests), "receiver_workers": web_workers,
            "memory": {name: {"rss_mb": rss, "pss_mb": pss} for name, (rss, pss) in peak.items()}}


def check(latencies: list[float], kintone_requests: int, events: int) -> None:
    """Refuse a run that measured something other than webhook → effect (see the module's docstring)."""
    early = [x for x in latencies if x < 0]
    if early:
        raise MeasurementError(
            f"{len(early)} of {len(latencies)} effects came before their webhook (lowest {min(early):.0f} ms): "
            "something else (a periodic sweep?) ran the orders; no latency is printed")
    if latencies and kintone_requests != CALLS_PER_ORDER * len(latencies):
        raise MeasurementError(
            f"{kintone_requests} kintone requests for {len(latencies)} orders, not {CALLS_PER_ORDER} each: "
            "the worker did other work during the run; no latency is printed")
    if not latencies and events:
        raise MeasurementError(f"none of {events} webhooks had its effect within the wait; no latency is printed")
