"""The reconcile sweep: find records whose webhook never arrived and enqueue their flow jobs.

kintone sends each notification at most once and drops those past 60 a minute, so lost
notifications are normal. For every app whose mapping has record triggers, the sweep asks
kintone for the records changed since the last sweep, oldest first, 500 at a time, with only
the fields routing needs ($id, $revision, 更新日時, the status, 作成日時 for ADD-only triggers):

    更新日時 >= "<cursor − overlap>" order by 更新日時 asc, $id asc         (limit 500)

and, after a full page, seeks past the last record seen (keyset paging, stable while records
change underneath, unlike ``offset``):

    更新日時 > "<t>" or (更新日時 >= "<t>" and $id > <id>) order by 更新日時 asc, $id asc

When every trigger of the app names statuses, ``and ステータス in (...)`` narrows the query.
Several triggers of one flow that match a record make one candidate.

"Never processed" means, per (flow, record, revision) in a trigger state:
- no processed mark covering this revision (kgbridge.jobs.mark_processed: the highest revision
  the flow finished on or its own write produced, kept 30 days; for ADD-only triggers any mark
  counts, and only records created in the window are considered), and
- no job with the same id (``flow-app-record-r<revision>``, the id a webhook would have used):
  queued, running, scheduled, finished (kept a day) and failed jobs (kept for an operator, never
  re-run behind their back) all count. The enqueue itself is ``unique=True``, so a sweep running
  while webhooks arrive can only enqueue what nobody else has.

Work found in bulk is decided per page: when a page holds at least KGBRIDGE_BULK_MIN_RECORDS
records for a flow with a page path (``flows.PAGE_FLOWS``), they go to one page job
(``kgbridge.jobs.run_page``, flows/bulk.py: one read for the page, the flow's own decisions, bulk
actions) instead of a job each; ``enqueued`` still lists each record under the id its own job
would have had, ``page_jobs`` the page jobs carrying them. A record a page job carries is noted
(``kgbridge.jobs.paged_key``) and counts as queued for the next sweep (at any revision until the page
job starts: ``waiting_key``, since it reads the record as it is then). Fewer records (a few lost
webhooks) get their ordinary jobs, as before. Page jobs of several flows on the same records (an
inquiry import: inquiry_routing and client_lookup) run one after the other in the order of
``flows.PAGE_FLOWS`` (each waits for the previous flow's, an RQ dependency), so neither's bulk write
is refused for the other's.

A records query cannot tell a status change from an edit: a record edited while it sits in a
trigger status (a 締結済 contract given its 保管期限 later, an approved 稟議 edited) runs the
flow once more at its new revision, where kintone's webhook would have called only for
UPDATE_RECORD triggers. Every flow re-reads and acts once (follow_up then costs 2 calls,
workflow 1); the new revision's mark stops it there.

The cursor (per app, in Redis) is the newest 更新日時 the sweep has seen, in kintone's own
clock; the next sweep starts OVERLAP earlier, against clock skew and kintone's one-second
resolution. A first sweep looks back FIRST_LOOKBACK. After each full page the sweep also keeps
its position (更新日時, $id); a sweep that stopped after MAX_PAGES or on an error leaves it, and
the next sweep carries on from there instead of from the cursor, so even a bulk import of more
than MAX_PAGES × 500 records within one second makes progress. A sweep that read to the end keeps
its position too once the last record read is SETTLED (2 × OVERLAP) old: nothing can still appear
before it, so a bulk import that nobody touched since costs the idle sweeps one call each instead
of re-reading the whole import inside the overlap every time. ``--since`` sweeps start where
they are told and leave the position alone. One sweep per app at a time (a Redis lock). The
workers run it every KGBRIDGE_RECONCILE_INTERVAL_SECONDS (kgbridge/periodic.py).

Assumed, not confirmed against a live tenant: kintone compares UPDATED_TIME to the second in
queries and accepts UTC times written ``2026-11-24T09:00:00Z`` (the form it returns them in).
The overlap covers a coarser comparison at the start of a sweep.

kintone calls: one records query per page, ⌈(n + 1) / 500⌉ per app where n is the number of
records changed since the cursor minus the overlap (in a trigger state, when the query can say
so); an idle sweep (fewer than 500 changes in the overlap) costs exactly one call per app. At
most MAX_PAGES pages per app per sweep. Apps without record triggers cost nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import structlog
from rq import Queue
from rq.job import Job

from connectors.kintone.errors import KintoneError
from connectors.kintone.interface import KintoneClient
from flows import PAGE_FLOWS
from kgbridge.jobs import FlowRequest, enqueue_many, job_id, make_queue, paged_key, processed_key, waiting_key
from kgbridge.ops.output import clip, table
from kgbridge.ops.when import iso, local, parse_stamp
from kgbridge.settings import Settings
from mappings import AppMapping, Mappings
from mappings.app import Trigger

UPDATED_TIME_CODE = "更新日時"  # kintone's default code for the UPDATED_TIME field
CREATED_TIME_CODE = "作成日時"  # ... and for CREATED_TIME
RECORD_EVENTS = {"ADD_RECORD", "UPDATE_RECORD", "UPDATE_STATUS"}
PAGE_SIZE = 500  # kintone's maximum per records query
MAX_PAGES = 20  # per app and sweep: 10,000 records
OVERLAP = timedelta(seconds=120)
FIRST_LOOKBACK = timedelta(days=1)
SETTLED = 2 * OVERLAP  # a record stamped this long ago can no longer appear late (skew ≤ OVERLAP)
LOCK_SECONDS = 600

CURSOR_PREFIX = "kgbridge:reconcile:cursor"
LOCK_PREFIX = "kgbridge:reconcile:lock"
RESUME_PREFIX = "kgbridge:reconcile:resume"

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

log = structlog.get_logger("kgbridge.reconcile")


@dataclass
class AppSweep:
    app: str
    app_id: str
    since: datetime | None = None
    cursor: datetime | None = None  # after the sweep
    calls: int = 0
    seen: int = 0  # records kintone returned
    candidates: int = 0  # (flow, record) pairs in a trigger state
    processed: int = 0  # ... already processed at this revision
    queued: int = 0  # ... whose job already exists (webhook, earlier sweep, failed)
    enqueued: list[str] = field(default_factory=list)
    page_jobs: list[str] = field(default_factory=list)  # page jobs carrying some of ``enqueued``
    reached: datetime | None = None  # 更新日時 of the last record read
    more: bool = False  # stopped after MAX_PAGES; the next sweep (or --since reached) continues
    busy: bool = False  # another sweep of this app was running
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and not self.busy

    def as_json(self) -> dict[str, Any]:
        return {"app": self.app, "app_id": self.app_id, "since": iso(self.since), "cursor": iso(self.cursor),
                "kintone_calls": self.calls, "records_seen": self.seen, "in_trigger_state": self.candidates,
                "already_processed": self.processed, "already_queued": self.queued,
                "enqueued": self.enqueued, "page_jobs": self.page_jobs, "reached": iso(self.reached), "more": self.more, "busy": self.busy, "error": self.error}


def record_triggers(mapping: AppMapping) -> list[Trigger]:
    """The triggers a records query can stand in for (not DELETE_RECORD / ADD_RECORD_COMMENT)."""
    return [t for t in mapping.triggers if RECORD_EVENTS & set(t.events)]


def _add_only(trigger: Trigger) -> bool:
    return RECORD_EVENTS & set(trigger.events) == {"ADD_RECORD"}


def _status_code(mapping: AppMapping) -> str | None:
    return next((spec.code for spec in mapping.fields.values() if spec.type == "STATUS"), None)


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cursor_key(app_key: str) -> str:
    return f"{CURSOR_PREFIX}:{app_key}"


def resume_key(app_key: str) -> str:
    return f"{RESUME_PREFIX}:{app_key}"


def read_resume(connection: redis.Redis, app_key: str) -> tuple[str, int] | None:
    """Where an unfinished sweep stopped: (更新日時, $id) of the last record it handled."""
    value = connection.get(resume_key(app_key))
    if not value:
        return None
    stamp, _, record_id = (value.decode() if isinstance(value, bytes) else value).partition("|")
    return (stamp, int(record_id)) if parse_stamp(stamp) and record_id.isdigit() else None


def read_cursor(connection: redis.Redis, app_key: str) -> datetime | None:
    value = connection.get(cursor_key(app_key))
    return parse_stamp(value.decode() if isinstance(value, bytes) else value)


def sweep(*, settings: Settings, mappings: Mappings, kintone: KintoneClient, connection: redis.Redis,
          queue: Queue | None = None, app_key: str | None = None, since: datetime | None = None,
          now: datetime | None = None) -> list[AppSweep]:
    """Sweep every app with record triggers (or just ``app_key``); one report per app."""
    queue = queue or make_queue(connection, settings)
    now = now or datetime.now(UTC)
    apps = [mappings[app_key]] if app_key else [m for m in mappings if record_triggers(m)]
    return [sweep_app(m, settings=settings, kintone=kintone, connection=connection, queue=queue, since=since,
                      now=now) for m in apps]


def sweep_app(mapping: AppMapping, *, settings: Settings, kintone: KintoneClient, connection: redis.Redis,
              queue: Queue, since: datetime | None, now: datetime) -> AppSweep:
    report = AppSweep(app=mapping.key, app_id=mapping.id)
    triggers = record_triggers(mapping)
    if not triggers:
        return report
    lock, token = f"{LOCK_PREFIX}:{mapping.key}", uuid.uuid4().hex
    if not connection.set(lock, token, nx=True, ex=LOCK_SECONDS):
        report.busy = True
        return report
    try:
        _sweep_locked(mapping, triggers, report, settings=settings, kintone=kintone, connection=connection,
                      queue=queue, since=since, now=now)
        log.info("reconcile swept app", app=mapping.key, calls=report.calls, count=len(report.enqueued),
                 outcome="failed" if report.error else "ok", step="sweep")
    finally:
        try:
            connection.eval(_RELEASE, 1, lock, token)
        except redis.RedisError:
            pass  # it expires on its own
    return report


def _sweep_locked(mapping: AppMapping, triggers: list[Trigger], report: AppSweep, *, settings: Settings,
                  kintone: KintoneClient, connection: redis.Redis, queue: Queue, since: datetime | None,
                  now: datetime) -> None:
    cursor = read_cursor(connection, mapping.key)
    report.cursor = cursor
    resume = None if since else read_resume(connection, mapping.key)
    if resume:  # an earlier sweep stopped (MAX_PAGES, an error) or settled: carry on where it stopped
        report.since = parse_stamp(resume[0])
        condition = _after(resume[0], resume[1])
    else:
        report.since = since or (cursor - OVERLAP if cursor else now - FIRST_LOOKBACK)
        condition = f"{UPDATED_TIME_CODE} >= {_quote(_stamp(report.since))}"
    status_code = _status_code(mapping)
    fields = ["$id", "$revision", UPDATED_TIME_CODE]
    narrow = ""
    if status_code and any(t.statuses for t in triggers):
        fields.append(status_code)
        if all(t.statuses for t in triggers):
            names = sorted({mapping.status_name(key) for t in triggers for key in t.statuses})
            narrow = f" and {status_code} in ({', '.join(_quote(n) for n in names)})"
    if any(_add_only(t) for t in triggers):
        fields.append(CREATED_TIME_CODE)

    position = resume  # (更新日時, $id) of the last record read
    for page in range(MAX_PAGES):
        query = f"({condition}){narrow} order by {UPDATED_TIME_CODE} asc, $id asc"
        try:
            report.calls += 1
            rows = kintone.get_records(mapping.id, query, fields=fields, limit=PAGE_SIZE)
        except KintoneError as exc:
            report.error = str(exc)
            log.warning("reconcile query failed", app=mapping.key, error=report.error, step="query")
            return
        report.seen += len(rows)
        if rows:
            position = (_value(rows[-1], UPDATED_TIME_CODE) or "", int(_value(rows[-1], "$id")))
        _handle_page(mapping, triggers, rows, report, settings=settings, connection=connection, queue=queue,
                     status_code=status_code)
        newest = max((t for t in (parse_stamp(_value(r, UPDATED_TIME_CODE)) for r in rows) if t), default=None)
        if newest and (report.cursor is None or newest > report.cursor):
            report.cursor = newest
            connection.set(cursor_key(mapping.key), _stamp(newest))
        if len(rows) < PAGE_SIZE:
            if since is None:
                _leave_position(connection, mapping.key, position, now)
            return
        last_stamp, last_id = position
        report.reached = parse_stamp(last_stamp)
        condition = _after(last_stamp, last_id)
        if since is None:
            connection.set(resume_key(mapping.key), f"{last_stamp}|{last_id}")
        if page == MAX_PAGES - 1:
            report.more = True


def _leave_position(connection: redis.Redis, app_key: str, position: tuple[str, int] | None,
                    now: datetime) -> None:
    """After the last page: keep the position when nothing older can still turn up, else drop it.

    The last record read (or, with none, the position the sweep started from) is settled once
    its 更新日時 is SETTLED in the past: no record can still appear at or before it, so the next
    sweep seeks past it instead of re-reading the overlap. Without this, records imported
    within one second and not touched since are read again by every sweep (⌈n/500⌉ calls each)."""
    stamp = parse_stamp(position[0]) if position else None
    if stamp and stamp <= now - SETTLED:
        connection.set(resume_key(app_key), f"{position[0]}|{position[1]}")
    else:
        connection.delete(resume_key(app_key))


def _after(stamp: str, record_id: int) -> str:
    """Records after (更新日時, $id) in the sweep's order: keyset paging."""
    return (f"{UPDATED_TIME_CODE} > {_quote(stamp)} or "
            f"({UPDATED_TIME_CODE} >= {_quote(stamp)} and $id > {int(record_id)})")


def _value(row: dict, code: str) -> Any:
    cell = row.get(code)
    return cell.get("value") if isinstance(cell, dict) else None


def _handle_page(mapping: AppMapping, triggers: list[Trigger], rows: list[dict], report: AppSweep, *,
                 settings: Settings, connection: redis.Redis, queue: Queue, status_code: str | None) -> None:
    candidates = []  # (flow, record id, revision, add_only)
    for row in rows:
        record_id, revision = str(_value(row, "$id")), int(_value(row, "$revision"))
        status = mapping.status_key(_value(row, status_code)) if status_code else None
        created = parse_stamp(_value(row, CREATED_TIME_CODE))
        wanted: dict[str, bool] = {}  # flow -> add_only; several triggers of one flow make one job
        for trigger in triggers:
            if trigger.statuses and status not in trigger.statuses:
                continue
            add_only = _add_only(trigger)
            if add_only and (created is None or report.since is None or created <= report.since):
                continue  # an ADD-only flow cares about records created in the window only
            wanted[trigger.flow] = wanted.get(trigger.flow, True) and add_only
        candidates += [(flow, record_id, revision, add_only) for flow, add_only in wanted.items()]
    report.candidates += len(candidates)
    if not candidates:
        return
    with connection.pipeline(transaction=False) as pipe:  # one round trip per page
        for flow, record_id, revision, add_only in candidates:
            pipe.get(processed_key(flow, mapping.key, record_id))
            own = job_id(flow, mapping.key, record_id, f"r{revision}")
            pipe.exists(Job.key_for(own), paged_key(own), waiting_key(flow, mapping.key, record_id))
            if add_only:  # its webhook job carries the revision the record was created with
                pipe.exists(Job.key_for(job_id(flow, mapping.key, record_id, "r1")))
        answers = iter(pipe.execute())
    lost: list[FlowRequest] = []
    for flow, record_id, revision, add_only in candidates:
        mark, job_exists = next(answers), next(answers)
        if add_only:
            job_exists = job_exists or next(answers)
        if mark is not None and (add_only or int(mark) >= revision):
            report.processed += 1
            continue
        if job_exists:
            report.queued += 1
            continue
        lost.append(FlowRequest(flow=flow, app_key=mapping.key, record_id=record_id, marker=f"r{revision}",
                                source="reconcile"))
    # Flows without a page path first: their jobs for these records are queued ahead of the page jobs,
    # so a page job (one read of its records, their writes at the end) does not race them for the same
    # records, which would send every record one of them wrote after the page read to its ordinary job.
    # Page flows of the same records (inquiry_routing and client_lookup on an inquiry import) run one
    # after the other, in the order of flows.PAGE_FLOWS: each page job waits for the previous flow's.
    rank = {name: n for n, name in enumerate(PAGE_FLOWS, start=1)}  # 0: no page path, first
    after: list[str] = []
    for flow in sorted(dict.fromkeys(r.flow for r in lost), key=lambda name: rank.get(name, 0)):
        requests = [r for r in lost if r.flow == flow]
        first, last = requests[0], requests[-1]
        digest = hashlib.sha256("|".join(r.job_id for r in requests).encode()).hexdigest()[:12]
        started = enqueue_many(queue, settings, requests, key=f"{first.record_id}-{last.record_id}-{digest}",
                               after=after)
        report.enqueued += started.records
        report.page_jobs += started.pages
        report.queued += started.duplicates
        after = started.pages or after


def render(reports: list[AppSweep]) -> str:
    if not reports:
        return "No app has record triggers: nothing to reconcile."
    rows = []
    for r in reports:
        if r.busy:
            state = "busy (another sweep is running)"
        elif r.error:
            state = f"ERROR: {r.error}"
        elif r.more:
            state = f"stopped after {r.seen} records; more from {iso(r.reached)}"
        else:
            state = "ok"
        rows.append([r.app, local(r.since), local(r.cursor), r.calls, r.seen, r.candidates, r.processed, r.queued,
                     len(r.enqueued), clip(state, 80)])
    body = table(["APP", "SINCE (JST)", "CURSOR (JST)", "CALLS", "RECORDS", "IN TRIGGER STATE", "PROCESSED",
                  "QUEUED", "ENQUEUED", "STATE"], rows)
    total = sum(len(r.enqueued) for r in reports)
    pages = sum(len(r.page_jobs) for r in reports)
    via = f" ({pages} page job(s) carry them in bulk)" if pages else ""
    return f"{body}\n\n{total} lost record job(s) enqueued{via}; kintone calls: {sum(r.calls for r in reports)}."
