"""``kgbridge status``: what the service is doing now, at a glance, and an exit code for monitors.

Everything comes from Redis (no kintone call): queue depths, the inbox backlog and the events set
aside, the live RQ workers and dispatchers with the age of their heartbeat, the last run of each
periodic task, the jobs that failed for good in the last 24 hours, and today's kintone calls per app
against the daily quota.

Levels (the exit code):
    0 ok        nothing to do
    1 warning   someone should look today: failures in the last 24 h, events set aside, a periodic
                task whose last run failed or that is overdue, a stale heartbeat
    2 critical  work is not being done: Redis unreachable, no live worker, no live dispatcher
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis
from rq import Queue, Worker
from rq.serializers import JSONSerializer

from kgbridge import history, periodic, quota
from kgbridge.dispatch import alive_key
from kgbridge.inbox import inbox_key
from kgbridge.ops.output import clip, table
from kgbridge.ops.when import local, parse_stamp
from kgbridge.settings import Settings

OK, WARNING, CRITICAL = 0, 1, 2
LEVEL_NAMES = {OK: "ok", WARNING: "warning", CRITICAL: "critical"}


@dataclass
class QueueDepth:
    name: str
    queued: int
    started: int
    scheduled: int  # waiting for a retry interval or a set time
    deferred: int
    failed: int  # in the failed registry (kgbridge jobs failed)


@dataclass
class Heartbeat:
    kind: str  # worker | dispatcher
    name: str
    age_seconds: float | None  # None: its heartbeat lapsed (dead, not yet cleaned up)
    state: str = ""
    job: str = ""


@dataclass
class TaskState:
    task: str
    every_seconds: int
    ended: str = ""
    ok: bool | None = None
    outcome: str = ""
    last_ok: str = ""
    overdue: bool = False


@dataclass
class Status:
    level: int = OK
    problems: list[tuple[int, str]] = field(default_factory=list)
    queues: list[QueueDepth] = field(default_factory=list)
    inbox: int = 0
    in_dispatch: int = 0  # taken by a dispatcher, not yet enqueued
    set_aside: int = 0
    heartbeats: list[Heartbeat] = field(default_factory=list)
    tasks: list[TaskState] = field(default_factory=list)
    failures_24h: int = 0
    failures_by_flow: dict[str, int] = field(default_factory=dict)
    quota: dict[str, Any] = field(default_factory=dict)  # today's kintone calls per app (kgbridge.quota.status)
    checked_at: str = ""

    def flag(self, level: int, text: str) -> None:
        self.problems.append((level, text))
        self.level = max(self.level, level)

    def as_json(self) -> dict[str, Any]:
        return {"level": LEVEL_NAMES[self.level], "exit_code": self.level, "checked_at": self.checked_at,
                "problems": [{"level": LEVEL_NAMES[lv], "problem": text} for lv, text in self.problems],
                "queues": [asdict(q) for q in self.queues],
                "inbox": {"backlog": self.inbox, "in_dispatch": self.in_dispatch, "set_aside": self.set_aside},
                "workers": [asdict(h) for h in self.heartbeats if h.kind == "worker"],
                "dispatchers": [asdict(h) for h in self.heartbeats if h.kind == "dispatcher"],
                "periodic": [asdict(t) for t in self.tasks],
                "failures_24h": {"count": self.failures_24h, "by_flow": self.failures_by_flow},
                "kintone_quota": self.quota}


def flow_of(job_id: str) -> str:
    """A job's flow from its id alone (``flow-app-record-marker``, ``task-slot``,
    ``page-flow-app-key``): no job read."""
    parts = job_id.split("-")
    return parts[1] if parts[0] == "page" and len(parts) > 1 else parts[0]


def gather(connection: redis.Redis, settings: Settings, now: datetime | None = None, mappings=None) -> Status:
    """Read the whole picture from Redis; a Redis that does not answer is itself the (critical) status."""
    try:
        return read(connection, settings, now, mappings)
    except redis.RedisError as exc:
        status = Status(checked_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"))
        status.flag(CRITICAL, f"Redis does not answer ({type(exc).__name__}): nothing is received or run")
        return status


def read(connection: redis.Redis, settings: Settings, now: datetime | None = None, mappings=None) -> Status:
    """The whole picture from Redis, judged; Redis errors propagate. ``mappings`` name the apps in
    the kintone quota figures (every mapped app listed, 0 calls included)."""
    now = now or datetime.now(UTC)
    status = Status(checked_at=now.isoformat(timespec="seconds"))
    names = {settings.queue_name} | {q.name for q in Queue.all(connection=connection, serializer=JSONSerializer)}
    for name in sorted(names):
        queue = Queue(name, connection=connection, serializer=JSONSerializer)
        status.queues.append(QueueDepth(name, queue.count, queue.started_job_registry.count,
                                        queue.scheduled_job_registry.count, queue.deferred_job_registry.count,
                                        queue.failed_job_registry.count))
    inbox = inbox_key(settings)
    status.inbox = connection.llen(inbox)
    status.set_aside = connection.llen(f"{inbox}:unroutable")
    _heartbeats(connection, settings, now, status)
    _tasks(connection, settings, now, status)
    failures = history.failures_since(connection)
    status.failures_24h = len(failures)
    for job_id, _ in failures:
        flow = flow_of(job_id)
        status.failures_by_flow[flow] = status.failures_by_flow.get(flow, 0) + 1
    status.quota = quota.status(connection, settings, mappings, now)
    _judge(settings, status)
    return status


def _heartbeats(connection: redis.Redis, settings: Settings, now: datetime, status: Status) -> None:
    queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
    for worker in Worker.all(queue=queue):
        beat = worker.last_heartbeat
        age = (now - beat.replace(tzinfo=beat.tzinfo or UTC)).total_seconds() if beat else None
        status.heartbeats.append(Heartbeat("worker", worker.name, age, worker.get_state(),
                                           worker.get_current_job_id() or ""))
    registry = f"kgbridge:dispatchers:{settings.queue_name}"
    for member in sorted(connection.smembers(registry)):
        name = member.decode()
        beat = connection.get(alive_key(name))
        age = None
        if beat is not None:
            try:
                age = max(0.0, time.time() - float(beat))
            except ValueError:  # a dispatcher of an older version wrote "1"
                age = 0.0
        status.heartbeats.append(Heartbeat("dispatcher", name, age))
        status.in_dispatch += connection.llen(f"kgbridge:dispatcher:{name}:processing")


def _tasks(connection: redis.Redis, settings: Settings, now: datetime, status: Status) -> None:
    for task in periodic.enabled(settings):
        run = history.read_task_run(connection, task.name)
        every = task.interval(settings)
        state = TaskState(task.name, every, run.ended, run.ok, run.outcome, run.last_ok)
        last_ok = parse_stamp(run.last_ok)
        # Overdue: no success for two intervals plus the time one run may take.
        state.overdue = last_ok is not None and (now - last_ok).total_seconds() > 2 * every + task.timeout
        status.tasks.append(state)


def _judge(settings: Settings, status: Status) -> None:
    workers = [h for h in status.heartbeats if h.kind == "worker"]
    dispatchers = [h for h in status.heartbeats if h.kind == "dispatcher" and h.age_seconds is not None]
    if not workers:
        status.flag(CRITICAL, "no live worker: no job runs (start one: kgbridge worker)")
    if not dispatchers:
        status.flag(CRITICAL, f"no live dispatcher: recorded webhooks are not turned into jobs "
                              f"({status.inbox} waiting in the inbox)")
    stale_after = settings.worker_maintenance_seconds + 15  # an idle worker beats at least this often
    for h in workers:
        if h.age_seconds is not None and h.age_seconds > stale_after:
            status.flag(WARNING, f"worker {h.name}: last heartbeat {h.age_seconds:.0f} s ago")
    if status.failures_24h:
        by_flow = ", ".join(f"{f} {n}" for f, n in sorted(status.failures_by_flow.items()))
        status.flag(WARNING, f"{status.failures_24h} job(s) failed in the last 24 h ({by_flow}): kgbridge jobs failed")
    if status.set_aside:
        status.flag(WARNING, f"{status.set_aside} event(s) set aside: kgbridge events set-aside")
    if status.quota.get("slowed"):
        past = [f"{a['app']} {a['share']:.0%}" for a in status.quota["apps"]
                if a["app_id"] != quota.FILE_CALLS and a["share"] >= status.quota["slowdown_share"]]
        status.flag(WARNING, f"kintone quota: past {status.quota['slowdown_share']:.0%} of today's "
                             f"{status.quota['quota_per_app']:,} calls ({', '.join(past)}); non-urgent sweeps slowed "
                             "(kgbridge quota)")
    for t in status.tasks:
        if t.ok is False:
            status.flag(WARNING, f"periodic task {t.task}: last run failed ({clip(t.outcome, 100)})")
        elif t.overdue:
            status.flag(WARNING, f"periodic task {t.task}: no successful run since {local(parse_stamp(t.last_ok))} JST")


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "lapsed"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def render(status: Status) -> str:
    lines = [f"kgbridge status: {LEVEL_NAMES[status.level].upper()}"]
    lines += [f"  {LEVEL_NAMES[level]:8} {text}" for level, text in status.problems]
    if status.queues:
        lines += ["", table(["QUEUE", "QUEUED", "RUNNING", "SCHEDULED", "DEFERRED", "FAILED"],
                            [[q.name, q.queued, q.started, q.scheduled, q.deferred, q.failed] for q in status.queues])]
    lines += ["", f"Inbox: {status.inbox} waiting, {status.in_dispatch} being dispatched, "
                  f"{status.set_aside} set aside"]
    if status.heartbeats:
        lines += ["", table(["KIND", "NAME", "HEARTBEAT AGE", "STATE", "JOB"],
                            [[h.kind, h.name, _age(h.age_seconds), h.state, h.job] for h in status.heartbeats])]
    if status.tasks:
        lines += ["", table(["PERIODIC TASK", "EVERY", "LAST RUN (JST)", "RESULT", "OUTCOME"],
                            [[t.task, f"{t.every_seconds} s", local(parse_stamp(t.ended)) if t.ended else "never",
                              {True: "ok", False: "FAILED", None: "-"}[t.ok] + (" (overdue)" if t.overdue else ""),
                              clip(t.outcome, 60)] for t in status.tasks])]
    lines += ["", f"Failed in the last 24 h: {status.failures_24h}"]
    used = [a for a in status.quota.get("apps", []) if a["calls"]]
    if status.quota:
        lines.append(f"kintone calls today ({status.quota['day']}, quota {status.quota['quota_per_app']:,} per app): "
                     + (", ".join(f"{a['app']} {a['calls']:,} ({a['share']:.1%})" for a in used) or "none"))
    return "\n".join(lines)
