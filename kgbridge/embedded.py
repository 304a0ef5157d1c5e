"""The embedded default: the whole service in one process, with nothing outside needed.

An in-process Redis stand-in (fakeredis), fake connectors preloaded with sample apps, the
webhook receiver on a thread, the dispatcher (inbox → flow jobs) on another, and an RQ worker in
the main thread. RQ's own scheduler runs in a forked process that could not see an in-process
Redis, so a small thread moves due retries from the scheduled registry to the queue instead. The
periodic tasks (kgbridge/periodic.py: reconcile, deadline and delay sweeps, open-envelope check) run
as in a worker, from the same ticker on its own client of the in-process Redis. The sample records
count as processed at their first revision, so the reconcile sweep leaves them to the webhooks the
printed commands post. For trying the service, never for production.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import fakeredis
import structlog
from flask import jsonify
from rq import SimpleWorker
from rq.utils import current_timestamp
from werkzeug.serving import make_server

from kgbridge import bootstrap, dispatch, logs, periodic
from kgbridge.samples import seed_embedded
from kgbridge.settings import load_settings

DEMO_TOKEN = "embedded-demo-token-change-me"  # noqa: S105 (a demo token for the embedded mode only)
DEMO_GMOSIGN_TOKEN = "embedded-gmosign-token-change-me"  # noqa: S105
SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def move_due_jobs(queue, stop: threading.Event, every: float = 1.0) -> None:
    """Enqueue scheduled jobs (retries with intervals) once they are due."""
    registry = queue.scheduled_job_registry
    while not stop.wait(every):
        for job_id in registry.get_jobs_to_schedule(current_timestamp()):
            job = queue.fetch_job(job_id)
            registry.remove(job_id)
            if job is not None:
                queue.enqueue_job(job)


def leave_samples_to_webhooks(connection, context) -> None:
    """Mark every sample record processed, at its revision, by each flow its app triggers.

    A webhook's job still runs (its id is new); records added or changed later are swept as usual.
    """
    from kgbridge.jobs import mark_processed
    from kgbridge.ops.reconcile import record_triggers

    for mapping in context.mappings:
        flows = {t.flow for t in record_triggers(mapping)}
        for record_id, record in context.kintone.apps[mapping.id].records.items():
            for flow in flows:
                mark_processed(connection, flow, mapping.key, record_id, f"r{record['$revision']['value']}")


def start_background(settings, server: fakeredis.FakeServer, queue):
    """Start what RQ's scheduler and the periodic ticker do for a worker; return a function stopping both."""
    stop = threading.Event()
    threading.Thread(target=move_due_jobs, args=(queue, stop), daemon=True, name="scheduler").start()
    ticker = periodic.start_ticker(settings, connection=fakeredis.FakeRedis(server=server))

    def stop_all() -> None:
        stop.set()
        if ticker is not None:
            ticker.stop()

    return stop_all


def run(host: str = "127.0.0.1", port: int = 8080) -> None:
    os.environ.setdefault("KGBRIDGE_WEBHOOK_TOKEN", DEMO_TOKEN)
    os.environ.setdefault("KGBRIDGE_GMOSIGN_WEBHOOK_TOKEN", DEMO_GMOSIGN_TOKEN)
    settings = load_settings(connector_mode="fake", log_format="console")
    logs.configure(settings.log_level, settings.log_format)
    redis_server = fakeredis.FakeServer()
    connection = fakeredis.FakeRedis(server=redis_server)
    context = bootstrap.build_context(settings, connection=connection)
    ids = seed_embedded(context.kintone, context.mappings)
    leave_samples_to_webhooks(connection, context)

    from webhooks import create_app
    from worker import make_worker

    app = create_app(settings, connection=connection)
    _add_inspection_routes(app, context)
    server = make_server(host, port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True, name="receiver").start()

    token = settings.webhook_tokens()[0]
    gmo_token = settings.gmosign_webhook_tokens()[0]
    base = f"http://{host}:{port}"
    post = "curl -s -X POST -H 'Content-Type: application/json' --data"
    print(f"""
kgbridge is running on {base} with fake kintone, GMO Sign and G-Staff (embedded default).
Sample records: orders #{ids['order_complete']} (complete, approved client) and #{ids['order_incomplete']} \
(incomplete, new client); contract #{ids['contract']} (complete, marketing just ran 発報).

An order webhook, then what happened to the record:
  {post} @{SAMPLES}/kintone-order-complete.json {base}/webhooks/kintone/{token}
  sleep 1; curl -s {base}/embedded/records/orders/{ids['order_complete']}
  {post} @{SAMPLES}/kintone-order-incomplete.json {base}/webhooks/kintone/{token}
  sleep 1; curl -s {base}/embedded/records/orders/{ids['order_incomplete']}
New inquiries (G-Staff lookup): #{ids['inquiry_known']} (a client G-Staff knows), #{ids['inquiry_new']} (a new client):
  curl -s -X POST -H 'Content-Type: application/json' --data @{SAMPLES}/kintone-inquiry-known.json {base}/webhooks/kintone/{token}
  sleep 1; curl -s {base}/embedded/records/inquiries/{ids['inquiry_known']}
  curl -s -X POST -H 'Content-Type: application/json' --data @{SAMPLES}/kintone-inquiry-new.json {base}/webhooks/kintone/{token}
  sleep 1; curl -s {base}/embedded/records/inquiries/{ids['inquiry_new']}

A contract sent through GMO Sign, then signed by the client (the fake GMO Sign's callback):
  {post} @{SAMPLES}/kintone-contract-issue.json {base}/webhooks/kintone/{token}
  sleep 1; curl -s {base}/embedded/records/contracts/{ids['contract']}
  curl -s -X POST {base}/embedded/gmosign/sign/contracts/{ids['contract']} | {post} @- {base}/webhooks/gmosign/{gmo_token}
  sleep 1; curl -s {base}/embedded/records/contracts/{ids['contract']}
The periodic tasks (reconcile, deadline and 稟議 delay sweeps, open-envelope check) run as in a worker.
Stop with Ctrl-C.
""", flush=True)
    structlog.get_logger("kgbridge.embedded").info("embedded service started")
    from rq.timeouts import TimerDeathPenalty

    worker = make_worker(settings, connection, worker_class=SimpleWorker)
    worker.death_penalty_class = TimerDeathPenalty  # jobs run in-process; no SIGALRM needed
    stop_background = start_background(settings, redis_server, worker.queues[0])
    try:
        with dispatch.running(connection, settings, context.mappings):
            worker.work(with_scheduler=False, logging_level="WARNING")
    finally:
        stop_background()
        server.shutdown()


def _add_inspection_routes(app, context) -> None:
    """Views of the fake kintone, and the client's signature in the fake GMO Sign (embedded mode only)."""

    def _find(app_key: str, record_id: str):
        """(mapping, the record's values, None), or (None, None, a 404 answer naming what is unknown)."""
        if app_key not in context.mappings:
            known = ", ".join(m.key for m in context.mappings)
            return None, None, (jsonify(ok=False, error=f"no app {app_key!r}; known apps: {known}"), 404)
        mapping = context.mappings[app_key]
        if str(record_id) not in context.kintone.apps[mapping.id].records:
            return None, None, (jsonify(ok=False, error=f"no record {record_id!r} in {app_key}"), 404)
        return mapping, context.kintone.record_values(mapping.id, record_id), None

    @app.post("/embedded/gmosign/sign/<app_key>/<record_id>")
    def sign_envelope(app_key: str, record_id: str):
        """Play the client signing the record's envelope; answer the callback GMO Sign would send."""
        mapping, values, unknown = _find(app_key, record_id)
        if unknown:
            return unknown
        envelope_id = values.get(mapping.field("gmosign_envelope_id").code)
        if not envelope_id:
            return jsonify(ok=False, error="this record has no GMO Sign envelope yet"), 409
        return jsonify(context.gmosign.complete(envelope_id))

    @app.get("/embedded/records/<app_key>/<record_id>")
    def show_record(app_key: str, record_id: str):
        mapping, values, unknown = _find(app_key, record_id)
        if unknown:
            return unknown
        fake = context.kintone
        return jsonify(
            app=app_key,
            record_id=record_id,
            status=values.get("ステータス"),
            assignee=[u.get("code") for u in values.get("作業者") or []],
            revision=values.get("$revision"),
            comments=fake.comment_texts(mapping.id, record_id),
            fields={k: v for k, v in values.items() if not k.startswith("$")},
        )
