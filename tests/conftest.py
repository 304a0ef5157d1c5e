"""Shared fixtures: a real Redis (our own redis-server unless KGBRIDGE_TEST_REDIS_URL is set),
settings, the fake kintone with the default mappings, and a real RQ worker to drain jobs."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

import hypothesis
import pytest
import redis
from pytest_redis import factories

from connectors.kintone.fake import FakeKintone
from flows.business_calendar import TOKYO
from flows.context import FlowContext
from kgbridge import bootstrap
from kgbridge.ledger import Ledger
from kgbridge.settings import load_settings
from mappings import load_mappings
from tests.log_capture import capture_logs, pytest_sessionfinish  # noqa: F401  (log scan, see there)

# Property tests judge answers, never speed: a loaded CI machine must not fail them on hypothesis'
# per-example deadline (200 ms by default). Speed is the benchmarks' business.
hypothesis.settings.register_profile("kgbridge", deadline=None)
hypothesis.settings.load_profile("kgbridge")

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_TOKEN = "test-webhook-token-0123456789"
_REDIS_EXEC = shutil.which("redis-server") or "/usr/bin/redis-server"
# The flows' clock in tests unless a test sets its own: a Tuesday in business hours, so comments
# are posted at once (quiet hours hold them otherwise) whatever time CI runs at.
BUSINESS_HOURS = datetime(2026, 12, 1, 10, 0, tzinfo=TOKYO)

redis_server = factories.redis_proc(executable=_REDIS_EXEC, port=None)


@pytest.fixture(scope="session")
def redis_url(request) -> str:
    """A real Redis for the whole run: KGBRIDGE_TEST_REDIS_URL, or a redis-server we start."""
    url = os.environ.get("KGBRIDGE_TEST_REDIS_URL")
    if url:
        return url
    proc = request.getfixturevalue("redis_server")
    return f"redis://{proc.host}:{proc.port}/0"


@pytest.fixture
def redis_conn(redis_url):
    conn = redis.Redis.from_url(redis_url)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch):
    for key in list(os.environ):
        if key.startswith("KGBRIDGE_") and key != "KGBRIDGE_TEST_REDIS_URL":
            monkeypatch.delenv(key)
    yield
    bootstrap.set_context(None)


@pytest.fixture
def settings(redis_url):
    return load_settings(connector_mode="fake", redis_url=redis_url, webhook_token=WEBHOOK_TOKEN,
                         retry_intervals=[0, 0, 0])


@pytest.fixture
def mappings():
    return load_mappings(ROOT / "mappings" / "default")


@pytest.fixture
def kintone(mappings) -> FakeKintone:
    return FakeKintone.from_mappings(mappings)


@pytest.fixture
def ctx(kintone, mappings, redis_conn) -> FlowContext:
    context = FlowContext(kintone=kintone, mappings=mappings, ledger=Ledger(redis_conn), clock=lambda: BUSINESS_HOURS)
    bootstrap.set_context(context)
    return context


def dispatch_inbox(connection, settings, mappings) -> int:
    """Turn every recorded webhook event into its flow jobs, as the worker's dispatcher does."""
    from kgbridge.dispatch import Dispatcher

    return Dispatcher(connection, settings, mappings).drain()


def work_queue(connection, settings) -> None:
    """Run every queued job with a real RQ worker (in-process, burst)."""
    from rq import SimpleWorker
    from rq.timeouts import TimerDeathPenalty

    from worker import make_worker

    w = make_worker(settings, connection, worker_class=SimpleWorker)
    w.death_penalty_class = TimerDeathPenalty
    w.work(burst=True, with_scheduler=False, logging_level="WARNING")


@pytest.fixture
def drain(redis_conn, settings, ctx):
    """What a worker does with what the receiver recorded: dispatch the inbox into flow jobs, then
    run every queued job with a real RQ worker (in-process, burst)."""

    def _drain():
        dispatch_inbox(redis_conn, settings, ctx.mappings)
        work_queue(redis_conn, settings)

    return _drain


# Every connection setting live mode requires, with harmless loopback values. Tests about one
# connector's settings start from these and override their own.
LIVE_ENV = {
    "KGBRIDGE_KINTONE_BASE_URL": "http://127.0.0.1:9",
    "KGBRIDGE_KINTONE_API_TOKENS": '{"orders": "live-env-token"}',
    "KGBRIDGE_GSTAFF_BASE_URL": "http://127.0.0.1:9",
    "KGBRIDGE_GSTAFF_API_KEY": "live-env-gstaff-key",
    "KGBRIDGE_GMOSIGN_BASE_URL": "http://127.0.0.1:9",
    "KGBRIDGE_GMOSIGN_CUSTOMER_ID": "live-env-customer",
    "KGBRIDGE_GMOSIGN_SECRET_KEY": "live-env-gmosign-secret",
    "KGBRIDGE_GMOSIGN_WEBHOOK_TOKEN": "live-env-gmosign-webhook-token",
}


@pytest.fixture
def live_env(monkeypatch):
    for key, value in LIVE_ENV.items():
        monkeypatch.setenv(key, value)
    return LIVE_ENV


@pytest.fixture
def ops_env(settings, redis_conn, mappings, kintone, ctx):
    """What the ops commands run against: the same Redis, mappings and fake kintone as the flows."""
    from kgbridge.ops.env import OpsEnv

    return OpsEnv(settings_=settings, connection_=redis_conn, mappings_=mappings, kintone_=kintone)


@pytest.fixture
def cli(ops_env):
    """Run ``kgbridge ARGS...`` with click's CliRunner; returns the click Result."""
    import structlog.testing
    from click.testing import CliRunner

    from cli import main

    def _run(*args: str, input: str | None = None):
        # Log lines are kept out of the output (the command's own logging goes to stderr).
        with structlog.testing.capture_logs():
            return CliRunner().invoke(main, list(args), obj=ops_env, input=input, catch_exceptions=False)

    return _run


@pytest.fixture(autouse=True)
def comments_read_as_written_by_the_company(request):
    """Every comment posted on the fake kintone during a test prints its dates as
    ``2026年12月1日（火）`` and addresses people as ``上長：…`` (issue 12; tests/comment_style.py).
    What a person typed and kgbridge quotes (a 遅延理由) is theirs: a test names it with
    ``@pytest.mark.user_wrote("...")``."""
    if "kintone" not in request.fixturenames:
        yield
        return
    from tests.comment_style import old_address_forms, stray_dates

    kintone = request.getfixturevalue("kintone")
    yield
    if not isinstance(kintone, FakeKintone):  # a module's own "kintone" (tests/test_kintone_live.py: HTTP mocks)
        return
    typed = [text for mark in request.node.iter_markers("user_wrote") for text in mark.args]

    def ours(text: str) -> str:
        for piece in typed:
            text = text.replace(piece, "")
        return text

    strays = [(app_id, record_id, piece, comment.text)
              for app_id, app in kintone.apps.items()
              for record_id, comments in app.comments.items()
              for comment in comments
              for piece in stray_dates(ours(comment.text)) + old_address_forms(ours(comment.text))]
    assert not strays, "dates not as 2026年12月1日（火） or people not addressed as 上長：…: " + "; ".join(
        f"app {a} #{r}: {p!r} in {t[:120]!r}" for a, r, p, t in strays[:5])
