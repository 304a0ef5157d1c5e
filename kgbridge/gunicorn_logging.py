"""gunicorn's own log lines (start, worker boots, access lines) in kgbridge's format.

``kgbridge serve`` passes ``--logger-class kgbridge.gunicorn_logging.Logger``: gunicorn still
opens its error and access logs where its options say, and each line is rendered by the same
chain as our own (JSON with ``KGBRIDGE_LOG_FORMAT=json``, redacted: every configured secret and
the access line's webhook token are scrubbed by kgbridge.logs).
"""

from __future__ import annotations

from gunicorn import glogging

from kgbridge import logs
from kgbridge.settings import SettingsError, load_settings


def _log_format() -> str:
    try:
        return load_settings().log_format
    except SettingsError:
        # The app's own start names the bad setting and stops; until then, lines stay JSON.
        return "json"


class Logger(glogging.Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        formatter = logs.stdlib_formatter(_log_format())
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)
