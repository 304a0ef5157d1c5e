"""The inbox: events the receiver accepted, waiting for the dispatcher to turn them into flow jobs.

The receiver checks a webhook, then ``record``s it with one Redis call: a Lua script that sets the
event's "seen" mark (``SET NX`` with the de-duplication TTL) and, only when the mark is new, appends
the event to the inbox list. Each sender has its own namespace of marks
(``kgbridge:dedupe:<origin>:<event id>``): a kintone notification whose free-text id looks like a
GMO Sign callback's key cannot make the genuine callback a duplicate. Both happen or neither, so a duplicate is never appended and an event is
never marked seen without being recorded. The dispatcher (``kgbridge.dispatch``, on the worker side)
takes entries from the inbox and enqueues their flow jobs.

An entry carries the routing facts only: the source, the event id, the app key, the record id, the
marker (revision), the event type, the status key and, for GMO Sign, the envelope and document ids.
Never record values: the flow re-reads the record, so no personal data sits in Redis with the event.

``route`` turns an entry into flow requests from the app mappings; the dispatcher calls it to enqueue
them, with the mappings of the worker. The receiver asks only which flows an event starts
(``flows_of``: to answer how many, and to acknowledge an event no flow wants without recording it);
the job ids, when someone asks for them (a replay), come from the same ``requests_for``.
"""

from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

import orjson
import redis

from kgbridge.jobs import FlowRequest
from kgbridge.settings import Settings
from mappings import Mappings

SEEN_PREFIX = "kgbridge:dedupe"  # + :<origin>:<event id>
# Before the per-sender namespaces, every sender's marks shared ``kgbridge:seen:<event id>``. The
# script still treats such a mark as seen, so an event recorded before the upgrade stays a duplicate
# until its mark expires (KGBRIDGE_DEDUPE_TTL_SECONDS, 7 days); nothing writes these any more, and
# this lookup can go one TTL after every receiver runs this code.
LEGACY_SEEN_PREFIX = "kgbridge:seen"
INBOX_PREFIX = "kgbridge:inbox"
FORMAT = 1  # the entry's shape; a dispatcher sets aside entries of a format it does not know

# KEYS[1] the seen mark, KEYS[2] the inbox, KEYS[3] the legacy mark; ARGV[1] the TTL, ARGV[2] the
# entry ("" marks seen only).
_RECORD = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  if ARGV[2] ~= '' then redis.call('RPUSH', KEYS[2], ARGV[2]) end
  return 1
end
return 0
"""
_RECORD_SHA = hashlib.sha1(_RECORD.encode()).hexdigest()  # noqa: S324 (Redis names scripts by SHA-1)


def inbox_key(settings: Settings) -> str:
    return f"{INBOX_PREFIX}:{settings.queue_name}"


def seen_key(origin: str, event_id: str) -> str:
    """The de-duplication mark of one sender's event (``origin``: kintone | gmosign)."""
    return f"{SEEN_PREFIX}:{origin}:{event_id}"


class InboxEvent(NamedTuple):
    """One accepted event, as the dispatcher needs it to start its flows.

    A NamedTuple, immutable as the frozen dataclass it was, built in a third of the instructions
    (the receiver builds one per webhook: ~7 k instructions against ~20 k; docs/benchmarks.md §1).
    """

    origin: str  # kintone | gmosign
    event_id: str  # what de-duplicates: the kintone notification id, or gmosign:<envelope>:<event>
    app_key: str
    record_id: str = ""
    marker: str = ""  # what makes the change distinct (the record revision); part of the job id
    event_type: str = ""
    status_key: str | None = None
    flow: str | None = None  # one named flow (GMO Sign callbacks); None: the app's mapping triggers
    params: tuple[tuple[str, str], ...] = ()  # passed to the flow (ids only)
    source: str = "webhook"  # webhook | replay

    def dumps(self) -> str:
        return self.encoded().decode()

    def encoded(self) -> bytes:
        """The entry as written to the inbox: ``dumps``'s text in UTF-8 (what Redis stores), without
        going through a str (redis-py would encode it back)."""
        entry = {"v": FORMAT, "origin": self.origin, "event_id": self.event_id, "app": self.app_key,
                 "record_id": self.record_id, "marker": self.marker, "type": self.event_type,
                 "status": self.status_key, "flow": self.flow, "params": dict(self.params), "source": self.source}
        # The text json.dumps(entry, ensure_ascii=False, separators=(",", ":")) gives, ~10× faster
        # (tests/test_json_fast_path.py); the receiver writes one per webhook.
        return orjson.dumps(entry)

    @classmethod
    def loads(cls, raw: bytes | str) -> InboxEvent:
        """Read an entry back; ValueError when it is not one this code can dispatch."""
        try:
            entry = json.loads(raw)
            if entry.get("v") != FORMAT:
                raise ValueError(f"entry format {entry.get('v')!r} is not {FORMAT}")
            return cls(origin=entry["origin"], event_id=entry["event_id"], app_key=entry["app"],
                       record_id=entry["record_id"], marker=entry["marker"], event_type=entry["type"],
                       status_key=entry["status"], flow=entry["flow"],
                       params=tuple((str(k), str(v)) for k, v in entry["params"].items()), source=entry["source"])
        except (KeyError, TypeError, AttributeError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not an inbox entry ({type(exc).__name__})") from None


def flows_of(mappings: Mappings, event: InboxEvent) -> tuple[str, ...]:
    """The flows an event starts: its named flow, else the triggers of its app's mapping whose events
    and statuses match. Raises MappingError when the app is not (or no longer) mapped."""
    if event.flow:
        return (event.flow,)
    return mappings.flows_started(event.app_key, event.event_type, event.status_key)


def requests_for(event: InboxEvent, flows: tuple[str, ...]) -> list[FlowRequest]:
    """The flow jobs of an event, one per flow it starts (``flows_of``); their ids are the jobs' ids."""
    return [FlowRequest(flow=flow, app_key=event.app_key, record_id=event.record_id, marker=event.marker,
                        source=event.source, event_id=event.event_id, params=event.params) for flow in flows]


def route(mappings: Mappings, event: InboxEvent) -> list[FlowRequest]:
    """The flow jobs an event starts (what the dispatcher enqueues). Raises MappingError when the app
    is not (or no longer) mapped."""
    return requests_for(event, flows_of(mappings, event))


def record(connection: redis.Redis, settings: Settings, event_id: str, event: InboxEvent | None, *,
           origin: str) -> bool:
    """Mark ``origin``'s ``event_id`` seen and append ``event`` to the inbox, atomically, in one round trip.

    False (and nothing written) when the id was seen within the de-duplication TTL. ``event`` None
    only marks the id seen (an event no flow wants). Redis errors propagate: the receiver answers 503.
    """
    args = (3, seen_key(origin, event_id), inbox_key(settings), f"{LEGACY_SEEN_PREFIX}:{event_id}",
            settings.dedupe_ttl_seconds, event.encoded() if event else b"")
    try:
        return bool(connection.evalsha(_RECORD_SHA, *args))
    except redis.exceptions.NoScriptError:  # a restarted Redis forgot it; EVAL also caches it again
        return bool(connection.eval(_RECORD, *args))
