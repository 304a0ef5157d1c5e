"""Events the dispatcher set aside because it could not route them (an app no longer mapped, an
entry this code cannot read): list them, and put them back in the inbox once the cause is fixed.

They wait in ``kgbridge:inbox:<queue>:unroutable``; nothing there is ever dropped by the service.
"""

from __future__ import annotations

import json

import redis

from kgbridge.inbox import inbox_key
from kgbridge.ops.output import table
from kgbridge.settings import Settings


def set_aside_key(settings: Settings) -> str:
    return f"{inbox_key(settings)}:unroutable"


def list_set_aside(connection: redis.Redis, settings: Settings) -> list[dict]:
    """Each set-aside entry's routing facts (they hold ids only, never record values)."""
    rows = []
    for raw in connection.lrange(set_aside_key(settings), 0, -1):
        try:
            entry = json.loads(raw)
        except ValueError:
            entry = {"unreadable": raw[:80].decode("utf-8", "replace")}
        rows.append({key: entry.get(key, "") for key in ("origin", "event_id", "app", "record_id", "type", "flow")}
                    | ({"unreadable": entry["unreadable"]} if "unreadable" in entry else {}))
    return rows


def requeue_set_aside(connection: redis.Redis, settings: Settings) -> int:
    """Move every set-aside entry back to the inbox, oldest first; the number moved."""
    moved = 0
    while connection.lmove(set_aside_key(settings), inbox_key(settings), "LEFT", "RIGHT") is not None:
        moved += 1
    return moved


def render(rows: list[dict]) -> str:
    if not rows:
        return "No event set aside."
    body = table(["ORIGIN", "EVENT", "APP", "RECORD", "TYPE", "FLOW"],
                 [[r.get("origin"), r.get("event_id"), r.get("app"), r.get("record_id"), r.get("type"),
                   r.get("flow") or ""] for r in rows])
    return (f"{body}\n\n{len(rows)} event(s) set aside. Fix the mapping (kgbridge mapping check), then "
            "put them back with: kgbridge events set-aside --requeue")
