"""The web console through Flask's test client, on a real Redis with real RQ jobs: login, CSRF,
the status, failed jobs and replay, a record's history, the deadline overview.
(tests/test_console_browser.py drives the same pages in a real headless Chromium.)"""

from __future__ import annotations

import re

import pytest
from pydantic import SecretStr
from rq.job import Job
from rq.registry import FailedJobRegistry

from kgbridge import console
from kgbridge.jobs import FlowRequest, enqueue_flow, make_queue
from kgbridge.settings import SettingsError, load_settings
from tests.conftest import work_queue

PASSWORD = "correct horse battery"


@pytest.fixture
def console_settings(settings):
    return settings.model_copy(update={"console_password": SecretStr(PASSWORD)})


@pytest.fixture
def app(console_settings, redis_conn, monkeypatch):
    monkeypatch.setattr(console, "FAILED_LOGIN_DELAY_SECONDS", 0)
    return console.create_app(console_settings, connection=redis_conn)


@pytest.fixture
def browser(app):
    return app.test_client()


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def log_in(client, password=PASSWORD):
    token = csrf_of(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"csrf_token": token, "password": password, "next": "/failed"})


@pytest.fixture
def failed_job(redis_conn, settings, ctx):
    """A real flow job that failed for good: a flow name this code does not know."""
    queue = make_queue(redis_conn, settings)
    enqueue_flow(queue, settings, FlowRequest("no_such_flow", "orders", "12", "r3"))
    work_queue(redis_conn, settings)
    [job_id] = FailedJobRegistry(queue=queue).get_job_ids()
    return job_id


def test_every_page_wants_a_login(browser):
    for path in ("/", "/failed", "/records", "/deadlines", "/jobs/x"):
        response = browser.get(path)
        assert response.status_code == 302 and response.location.startswith("/login?next=")


def test_a_wrong_password_is_refused_and_the_right_one_logs_in(browser):
    refused = log_in(browser, "wrong password!")
    assert refused.status_code == 401 and "wrong password" in refused.get_data(as_text=True)
    assert browser.get("/").status_code == 302

    accepted = log_in(browser)
    assert accepted.status_code == 302 and accepted.location == "/failed"
    cookie = accepted.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert browser.get("/").status_code == 200


def test_a_login_link_never_sends_anyone_to_another_site(browser):
    token = csrf_of(browser.get("/login").get_data(as_text=True))
    response = browser.post("/login", data={"csrf_token": token, "password": PASSWORD, "next": "//evil.example/"})
    assert response.location == "/"


def test_a_post_without_the_sessions_csrf_token_is_refused(browser, failed_job, redis_conn, settings):
    assert browser.post("/login", data={"password": PASSWORD}).status_code == 400  # login too
    log_in(browser)

    forged = browser.post(f"/failed/{failed_job}/replay", data={"csrf_token": "forged"})
    missing = browser.post(f"/failed/{failed_job}/replay")

    assert forged.status_code == 400 and missing.status_code == 400
    assert "CSRF token is missing or wrong" in forged.get_data(as_text=True)
    assert failed_job in FailedJobRegistry(queue=make_queue(redis_conn, settings))  # nothing replayed


def test_failed_jobs_show_their_reason_and_replay_requeues_one(browser, failed_job, redis_conn, settings):
    log_in(browser)
    page = browser.get("/failed").get_data(as_text=True)
    assert failed_job in page and "LookupError: unknown flow &#39;no_such_flow&#39;" in page

    response = browser.post(f"/failed/{failed_job}/replay", data={"csrf_token": csrf_of(page)},
                            follow_redirects=True)

    assert f"{failed_job}: replayed" in response.get_data(as_text=True)
    job = Job.fetch(failed_job, connection=redis_conn, serializer=make_queue(redis_conn, settings).serializer)
    assert job.get_status() == "queued" and failed_job not in FailedJobRegistry(queue=make_queue(redis_conn, settings))
    again = browser.post(f"/failed/{failed_job}/replay", data={"csrf_token": csrf_of(page)}, follow_redirects=True)
    assert "not replayed (not_failed" in again.get_data(as_text=True)


def test_status_page_and_a_records_history(browser, failed_job):
    log_in(browser)
    status = browser.get("/").get_data(as_text=True)
    assert 'id="level">critical' in status and "no live worker" in status
    assert '<span id="failures-24h">1</span>' in status

    history = browser.get("/records?app=orders&record=12").get_data(as_text=True)
    assert "orders #12" in history and "no_such_flow" in history and "failed" in history
    assert "LookupError: unknown flow" in history
    by_id = browser.get("/records?app=3&record=12").get_data(as_text=True)
    assert "orders #12" in by_id
    assert "No runs recorded" in browser.get("/records?app=orders&record=99").get_data(as_text=True)
    job = browser.get(f"/jobs/{failed_job}").get_data(as_text=True)
    assert 'id="job-status">failed' in job and "permanent" in job


def test_deadline_overview_lists_the_rules_and_what_the_last_sweep_did(browser, redis_conn, mappings):
    from kgbridge import history

    redis_conn.hset(history.task_run_key("deadlines"), mapping={
        "ok": "1", "ended": "2026-11-25T01:00:00+00:00", "outcome": "swept",
        "detail": '["inquiry_first_contact: reminded 2", "visit_record: nothing due"]'})
    log_in(browser)

    page = browser.get("/deadlines").get_data(as_text=True)

    for rule in mappings.deadlines.rules:
        assert f"<td>{rule.name}</td>" in page
    assert "reminded 2" in page and "2026-11-25 10:00 JST, ok (swept)" in page


def test_pages_are_not_cached_framed_or_scripted(browser):
    response = browser.get("/login")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_the_console_needs_a_password_of_twelve_characters(settings, redis_conn, monkeypatch):
    with pytest.raises(SettingsError, match="KGBRIDGE_CONSOLE_PASSWORD: required"):
        console.create_app(settings, connection=redis_conn)
    monkeypatch.setenv("KGBRIDGE_CONSOLE_PASSWORD", "short")
    with pytest.raises(SettingsError, match="KGBRIDGE_CONSOLE_PASSWORD: Value error, must be at least 12"):
        load_settings(connector_mode="fake")


def test_the_consoles_bind_variable_is_a_known_one():
    from kgbridge.settings import unknown_variables

    assert unknown_variables({"KGBRIDGE_CONSOLE_BIND": "127.0.0.1:8091", "KGBRIDGE_CONSOLE_PASSWORD": PASSWORD}) == []


def test_kgbridge_console_refuses_to_start_without_a_password(cli, monkeypatch):
    monkeypatch.setenv("KGBRIDGE_CONNECTOR_MODE", "fake")
    result = cli("console")
    assert result.exit_code == 2 and "KGBRIDGE_CONSOLE_PASSWORD" in result.output


def test_kgbridge_console_listens_on_loopback_only_by_default(redis_url):
    """Started as an operator starts it (no --bind): it answers on 127.0.0.1:8090 and on no other address."""
    import os
    import socket
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    from tests.conftest import ROOT
    from tests.procs import stop_process, wait_until

    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 8090)) == 0:
            pytest.skip("something else listens on 127.0.0.1:8090")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGBRIDGE_")}
    env.update({"KGBRIDGE_CONNECTOR_MODE": "fake", "KGBRIDGE_REDIS_URL": redis_url,
                "KGBRIDGE_CONSOLE_PASSWORD": PASSWORD, "PYTHONPATH": str(ROOT)})
    proc = subprocess.Popen([sys.executable, str(ROOT / "cli.py"), "console"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        def login_page() -> bool:
            try:
                return urllib.request.urlopen("http://127.0.0.1:8090/login", timeout=1).status == 200
            except OSError:
                return False

        wait_until(login_page, 30, "the console to answer on 127.0.0.1:8090")
        # The kernel's tables of listening TCP sockets: port 8090 (1F9A) is bound to 127.0.0.1 only.
        listeners = [row[1] for table in ("/proc/net/tcp", "/proc/net/tcp6")
                     for row in (line.split() for line in Path(table).read_text().splitlines()[1:])
                     if row[1].endswith(":1F9A") and row[3] == "0A"]  # 0A: LISTEN
        assert listeners == ["0100007F:1F9A"], listeners
    finally:
        stop_process(proc)
