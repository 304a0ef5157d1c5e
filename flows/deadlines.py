"""Deadline sweep: reminders and escalations for the seeds' time limits (DESIGN.md flow 5).

The workers call ``sweep(ctx)`` every KGBRIDGE_DEADLINE_SWEEP_SECONDS (kgbridge/periodic.py). Outside working time (weekends,
public and company holidays, before the business morning, after the evening) it does nothing
at all: a reminder that falls due on a Saturday waits for the next business morning (seed 002).

For each rule of ``deadlines.toml`` (``mappings/deadlines.py``), one kintone query finds the
records the rule covers that are not done and whose reminder time has come, fetching only the
fields the rule reads. Then, per record and level, at most once:

- **reminder**: from the reminder time until the due time, a comment mentioning the responsible
  person (or, when nobody is assigned, the supervisor) that says what is due when and what to do;
- **overdue**: past the due time, a comment mentioning the responsible person and the supervisor
  (the rule's 上長 field, else the supervisor directory); a rule with a ``reason_field`` asks for
  the reason (遅延理由) there, and once it is written, **reason_reported** tells the supervisor.

"Once" is remembered in the ledger per rule, record, due time and level, so a record whose
start moves gets fresh reminders, and a repeated or concurrent sweep (a Redis lock keeps one at
a time) posts nothing twice. A comment is posted before it is remembered: a crash in between
repeats one comment rather than losing it.

Each record is decided first (``decide``: the Notice it needs, or an outcome word), then told.
A rule with ``digest_from = n`` tells n or more notices of one level for the same people in one
comment on the first record (a digest, flows/deadline_digests.py: a bulk import nobody assigned
is one reminder to the manager, not 10,000), and remembers each record as its own comment would.

kintone calls per sweep: per rule, one query per 500 matching records (seek by ``$id``; a
full page costs one more query to see the end), plus one comment per reminder sent (per digest,
for a rule with ``digest_from``: 1,000 overdue HP inquiries of one rep, one comment); rules
with nothing possibly due cost nothing, and so does a sweep outside working time. Measured
(tests/test_deadlines.py): 1,000 open, overdue records of one rule cost 3 queries + 1,000
comments on the first sweep and 3 queries on every later sweep of the day. With the 13
default rules, a sweep with nothing to say costs 13 calls (one query per rule; 8 of them on the
Contracts app, counted on the fake on 2026-12-01); every 30 minutes
from 9:00 to 18:00 that is at most 36 calls a day for an app with two rules. A rule with
``latest_per`` (the 抵触日 rules: only the current contract of a site) reads every covered record
in its date window, done or not, since the latest record of a group decides.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar

from redis.exceptions import LockError

from connectors.errors import Permanent
from connectors.kintone import KintoneConfigError, KintoneError, KintoneTransientError
from flows import deadline_digests
from flows.business_calendar import TOKYO, BusinessCalendar
from flows.context import FlowContext
from flows.deadline_texts import due_phrase, overdue_text, reason_report_text, reminder_text
from flows.notify import post
from mappings import AppMapping, MappingError, User
from mappings.deadlines import (
    DATE_TYPES,
    EMPTY_BY_EQUALS,
    EMPTY_BY_IN,
    EMPTY_BY_IS,
    Condition,
    Rule,
    choice_values,
)
from mappings.dispatch_law import add_months
from mappings.fields import is_blank

FLOW = "deadlines"
PAGE_SIZE = 500  # kintone's most records per GET
LOCK_KEY = "lock:deadline-sweep"
LOCK_SECONDS = 30 * 60  # longer than any sweep; a crashed holder frees it by then
MEMORY_MARGIN_DAYS = 30  # "already told" outlives the rule's give-up horizon by this much
SEARCH_AHEAD_DAYS = 120  # starts this far ahead can never be due now (limits are ≥ -60 business days)
T = TypeVar("T")


class SweepFailed(Permanent):
    """Some rules could not be swept for a reason retrying will not fix (named in the message)."""


@dataclass(frozen=True)
class Deadline:
    due_at: datetime  # the first moment past the limit (Tokyo)
    remind_at: datetime  # the first moment a reminder may go
    whole_days: bool  # due at the end of a day (business days) rather than at a time

    @property
    def key(self) -> str:
        return self.due_at.strftime("%Y%m%dT%H%M")


def sweep(ctx: FlowContext) -> str:
    """Send the reminders and escalations that are due now; one sweep at a time."""
    now = ctx.now()
    log = ctx.log.bind(flow=FLOW)
    if not ctx.calendar.is_working_time(now):
        log.info("not working time; nothing sent", step="sweep", outcome="outside_working_time")
        return "outside_working_time"
    lock = ctx.ledger.lock(LOCK_KEY, LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        log.info("another sweep is running", step="sweep", outcome="already_running")
        return "already_running"
    failed: list[str] = []
    try:
        for rule in ctx.mappings.deadlines.rules:
            lock.reacquire()  # a long first sweep keeps its lock for another full period per rule
            try:
                outcomes = sweep_rule(ctx, rule, now)
            except KintoneTransientError:
                raise  # kintone is struggling: retry the sweep later (nothing is sent twice)
            except (KintoneError, MappingError) as exc:
                log.error("rule could not be swept", step="rule", rule=rule.name, app=rule.app,
                          error=safe_reason(exc), outcome="failed")
                failed.append(rule.name)
                ctx.report(f"{rule.name}: not swept ({type(exc).__name__})")
                continue
            counts = ", ".join(f"{k} {outcomes[k]}" for k in sorted(outcomes)) or "nothing due"
            ctx.report(f"{rule.name}: {counts}")
    finally:
        try:
            lock.release()
        except LockError:
            pass  # it expired meanwhile; nobody else's lock is touched
    if failed:
        raise SweepFailed(f"deadline rules not swept: {', '.join(failed)} (see the log for each reason)")
    return "swept"


def sweep_rule(ctx: FlowContext, rule: Rule, now: datetime) -> Counter:
    """Remind and escalate for one rule; return what happened, by outcome."""
    mapping = ctx.mappings[rule.app]
    log = ctx.log.bind(flow=FLOW, rule=rule.name, app=rule.app)
    outcomes: Counter = Counter()
    deadline_digests.finish_left(ctx, rule, mapping)  # a digest an earlier sweep died posting
    query = open_query(rule, mapping, now, ctx.calendar)
    if query is None:
        log.info("nothing can be due yet", step="rule", outcome="nothing_due")
        return outcomes
    records = fetch_all(ctx, mapping, query, mapping.codes(*rule.field_names()))
    notices: list[Notice] = []
    for record in (latest_of_each(mapping, rule, records) if rule.latest_per else records):
        record_id = str(record.get("$id", {}).get("value", ""))
        decided = guarded(log, "decide", record_id, lambda r=record: decide(ctx, rule, mapping, mapping.read(r), now))
        if isinstance(decided, Notice):
            notices.append(decided)
        else:
            outcomes[decided] += 1
    digested: set[str] = set()
    if rule.digest_from is not None:
        for group in deadline_digests.groups(notices):
            if len(group) >= rule.digest_from:
                outcomes.update(deadline_digests.tell(ctx, rule, mapping, group, now))
                digested.update(n.memory for n in group)
    for notice in notices:
        if notice.memory not in digested:
            outcomes[guarded(log, "remind", notice.record_id, lambda n=notice: tell_record(ctx, mapping, n))] += 1
    log.info("rule swept", step="rule", outcome="swept", **{k: outcomes[k] for k in sorted(outcomes)})
    return outcomes


def guarded(log, step: str, record_id: str, action: Callable[[], T]) -> T | str:
    """``action`` for one record; "failed" when kintone or the mapping refuses that record alone."""
    try:
        return action()
    except (KintoneTransientError, KintoneConfigError):
        raise  # kintone struggling, or a token/setting to fix: not this record's fault
    except (KintoneError, MappingError) as exc:
        # One bad record (deleted meanwhile, a value of the wrong shape) does not stop the rest.
        log.warning("record skipped", step=step, record_id=record_id, error=safe_reason(exc), outcome="failed")
        return "failed"


def latest_of_each(mapping: AppMapping, rule: Rule, records: Iterator[dict]) -> list[dict]:
    """Only the record with the greatest ``latest_by`` of each ``latest_per`` group (ties: newest id)."""
    best: dict[tuple, tuple] = {}
    for record in records:
        values = mapping.read(record)
        group = tuple(str(values.get(name) or "") for name in rule.latest_per)
        rank = (values.get(rule.latest_by) is not None, values.get(rule.latest_by) or date.min,
                int(values["record_id"]))
        if group not in best or rank > best[group][0]:
            best[group] = (rank, record)
    return [record for _rank, record in best.values()]


def safe_reason(exc: Exception) -> str:
    """The error for the log: kintone's errors carry no record values; a mapping error may quote one."""
    if isinstance(exc, KintoneError):
        return f"{type(exc).__name__}: {exc}"
    return f"{type(exc).__name__}: {str(exc).split(':')[0]}"  # "<app>.<field> (<code>)", not the value


def fetch_all(ctx: FlowContext, mapping: AppMapping, query: str, fields: list[str]) -> Iterator[dict]:
    """Every record matching ``query``, 500 per call, seeking by $id (no offset limit)."""
    last = None
    while True:
        condition = query if last is None else f"{query} and $id > {last}"
        page = ctx.kintone.get_records(mapping.id, f"{condition} order by $id asc", fields=fields, limit=PAGE_SIZE)
        yield from page
        if len(page) < PAGE_SIZE:
            return
        last = int(page[-1]["$id"]["value"])


# -- one record ---------------------------------------------------------------------------

REMINDER, OVERDUE, REASON_REPORTED = "reminder", "overdue", "reason_reported"
OUTCOMES = {REMINDER: "reminded", OVERDUE: "escalated", REASON_REPORTED: "reason_reported"}


@dataclass(frozen=True)
class Notice:
    """The one comment a record needs now: posted on it (``tell_record``) or told in a digest
    (flows/deadline_digests.py); either way remembered under ``memory``."""

    level: str  # REMINDER, OVERDUE or REASON_REPORTED
    values: dict  # the record, read through the mapping
    deadline: Deadline
    due: str  # how the due time reads in the comments
    users: tuple[User, ...]  # mentioned
    responsible: tuple[User, ...]  # the rule's responsible people on the record (none: the supervisor is told)
    supervisor_told: bool
    text: str  # the record's own comment
    memory: str  # the ledger key that remembers it as told (rule, record, due time, level)
    ttl: int
    also: tuple[str, ...] = ()  # remembered with it: the delay reason was asked

    @property
    def record_id(self) -> str:
        return str(self.values["record_id"])

    @property
    def outcome(self) -> str:
        return OUTCOMES[self.level]

    @property
    def digestible(self) -> bool:
        """Reminders and escalations may be told many in one; a delay-reason report quotes its own reason."""
        return self.level in (REMINDER, OVERDUE)

    def marks(self) -> tuple[str, ...]:
        """The ledger keys (each kept ``ttl``) that remember it as told."""
        return (self.memory, *self.also)


def decide(ctx: FlowContext, rule: Rule, mapping: AppMapping, values: dict, now: datetime) -> Notice | str:
    """The one comment this record needs now, if any; else an outcome word."""
    start = values.get(rule.start)
    if start is None:
        return "no_start"
    if not all(holds(mapping, c, values) for c in rule.where) or all(holds(mapping, c, values) for c in rule.done_when):
        return "done"
    deadline = deadline_for(rule, start, ctx.calendar)
    if now < deadline.remind_at:
        return "not_yet"
    today = now.date()
    due = due_phrase(deadline.due_at, deadline.whole_days, today)
    memory = f"deadline:{rule.name}:{mapping.key}:{values['record_id']}:{deadline.key}"
    ttl = (rule.give_up_after_days + MEMORY_MARGIN_DAYS) * 24 * 3600
    responsible = _users(values.get(rule.responsible))
    supervisors = supervisors_for(ctx, rule, values, responsible)
    missing = ([mapping.field(c.field).display for c in rule.done_when if not holds(mapping, c, values)]
               if rule.list_missing else [])

    def notice(level: str, text: str, users: list[User], also: tuple[str, ...] = ()) -> Notice:
        return Notice(level, values, deadline, due, tuple(users), tuple(responsible), bool(supervisors), text,
                      f"{memory}:{level}", ttl, also)

    if now < deadline.due_at or not rule.escalate:
        if ctx.ledger.done(f"{memory}:{REMINDER}"):
            return "already_told"
        text = reminder_text(rule, mapping, values, due, today, missing=missing, unassigned=not responsible)
        return notice(REMINDER, text, responsible or supervisors)

    reason_blank = rule.reason_field is not None and is_blank(values.get(rule.reason_field))
    if not ctx.ledger.done(f"{memory}:{OVERDUE}"):
        text = overdue_text(rule, mapping, values, due, today, missing=missing, unassigned=not responsible,
                            supervisor_told=bool(supervisors))
        return notice(OVERDUE, text, [*responsible, *supervisors],
                      also=(f"{memory}:reason_asked",) if reason_blank else ())
    if (rule.reason_field and not reason_blank and ctx.ledger.done(f"{memory}:reason_asked")
            and not ctx.ledger.done(f"{memory}:{REASON_REPORTED}")):
        text = reason_report_text(rule, mapping, values, due, today)
        return notice(REASON_REPORTED, text, supervisors or responsible)
    return "already_told"


def tell_record(ctx: FlowContext, mapping: AppMapping, notice: Notice) -> str:
    """The record's own comment, then remembered: a crash in between repeats one comment rather than
    losing it. The outcome word."""
    post(ctx, mapping, notice.record_id, notice.text, list(notice.users), key=notice.memory)
    for key in notice.marks():
        ctx.ledger.mark(key, notice.ttl)
    return notice.outcome


def _users(value) -> list[User]:
    if isinstance(value, User):
        return [value]
    return [u for u in (value or []) if isinstance(u, User) and u.code]


def supervisors_for(ctx: FlowContext, rule: Rule, values: dict, responsible: list[User]) -> list[User]:
    """The record's 上長 field when the rule names one and it is filled, else the directory's."""
    on_record = _users(values.get(rule.supervisor)) if rule.supervisor else []
    if on_record:
        return on_record
    directory = ctx.mappings.deadlines.supervisors
    codes = [directory.for_user(u.code) for u in responsible] if responsible else [directory.for_user(None)]
    known = {u.code for u in responsible}
    out: list[User] = []
    for code in codes:
        if code and code not in known:
            known.add(code)
            out.append(User(code=code))
    return out


# -- time ---------------------------------------------------------------------------------

def deadline_for(rule: Rule, start: date | datetime, calendar: BusinessCalendar) -> Deadline:
    """When a record that started at ``start`` is due, and when its reminder may go."""
    if rule.limit.unit in ("business_days", "months"):
        day = start.astimezone(TOKYO).date() if isinstance(start, datetime) else start
        n = rule.limit.amount
        if rule.limit.unit == "months":  # a calendar month, then back to a business day
            due_day = calendar.on_or_before(add_months(day, n))
        else:
            due_day = calendar.add_business_days(day, n) if n else calendar.on_or_after(day)
        before = rule.remind_before
        if before is not None and before.unit == "months":
            remind_day = add_months(due_day, -before.amount)
        else:
            remind_day = calendar.add_business_days(due_day, -rule.remind_amount)
        return Deadline(due_at=datetime.combine(due_day + timedelta(days=1), time(0), TOKYO),
                        remind_at=datetime.combine(remind_day, time(0), TOKYO), whole_days=True)
    moment = start if isinstance(start, datetime) else datetime.combine(start, time(0), TOKYO)
    return Deadline(due_at=calendar.add_business_hours(moment, rule.limit.amount),
                    remind_at=calendar.add_business_hours(moment, rule.limit.amount - rule.remind_amount),
                    whole_days=False)


def latest_start(rule: Rule, now: datetime, calendar: BusinessCalendar, dates: bool) -> date | datetime | None:
    """The latest start whose reminder time has come (None when even the earliest start's has not).

    The reminder time only grows with the start, so a binary search finds it: by day for DATE
    starts, by minute for datetimes.
    """
    earliest = now - timedelta(days=rule.give_up_after_days)
    lo: date | datetime = earliest.date() if dates else earliest.astimezone(UTC).replace(second=0, microsecond=0)
    hi: date | datetime = lo + timedelta(days=rule.give_up_after_days + SEARCH_AHEAD_DAYS)
    step = timedelta(days=1) if dates else timedelta(minutes=1)

    def due_now(start) -> bool:
        return deadline_for(rule, start, calendar).remind_at <= now

    if not due_now(lo):
        return None
    if due_now(hi):
        return hi
    while hi - lo > step:
        steps = (hi - lo) // step
        mid = lo + (steps // 2) * step
        lo, hi = (mid, hi) if due_now(mid) else (lo, mid)
    return lo


# -- kintone queries ----------------------------------------------------------------------

def open_query(rule: Rule, mapping: AppMapping, now: datetime, calendar: BusinessCalendar) -> str | None:
    """The kintone query for records the rule covers, not done, whose reminder time has come."""
    start = mapping.field(rule.start)
    dates = start.type in DATE_TYPES
    latest = latest_start(rule, now, calendar, dates)
    if latest is None:
        return None
    earliest = now - timedelta(days=rule.give_up_after_days)
    if dates:
        bounds = [f'{start.code} >= "{earliest.date().isoformat()}"', f'{start.code} <= "{latest.isoformat()}"']
    else:
        # One minute of slack: the exact time is decided per record, the query only narrows.
        upper = latest + timedelta(minutes=1)
        bounds = [f'{start.code} >= "{_utc(earliest)}"', f'{start.code} < "{_utc(upper)}"']
    parts = [condition_query(mapping, c) for c in rule.where]
    if not rule.latest_per:  # else every record of a group is read: the latest one decides
        not_done = [condition_query(mapping, c, negate=True) for c in rule.done_when]
        parts.append(not_done[0] if len(not_done) == 1 else "(" + " or ".join(not_done) + ")")
    return " and ".join([*parts, *bounds])


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def condition_query(mapping: AppMapping, cond: Condition, negate: bool = False) -> str:
    """One condition (or its opposite) in kintone's query language."""
    spec = mapping.field(cond.field)
    if cond.filled is not None:
        filled = cond.filled != negate
        if spec.type in EMPTY_BY_IS:
            return f"{spec.code} is {'not ' if filled else ''}empty"
        if spec.type in EMPTY_BY_IN:
            return f'{spec.code} {"not in" if filled else "in"} ("")'
        if spec.type in EMPTY_BY_EQUALS:
            return f'{spec.code} {"!=" if filled else "="} ""'
        raise MappingError(f"{mapping.key}.{cond.field}: cannot test a {spec.type} field for emptiness in a query")
    inside = (cond.in_ is not None) != negate
    values = [_quote(v) for v in choice_values(mapping, cond)]
    return f"{spec.code} {'in' if inside else 'not in'} ({', '.join(values)})"


def holds(mapping: AppMapping, cond: Condition, values: dict) -> bool:
    """The same condition, tested on a record read through the mapping."""
    value = values.get(cond.field)
    if cond.filled is not None:
        return (not is_blank(value)) == cond.filled
    present = value if isinstance(value, list) else [value]
    codes = {u.code if isinstance(u, User) else str(u) for u in present if u is not None}
    hit = bool(codes & set(choice_values(mapping, cond)))
    return hit if cond.in_ is not None else not hit
