"""What an operator meets when starting and configuring kgbridge (issue 14's small faults): every bad
start is one line naming the cause and exit 2, never a traceback; gunicorn is found without the venv
on PATH; the settings refuse values that would hurt (negative timeouts, sweeps that eat kintone's
quota, misspelt variables); every line of every logger is in the configured format."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tomllib

import pytest
import requests
from click.testing import CliRunner

from cli import _counts, main
from kgbridge import logs
from kgbridge.settings import SettingsError, load_settings, unknown_variables
from tests.conftest import ROOT, WEBHOOK_TOKEN
from tests.log_capture import log_file
from tests.procs import free_port, wait_until

VENV_BIN = os.path.dirname(sys.executable)


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("variable", "value"), [
    ("KGBRIDGE_KINTONE_TIMEOUT_SECONDS", "-1"),
    ("KGBRIDGE_KINTONE_TIMEOUT_SECONDS", "0"),
    ("KGBRIDGE_GSTAFF_TIMEOUT_SECONDS", "-5"),
    ("KGBRIDGE_GMOSIGN_TIMEOUT_SECONDS", "-0.5"),
    ("KGBRIDGE_KINTONE_RETRY_BUDGET_SECONDS", "-1"),
    ("KGBRIDGE_JOB_TIMEOUT_SECONDS", "-180"),
    ("KGBRIDGE_MAX_BODY_BYTES", "0"),
    ("KGBRIDGE_DEDUPE_TTL_SECONDS", "60"),
    ("KGBRIDGE_RECONCILE_INTERVAL_SECONDS", "5"),
    ("KGBRIDGE_RECONCILE_INTERVAL_SECONDS", "-1"),
])
def test_values_that_would_hurt_are_refused_naming_the_variable(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as exc:
        load_settings(connector_mode="fake")
    assert variable in str(exc.value)


def test_a_reconcile_interval_of_a_minute_or_off_is_accepted(monkeypatch):
    for value, expected in (("60", 60), ("0", 0)):
        monkeypatch.setenv("KGBRIDGE_RECONCILE_INTERVAL_SECONDS", value)
        assert load_settings(connector_mode="fake").reconcile_interval_seconds == expected


def test_the_reconcile_refusal_says_why(monkeypatch):
    monkeypatch.setenv("KGBRIDGE_RECONCILE_INTERVAL_SECONDS", "5")
    with pytest.raises(SettingsError, match="daily quota"):
        load_settings(connector_mode="fake")


def test_a_misspelt_variable_stops_the_start_with_a_suggestion_and_without_its_value(monkeypatch):
    monkeypatch.setenv("KGBRIDGE_WEBHOOK_TOKEN_NXET", "secret-next-token-value-0123")
    with pytest.raises(SettingsError) as exc:
        load_settings(connector_mode="fake")
    message = str(exc.value)
    assert "KGBRIDGE_WEBHOOK_TOKEN_NXET: not a kgbridge setting (did you mean KGBRIDGE_WEBHOOK_TOKEN_NEXT?)" in message
    assert "secret-next-token-value-0123" not in message


def test_every_setting_and_the_serve_options_are_known():
    environ = {"KGBRIDGE_REDIS_URL": "x", "KGBRIDGE_BIND": "x", "KGBRIDGE_WEB_WORKERS": "2",
               "KGBRIDGE_LOG_FORMAT": "json", "OTHER_TOOL_SETTING": "x"}
    assert unknown_variables(environ) == []
    assert unknown_variables({"KGBRIDGE_NOTHING_LIKE_IT": "1"}) == ["KGBRIDGE_NOTHING_LIKE_IT: not a kgbridge setting"]


def test_the_cli_exits_2_on_a_misspelt_variable(monkeypatch):
    monkeypatch.setenv("KGBRIDGE_CONECTOR_MODE", "fake")
    result = CliRunner().invoke(main, ["jobs", "failed"])
    assert result.exit_code == 2
    assert "did you mean KGBRIDGE_CONNECTOR_MODE?" in result.stderr


# -- serve and worker ---------------------------------------------------------------------------


def _env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGBRIDGE_")}
    env.update(extra)
    return env


def test_serve_exits_2_on_bad_settings_as_the_readme_says():
    result = CliRunner().invoke(main, ["serve"])  # live mode without any connection setting
    assert result.exit_code == 2
    assert "KGBRIDGE_KINTONE_BASE_URL" in result.stderr


@pytest.fixture
def broken_mapping_dir(tmp_path):
    folder = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings" / "default", folder)
    orders = folder / "orders.toml"
    orders.write_text(orders.read_text(encoding="utf-8").replace("[app]", "[app\n", 1), encoding="utf-8")
    return folder


@pytest.mark.parametrize("command", [["serve"], ["worker"]])
def test_a_broken_mapping_is_one_line_and_exit_2_not_a_traceback(broken_mapping_dir, redis_url, command):
    env = _env(KGBRIDGE_CONNECTOR_MODE="fake", KGBRIDGE_WEBHOOK_TOKEN=WEBHOOK_TOKEN, KGBRIDGE_REDIS_URL=redis_url,
               KGBRIDGE_MAPPING_DIR=str(broken_mapping_dir))
    proc = subprocess.run([os.path.join(VENV_BIN, "kgbridge"), *command], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "orders.toml" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 3, proc.stderr


def test_serve_started_by_absolute_path_finds_gunicorn_without_the_venv_on_path(redis_url):
    port = free_port()
    env = _env(PATH="/usr/bin:/bin", KGBRIDGE_CONNECTOR_MODE="fake", KGBRIDGE_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
               KGBRIDGE_REDIS_URL=redis_url, KGBRIDGE_BIND=f"127.0.0.1:{port}", KGBRIDGE_WEB_WORKERS="1")
    assert shutil.which("gunicorn", path=env["PATH"]) is None
    errors = log_file("serve-by-absolute-path")
    with open(errors, "wb") as stderr:
        proc = subprocess.Popen([os.path.join(VENV_BIN, "kgbridge"), "serve"], env=env, cwd="/",
                                stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        wait_until(lambda: _healthy(f"http://127.0.0.1:{port}/healthz") or proc.poll() is not None, 30,
                   "the receiver to answer")
        assert proc.poll() is None, errors.read_text()
    finally:
        proc.terminate()
        proc.wait(20)


def _healthy(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


# -- output of the ops commands --------------------------------------------------------------------


def test_check_open_counts_read_as_json():
    assert _counts("open=3 moved=1 overdue=0 failed=0") == {"outcome": "checked", "open": 3, "moved": 1,
                                                            "overdue": 0, "failed": 0}
    assert _counts("already_running") == {"outcome": "already_running"}


def test_contracts_check_open_has_json_output(monkeypatch, redis_url):
    monkeypatch.setenv("KGBRIDGE_CONNECTOR_MODE", "fake")
    monkeypatch.setenv("KGBRIDGE_REDIS_URL", redis_url)
    result = CliRunner().invoke(main, ["contracts", "check-open", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["outcome"] in ("checked", "already_running")
    if data["outcome"] == "checked":
        assert data["open"] >= 0


# -- logging ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def bare_root_logger():
    """The root logger as a fresh process has it (the harness's and pytest's handlers set aside)."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    rq_worker = logging.getLogger("rq.worker")  # an earlier test's RQ worker set its own level
    rq_level = rq_worker.level
    root.handlers = []
    rq_worker.setLevel(logging.NOTSET)
    try:
        yield root
    finally:
        root.handlers = saved
        root.setLevel(level)
        rq_worker.setLevel(rq_level)


def test_rq_and_other_stdlib_lines_are_json_in_json_mode():
    out = io.StringIO()
    with bare_root_logger():
        logs.configure("INFO", "json", stream=out)
        logging.getLogger("rq.worker").info("Job %s: %s", "order_registration-orders-3-r5", "OK")
        logging.getLogger("werkzeug").warning("GET /webhooks/kintone/%s 200", WEBHOOK_TOKEN)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines[0] == {**lines[0], "event": "Job order_registration-orders-3-r5: OK", "logger": "rq.worker",
                        "level": "info"}
    assert lines[1]["event"] == "GET /webhooks/kintone/[redacted] 200"
    assert WEBHOOK_TOKEN not in out.getvalue()


def test_configuring_twice_keeps_one_root_handler():
    with bare_root_logger() as root:
        logs.configure("INFO", "json", stream=io.StringIO())
        logs.configure("INFO", "console", stream=io.StringIO())
        assert len(root.handlers) == 1


# -- what production installs ------------------------------------------------------------------


def test_the_production_install_does_not_carry_the_in_process_redis():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not any(dep.startswith("fakeredis") for dep in project["dependencies"])
    assert any(dep.startswith("fakeredis") for dep in project["optional-dependencies"]["demo"])
    assert "demo" in (ROOT / "Makefile").read_text(encoding="utf-8")
