"""Which GMO Sign envelopes are ours: the index that lets a callback for any other be refused cheaply.

A GMO Sign callback names an envelope (``envelope_xid``). Only envelopes some contract holds are
work; a callback for any other must cost at most one lookup and never hold up kintone's work
(issue 15). So the receiver decides with one Redis call (``accept_callback``), never kintone:

    known envelope      (``kgbridge:gmosign:envelope:<xid>`` set when the contract was sent, or by a
                         lookup)          -> recorded in the inbox like any event (seen mark, raw body)
    remembered unknown  (``kgbridge:gmosign:unknown:<xid>``, KGBRIDGE_GMOSIGN_UNKNOWN_TTL_SECONDS)
                                          -> answered 200 "ignored", nothing recorded
    not seen before     -> its id joins the pending set (``kgbridge:gmosign:pending``, at most
                           PENDING_LIMIT ids) with its first body; answered 200 "pending"

The periodic ``envelope_lookups`` task (``look_up_pending``) then asks kintone about up to
BATCH pending ids in one query, for at most BATCHES queries per run: a found envelope is indexed
and its held callback recorded in the inbox; one not found is remembered as unknown. No RQ job
is ever made for an unknown envelope, so nothing is retried and the flow queue never holds one.

The raw body of every recorded callback is kept (``kgbridge:gmosign:body:<event id>``) for the
de-duplication TTL, so ``kgbridge events replay`` can be given it again.
"""

from __future__ import annotations

import hashlib

import redis

PREFIX = "kgbridge:gmosign"
PENDING = f"{PREFIX}:pending"
PENDING_BODIES = f"{PREFIX}:pending-bodies"
PENDING_LIMIT = 50_000  # ids waiting for a lookup; past it a new unknown id is ignored (and logged)
BATCH = 100  # envelope ids per kintone query
BATCHES = 10  # kintone queries per run of the lookup task
KNOWN_TTL_SECONDS = 400 * 24 * 3600  # a contract's envelope stays ours this long after its send


def known_key(envelope_id: str) -> str:
    return f"{PREFIX}:envelope:{envelope_id}"


def unknown_key(envelope_id: str) -> str:
    return f"{PREFIX}:unknown:{envelope_id}"


def body_key(event_id: str) -> str:
    return f"{PREFIX}:body:{event_id}"


def remember(connection: redis.Redis, envelope_id: str, app_key: str, record_id: str) -> None:
    """This envelope is the contract's (called when it is sent, or found by a lookup)."""
    with connection.pipeline() as pipe:
        pipe.set(known_key(envelope_id), f"{app_key}:{record_id}", ex=KNOWN_TTL_SECONDS)
        pipe.delete(unknown_key(envelope_id))
        pipe.execute()


def owner(connection: redis.Redis, envelope_id: str) -> str | None:
    value = connection.get(known_key(envelope_id))
    return value.decode() if isinstance(value, bytes) else value


# KEYS: 1 known, 2 unknown, 3 seen, 4 inbox, 5 pending set, 6 pending bodies, 7 raw body
# ARGV: 1 envelope id, 2 dedupe TTL, 3 inbox entry, 4 raw body, 5 pending limit
# -> 1 recorded, 0 duplicate, 2 remembered unknown, 3 pending (or already pending), 4 pending set full
_ACCEPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[2]) then
    redis.call('RPUSH', KEYS[4], ARGV[3])
    redis.call('SET', KEYS[7], ARGV[4], 'EX', ARGV[2])
    return 1
  end
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 1 then return 2 end
if redis.call('SISMEMBER', KEYS[5], ARGV[1]) == 1 then return 3 end
if redis.call('SCARD', KEYS[5]) >= tonumber(ARGV[5]) then return 4 end
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('HSETNX', KEYS[6], ARGV[1], ARGV[4])
return 3
"""
_ACCEPT_SHA = hashlib.sha1(_ACCEPT.encode()).hexdigest()  # noqa: S324 (Redis names scripts by SHA-1)

RECORDED, DUPLICATE, UNKNOWN, PENDING_LOOKUP, PENDING_FULL = 1, 0, 2, 3, 4


def accept_callback(connection: redis.Redis, *, envelope_id: str, seen: str, inbox: str, entry: str,
                    event_id: str, body: bytes, dedupe_ttl: int) -> int:
    """One Redis call deciding what a callback is (see the module docstring); the outcome code."""
    keys = (known_key(envelope_id), unknown_key(envelope_id), seen, inbox, PENDING, PENDING_BODIES,
            body_key(event_id))
    args = (envelope_id, dedupe_ttl, entry, body, PENDING_LIMIT)
    try:
        return int(connection.evalsha(_ACCEPT_SHA, len(keys), *keys, *args))
    except redis.exceptions.NoScriptError:
        return int(connection.eval(_ACCEPT, len(keys), *keys, *args))


def take_pending(connection: redis.Redis, count: int = BATCH) -> list[tuple[str, bytes | None]]:
    """Up to ``count`` pending envelope ids with the first body held for each (removed from the set;
    ``give_back`` returns them after a failed lookup)."""
    ids = [i.decode() if isinstance(i, bytes) else i for i in connection.spop(PENDING, count) or []]
    if not ids:
        return []
    bodies = connection.hmget(PENDING_BODIES, ids)
    return list(zip(ids, bodies, strict=True))


def give_back(connection: redis.Redis, pending: list[tuple[str, bytes | None]]) -> None:
    if pending:
        connection.sadd(PENDING, *[envelope_id for envelope_id, _ in pending])


def settle(connection: redis.Redis, envelope_ids: list[str], unknown_ttl: int) -> None:
    """Remember envelopes no contract holds, and drop their held bodies (one round trip)."""
    if not envelope_ids:
        return
    with connection.pipeline() as pipe:
        for envelope_id in envelope_ids:
            pipe.set(unknown_key(envelope_id), "1", ex=unknown_ttl)
        pipe.hdel(PENDING_BODIES, *envelope_ids)
        pipe.execute()


def drop_body(connection: redis.Redis, envelope_id: str) -> None:
    connection.hdel(PENDING_BODIES, envelope_id)


def pending_count(connection: redis.Redis) -> int:
    return int(connection.scard(PENDING))
