"""Structured logging: one JSON line per event, secrets and personal data redacted.

We never log record values on purpose; the redaction processor is the second line of
defence for keys that could carry them. Tracebacks are rendered as plain text without
local variables (structlog's dict tracebacks would print locals, tokens included).
"""

from __future__ import annotations

import logging
import re
import sys

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
_TOKEN_IN_PATH = re.compile(r"(/webhooks/[a-z]+/)[^/\s?]+")


def redact(_logger, _method, event_dict: dict) -> dict:
    for key in list(event_dict):
        if key in _ALLOWED:
            continue
        if _SECRET_KEYS.search(key):
            event_dict[key] = REDACTED
    for key in ("event", "reason", "error", "exception"):
        if key in event_dict:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def configure(level: str = "INFO", fmt: str = "json", stream=None) -> None:
    """Set up structlog and stdlib logging; ``stream`` defaults to stderr (tests pass a file)."""
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
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    _route_stdlib(level, fmt, stream)
    # gunicorn/werkzeug access logs carry the URL, whose last segment is the webhook token.
    for name in ("werkzeug", "gunicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _PathTokenFilter) for f in logger.filters):
            logger.addFilter(_PathTokenFilter())
    # urllib3 logs every URL at DEBUG, query strings (record values in kintone queries) included.
    logging.getLogger("urllib3").setLevel(max(logging.INFO, logging.getLevelName(level.upper())))


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
            renderer,
        ],
    )


def _route_stdlib(level: str, fmt: str, stream) -> None:
    """Send stdlib logging to ``stream`` in our format, like ``basicConfig``: a root handler that
    somebody else installed (a test harness, an embedding application) is left alone."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, _StdlibHandler)]
    if root.handlers and not ours:
        root.setLevel(level.upper())
        return
    for handler in ours:
        root.removeHandler(handler)
    handler = _StdlibHandler(stream)
    handler.setFormatter(stdlib_formatter(fmt))
    root.addHandler(handler)
    root.setLevel(level.upper())


class _PathTokenFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Scrub the merged message: scrubbing the format alone could eat a "%s" and leave its argument.
        record.msg = _scrub(record.getMessage())
        record.args = None
        return True


def _scrub(value):
    # The substring test first: every access log line passes here, and most values hold no path.
    if isinstance(value, str) and "/webhooks/" in value:
        return _TOKEN_IN_PATH.sub(r"\1" + REDACTED, value)
    return value


def get_logger(name: str = "kgbridge"):
    return structlog.get_logger(name)
