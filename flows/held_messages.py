"""Quiet hours: a comment that mentions people waits for working time (seed 000, seed 002).

Nobody is pinged at night, on a weekend, a public holiday or a company day off, whatever
caused the message (a contract signed on Saturday, the 署名期限 check at 02:00, a webhook at
23:00). ``flows.notify.post`` is the one place comments are posted: outside working time it
hands a comment with mentions to ``hold``; the record itself (status, fields) is updated at
once by the flow, only the message waits. A comment without mentions goes out at once.

A held message lives in Redis until it is delivered (no expiry: nothing accepted is lost):

    kgbridge:held:msg:<key>      JSON: app, record_id, text, mentions, held_at
    kgbridge:held:sending:<key>  set just before the post
    kgbridge:held:queue          sorted set of keys, scored by the order they were held in

``key`` is the caller's name for the message (the ``tell`` ledger key, or a digest of the
record and text), so a re-run of the same flow (duplicate webhook, retry, reconcile) holds it
once. The periodic task ``held_messages`` (kgbridge/periodic.py) calls ``deliver_due`` every
KGBRIDGE_HELD_MESSAGE_SECONDS; in working time it posts every held message, oldest first. The
message is marked ``sending`` before the post and deleted after it; a run that finds ``sending``
(the previous one died in between) looks at the record's newest comments and posts only if the
message is not there. A record deleted meanwhile drops its messages (logged).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from redis.exceptions import LockError

from connectors.kintone import KintoneNotFound
from connectors.kintone.interface import Mention

PREFIX = "kgbridge:held"
QUEUE = f"{PREFIX}:queue"
SEQUENCE = f"{PREFIX}:sequence"
LOCK_KEY = "lock:held-messages"
LOCK_SECONDS = 10 * 60  # = the periodic job's timeout
FLOW = "held_messages"


def _msg_key(key: str) -> str:
    return f"{PREFIX}:msg:{key}"


def _sending_key(key: str) -> str:
    return f"{PREFIX}:sending:{key}"


def hold(ctx, key: str, app: str, record_id: str, text: str, mentions: Sequence[Mention]) -> bool:
    """Keep the comment for the next working time; False when ``key`` is held already."""
    r = ctx.ledger.redis
    message = json.dumps({"app": app, "record_id": record_id, "text": text, "held_at": ctx.now().isoformat(),
                          "mentions": [m.as_json() for m in mentions]}, ensure_ascii=False)
    created = bool(r.set(_msg_key(key), message, nx=True))
    r.zadd(QUEUE, {key: r.incr(SEQUENCE)}, nx=True)  # also when a crash left it out of the queue
    if not created:
        return False
    ctx.log.info("message held for working time", flow=FLOW, app=app, record_id=record_id,
                 due=ctx.calendar.next_business_morning(ctx.now()).isoformat(), outcome="held")
    return True


def held(ctx) -> list[dict]:
    """The held messages, oldest first (for tests and ``kgbridge`` inspection)."""
    r = ctx.ledger.redis
    out = []
    for raw in r.zrange(QUEUE, 0, -1):
        key = raw.decode()
        msg = _read(r, key)
        if msg:
            out.append({"key": key, **msg})
    return out


def _read(r, key: str) -> dict | None:
    raw = r.get(_msg_key(key))
    return json.loads(raw) if raw else None


def deliver_due(ctx) -> str:
    """In working time, post every held message, oldest first; one delivery at a time."""
    log = ctx.log.bind(flow=FLOW)
    if not ctx.calendar.is_working_time(ctx.now()):
        return "outside_working_time"
    r = ctx.ledger.redis
    if not r.zcard(QUEUE):
        return "nothing_held"
    lock = ctx.ledger.lock(LOCK_KEY, LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        return "already_running"
    delivered = 0
    try:
        for raw in r.zrange(QUEUE, 0, -1):
            key = raw.decode()
            msg = _read(r, key)
            if msg is None:
                r.zrem(QUEUE, key)
                continue
            try:
                _deliver(ctx, key, msg)
            except KintoneNotFound as exc:
                log.error("held message dropped: its record is gone", app=msg["app"], record_id=msg["record_id"],
                          error=f"{type(exc).__name__}: {exc}", outcome="dropped")
            else:
                delivered += 1
            r.delete(_msg_key(key), _sending_key(key))
            r.zrem(QUEUE, key)
    finally:
        try:
            lock.release()
        except LockError:
            pass
    log.info("held messages delivered", count=delivered, outcome="delivered")
    return f"delivered {delivered}"


def _deliver(ctx, key: str, msg: dict) -> None:
    from flows.notify import already_posted

    r = ctx.ledger.redis
    app, record_id, text = msg["app"], msg["record_id"], msg["text"]
    if r.exists(_sending_key(key)) and already_posted(ctx, app, record_id, text):
        return
    r.set(_sending_key(key), "1")
    mentions = [Mention(code=m["code"], type=m.get("type", "USER")) for m in msg["mentions"]]
    ctx.kintone.add_comment(app, record_id, text, mentions)
