"""What every ``kgbridge`` command shares: help, exit codes for bad settings and an unreachable
Redis, the ``--since``/``--older-than`` time syntax, and the worker's periodic ticker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis
import structlog.testing
from click.testing import CliRunner

from cli import main
from kgbridge import periodic
from kgbridge.ops.env import OpsEnv
from kgbridge.ops.when import WhenError, parse_when

COMMANDS = [[], ["serve"], ["worker"], ["embedded"], ["jobs"], ["jobs", "failed"], ["jobs", "show"],
            ["jobs", "replay"], ["jobs", "purge"], ["events"], ["events", "replay"], ["mapping"],
            ["mapping", "check"], ["reconcile"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "kgbridge")
def test_every_command_explains_itself(command):
    result = CliRunner().invoke(main, [*command, "--help"], prog_name="kgbridge")
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: kgbridge")


def test_a_bad_configuration_exits_2_naming_the_variable():
    result = CliRunner().invoke(main, ["jobs", "failed"])  # live mode without kintone settings
    assert result.exit_code == 2
    assert "KGBRIDGE_KINTONE_BASE_URL" in result.stderr


def test_an_unreachable_redis_exits_1_without_printing_its_url(settings, mappings):
    dead = redis.Redis.from_url("redis://:s3cret@127.0.0.1:1/0", socket_connect_timeout=0.2)
    env = OpsEnv(settings_=settings, connection_=dead, mappings_=mappings)
    with structlog.testing.capture_logs():
        result = CliRunner().invoke(main, ["jobs", "failed"], obj=env)
    assert result.exit_code == 1
    assert "cannot use Redis (KGBRIDGE_REDIS_URL): ConnectionError" in result.stderr
    assert "s3cret" not in result.output


NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # 12:00 in Tokyo


@pytest.mark.parametrize(("text", "expected"), [
    ("30m", "2026-11-24T02:30:00+00:00"),
    ("6h", "2026-11-23T21:00:00+00:00"),
    ("30d", "2026-10-25T03:00:00+00:00"),
    ("2w", "2026-11-10T03:00:00+00:00"),
    ("2026-11-24", "2026-11-23T15:00:00+00:00"),  # midnight in Tokyo
    ("2026-11-24T09:00", "2026-11-24T00:00:00+00:00"),  # no offset: Tokyo time
    ("2026-11-24T09:00:00Z", "2026-11-24T09:00:00+00:00"),
    ("2026-11-24T09:00:00+09:00", "2026-11-24T00:00:00+00:00"),
])
def test_since_and_older_than_take_durations_and_iso_times(text, expected):
    assert parse_when(text, now=NOW).isoformat() == expected


@pytest.mark.parametrize("text", ["", "yesterday", "30", "5y", "2026-13-01"])
def test_unreadable_times_are_refused(text):
    with pytest.raises(WhenError):
        parse_when(text, now=NOW)


def test_the_worker_starts_the_periodic_ticker_unless_every_task_is_off(settings, redis_conn):
    off = settings.model_copy(update={"reconcile_interval_seconds": 0, "deadline_sweep_seconds": 0,
                                      "workflow_delay_sweep_seconds": 0, "open_envelope_check_seconds": 0,
                                      "held_message_seconds": 0, "gmosign_lookup_seconds": 0,
                                      "retention_kpi_seconds": 0})
    assert periodic.start_ticker(off) is None

    ticker = periodic.start_ticker(settings.model_copy(update={"reconcile_interval_seconds": 0}))
    try:
        assert ticker.is_alive()
        assert [t.name for t in ticker.tasks] == ["deadlines", "workflow_delays", "open_envelopes", "held_messages",
                                                  "envelope_lookups", "retention_kpi"]
    finally:
        ticker.stop()
        ticker.join(timeout=5)
    assert not ticker.is_alive()
