"""The RQ worker: runs flow jobs against connectors built once per process.

    python worker.py            # with the settings from KGBRIDGE_* variables

Started with RQ's scheduler, or retries with intervals would never run; with a dispatcher thread
(``kgbridge.dispatch``) that turns the events the receiver recorded into flow jobs (with ``--burst``
the inbox is dispatched once before the queue is worked off); and with the ticker of the periodic
tasks (kgbridge/periodic.py: the reconcile sweep, the deadline and 稟議 delay sweeps, the check of
contracts awaiting signature), each run once per interval however many workers run.

When a worker dies (SIGKILL, OOM, a lost machine) in the middle of a job, nothing tells RQ.
The job stays "started" until its heartbeat lapses (``KGBRIDGE_WORKER_DEAD_AFTER_SECONDS``);
the next maintenance pass of any worker of the queue (every ``KGBRIDGE_WORKER_MAINTENANCE_SECONDS``)
then hands it to ``kgbridge.failures``, which retries it: flows are safe to run again from the top.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

import redis
import structlog
from rq import Worker
from rq.serializers import JSONSerializer

from kgbridge import bootstrap, dispatch, logs, metrics, periodic
from kgbridge.failures import handle_job_exception
from kgbridge.jobs import make_queue
from kgbridge.settings import Settings, SettingsError, describe, load_settings
from mappings import MappingError, load_mappings

_PR_SET_PDEATHSIG = 1


class KgbridgeWorker(Worker):
    """RQ's forking worker with a configurable heartbeat lapse and a work horse that dies with it.

    RQ gives a job ``min(remaining time, job_monitoring_interval) + 60`` seconds of heartbeat;
    the fixed 60 is replaced by ``dead_after - job_monitoring_interval`` so the lapse is a setting.
    """

    dead_after: int = 90

    def get_heartbeat_ttl(self, job) -> int:
        grace = max(1, self.dead_after - self.job_monitoring_interval)
        if job.timeout and job.timeout > 0:
            remaining = job.timeout - self.current_job_working_time
            return int(min(remaining, self.job_monitoring_interval)) + grace
        return self.job_monitoring_interval + grace

    def main_work_horse(self, job, queue):
        # RQ puts the horse in its own process group, so killing the worker (or its group)
        # would leave the horse running a job RQ will soon call abandoned and run again.
        _die_with_parent(self.pid)
        super().main_work_horse(job, queue)


def _die_with_parent(parent_pid: int | None) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if parent_pid and os.getppid() != parent_pid:
        os._exit(1)  # the parent died before the request took effect


def make_worker(settings: Settings, connection, worker_class=KgbridgeWorker, **kwargs) -> Worker:
    queue = make_queue(connection, settings)
    kwargs.setdefault("job_monitoring_interval", settings.worker_heartbeat_seconds)
    kwargs.setdefault("maintenance_interval", settings.worker_maintenance_seconds)
    # An idle worker blocks on the queue for worker_ttl - 15 seconds before it looks at
    # maintenance again: keep that wait no longer than the maintenance interval.
    kwargs.setdefault("worker_ttl", settings.worker_maintenance_seconds + 15)
    worker = worker_class([queue], connection=connection, serializer=JSONSerializer,
                          exception_handlers=[handle_job_exception], **kwargs)
    if isinstance(worker, KgbridgeWorker):
        worker.dead_after = settings.worker_dead_after_seconds
    return worker


def preload_flows() -> None:
    """Import every flow in the worker, before it forks: a horse then starts warm."""
    from flows import FLOWS, get_flow

    for name in FLOWS:
        get_flow(name)


def wait_for_redis(connection, sleep=time.sleep) -> None:
    """Wait (with backoff, logging each try) until Redis answers: a worker may start before it."""
    delay = 0.5
    while True:
        try:
            connection.ping()
            return
        except redis.ConnectionError as exc:
            structlog.get_logger("kgbridge.worker").warning("waiting for redis", error=type(exc).__name__,
                                                            seconds=delay)
            sleep(delay)
            delay = min(delay * 2, 10.0)


def main(argv: list[str] | None = None) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    try:
        load_mappings(settings.mapping_dir)
    except MappingError as exc:
        print(f"mapping error: {exc}", file=sys.stderr)
        return 2
    connection = bootstrap.redis_client(settings)
    wait_for_redis(connection)
    context = bootstrap.build_context(settings, connection=connection)
    preload_flows()
    structlog.get_logger("kgbridge.worker").info("worker starting", settings=describe(settings))
    burst = "--burst" in (argv or sys.argv[1:])
    ticker = periodic.start_ticker(settings) if not burst else None
    server = None
    try:
        # The dispatcher's own client: the work horses inherit ``connection``, never its locks.
        with dispatch.running(bootstrap.redis_client(settings), settings, context.mappings,
                              burst=burst) as dispatcher:
            rq_worker = make_worker(settings, connection)
            if not burst:  # the metrics thread reads with a client of its own, too
                server = metrics.serve_worker_metrics(settings, bootstrap.redis_client(settings), rq_worker.key,
                                                      dispatcher.name, ticker, mappings=context.mappings)
            rq_worker.work(with_scheduler=True, burst=burst, logging_level=settings.log_level.upper())
    finally:
        if ticker is not None:
            ticker.stop()
        if server is not None:
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
