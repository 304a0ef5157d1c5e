"""From a kintone notification body to an inbox entry: validate, route, de-duplicate and record.

Shared by the HTTP receiver and ``kgbridge events replay``, so a saved body goes through
exactly the same checks. Never calls kintone: the flow re-reads the record itself. The flow
jobs are enqueued on the worker side, by the dispatcher (``kgbridge.dispatch``).
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Literal, TypeVar

import orjson
import redis
from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from kgbridge.inbox import InboxEvent, flows_of, record, requests_for
from kgbridge.settings import Settings
from mappings import Mappings

EventType = Literal["ADD_RECORD", "UPDATE_RECORD", "UPDATE_STATUS", "DELETE_RECORD", "ADD_RECORD_COMMENT"]
_ID = r"^[A-Za-z0-9_-]{1,64}$"
DEFAULT_STATUS_CODE = "ステータス"  # kintone's code for the STATUS field unless renamed (reference/kintone.md §1.2)
# A record id or revision: ASCII digits only (str.isdigit() also takes "²", "١٢" or "３", which
# kintone never sends and int() or the kintone API would refuse later, in a job that fails for good).
_NUMBER = re.compile(r"[0-9]{1,20}", re.ASCII)
# A JSON \u escape of a UTF-16 surrogate: json.loads turns a lone one into a str Redis cannot encode.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class Rejected(Exception):
    """The body cannot be accepted; ``status`` is the HTTP answer and ``reason`` says why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class AppRef(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(pattern=r"^[0-9]{1,10}$")
    name: str = Field(default="", max_length=256)


class CommentRef(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str = Field(pattern=r"^[0-9]{1,20}$")


def _record_object(value: Any) -> dict[str, Any] | None:
    """The record as parsed, when it is a JSON object (or absent); pydantic's own error otherwise.

    A JSON object's keys are strings already: validating it as ``dict[str, Any]`` only copied it,
    key by key (~20 k instructions a webhook; docs/benchmarks.md §1)."""
    if value is None or isinstance(value, dict):
        return value
    raise PydanticCustomError("dict_type", "Input should be a valid dictionary")


class KintoneNotification(BaseModel):
    """The documented webhook shapes (reference/kintone.md §1.2–1.4)."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=100)
    type: EventType
    app: AppRef
    record: Annotated[dict[str, Any] | None, PlainValidator(_record_object)] = None
    recordId: str | None = Field(default=None, pattern=r"^[0-9]{1,20}$")
    comment: CommentRef | None = None

    @model_validator(mode="after")
    def _shape_fits_type(self) -> "KintoneNotification":
        if self.type in ("ADD_RECORD", "UPDATE_RECORD", "UPDATE_STATUS"):
            if self.record is None:
                raise ValueError(f"{self.type} needs a 'record'")
            for key in ("$id", "$revision"):
                cell = self.record.get(key)
                value = cell.get("value") if isinstance(cell, dict) else None
                if not isinstance(value, str) or not _NUMBER.fullmatch(value):
                    raise ValueError(f"record.{key}.value must be a number in a string")
        else:
            if self.recordId is None:
                raise ValueError(f"{self.type} needs a 'recordId'")
            if self.type == "ADD_RECORD_COMMENT" and self.comment is None:
                raise ValueError("ADD_RECORD_COMMENT needs a 'comment'")
        return self

    @property
    def record_id(self) -> str:
        if self.record is not None:
            return self.record["$id"]["value"]
        return self.recordId or ""

    @property
    def marker(self) -> str:
        """What makes this change distinct: the revision, else the comment or event id."""
        if self.record is not None:
            return "r" + self.record["$revision"]["value"]
        if self.comment is not None:
            return "c" + self.comment.id
        return "e" + self.id  # the job id escapes what RQ does not allow (kgbridge.jobs.job_id)

    def status_name(self) -> str | None:
        record = self.record or {}
        cell = record.get(DEFAULT_STATUS_CODE)  # one look before scanning every field (the receiver's hot path)
        if not (isinstance(cell, dict) and cell.get("type") == "STATUS"):
            cell = next((c for c in record.values() if isinstance(c, dict) and c.get("type") == "STATUS"), None)
        value = cell.get("value") if cell is not None else None
        return value if isinstance(value, str) else None


class Accepted:
    """What became of an event: recorded (``jobs`` names the flow jobs the dispatcher will enqueue;
    one that already exists is not enqueued twice), a duplicate, or ignored (no flow wants it).

    The receiver's answer needs only how many (``count``). Given the ``event`` and its ``flows``
    (``kgbridge.inbox.flows_of``), the job ids are computed when asked for (a replay lists them),
    by the dispatcher's own ``requests_for``, so they are the ids it enqueues.
    """

    __slots__ = ("_event", "_flows", "_jobs", "duplicate", "event_id", "ignored_reason")

    def __init__(self, event_id: str, duplicate: bool = False, jobs: list[str] | None = None,
                 ignored_reason: str | None = None, *, event: InboxEvent | None = None,
                 flows: tuple[str, ...] = ()) -> None:
        self.event_id, self.duplicate, self.ignored_reason = event_id, duplicate, ignored_reason
        self._jobs = list(jobs) if jobs is not None else None
        self._event, self._flows = event, flows

    @property
    def count(self) -> int:
        return len(self._jobs) if self._jobs is not None else len(self._flows)

    @property
    def jobs(self) -> list[str]:
        if self._jobs is None:
            self._jobs = [r.job_id for r in requests_for(self._event, self._flows)] if self._event else []
        return self._jobs

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": True, "duplicate": self.duplicate, "jobs": self.count}
        if self.ignored_reason:
            body["ignored"] = self.ignored_reason
        return body

    def __repr__(self) -> str:
        return (f"Accepted(event_id={self.event_id!r}, duplicate={self.duplicate!r}, jobs={self.jobs!r}, "
                f"ignored_reason={self.ignored_reason!r})")


M = TypeVar("M", bound=BaseModel)


def _refuse_constant(name: str):
    raise Rejected(400, f"body is not valid JSON: {name} is not a number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e99999 overflows to inf
        raise Rejected(400, "body is not valid JSON: a number is out of range")
    return value


# Built once: json.loads with these hooks would build a decoder (and its scanner) per request.
_STRICT_JSON = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)


def parse_json_strictly(body: bytes) -> dict:
    """The body as a JSON object; Rejected(400) with the reason for anything else, whatever the bytes.

    Strict JSON: no NaN/Infinity, no number that overflows a float, no integer past Python's
    4,300-digit limit (a plain ValueError, not a JSONDecodeError), no lone UTF-16 surrogate (a str
    that cannot be written to Redis), no nesting past the recursion limit.
    """
    try:
        text = body.decode("utf-8")
        data = _STRICT_JSON.decode(text)
    except UnicodeDecodeError:
        raise Rejected(400, "body is not UTF-8") from None
    except RecursionError:
        raise Rejected(400, "body is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise Rejected(400, f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError:  # int(): "Exceeds the limit (4300 digits) for integer string conversion"
        raise Rejected(400, "body is not valid JSON: a number is out of range") from None
    if not isinstance(data, dict):
        raise Rejected(400, "body must be a JSON object")
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise Rejected(400, "body is not valid JSON: a \\u escape names a lone surrogate, not a character") from None
        except RecursionError:
            raise Rejected(400, "body is nested too deeply") from None
    return data


# orjson's fast path (``parse_json_object``) is taken only where it gives exactly what the strict
# parser gives. orjson refuses by itself everything else the strict parser refuses (NaN, Infinity,
# a number past a float's range, a lone surrogate, invalid UTF-8, a BOM, nesting past 1,024 levels),
# but it reads an integer past 64 bits as a float, where the strict parser keeps it exact, and it
# takes nesting the strict parser refuses (between ~900 levels, the interpreter's recursion limit
# less the caller's stack, and 1,024). Both keep a repeated key's last value at its first place.
_DIGITS_AND_BRACKETS = bytes.maketrans(b"0123456789[", b"0000000000{")
_NINETEEN_DIGITS = b"0" * 19  # the shortest integer that can pass 64 bits (2**63 has 19 digits)
_FEW_BRACKETS = 500  # no deeper than this, well within both parsers' nesting limits


def parse_json_object(body: bytes) -> dict:
    """The body as a JSON object; Rejected(400) with the reason for anything else, whatever the bytes.

    The answer of ``parse_json_strictly`` (its rules and its reasons), found faster: orjson parses
    first, and the strict parser runs only when orjson refuses the body (the strict parser then
    says why, or accepts what orjson cannot hold), when the body is not an object, or when it has a
    run of 19 digits (a number orjson might read as a float) or more than ``_FEW_BRACKETS`` brackets.
    tests/test_json_fast_path.py holds the two to the same answer for any bytes.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return parse_json_strictly(body)
    if isinstance(data, dict):
        scan = body.translate(_DIGITS_AND_BRACKETS)  # one pass; the checks below are C-speed searches
        if _NINETEEN_DIGITS not in scan and scan.count(b"{") <= _FEW_BRACKETS:
            return data
    return parse_json_strictly(body)


def parse_body(body: bytes, model: type[M], what: str) -> M:
    """Parse a JSON object body into ``model``; raise Rejected with a readable reason."""
    data = parse_json_object(body)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise Rejected(422, f"not {what}: {where}: {first['msg']}") from None
    except RecursionError:
        raise Rejected(400, "body is nested too deeply") from None


def parse_kintone(body: bytes) -> KintoneNotification:
    """Parse and validate a notification body; raise Rejected with a readable reason."""
    return parse_body(body, KintoneNotification, "a kintone notification")


def accept_kintone(note: KintoneNotification, *, mappings: Mappings, connection: redis.Redis, settings: Settings,
                   source: str = "webhook", queue=None) -> Accepted:
    """Record a valid notification in the inbox once; the dispatcher enqueues its flow jobs.

    Raises Rejected(422) for an app we do not map. One Redis call: the notification id is marked
    seen and the event appended together, or not at all (a duplicate). An event no flow wants is
    only marked seen. Redis errors propagate (the receiver answers 503, so nothing is acknowledged
    that was not recorded). ``queue`` is unused (jobs are enqueued by the dispatcher); it is
    accepted so callers written for the older signature keep working.
    """
    mapping = mappings.by_app_id(note.app.id)
    if mapping is None:
        raise Rejected(422, f"app {note.app.id} is not mapped to any flow")
    event = InboxEvent(origin="kintone", event_id=note.id, app_key=mapping.key, record_id=note.record_id,
                       marker=note.marker, event_type=note.type, status_key=mapping.status_key(note.status_name()),
                       source=source)
    flows = flows_of(mappings, event)
    if not record(connection, settings, note.id, event if flows else None, origin="kintone"):
        return Accepted(note.id, duplicate=True)
    if not flows:
        return Accepted(note.id, ignored_reason=f"no flow for {note.type} in {mapping.key}")
    return Accepted(note.id, event=event, flows=flows)
