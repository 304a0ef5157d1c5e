"""Flow jobs on RQ: deterministic ids, the retry policy, and the function workers run.

One job per (flow, app, record, marker) where the marker is the record revision (or the
event's own id when there is none): a duplicate webhook cannot enqueue a second job while
the first is kept (``unique=True``; without it RQ would run a reused id twice). Jobs carry
only ids; the flow re-reads the record, so no personal data sits in Redis with the job.
JSON serializer, never pickle: whoever can write to Redis could otherwise run code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import redis
import structlog
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job
from rq.serializers import JSONSerializer

from kgbridge.settings import Settings

RUN_FLOW = "kgbridge.jobs.run_flow"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def job_id(flow: str, app_key: str, record_id: str, marker: str) -> str:
    """``flow-app-record-marker`` with only the characters RQ allows in an id."""
    parts = [flow, app_key, str(record_id), str(marker)]
    return "-".join(_UNSAFE.sub("_", p) for p in parts)


def make_queue(connection: redis.Redis, settings: Settings) -> Queue:
    return Queue(settings.queue_name, connection=connection, serializer=JSONSerializer,
                 default_timeout=settings.job_timeout_seconds)


@dataclass(frozen=True)
class FlowRequest:
    flow: str
    app_key: str
    record_id: str
    marker: str
    source: str = "webhook"  # webhook | reconcile | replay | schedule | flow
    event_id: str = ""
    params: tuple[tuple[str, str], ...] = ()

    @property
    def job_id(self) -> str:
        return job_id(self.flow, self.app_key, self.record_id, self.marker)


def retry_policy(settings: Settings) -> Retry:
    return Retry(max=len(settings.retry_intervals), interval=list(settings.retry_intervals))


def enqueue_flow(queue: Queue, settings: Settings, request: FlowRequest, pipeline=None) -> bool:
    """Enqueue one flow job; False when the same job already exists (a duplicate).

    The job itself is saved and queued at once (RQ's atomic unique-enqueue script); with a
    ``pipeline``, RQ's bookkeeping (registering the queue's name) waits for the caller's
    ``execute()``, which saves a round trip to Redis on the receiver's hot path.
    """
    try:
        queue.enqueue(
            RUN_FLOW,
            kwargs={"flow": request.flow, "app_key": request.app_key, "record_id": request.record_id,
                    **dict(request.params)},
            job_id=request.job_id,
            unique=True,
            retry=retry_policy(settings),
            result_ttl=settings.result_ttl_seconds,
            failure_ttl=settings.failure_ttl_seconds,
            description=f"{request.flow} {request.app_key} #{request.record_id}",
            meta={"flow": request.flow, "app": request.app_key, "record_id": request.record_id,
                  "source": request.source, "event_id": request.event_id, "attempts": []},
            pipeline=pipeline,
        )
    except DuplicateJobError:
        return False
    return True


def flow_enqueuer(connection: redis.Redis, settings: Settings, source: str = "flow"):
    """What ``FlowContext.enqueue`` calls: a flow starting another flow as its own job."""
    queue = make_queue(connection, settings)

    def enqueue(flow: str, app_key: str, record_id: str, marker: str) -> bool:
        return enqueue_flow(queue, settings, FlowRequest(flow=flow, app_key=app_key, record_id=str(record_id),
                                                         marker=marker, source=source))

    return enqueue


def run_flow(flow: str, app_key: str, record_id: str, **params) -> str:
    """The RQ job: run one flow against this process's connectors."""
    from rq import get_current_job

    from flows import get_flow
    from kgbridge.bootstrap import current_context

    job: Job | None = get_current_job()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(job_id=job.id if job else None, flow=flow, app=app_key,
                                           record_id=record_id)
    outcome = get_flow(flow)(current_context(), app_key, record_id, **params)
    structlog.get_logger("kgbridge.job").info("job finished", outcome=outcome)
    return outcome
