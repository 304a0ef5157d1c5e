"""gunicorn's access line through kgbridge's logger class: the short way gives gunicorn's line, in
the JSON that structlog's ProcessorFormatter gives it, redacted the same way.

``kgbridge.gunicorn_logging.Logger`` writes the access line of gunicorn's default format from the
atoms that format names, and renders it with ``AccessJsonFormatter``. Here gunicorn's own way
(``Logger.atoms``, ``SafeAtoms``, the format) and kgbridge's full formatter
(``logs.stdlib_formatter("json")``) are the references, over requests with quotes, backslashes,
Japanese text, percent-encoded and doubled webhook paths, basic-auth users and configured secrets.
"""

from __future__ import annotations

import base64
import datetime
import json
import logging
import re
from types import SimpleNamespace

import pytest
from gunicorn import glogging
from gunicorn.config import AccessLogFormat, Config
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from kgbridge import logs
from kgbridge.gunicorn_logging import AccessJsonFormatter, Logger
from tests.conftest import WEBHOOK_TOKEN

EXAMPLES = hsettings(max_examples=300, deadline=None, derandomize=True,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
NOW = "[01/Dec/2026:10:00:00 +0900]"
SECRET = "kintone-api-token-0123456789"

header_text = st.one_of(st.text(max_size=30), st.sampled_from(['a"b\\c', "Mozilla/5.0", "", '""', "株式会社テスト",
                                                               f"http://x/%2Fwebhooks/kintone/{WEBHOOK_TOKEN}",
                                                               f"ref {SECRET}"]))
paths = st.sampled_from([f"/webhooks/kintone/{WEBHOOK_TOKEN}", f"//webhooks//KINTONE/{WEBHOOK_TOKEN}/?x=1",
                         f"/webhooks%2Fkintone%2F{WEBHOOK_TOKEN}", "/healthz", "/metrics?x=%25", f"/{SECRET}",
                         '/a"b', "/検索?q=派遣"])


@st.composite
def requests(draw):
    environ = {"REQUEST_METHOD": draw(st.sampled_from(["POST", "GET", "PUT"])), "RAW_URI": draw(paths),
               "SERVER_PROTOCOL": draw(st.sampled_from(["HTTP/1.1", "HTTP/1.0"])), "PATH_INFO": "/x",
               "QUERY_STRING": "", "wsgi.version": (1, 0)}
    for key in ("REMOTE_ADDR", "HTTP_REFERER", "HTTP_USER_AGENT"):
        if draw(st.booleans()):
            environ[key] = draw(header_text) if key != "REMOTE_ADDR" else draw(st.sampled_from(["127.0.0.1", "::1"]))
    if draw(st.integers(0, 3)) == 0:
        user = draw(st.sampled_from(["kintone", 'a"b', "担当者", ""]))
        environ["HTTP_AUTHORIZATION"] = "Basic " + base64.b64encode(f"{user}:pw".encode()).decode()
    resp = SimpleNamespace(status=draw(st.sampled_from(["200 OK", "422 UNPROCESSABLE ENTITY", "404", 503])),
                           sent=draw(st.sampled_from([None, 0, 38, 12345])), headers=[("Content-Type", "x")])
    req = SimpleNamespace(headers=[("HOST", "127.0.0.1"), ("USER-AGENT", environ.get("HTTP_USER_AGENT", "-"))])
    return resp, req, environ


@pytest.fixture(autouse=True)
def close_gunicorn_logs():
    """gunicorn's Logger opens its files on the process-wide ``gunicorn.*`` loggers: closed after each test."""
    yield
    for name in ("gunicorn.access", "gunicorn.error"):
        log = logging.getLogger(name)
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()


def _logger(tmp_path, **options) -> Logger:
    cfg = Config()
    cfg.set("accesslog", str(tmp_path / "access.log"))
    for name, value in options.items():
        cfg.set(name, value)
    logger = Logger(cfg)
    logger.now = lambda: NOW  # one second for both ways
    return logger


@pytest.fixture
def secrets():
    logs.redact_secrets([SECRET])
    yield
    logs._secrets[:] = [s for s in logs._secrets if SECRET not in s]


def test_the_access_line_is_gunicorns_for_any_request(tmp_path):
    logger = _logger(tmp_path)
    assert logger.default_access_line

    @EXAMPLES
    @given(request=requests())
    def run(request):
        resp, req, environ = request
        gunicorns = AccessLogFormat.default % glogging.SafeAtoms(
            logger.atoms(resp, req, environ, datetime.timedelta(microseconds=1500)))
        assert logger.access_line(resp, environ) == gunicorns

    run()


def test_the_access_record_renders_as_the_full_formatter_renders_it(secrets, tmp_path):
    fast, full = AccessJsonFormatter(), logs.stdlib_formatter("json")
    logger = _logger(tmp_path)

    @EXAMPLES
    @given(request=requests(), level=st.sampled_from([logging.INFO, logging.WARNING]))
    def run(request, level):
        resp, _req, environ = request
        record = logging.getLogger("gunicorn.access").makeRecord(
            "gunicorn.access", level, __file__, 1, logger.access_line(resp, environ), (), None)
        ours, theirs = json.loads(fast.format(record)), json.loads(full.format(record))
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", ours.pop("timestamp"))
        theirs.pop("timestamp")
        assert ours == theirs
        assert list(json.loads(fast.format(record))) == list(json.loads(full.format(record)))  # same key order
        assert WEBHOOK_TOKEN not in fast.format(record) and SECRET not in fast.format(record)

    run()


def test_an_access_record_with_an_exception_goes_the_full_way():
    try:
        raise ValueError(f"boom {SECRET}")
    except ValueError:
        import sys

        record = logging.getLogger("gunicorn.access").makeRecord("gunicorn.access", logging.ERROR, __file__, 1,
                                                                  "failed", (), sys.exc_info())
    line = json.loads(AccessJsonFormatter().format(record))
    assert "ValueError" in line["exception"]


def _written(tmp_path) -> list[dict]:
    for handler in logging.getLogger("gunicorn.access").handlers:
        handler.flush()
    return [json.loads(line) for line in (tmp_path / "access.log").read_text().splitlines()]


def test_logger_access_writes_one_redacted_json_line(tmp_path, secrets):
    logger = _logger(tmp_path)
    resp = SimpleNamespace(status="200 OK", sent=38, headers=[])
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": f"/webhooks/kintone/{WEBHOOK_TOKEN}",
               "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_USER_AGENT": 'k"intone'}
    logger.access(resp, SimpleNamespace(headers=[]), environ, datetime.timedelta(milliseconds=3))
    [line] = _written(tmp_path)
    assert line["event"] == f'127.0.0.1 - - {NOW} "POST /webhooks/kintone/[redacted] HTTP/1.1" 200 38 "-" "k\\"intone"'
    assert (line["level"], line["logger"]) == ("info", "gunicorn.access")


def test_another_access_format_is_gunicorns_own_way(tmp_path):
    logger = _logger(tmp_path, access_log_format='%(m)s %(U)s %(s)s %({user-agent}i)s')
    assert not logger.default_access_line
    resp = SimpleNamespace(status="200 OK", sent=38, headers=[])
    environ = {"REQUEST_METHOD": "GET", "RAW_URI": "/healthz", "PATH_INFO": "/healthz",
               "SERVER_PROTOCOL": "HTTP/1.1"}
    logger.access(resp, SimpleNamespace(headers=[("USER-AGENT", "probe")]), environ, datetime.timedelta(0))
    assert [line["event"] for line in _written(tmp_path)] == ["GET /healthz 200 probe"]
