"""Job throughput: flow jobs per second per worker (fake connectors) beside RQ running a no-op job,
and a backlog drained by two workers.

Both use the production worker (worker.py's forking KgbridgeWorker, JSON serializer, our exception
handler), one process, burst mode. The fake kintone is seeded in this process before the worker
starts, so every work horse (forked per job) finds the orders; what a horse writes stays in it.
"""

from __future__ import annotations

import multiprocessing
import time

from benchmarks.common import RedisProcess, log_sink


def noop() -> str:
    """The job RQ runs in the comparison: nothing."""
    return "ok"


def _setup(redis_url: str, orders: int):
    from connectors.kintone.fake import FakeKintone
    from flows.context import FlowContext
    from kgbridge import bootstrap, logs
    from kgbridge.ledger import Ledger
    from kgbridge.samples import COMPLETE_ORDER
    from kgbridge.settings import load_settings
    from mappings import load_mappings
    from worker import preload_flows

    settings = load_settings(connector_mode="fake", redis_url=redis_url)
    logs.configure("INFO", "json", stream=log_sink())
    connection = bootstrap.redis_client(settings)
    mappings = load_mappings(settings.mapping_dir)
    fake = FakeKintone.from_mappings(mappings)
    client = fake.seed(mappings["clients"].id, {"会社名": "株式会社サンプル物流", "与信状態": "承認"})
    ids = [fake.seed(mappings["orders"].id, dict(COMPLETE_ORDER, 顧客レコード番号=client)) for _ in range(orders)]
    bootstrap.set_context(FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(connection)))
    preload_flows()
    return settings, connection, ids


def _enqueue_flows(settings, connection, ids: list[str]) -> None:
    from kgbridge.jobs import FlowRequest, enqueue_flow, make_queue

    queue = make_queue(connection, settings)
    for rid in ids:
        enqueue_flow(queue, settings, FlowRequest("order_registration", "orders", rid, "r1"))


def _enqueue_noops(settings, connection, n: int) -> None:
    from kgbridge.jobs import make_queue

    queue = make_queue(connection, settings)
    for _ in range(n):
        queue.enqueue("benchmarks.jobs.noop")


def _work(settings, connection) -> None:
    from worker import make_worker

    make_worker(settings, connection).work(burst=True, logging_level="ERROR")


def throughput(jobs: int) -> dict:
    redis_proc = RedisProcess()
    try:
        settings, connection, ids = _setup(redis_proc.url, jobs)
        out = {}
        for name, enqueue in (("RQ no-op job", lambda: _enqueue_noops(settings, connection, jobs)),
                              ("order_registration flow job", lambda: _enqueue_flows(settings, connection, ids))):
            connection.flushdb()
            enqueue()
            start = time.perf_counter()
            _work(settings, connection)
            elapsed = time.perf_counter() - start
            finished = connection.zcard(f"rq:finished:{settings.queue_name}")
            failed = connection.zcard(f"rq:failed:{settings.queue_name}")
            out[name] = {"jobs": jobs, "seconds": elapsed, "per_second": finished / elapsed, "failed": failed,
                         "finished": finished}
        return out
    finally:
        redis_proc.stop()


def backlog(orders: int, workers: int = 2) -> dict:
    """A backlog of ``orders`` flow jobs (as a reconcile sweep would enqueue) drained by two workers."""
    redis_proc = RedisProcess()
    try:
        settings, connection, ids = _setup(redis_proc.url, orders)
        _enqueue_flows(settings, connection, ids)
        ctx = multiprocessing.get_context("fork")
        start = time.perf_counter()
        procs = [ctx.Process(target=_work, args=(settings, connection)) for _ in range(workers)]
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        elapsed = time.perf_counter() - start
        finished = connection.zcard(f"rq:finished:{settings.queue_name}")
        return {"orders": orders, "workers": workers, "seconds": elapsed, "per_second": finished / elapsed,
                "finished": finished, "failed": connection.zcard(f"rq:failed:{settings.queue_name}")}
    finally:
        redis_proc.stop()
