"""Replay saved webhook bodies through the receiver's own validation, de-duplication and routing.

kintone sends each notification at most once and shows only its last 10 deliveries, so an
operator may hold a body that never reached us (copied from a log, a proxy or a test). Each
file goes through exactly the function the HTTP receiver calls; a body already accepted
answers "duplicate" and changes nothing.

Kinds of body are an extension point: ``EVENT_KINDS`` maps a name to how to recognise a body
of that kind and the receiver's own pair of functions for it, ``parse(body) -> event`` and
``accept(event, *, settings, mappings, connection, queue, source) -> Accepted`` (both raise
``webhooks.intake.Rejected`` for a bad body). Registered: ``kintone`` (a record notification)
and ``gmosign`` (a GMO Sign envelope callback); another source registers itself the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kgbridge.ops.output import clip, table
from webhooks.gmosign_intake import accept_gmosign, parse_gmosign
from webhooks.intake import Accepted, Rejected, accept_kintone, parse_kintone


@dataclass(frozen=True)
class EventKind:
    name: str
    detect: Callable[[Any], bool]  # given the parsed JSON body: is it of this kind?
    parse: Callable[[bytes], Any]  # the receiver's parser; raises Rejected
    accept: Callable[..., Accepted]  # the receiver's (event, *, settings, mappings, connection, queue, source)


EVENT_KINDS: dict[str, EventKind] = {}


def register(kind: EventKind) -> None:
    EVENT_KINDS[kind.name] = kind


_KINTONE_TYPES = {"ADD_RECORD", "UPDATE_RECORD", "UPDATE_STATUS", "DELETE_RECORD", "ADD_RECORD_COMMENT"}


def looks_like_kintone(data: Any) -> bool:
    return (isinstance(data, dict) and data.get("type") in _KINTONE_TYPES
            and isinstance(data.get("app"), dict) and "id" in data["app"])


def looks_like_gmosign(data: Any) -> bool:
    """GMO Sign's callback (reference/gmosign.md §1.6): an object naming its envelope."""
    return isinstance(data, dict) and "envelope_xid" in data and "type" not in data


register(EventKind("kintone", looks_like_kintone, parse_kintone, accept_kintone))
register(EventKind("gmosign", looks_like_gmosign, parse_gmosign, accept_gmosign))


@dataclass
class FileResult:
    file: str
    kind: str = ""
    outcome: str = ""  # enqueued | duplicate | ignored | rejected
    event_id: str = ""
    jobs: list[str] = field(default_factory=list)
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome != "rejected"

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "kind": self.kind, "outcome": self.outcome, "event_id": self.event_id,
                "jobs": self.jobs, "reason": self.reason}


def detect_kind(body: bytes) -> EventKind:
    """The registered kind this body belongs to; Rejected when none (or it is not JSON)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise Rejected(400, "body is not UTF-8") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise Rejected(400, f"body is not valid JSON ({type(exc).__name__})") from None
    for kind in EVENT_KINDS.values():
        if kind.detect(data):
            return kind
    known = ", ".join(sorted(EVENT_KINDS)) or "none"
    raise Rejected(422, f"unknown kind of body (known kinds: {known}); name it with --kind")


def replay_file(path: Path | str, intake: dict[str, Any], *, kind: str | None = None,
                max_bytes: int | None = None) -> FileResult:
    """Accept one saved body as if it had just arrived; never raises for a bad file."""
    result = FileResult(file=str(path))
    try:
        body = Path(path).read_bytes()
    except OSError as exc:
        result.outcome, result.reason = "rejected", f"cannot read the file ({exc.strerror or type(exc).__name__})"
        return result
    if max_bytes is not None and len(body) > max_bytes:
        result.outcome, result.reason = "rejected", f"larger than {max_bytes} bytes (KGBRIDGE_MAX_BODY_BYTES)"
        return result
    try:
        chosen = EVENT_KINDS[kind] if kind else detect_kind(body)
        result.kind = chosen.name
        accepted = chosen.accept(chosen.parse(body), **intake, source="replay")
    except Rejected as exc:
        result.outcome, result.reason = "rejected", exc.reason
        return result
    result.event_id = accepted.event_id
    result.jobs = list(accepted.jobs)
    if accepted.ignored_reason:
        result.outcome, result.reason = "ignored", accepted.ignored_reason
    elif accepted.duplicate:
        result.outcome, result.reason = "duplicate", "already received; nothing enqueued"
    else:
        result.outcome = "enqueued"
    return result


def render(results: list[FileResult]) -> str:
    body = table(["FILE", "KIND", "OUTCOME", "JOBS", "REASON"],
                 [[r.file, r.kind, r.outcome, ", ".join(r.jobs), clip(r.reason, 80)] for r in results])
    bad = sum(not r.ok for r in results)
    return f"{body}\n\n{len(results) - bad} of {len(results)} file(s) accepted."
