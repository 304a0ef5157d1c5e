"""Deadline digests: one comment for many records of a rule due at once for the same people (issue 17).

A bulk import (10,000 HP inquiries nobody is assigned to yet) makes every record of a rule fall due
in the same sweep: one reminder each would mention the department's manager 10,000 times, 10,000
more at the escalation, and spend two days of the app's kintone quota on comments. A rule with
``digest_from = n`` (deadlines.toml) says instead: when one sweep finds at least n records due at
one level (reminder, or overdue) for the same people, one comment on the first of them says the
rule's task, how many, the first ten, the list filter that shows them all and what to do. Each
record is then remembered as told exactly as its own comment would be (``Notice.marks``: the same
ledger keys, kept as long), so a later sweep or a re-run tells none of them again, and a record
that falls due later gets its own reminder or joins a later digest. Delay-reason reports stay one
per record (each quotes its own reason).

Exactly once. The digest is written down first (the ledger: its text, the record it goes on, the
marks it stands for), then posted with ``notify.tell`` ("sending", the post, "done"), then its
records are marked and the note is dropped. Each sweep of the rule first finishes what an earlier
one left (``finish_left``): a digest that was posted (done, or found on its record after a crash
before "done": ``notify.posted_before``) gets its marks; one never posted is dropped, and its
records, still untold, are decided again with the rest. So a crash between the post and the marks
neither loses the digest nor posts it twice, even when meanwhile some of its records were done or
others fell due (a different group, hence a different digest, would otherwise be posted on top).

kintone calls: one comment per digest; on the recovery path, one read of the record's comments.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from connectors.kintone import KintoneConfigError, KintoneError, KintoneTransientError
from flows import notify
from flows.deadline_texts import digest_text
from mappings import AppMapping
from mappings.deadlines import Rule

if TYPE_CHECKING:
    from flows.context import FlowContext
    from flows.deadlines import Notice

FLOW = "deadlines"
ONCE_AS = "deadline_digest"


def groups(notices: Iterable[Notice]) -> list[list[Notice]]:
    """The notices a digest may tell together: one level, the same people mentioned and responsible."""
    out: dict[tuple, list[Notice]] = {}
    for notice in notices:
        if notice.digestible:
            key = (notice.level, tuple(u.code for u in notice.users), tuple(u.code for u in notice.responsible))
            out.setdefault(key, []).append(notice)
    return list(out.values())


def tell(ctx: FlowContext, rule: Rule, mapping: AppMapping, group: list[Notice], now: datetime) -> Counter:
    """One comment for the group on its first record, then each record remembered as told; the outcomes."""
    log = ctx.log.bind(flow=FLOW, rule=rule.name, app=rule.app)
    group = sorted(group, key=lambda n: int(n.record_id))
    first = group[0]
    plan = {"record": first.record_id, "text": digest_text(rule, mapping, group, now.date()),
            "once_as": f"{ONCE_AS}:{rule.name}:{first.level}", "same_as": _same_as(group),
            "ttl": first.ttl, "marks": [key for notice in group for key in notice.marks()]}
    _write_down(ctx, rule, mapping, plan)
    try:
        posted = notify.tell(ctx, mapping, plan["record"], plan["text"], list(first.users),
                             once_as=plan["once_as"], same_as=plan["same_as"])
    except (KintoneTransientError, KintoneConfigError):
        raise  # the sweep is retried; finish_left then knows whether it was posted
    except KintoneError as exc:  # its record was deleted meanwhile: the next sweep groups the rest again
        log.warning("digest not posted", step="digest", level=first.level, record_id=first.record_id,
                    records=len(group), error=f"{type(exc).__name__}: {exc}", outcome="failed")
        _drop(ctx, rule, mapping, plan)
        return Counter(failed=len(group))
    _mark(ctx, plan)
    _drop(ctx, rule, mapping, plan)
    log.info("digest told", step="digest", level=first.level, record_id=first.record_id, records=len(group),
             outcome="told" if posted else "already_told")
    return Counter({first.outcome: len(group), "digests": 1}) if posted else Counter(already_told=len(group))


def finish_left(ctx: FlowContext, rule: Rule, mapping: AppMapping) -> None:
    """The digests an earlier sweep of the rule wrote down and did not finish: marked if posted, else dropped."""
    raw = ctx.ledger.get(_pending_key(rule, mapping))
    if raw is None:
        return
    log = ctx.log.bind(flow=FLOW, rule=rule.name, app=rule.app)
    for plan in json.loads(raw):
        try:
            posted = notify.posted_before(ctx, mapping, plan["record"], plan["text"], once_as=plan["once_as"],
                                          same_as=plan["same_as"])
        except (KintoneTransientError, KintoneConfigError):
            raise
        except KintoneError:  # its record is gone, and the comment with it: its records are told again
            posted = False
        if posted:
            _mark(ctx, plan)
        log.info("unfinished digest", step="digest", record_id=plan["record"], records=len(plan["marks"]),
                 outcome="marked" if posted else "dropped")
    ctx.ledger.release(_pending_key(rule, mapping))


def _same_as(group: list[Notice]) -> str:
    """What makes two digests the same: the records and levels they tell (each due time included)."""
    return hashlib.sha256("\n".join(n.memory for n in group).encode()).hexdigest()


def _mark(ctx: FlowContext, plan: dict) -> None:
    for key in plan["marks"]:
        ctx.ledger.mark(key, plan["ttl"])


def _pending_key(rule: Rule, mapping: AppMapping) -> str:
    return f"{ONCE_AS}:{rule.name}:{mapping.key}:pending"


def _pending(ctx: FlowContext, rule: Rule, mapping: AppMapping) -> list[dict]:
    raw = ctx.ledger.get(_pending_key(rule, mapping))
    return json.loads(raw) if raw else []


def _write_down(ctx: FlowContext, rule: Rule, mapping: AppMapping, plan: dict) -> None:
    # One sweep at a time (flows/deadlines.py holds a lock), so read, add and write back is safe.
    plans = [*_pending(ctx, rule, mapping), plan]
    ctx.ledger.mark(_pending_key(rule, mapping), notify.SENDING_SECONDS, json.dumps(plans, ensure_ascii=False))


def _drop(ctx: FlowContext, rule: Rule, mapping: AppMapping, plan: dict) -> None:
    plans = [p for p in _pending(ctx, rule, mapping)
             if (p["once_as"], p["same_as"]) != (plan["once_as"], plan["same_as"])]
    if plans:
        ctx.ledger.mark(_pending_key(rule, mapping), notify.SENDING_SECONDS, json.dumps(plans, ensure_ascii=False))
    else:
        ctx.ledger.release(_pending_key(rule, mapping))
