"""Failed flow jobs: list them, show one, replay them, purge old ones.

A job lands in RQ's failed registry when a permanent error stops it at once or its retries
are spent (kgbridge/failures.py records each attempt's error in the job's meta). Replay puts
the same job (same id, same arguments, its history kept) back through the retry policy with
a fresh budget: RQ's own requeue keeps ``retries_left`` at 0, so one more failure would send
the job straight back to failed. Batches report per job and never stop at the first bad one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.results import Result

from kgbridge.failures import describe
from kgbridge.ops.output import clip, table, to_json
from kgbridge.ops.when import iso, local, parse_stamp
from kgbridge.settings import Settings

MAX_REPLAYS_KEPT = 20


@dataclass
class FailedJob:
    id: str
    flow: str
    app: str
    record_id: str
    attempts: int
    first_failure: datetime | None
    last_failure: datetime | None
    reason: str
    source: str = ""
    event_id: str = ""
    replays: int = 0

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["first_failure"], data["last_failure"] = iso(self.first_failure), iso(self.last_failure)
        return data


@dataclass
class ReplayResult:
    id: str
    outcome: str  # replayed | would_replay | not_found | not_failed | error
    detail: str = ""
    flow: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in ("replayed", "would_replay")


@dataclass
class JobDetails:
    id: str
    status: str
    flow: str
    app: str
    record_id: str
    source: str
    event_id: str
    function: str
    payload: dict[str, Any]
    created_at: datetime | None
    enqueued_at: datetime | None
    ended_at: datetime | None
    retries_left: int | None
    attempts: list[dict[str, Any]] = field(default_factory=list)
    replays: list[str] = field(default_factory=list)
    traceback: str = ""
    outcome: str = ""  # a finished job: what the flow decided (kgbridge.jobs.finished)
    detail: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("created_at", "enqueued_at", "ended_at"):
            data[key] = iso(getattr(self, key))
        return data


def registry(queue) -> FailedJobRegistry:
    return FailedJobRegistry(queue=queue)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _latest_failure(job: Job) -> Result | None:
    try:
        result = job.latest_result()
    except (redis.RedisError, ValueError):
        return None
    return result if result is not None and result.type == Result.Type.FAILED else None


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def summarize(job: Job) -> FailedJob:
    """One failed job as a row: who, how often, when first and last, and why."""
    meta = job.meta or {}
    attempts = [a for a in meta.get("attempts", []) if isinstance(a, dict)]
    times = [t for t in (parse_stamp(a.get("at")) for a in attempts) if t]
    failure = None
    if not times or not meta.get("reason"):
        failure = _latest_failure(job)
    if not times:
        end = _aware(job.ended_at) or (failure.created_at if failure else None)
        times = [end] if end else []
    reason = meta.get("reason") or _last_line(failure.exc_string if failure else None) or "unknown (no error recorded)"
    return FailedJob(
        id=job.id,
        flow=str(meta.get("flow", "")),
        app=str(meta.get("app", "")),
        record_id=str(meta.get("record_id", "")),
        attempts=len(attempts) or 1,
        first_failure=min(times) if times else None,
        last_failure=max(times) if times else None,
        reason=reason,
        source=str(meta.get("source", "")),
        event_id=str(meta.get("event_id", "")),
        replays=len(meta.get("replays", [])),
    )


def _fetch(queue, ids: list[str]) -> list[Job]:
    jobs = Job.fetch_many(ids, connection=queue.connection, serializer=queue.serializer)
    return [job for job in jobs if job is not None]


def list_failed(queue, *, flow: str | None = None, since: datetime | None = None) -> list[FailedJob]:
    """Failed jobs, newest last failure first, optionally of one flow / failed since a time."""
    rows = [summarize(job) for job in _fetch(queue, registry(queue).get_job_ids())]
    if flow:
        rows = [r for r in rows if r.flow == flow]
    if since:
        rows = [r for r in rows if r.last_failure and r.last_failure >= since]
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(rows, key=lambda r: (r.last_failure or epoch, r.id), reverse=True)


def show(queue, job_id: str) -> JobDetails | None:
    """Everything about one job: arguments, each attempt's error, the last traceback."""
    try:
        job = Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
    except NoSuchJobError:
        return None
    meta = job.meta or {}
    failure = _latest_failure(job)
    return JobDetails(
        id=job.id,
        status=str(job.get_status(refresh=False).value) if job.get_status(refresh=False) else "unknown",
        flow=str(meta.get("flow", "")),
        app=str(meta.get("app", "")),
        record_id=str(meta.get("record_id", "")),
        source=str(meta.get("source", "")),
        event_id=str(meta.get("event_id", "")),
        function=job.func_name,
        payload={"args": list(job.args), "kwargs": dict(job.kwargs)},
        created_at=_aware(job.created_at),
        enqueued_at=_aware(job.enqueued_at),
        ended_at=_aware(job.ended_at),
        retries_left=job.retries_left,
        attempts=[a for a in meta.get("attempts", []) if isinstance(a, dict)],
        replays=list(meta.get("replays", [])),
        traceback=(failure.exc_string if failure else "") or "",
        outcome=str(meta.get("outcome") or _return_value(job) or ""),
        detail=[str(d) for d in meta.get("detail", [])],
    )


def _return_value(job: Job) -> str:
    """What a finished job returned (jobs that ended before outcomes were kept in meta)."""
    try:
        value = job.return_value()
    except (redis.RedisError, ValueError):
        return ""
    return "" if value is None else str(value)


def select_for_replay(queue, *, ids: list[str] | None, flow: str | None) -> list[str]:
    """The given ids, or every failed job (of ``flow``) when ``ids`` is None."""
    if ids is not None:
        return list(dict.fromkeys(ids))
    failed = _fetch(queue, registry(queue).get_job_ids())
    return [job.id for job in failed if not flow or (job.meta or {}).get("flow") == flow]


def replay(queue, settings: Settings, job_ids: list[str], *, dry_run: bool = False) -> list[ReplayResult]:
    """Put failed jobs back on the queue with a fresh retry budget; one result per job."""
    return [_replay_one(queue, settings, job_id, dry_run) for job_id in job_ids]


def _replay_one(queue, settings: Settings, job_id: str, dry_run: bool) -> ReplayResult:
    failed = registry(queue)
    try:
        try:
            job = Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
        except NoSuchJobError:
            return ReplayResult(job_id, "not_found", "no such job (expired, purged or mistyped)")
        flow = str((job.meta or {}).get("flow", ""))
        if job_id not in failed:
            status = job.get_status(refresh=False)
            return ReplayResult(job_id, "not_failed", f"the job is {status.value if status else 'unknown'}, not failed",
                                flow)
        if dry_run:
            return ReplayResult(job_id, "would_replay", summarize(job).reason, flow)
        # The fresh budget: the current policy, as a newly enqueued job would get it.
        job.retries_left = len(settings.retry_intervals)
        job.retry_intervals = list(settings.retry_intervals)
        replays = [*job.meta.get("replays", []), datetime.now(UTC).isoformat(timespec="seconds")]
        job.meta["replays"] = replays[-MAX_REPLAYS_KEPT:]
        # The failed registry gave the job hash an expiry (failure TTL); a replayed job must not
        # vanish while it waits. Finishing or failing again sets the usual expiry.
        queue.connection.persist(job.key)
        try:
            failed.requeue(job)
        except InvalidJobOperation:
            queue.connection.expire(job.key, settings.failure_ttl_seconds)
            return ReplayResult(job_id, "not_failed", "replayed meanwhile by someone else", flow)
        return ReplayResult(job_id, "replayed", "", flow)
    except redis.RedisError:
        raise
    except Exception as exc:  # one unreadable job must not stop the batch
        return ReplayResult(job_id, "error", describe(exc))


def select_for_purge(queue, *, older_than: datetime, flow: str | None = None) -> list[FailedJob]:
    """Failed jobs whose last failure is before ``older_than`` (of ``flow`` when given)."""
    rows = list_failed(queue, flow=flow)
    return [r for r in rows if r.last_failure is not None and r.last_failure < older_than]


def purge(queue, job_ids: list[str]) -> list[str]:
    """Delete these failed jobs (and their results); return the ids actually deleted."""
    failed = registry(queue)
    deleted = []
    for job_id in job_ids:
        if job_id not in failed:
            continue  # replayed or purged meanwhile: leave it alone
        try:
            job = Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer)
        except NoSuchJobError:
            failed.remove(job_id)
            deleted.append(job_id)
            continue
        Result.delete_all(job)  # the stored tracebacks go with the job
        job.delete()
        deleted.append(job_id)
    return deleted


# -- tables -----------------------------------------------------------------------------------

def render_failed(rows: list[FailedJob]) -> str:
    if not rows:
        return "No failed jobs."
    body = table(
        ["ID", "FLOW", "APP", "RECORD", "ATTEMPTS", "FIRST FAILURE (JST)", "LAST FAILURE (JST)", "REASON"],
        [[r.id, r.flow, r.app, r.record_id, r.attempts, local(r.first_failure), local(r.last_failure),
          clip(r.reason, 80)] for r in rows],
    )
    return (f"{body}\n\n{len(rows)} failed job(s). Details: kgbridge jobs show ID. "
            "After fixing the cause: kgbridge jobs replay ID (or --all).")


def render_details(d: JobDetails) -> str:
    lines = [
        f"Job       {d.id}",
        f"Status    {d.status}",
        f"Flow      {d.flow or '-'}   app {d.app or '-'}   record {d.record_id or '-'}",
        f"Source    {d.source or '-'}   event {d.event_id or '-'}",
        f"Created   {local(d.created_at)}   last ended {local(d.ended_at)} (JST)",
        f"Retries   {d.retries_left if d.retries_left is not None else '-'} left",
        *([f"Outcome   {d.outcome}" + "".join(f"\n          {line}" for line in d.detail)] if d.outcome else []),
        f"Function  {d.function}",
        "Payload   " + to_json(d.payload).replace("\n", "\n          "),
        "",
        f"Attempts ({len(d.attempts)}):",
    ]
    for n, attempt in enumerate(d.attempts, 1):
        kind = "transient" if attempt.get("transient") else "permanent"
        lines.append(f"  {n}. {local(parse_stamp(attempt.get('at')))}  {kind:9}  {attempt.get('error', '')}")
    if not d.attempts:
        lines.append("  (none recorded)")
    if d.replays:
        lines.append(f"Replayed {len(d.replays)} time(s), last {local(parse_stamp(d.replays[-1]))} (JST)")
    lines += ["", "Traceback of the last failure:", d.traceback.rstrip() or "  (none stored)"]
    return "\n".join(lines)


_OUTCOME_TEXT = {"replayed": "replayed", "would_replay": "would replay", "not_found": "NOT FOUND",
                 "not_failed": "NOT FAILED", "error": "ERROR"}


def render_replay(results: list[ReplayResult], dry_run: bool) -> str:
    if not results:
        return "No failed jobs to replay."
    body = table(["ID", "FLOW", "OUTCOME", "DETAIL"],
                 [[r.id, r.flow, _OUTCOME_TEXT.get(r.outcome, r.outcome), clip(r.detail, 80)] for r in results])
    done = sum(r.ok for r in results)
    verb = "would be replayed (dry run)" if dry_run else "replayed"
    return f"{body}\n\n{done} of {len(results)} job(s) {verb}."


def render_purge_preview(rows: list[FailedJob]) -> str:
    return table(["ID", "FLOW", "APP", "RECORD", "LAST FAILURE (JST)", "REASON"],
                 [[r.id, r.flow, r.app, r.record_id, local(r.last_failure), clip(r.reason, 60)] for r in rows])
