"""The embedded default runs the periodic tasks as a worker does, on its in-process Redis, and
leaves its sample records to the webhooks its printed commands post."""

from __future__ import annotations

import time

import fakeredis
from rq import SimpleWorker
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.timeouts import TimerDeathPenalty

from kgbridge import bootstrap, embedded, periodic
from kgbridge.jobs import make_queue
from kgbridge.samples import seed_embedded
from kgbridge.settings import load_settings
from tests.conftest import WEBHOOK_TOKEN
from worker import make_worker

ORDERS = "3"


def test_the_embedded_ticker_enqueues_every_periodic_task_and_its_worker_runs_them():
    settings = load_settings(connector_mode="fake", webhook_token=WEBHOOK_TOKEN)
    server = fakeredis.FakeServer()
    connection = fakeredis.FakeRedis(server=server)
    context = bootstrap.build_context(settings, connection=connection)
    ids = seed_embedded(context.kintone, context.mappings)
    embedded.leave_samples_to_webhooks(connection, context)
    queue = make_queue(connection, settings)

    stop = embedded.start_background(settings, server, queue)
    try:
        deadline = time.monotonic() + 5
        while len(queue) < len(periodic.TASKS) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop()
    worker = make_worker(settings, connection, worker_class=SimpleWorker)
    worker.death_penalty_class = TimerDeathPenalty
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")

    finished = FinishedJobRegistry(queue=queue).get_job_ids()
    assert sorted(j.rsplit("-", 1)[0] for j in finished) == sorted(t.name for t in periodic.TASKS)
    assert len(FailedJobRegistry(queue=queue)) == 0
    reconciled = queue.fetch_job(next(j for j in finished if j.startswith("reconcile-")))
    assert reconciled.return_value() == "enqueued 0"  # the samples wait for their webhooks
    assert context.kintone.record_values(ORDERS, ids["order_complete"])["ステータス"] == "未処理"


def test_the_inspection_routes_answer_404_for_an_unknown_app_or_record():
    from webhooks import create_app

    settings = load_settings(connector_mode="fake", webhook_token=WEBHOOK_TOKEN)
    connection = fakeredis.FakeRedis(server=fakeredis.FakeServer())
    context = bootstrap.build_context(settings, connection=connection)
    ids = seed_embedded(context.kintone, context.mappings)
    app = create_app(settings, connection=connection)
    embedded._add_inspection_routes(app, context)
    client = app.test_client()

    assert client.get(f"/embedded/records/orders/{ids['order_complete']}").status_code == 200
    unknown_record = client.get("/embedded/records/orders/99999")
    assert unknown_record.status_code == 404
    assert unknown_record.get_json()["error"] == "no record '99999' in orders"
    unknown_app = client.get("/embedded/records/nothing/1")
    assert unknown_app.status_code == 404
    assert "known apps: " in unknown_app.get_json()["error"]
    assert client.post("/embedded/gmosign/sign/contracts/99999").status_code == 404
