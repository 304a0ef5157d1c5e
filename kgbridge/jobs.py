"""Flow jobs on RQ: deterministic ids, the retry policy, and the function workers run.

One job per (flow, app, record, marker) where the marker is the record revision (or the
event's own id when there is none): a duplicate webhook cannot enqueue a second job while
the first is kept (``unique=True``; without it RQ would run a reused id twice). Jobs carry
only ids; the flow re-reads the record, so no personal data sits in Redis with the job.
JSON serializer, never pickle: whoever can write to Redis could otherwise run code.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import redis
import structlog
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Dependency, Job
from rq.serializers import JSONSerializer

from kgbridge.history import Notes
from kgbridge.settings import Settings

RUN_FLOW = "kgbridge.jobs.run_flow"
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_]")  # our flow names and app keys never hold these
_DIGITS = re.compile(r"[0-9]+", re.ASCII)


_OUTSIDE: dict[str, re.Pattern] = {}  # keep -> the pattern of one character outside it


def _escape(text: str, keep: str) -> str:
    """``text`` with every character outside ``keep`` (and "_", the escape) as ``_xx`` per UTF-8 byte."""
    outside = _OUTSIDE.get(keep)
    if outside is None:
        outside = _OUTSIDE[keep] = re.compile(f"[^{keep}]")
    return outside.sub(lambda m: "".join(f"_{b:02x}" for b in m.group().encode("utf-8", "surrogatepass")), text)


def job_id(flow: str, app_key: str, record_id: str, marker: str) -> str:
    """``flow-app-record-marker`` in the characters RQ allows in an id, one id per distinct tuple.

    The flow and app key are our own names (letters, digits, "_"). The record id and the marker come
    from webhooks, so they are escaped, not replaced: ``_`` plus two hex digits per UTF-8 byte of any
    other character, "_" itself included, and "-" too in the record id (the marker is last and may
    keep it). Ids of digits and ``r12``/``c34``/``ENV1-Completed`` markers read as before.
    """
    return "-".join([_NAME_UNSAFE.sub("_", flow), _NAME_UNSAFE.sub("_", app_key), _escape(str(record_id), "A-Za-z0-9"),
                     _escape(str(marker), "A-Za-z0-9-")])


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
                  "source": request.source, "event_id": request.event_id, "marker": request.marker,
                  "attempts": []},
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
    context = current_context()
    watch = RevisionWatch(context.kintone)
    notes = Notes()
    outcome = get_flow(flow)(replace(context, kintone=watch, job_id=job.id if job else "", report=notes),
                             app_key, record_id, **params)
    if job is not None:
        finished(job, outcome, notes)
        try:
            app_id = context.mappings[app_key].id if app_key in context.mappings else None
            own = watch.revisions.get((app_id, str(record_id)))
            marker = job.meta.get("marker", "")
            if own is not None and (revision_of(marker) or 0) < own:
                marker = f"r{own}"
            mark_processed(job.connection, flow, app_key, record_id, marker)
        except Exception as exc:
            # The effect has happened; without the mark a later sweep merely looks again.
            structlog.get_logger("kgbridge.job").warning("could not mark the record processed", step="mark",
                                                         error=type(exc).__name__)
    structlog.get_logger("kgbridge.job").info("job finished", outcome=outcome)
    return outcome


def finished(job: Job, outcome: str, notes: Notes) -> None:
    """The one place a finished job's decision is kept: in its meta (``kgbridge jobs show``) and in
    its record's run history (``kgbridge jobs list``). Never fails the job."""
    from kgbridge.history import record_run

    job.meta["outcome"] = str(outcome)
    job.meta["detail"] = list(notes.lines)
    try:
        job.save_meta()
    except redis.RedisError:
        pass
    record_run(job.connection, job, "finished", str(outcome), notes.lines, record_id=notes.record_id)


# -- page jobs: work found in bulk, decided per page (flows/bulk.py) ------------------------------
#
# One job carries up to a page of records of one flow and app (``flows.PAGE_FLOWS``). Each record
# it carries is noted under the id its own job would have (``paged_key``), kept a day, so a sweep
# that sees the record again before the page job finished does not add an ordinary job for it.
# Until the page job starts, the record is also noted for its flow whatever its revision
# (``waiting_key``): the page job will read it as it is then, so a sweep that sees it at a newer
# revision meanwhile (another flow's page wrote it: routing before the lookup of an inquiry import)
# adds nothing either; the page job clears these notes when it starts.

RUN_PAGE = "kgbridge.jobs.run_page"
PAGE_RECORDS = 500  # records per page job: one kintone read
PAGED_PREFIX = "kgbridge:paged"
PAGED_TTL_SECONDS = 24 * 3600


def paged_key(record_job_id: str) -> str:
    return f"{PAGED_PREFIX}:{record_job_id}"


def waiting_key(flow: str, app_key: str, record_id: str) -> str:
    return f"{PAGED_PREFIX}:waiting:{flow}:{app_key}:{record_id}"


@dataclass(frozen=True)
class PageRequest:
    flow: str
    app_key: str
    records: tuple[tuple[str, str], ...]  # (record id, marker) as their own jobs would carry
    key: str  # what makes the page unique: a reconcile position, an approval
    source: str = "reconcile"

    @property
    def job_id(self) -> str:
        return "-".join(["page", _NAME_UNSAFE.sub("_", self.flow), _NAME_UNSAFE.sub("_", self.app_key),
                         _escape(self.key, "A-Za-z0-9-")])

    def record_job_ids(self) -> list[str]:
        return [job_id(self.flow, self.app_key, rid, marker) for rid, marker in self.records]


def enqueue_page(queue: Queue, settings: Settings, request: PageRequest, after: Sequence[str] = ()) -> bool:
    """Enqueue one page job (False when it exists already) and note each record it carries.

    ``after``: page jobs of other flows on the same records that must end first (two page jobs
    reading and then bulk-writing the same records at once would refuse each other's writes and send
    every record to its ordinary job). RQ runs the job once those ended, failed or not. RQ's
    ``unique`` does not go with dependencies: such a job is looked for first instead, which only
    the reconcile sweep (one per app at a time, under its lock) asks for."""
    options: dict[str, Any] = {"unique": True}
    if after:
        if queue.connection.exists(Job.key_for(request.job_id)):
            return False
        options = {"depends_on": Dependency(jobs=list(after), allow_failure=True)}
    try:
        queue.enqueue(
            RUN_PAGE,
            kwargs={"flow": request.flow, "app_key": request.app_key,
                    "records": [list(r) for r in request.records]},
            job_id=request.job_id,
            retry=retry_policy(settings),
            result_ttl=settings.result_ttl_seconds,
            failure_ttl=settings.failure_ttl_seconds,
            description=f"{request.flow} {request.app_key}: page of {len(request.records)}",
            meta={"flow": request.flow, "app": request.app_key, "record_id": f"{len(request.records)} records",
                  "source": request.source, "event_id": "", "marker": request.key, "attempts": []},
            **options,
        )
    except DuplicateJobError:
        return False
    with queue.connection.pipeline(transaction=False) as pipe:
        for record_job in request.record_job_ids():
            pipe.set(paged_key(record_job), request.job_id, ex=PAGED_TTL_SECONDS)
        for record_id, _marker in request.records:
            pipe.set(waiting_key(request.flow, request.app_key, record_id), request.job_id, ex=PAGED_TTL_SECONDS)
        pipe.execute()
    return True


@dataclass
class Enqueued:
    records: list[str]  # job ids of the records started (their own or as carried by a page job)
    pages: list[str]  # page job ids
    duplicates: int = 0  # records whose job (or page job) existed already


def enqueue_many(queue: Queue, settings: Settings, requests: list[FlowRequest], key: str,
                 after: Sequence[str] = ()) -> Enqueued:
    """Start one flow on many records of one app: from KGBRIDGE_BULK_MIN_RECORDS on, and when the flow
    has a page path (flows.PAGE_FLOWS), as page jobs of up to 500 records; else a job each.
    ``key`` names the batch (a reconcile position, an approval) for the page jobs' ids; ``after``:
    page jobs of the same records the page jobs wait for (``enqueue_page``)."""
    from flows import PAGE_FLOWS

    out = Enqueued([], [])
    if not requests:
        return out
    flow, app_key = requests[0].flow, requests[0].app_key
    if flow in PAGE_FLOWS and len(requests) >= settings.bulk_min_records:
        for n, start in enumerate(range(0, len(requests), PAGE_RECORDS)):
            part = requests[start:start + PAGE_RECORDS]
            page = PageRequest(flow=flow, app_key=app_key, records=tuple((r.record_id, r.marker) for r in part),
                               key=f"{key}-p{n + 1}", source=part[0].source)
            if enqueue_page(queue, settings, page, after):
                out.records += [r.job_id for r in part]
                out.pages.append(page.job_id)
            else:
                out.duplicates += len(part)
        return out
    for request in requests:
        if enqueue_flow(queue, settings, request):
            out.records.append(request.job_id)
        else:
            out.duplicates += 1
    return out


def many_enqueuer(connection: redis.Redis, settings: Settings, source: str = "flow"):
    """What ``FlowContext.enqueue_many`` calls: (flow, app_key, [(record id, marker)], key) -> Enqueued."""
    queue = make_queue(connection, settings)

    def start(flow: str, app_key: str, records: list[tuple[str, str]], key: str) -> Enqueued:
        requests = [FlowRequest(flow=flow, app_key=app_key, record_id=str(rid), marker=marker, source=source)
                    for rid, marker in records]
        return enqueue_many(queue, settings, requests, key)

    return start


def run_page(flow: str, app_key: str, records: list[list[str]]) -> str:
    """The RQ job: decide a page of records in bulk; mark each record it finished processed."""
    from rq import get_current_job

    from flows import get_page_flow
    from kgbridge.bootstrap import current_context

    job: Job | None = get_current_job()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(job_id=job.id if job else None, flow=flow, app=app_key,
                                           record_id=f"{len(records)} records")
    context = current_context()
    if job is not None and records:  # from here on the page reads its records as they are: a newer revision is news
        job.connection.delete(*[waiting_key(flow, app_key, str(rid)) for rid, _ in records])
    result = get_page_flow(flow)(replace(context, job_id=job.id if job else ""), app_key,
                                 [str(rid) for rid, _ in records])
    if job is not None:
        try:
            with job.connection.pipeline(transaction=False) as pipe:
                for record_id, revision in result.revisions.items():
                    pipe.eval(_MARK_MAX, 1, processed_key(flow, app_key, record_id), revision,
                              PROCESSED_TTL_SECONDS)
                pipe.execute()
        except Exception as exc:  # as run_flow: the effects happened; a later sweep merely looks again
            structlog.get_logger("kgbridge.job").warning("could not mark the page processed", step="mark",
                                                         error=type(exc).__name__)
    outcome = result.summary()
    if job is not None:  # each record's run history says what the page decided for it
        from kgbridge.history import record_page_runs

        record_page_runs(job.connection, job, app_key, result.decided)
    structlog.get_logger("kgbridge.job").info("page job finished", outcome=outcome, count=len(records))
    return outcome


# -- "processed" marks: which record revision a flow last finished on -------------------------
#
# The reconcile sweep (kgbridge/ops/reconcile.py) asks "was this record, at this revision, ever
# processed by this flow?". A finished job answers only while it is kept (result TTL); this mark
# answers for PROCESSED_TTL_SECONDS. The mark is the job's revision, or the revision the flow's
# own write to the record produced (RevisionWatch), whichever is higher. It only ever moves up:
# an older job finishing late cannot make a newer revision look unprocessed.

PROCESSED_PREFIX = "kgbridge:processed"
PROCESSED_TTL_SECONDS = 30 * 24 * 3600
_MARK_MAX = """
local current = tonumber(redis.call('GET', KEYS[1]))
local new = tonumber(ARGV[1])
if current == nil or current < new then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


class RevisionWatch:
    """Wraps a KintoneClient and notes the revision each of our record writes produced.

    A revision the flow produced itself counts as processed by it: the flow decided on the
    record and wrote the outcome, so the sweep does not run it again for its own write.
    Everything else passes straight through.
    """

    def __init__(self, inner) -> None:
        self._inner = inner
        self.revisions: dict[tuple[str, str], int] = {}

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def _note(self, app, record_id, revision):
        if _DIGITS.fullmatch(str(revision)):
            key = (str(app), str(record_id))
            self.revisions[key] = max(self.revisions.get(key, 0), int(revision))
        return revision

    def update_record(self, app, record_id, record, revision=None):
        return self._note(app, record_id, self._inner.update_record(app, record_id, record, revision=revision))

    def update_status(self, app, record_id, action, assignee=None, revision=None):
        return self._note(app, record_id, self._inner.update_status(app, record_id, action, assignee=assignee,
                                                                    revision=revision))


def processed_key(flow: str, app_key: str, record_id: str) -> str:
    return f"{PROCESSED_PREFIX}:{flow}:{app_key}:{record_id}"


def revision_of(marker: str) -> int | None:
    """The record revision in a job marker (``r12`` -> 12); None for comment/event markers."""
    if marker.startswith("r") and _DIGITS.fullmatch(marker[1:]):
        return int(marker[1:])
    return None


def mark_processed(connection: redis.Redis, flow: str, app_key: str, record_id: str, marker: str) -> None:
    """Remember that ``flow`` finished on the record at the marker's revision (never lowers it)."""
    revision = revision_of(marker)
    if revision is None:
        return
    connection.eval(_MARK_MAX, 1, processed_key(flow, app_key, record_id), revision, PROCESSED_TTL_SECONDS)
