"""What ran on a record and what it decided: the run history, and the counts monitoring reads.

Every flow job, when it ends, leaves one entry in the history of its (app, record), written by the
job runner (``kgbridge.jobs.run_flow``: finished) and the exception handler (``kgbridge.failures``:
retrying or failed). Flows never write here: they return their outcome word and may add a short
detail through ``FlowContext.report`` (e.g. "held: missing 業務内容"), which the runner records.

    kgbridge:history:<app>:<record>   list of JSON entries, newest first, at most HISTORY_MAX,
                                      kept HISTORY_TTL_SECONDS after the record's last run
    kgbridge:failures:recent          sorted set of (job id, when) of failed runs (final failures),
                                      scored by time, pruned to the last FAILURE_WINDOW_SECONDS
    kgbridge:stats:runs               hash "flow|state" -> count of job ends since Redis began
                                      (finished | retrying | failed), for Prometheus counters
    kgbridge:periodic:run:<task>      hash: the periodic task's last run (job id, started, ended,
                                      ok, outcome, detail) and when it last succeeded (last_ok)

An entry holds ids, flow names, outcome words, field labels and error classes: never record values
or personal data (the same rule as the jobs themselves). Writing history never fails a job: a Redis
error here is logged and the job's own outcome stands.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
import structlog

HISTORY_PREFIX = "kgbridge:history"
HISTORY_MAX = 100  # entries per record
HISTORY_TTL_SECONDS = 90 * 24 * 3600
RECENT_FAILURES = "kgbridge:failures:recent"
FAILURE_WINDOW_SECONDS = 24 * 3600
RUN_STATS = "kgbridge:stats:runs"
DETAIL_MAX = 10  # detail lines kept per entry
STATES = ("finished", "retrying", "failed")


@dataclass
class RunEntry:
    at: str  # when the run ended (UTC, ISO 8601)
    job_id: str
    flow: str
    state: str  # finished | retrying | failed
    outcome: str = ""  # the flow's outcome word, or the error's one line
    detail: list[str] = field(default_factory=list)
    source: str = ""  # webhook | reconcile | replay | schedule | flow
    attempt: int = 1
    started: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def loads(cls, raw: bytes | str) -> RunEntry | None:
        try:
            data = json.loads(raw)
            known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
            return cls(**known)
        except (ValueError, TypeError):
            return None


class Notes:
    """What ``FlowContext.report`` collects during one job: the detail lines and, for a flow whose job
    names no record (a GMO Sign callback names an envelope), the record it turned out to be about."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.record_id: str | None = None

    def __call__(self, detail: str, record_id: str | None = None) -> None:
        if detail:
            self.lines.append(str(detail))
        if record_id is not None:
            self.record_id = str(record_id)


def history_key(app_key: str, record_id: str) -> str:
    return f"{HISTORY_PREFIX}:{app_key}:{record_id}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def record_run(connection: redis.Redis, job, state: str, outcome: str, detail: list[str] | None = None,
               record_id: str | None = None) -> None:
    """Add one run's end to its record's history and to the counts; never raises. ``record_id``: the
    record the flow reported it was about, when the job itself names none."""
    meta = job.meta or {}
    flow = str(meta.get("flow", ""))
    app_key, record_id = str(meta.get("app", "")), str(meta.get("record_id", "") or record_id or "")
    started = job.started_at
    entry = RunEntry(at=now_iso(), job_id=job.id, flow=flow, state=state, outcome=outcome[:300],
                     detail=[str(d)[:300] for d in (detail or [])][:DETAIL_MAX], source=str(meta.get("source", "")),
                     attempt=len(meta.get("attempts", [])) + (1 if state == "finished" else 0),
                     started=(started.replace(tzinfo=started.tzinfo or UTC).isoformat(timespec="seconds")
                              if started else ""))
    try:
        with connection.pipeline(transaction=False) as pipe:
            if app_key and record_id.isascii() and record_id.isdigit():  # a page job's failure has no one record
                key = history_key(app_key, record_id)
                pipe.lpush(key, json.dumps(entry.as_json(), ensure_ascii=False, separators=(",", ":")))
                pipe.ltrim(key, 0, HISTORY_MAX - 1)
                pipe.expire(key, HISTORY_TTL_SECONDS)
            pipe.hincrby(RUN_STATS, f"{flow}|{state}", 1)
            if state == "failed":
                stamp = time.time()
                pipe.zadd(RECENT_FAILURES, {f"{job.id}|{stamp:.3f}": stamp})
                pipe.zremrangebyscore(RECENT_FAILURES, "-inf", stamp - FAILURE_WINDOW_SECONDS)
            pipe.execute()
    except redis.RedisError as exc:
        structlog.get_logger("kgbridge.job").warning("could not record the run history", step="history",
                                                     error=type(exc).__name__)


def record_page_runs(connection: redis.Redis, job, app_key: str, decided: dict[str, tuple[str, str]]) -> None:
    """One finished entry in each record's history for what a page job (kgbridge.jobs.run_page)
    decided for it, in one round trip; never raises. The page counts once in the run counts."""
    meta = job.meta or {}
    flow, source, at = str(meta.get("flow", "")), str(meta.get("source", "")), now_iso()
    try:
        with connection.pipeline(transaction=False) as pipe:
            for record_id, (outcome, detail) in decided.items():
                entry = RunEntry(at=at, job_id=job.id, flow=flow, state="finished", outcome=outcome[:300],
                                 detail=[detail[:300]] if detail else [], source=source)
                key = history_key(app_key, record_id)
                pipe.lpush(key, json.dumps(entry.as_json(), ensure_ascii=False, separators=(",", ":")))
                pipe.ltrim(key, 0, HISTORY_MAX - 1)
                pipe.expire(key, HISTORY_TTL_SECONDS)
            pipe.hincrby(RUN_STATS, f"{flow}|finished", 1)
            pipe.execute()
    except redis.RedisError as exc:
        structlog.get_logger("kgbridge.job").warning("could not record the run history", step="history",
                                                     error=type(exc).__name__)


def read_history(connection: redis.Redis, app_key: str, record_id: str, state: str | None = None,
                 limit: int = HISTORY_MAX) -> list[RunEntry]:
    """The record's runs, newest first (only those in ``state`` when given)."""
    entries = [RunEntry.loads(raw) for raw in connection.lrange(history_key(app_key, str(record_id)), 0, -1)]
    return [e for e in entries if e is not None and (state is None or e.state == state)][:limit]


def failures_since(connection: redis.Redis, seconds: int = FAILURE_WINDOW_SECONDS) -> list[tuple[str, float]]:
    """(job id, when) of the runs that failed for good in the last ``seconds``, oldest first."""
    members = connection.zrangebyscore(RECENT_FAILURES, time.time() - seconds, "+inf", withscores=True)
    return [(m.decode().rsplit("|", 1)[0], score) for m, score in members]


def run_counts(connection: redis.Redis) -> dict[tuple[str, str], int]:
    """(flow, state) -> how many runs ended so."""
    counts = {}
    for key, value in connection.hgetall(RUN_STATS).items():
        flow, _, state = key.decode().rpartition("|")
        counts[(flow, state)] = int(value)
    return counts


# -- periodic tasks: the last run of each ----------------------------------------------------------

TASK_RUN_PREFIX = "kgbridge:periodic:run"


@dataclass
class TaskRun:
    task: str
    job_id: str = ""
    started: str = ""
    ended: str = ""
    ok: bool | None = None  # None: never ran (or not since Redis lost it)
    outcome: str = ""
    detail: list[str] = field(default_factory=list)
    last_ok: str = ""  # when it last succeeded

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def task_run_key(task: str) -> str:
    return f"{TASK_RUN_PREFIX}:{task}"


def record_task_run(connection: redis.Redis, job, *, ok: bool, outcome: str, detail: list[str] | None = None) -> None:
    """Keep a periodic task's run as its last one; never raises."""
    task = str((job.meta or {}).get("flow", "")) or job.id.rsplit("-", 1)[0]
    ended = now_iso()
    started = job.started_at
    fields = {"job_id": job.id, "ended": ended, "ok": "1" if ok else "0", "outcome": outcome[:300],
              "detail": json.dumps([str(d)[:300] for d in (detail or [])][:50], ensure_ascii=False),
              "started": (started.replace(tzinfo=started.tzinfo or UTC).isoformat(timespec="seconds")
                          if started else "")}
    if ok:
        fields["last_ok"] = ended
    try:
        connection.hset(task_run_key(task), mapping=fields)
    except redis.RedisError as exc:
        structlog.get_logger("kgbridge.job").warning("could not record the periodic run", step="history",
                                                     error=type(exc).__name__)


def read_task_run(connection: redis.Redis, task: str) -> TaskRun:
    data = {k.decode(): v.decode() for k, v in connection.hgetall(task_run_key(task)).items()}
    try:
        detail = json.loads(data.get("detail") or "[]")
    except ValueError:
        detail = []
    return TaskRun(task=task, job_id=data.get("job_id", ""), started=data.get("started", ""),
                   ended=data.get("ended", ""), ok=None if "ok" not in data else data["ok"] == "1",
                   outcome=data.get("outcome", ""), detail=detail, last_ok=data.get("last_ok", ""))
