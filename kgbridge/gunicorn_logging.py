"""gunicorn's own log lines (start, worker boots, access lines) in kgbridge's format.

``kgbridge serve`` passes ``--logger-class kgbridge.gunicorn_logging.Logger``: gunicorn still
opens its error and access logs where its options say, and each line is rendered by the same
chain as our own (JSON with ``KGBRIDGE_LOG_FORMAT=json``, redacted: every configured secret and
the access line's webhook token are scrubbed by kgbridge.logs).

The access line is written once per request, so with JSON and gunicorn's default access format
(what ``kgbridge serve`` runs) it takes a shorter way to the same line: only the atoms that format
names are computed (gunicorn computes and escapes ~60, the whole WSGI environ included), and
``AccessJsonFormatter`` renders the record with the fields structlog's ``ProcessorFormatter`` gives
it (event, level, logger, timestamp) without running its processor chain. The result is the same
line, redacted the same way (tests/test_gunicorn_logging.py).
"""

from __future__ import annotations

import datetime
import json
import logging

from gunicorn import glogging
from gunicorn.config import AccessLogFormat

from kgbridge import logs
from kgbridge.settings import SettingsError, load_settings

_UTC = datetime.UTC


def _log_format() -> str:
    try:
        return load_settings().log_format
    except SettingsError:
        # The app's own start names the bad setting and stops; until then, lines stay JSON.
        return "json"


class AccessJsonFormatter(logging.Formatter):
    """A plain access record (no exception, no stack) as the JSON line ``logs.stdlib_formatter("json")``
    makes of it; anything else goes through that formatter."""

    def __init__(self) -> None:
        super().__init__()
        self.full = logs.stdlib_formatter("json")

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            return self.full.format(record)
        line = {"event": record.getMessage(), "level": record.levelname.lower(), "logger": record.name,
                "timestamp": datetime.datetime.now(tz=_UTC).isoformat().replace("+00:00", "Z")}
        return logs.scrub(json.dumps(line, ensure_ascii=False))


def _quoted(value):
    """An atom as gunicorn's ``SafeAtoms`` gives it to the format: double quotes escaped."""
    return value.replace('"', '\\"') if isinstance(value, str) else value


class Logger(glogging.Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        fmt = _log_format()
        formatter = logs.stdlib_formatter(fmt)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)
        # The short way holds only for the format it writes by hand (gunicorn's default).
        self.default_access_line = fmt == "json" and cfg.access_log_format == AccessLogFormat.default
        if self.default_access_line:
            access_formatter = AccessJsonFormatter()
            for handler in self.access_log.handlers:
                handler.setFormatter(access_formatter)

    def access(self, resp, req, environ, request_time) -> None:
        if not getattr(self, "default_access_line", False):
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        try:
            self.access_log.info(self.access_line(resp, environ))
        except Exception:
            super().access(resp, req, environ, request_time)  # gunicorn's way, which logs its own failure

    def access_line(self, resp, environ) -> str:
        """gunicorn's default access line, ``'%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'``,
        from the atoms that format names, computed as ``glogging.Logger.atoms`` computes them."""
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        h, u, t = environ.get("REMOTE_ADDR", "-"), self._get_user(environ) or "-", self.now()
        r = f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}"
        b = (sent is not None and str(sent)) or "-"
        f, a = environ.get("HTTP_REFERER", "-"), environ.get("HTTP_USER_AGENT", "-")
        h, u, t, r, status, b, f, a = map(_quoted, (h, u, t, r, status, b, f, a))
        return f'{h} - {u} {t} "{r}" {status} {b} "{f}" "{a}"'
