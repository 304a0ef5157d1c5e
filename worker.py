"""The RQ worker: runs flow jobs against connectors built once per process.

    python worker.py            # with the settings from KGBRIDGE_* variables

Started with RQ's scheduler, or retries with intervals would never run, and with the ticker of
the periodic tasks (kgbridge/periodic.py: the reconcile sweep, the deadline and 稟議 delay sweeps,
the check of contracts awaiting signature), each run once per interval however many workers run.
"""

from __future__ import annotations

import sys

import structlog
from rq import Worker
from rq.serializers import JSONSerializer

from kgbridge import bootstrap, logs, periodic
from kgbridge.failures import handle_job_exception
from kgbridge.jobs import make_queue
from kgbridge.settings import Settings, SettingsError, describe, load_settings


def make_worker(settings: Settings, connection, worker_class=Worker, **kwargs) -> Worker:
    queue = make_queue(connection, settings)
    return worker_class([queue], connection=connection, serializer=JSONSerializer,
                        exception_handlers=[handle_job_exception], **kwargs)


def main(argv: list[str] | None = None) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    connection = bootstrap.redis_client(settings)
    bootstrap.build_context(settings, connection=connection)
    structlog.get_logger("kgbridge.worker").info("worker starting", settings=describe(settings))
    burst = "--burst" in (argv or sys.argv[1:])
    ticker = periodic.start_ticker(settings) if not burst else None
    try:
        make_worker(settings, connection).work(with_scheduler=True, burst=burst,
                                               logging_level=settings.log_level.upper())
    finally:
        if ticker is not None:
            ticker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
