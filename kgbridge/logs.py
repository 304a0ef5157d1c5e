"""Structured logging: one JSON line per event, secrets and personal data redacted.

We never log record values on purpose; the redaction processor is the second line of
defence for keys that could carry them. Tracebacks are rendered as plain text without
local variables (structlog's dict tracebacks would print locals, tokens included).

Secrets are redacted at the root of both logging chains, whichever logger writes: every
configured secret (``redact_secrets``; ``load_settings`` registers them all) and the last
segment of any webhook path, percent-encoded, doubled slashes or odd case included, become
``[redacted]``

- in every stdlib ``LogRecord`` as it is made (the record factory, ``configure``): Flask's
  "Exception on /webhooks/kintone/<token>", gunicorn's access and error logs, werkzeug's,
  RQ's, urllib3's, the exception text of a traceback too;
- in every structlog line, once rendered.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from urllib.parse import unquote

import structlog

REDACTED = "[redacted]"
_SECRET_KEYS = re.compile(
    r"(token|secret|password|authorization|api[_-]?key|cookie|signature|email|mail|phone|tel|"
    r"name|address|body|payload|record|text|氏名|名前|電話|メール|住所|会社名)",
    re.IGNORECASE,
)
# Keys we log on purpose and that hold no personal data.
_ALLOWED = {"event", "level", "timestamp", "logger", "flow", "app", "record_id", "job_id",
            "outcome", "event_id", "event_type", "status", "code", "attempt", "missing_count",
            "revision", "queue", "action", "reason", "exc_info", "exception", "envelope_id",
            "error", "step", "count", "seconds", "calls", "source", "app_id", "file_name"}
# The token ends where a path, a quoted string or a JSON escape ends (scrub also runs on rendered lines).
_TOKEN_IN_PATH = re.compile(r"(/+webhooks/+[a-z0-9_-]+/+)[^/\s?#\"'\\]+", re.IGNORECASE)
_secrets: list[str] = []  # longest first, so a secret inside another is not half-replaced
_level = logging.NOTSET  # the level configure() set; until then structlog's default lets every level through
_MIN_SECRET = 4  # shorter values would redact ordinary words (and are no secret anyway)


def redact_secrets(values: Iterable[str]) -> None:
    """Add configured secrets to what every log line has redacted (and their JSON-escaped form)."""
    known = set(_secrets)
    for value in values:
        if value and len(value) >= _MIN_SECRET:
            known.update({value, json.dumps(value)[1:-1]})
    _secrets[:] = sorted(known, key=len, reverse=True)


def scrub(text: str) -> str:
    """``text`` without any configured secret or webhook path token, in any encoding that decodes to one."""
    if "%" in text:
        decoded = _unquote_fully(text)
        if decoded != text and (_TOKEN_IN_PATH.search(decoded) or any(s in decoded for s in _secrets)):
            text = decoded  # the readable form, then redacted below
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _TOKEN_IN_PATH.sub(_redacted_token, text)


def _redacted_token(match: re.Match) -> str:
    # A function, not the template r"\1[redacted]": re expands a template through Python code per call.
    return match[1] + REDACTED


def enabled_for(level: int) -> bool:
    """Whether a line at ``level`` gets through the level configure() set (a hot path can skip building
    a line nobody will see)."""
    return level >= _level


def _unquote_fully(text: str) -> str:
    for _ in range(3):  # %252F -> %2F -> /
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    return text


def redact(_logger, _method, event_dict: dict) -> dict:
    for key in list(event_dict):
        if key in _ALLOWED:
            continue
        if _SECRET_KEYS.search(key):
            event_dict[key] = REDACTED
    return event_dict


def _scrubbed(renderer):
    """The renderer, with every configured secret and webhook token redacted from the line it renders."""

    def render(logger, method, event_dict):
        return scrub(renderer(logger, method, event_dict))

    return render


def configure(level: str = "INFO", fmt: str = "json", stream=None) -> None:
    """Set up structlog and stdlib logging; ``stream`` defaults to stderr (tests pass a file)."""
    global _level
    number = logging.getLevelName(level.upper())
    stream = stream or sys.stderr
    renderer = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            _scrubbed(renderer),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    _level = number
    _route_stdlib(number, fmt, stream)
    # Every stdlib record, from any logger (gunicorn's access log carries the URL, whose last segment
    # is the webhook token; Flask logs it with every 500), is redacted as it is made.
    if not getattr(logging.getLogRecordFactory(), "kgbridge_scrubs", False):
        logging.setLogRecordFactory(_scrubbing_factory(logging.getLogRecordFactory()))
    # urllib3 logs every URL at DEBUG, query strings (record values in kintone queries) included.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, number))


class _StdlibHandler(logging.StreamHandler):
    """Our root handler: stdlib loggers (rq, werkzeug, urllib3 …) rendered like our own lines."""


def stdlib_formatter(fmt: str = "json") -> logging.Formatter:
    """A formatter that renders a stdlib log record as our structlog chain does (JSON, redacted)."""
    renderer = (structlog.processors.JSONRenderer(ensure_ascii=False) if fmt == "json"
                else structlog.dev.ConsoleRenderer(colors=False))
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            redact,
            _scrubbed(renderer),
        ],
    )


def _route_stdlib(level: int, fmt: str, stream) -> None:
    """Send stdlib logging to ``stream`` in our format, like ``basicConfig``: a root handler that
    somebody else installed (a test harness, an embedding application) is left alone."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _StdlibHandler)]
    if root.handlers and not ours:
        root.setLevel(level)
        return
    for handler in ours:
        root.removeHandler(handler)
    handler = _StdlibHandler(stream)
    handler.setFormatter(stdlib_formatter(fmt))
    root.addHandler(handler)
    root.setLevel(level)


def _scrubbing_factory(make):
    """A LogRecord factory whose records carry their message, exception and stack text redacted."""

    def factory(*args, **kwargs):
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it when the record is emitted
            return record
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return record

    factory.kgbridge_scrubs = True
    return factory


def get_logger(name: str = "kgbridge"):
    return structlog.get_logger(name)
