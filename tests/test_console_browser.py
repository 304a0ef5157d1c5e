"""The web console in a real browser: Debian's headless Chromium, driven by selenium through
chromedriver, against ``kgbridge console``'s gunicorn on loopback and a real Redis holding a job
that really failed. Skipped (saying why) only when chromium or chromedriver is not installed
(``apt-get install chromium chromium-driver``; .ci/run installs them)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess

import pytest
import requests
from rq.job import Job
from rq.registry import FailedJobRegistry

from kgbridge.jobs import FlowRequest, enqueue_flow, make_queue
from tests.conftest import work_queue
from tests.procs import ROOT, free_port, stop_process, wait_until

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
PASSWORD = "correct horse battery"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                       reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"),
]


@pytest.fixture
def console_url(redis_url, tmp_path):
    """``kgbridge console`` (its own gunicorn command line) on a free loopback port."""
    from cli import console_args

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("KGBRIDGE_")}
    env.update({"KGBRIDGE_REDIS_URL": redis_url, "KGBRIDGE_CONNECTOR_MODE": "fake",
                "KGBRIDGE_CONSOLE_PASSWORD": PASSWORD, "KGBRIDGE_LOG_LEVEL": "WARNING",
                "PYTHONPATH": str(ROOT)})
    with open(tmp_path / "console.log", "wb") as log:
        proc = subprocess.Popen(console_args(f"127.0.0.1:{port}"), cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(f"{url}/login", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(up, 30, "the console to answer")
        yield url
    finally:
        stop_process(proc)


@pytest.fixture
def chrome(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for name in ("selenium", "urllib3"):  # their DEBUG lines carry whole screenshots
        logging.getLogger(name).setLevel(logging.WARNING)

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path / 'chrome-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def failed_job(redis_conn, settings, ctx):
    queue = make_queue(redis_conn, settings)
    enqueue_flow(queue, settings, FlowRequest("no_such_flow", "orders", "12", "r3"))
    work_queue(redis_conn, settings)
    [job_id] = FailedJobRegistry(queue=queue).get_job_ids()
    return job_id


def test_an_operator_logs_in_sees_the_failed_job_and_replays_it(chrome, console_url, failed_job, redis_conn,
                                                                settings, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as shows
    from selenium.webdriver.support.ui import WebDriverWait

    def wait_for(condition, what):
        return WebDriverWait(chrome, 30).until(condition, message=f"waited 30 s for {what}")

    queue = make_queue(redis_conn, settings)
    chrome.get(f"{console_url}/failed")
    assert "/login" in chrome.current_url  # not logged in: sent to the login page

    chrome.find_element(By.ID, "password").send_keys("not the password")
    chrome.find_element(By.ID, "login").click()
    assert "wrong password" in wait_for(shows.presence_of_element_located((By.ID, "login-error")), "the refusal").text

    chrome.find_element(By.ID, "password").send_keys(PASSWORD)
    chrome.find_element(By.ID, "login").click()
    wait_for(shows.url_matches(r"/failed$"), "the failed jobs page")  # back where the operator wanted to go
    row = wait_for(shows.presence_of_element_located((By.ID, f"job-{failed_job}")), "the failed job's row")
    assert "LookupError: unknown flow 'no_such_flow'" in row.text and "orders" in row.text
    chrome.save_screenshot(str(tmp_path / "failed.png"))

    # A forged POST: the same form with a token that is not the session's is refused, nothing replayed.
    chrome.execute_script("arguments[0].querySelector('input[name=csrf_token]').value = 'forged';", row)
    row.find_element(By.CSS_SELECTOR, "button.replay").click()
    refused = wait_for(shows.presence_of_element_located((By.ID, "error-message")), "the CSRF refusal")
    assert "CSRF token is missing or wrong" in refused.text
    assert failed_job in FailedJobRegistry(queue=queue)

    chrome.get(f"{console_url}/failed")
    chrome.find_element(By.ID, f"job-{failed_job}").find_element(By.CSS_SELECTOR, "button.replay").click()
    said = wait_for(shows.presence_of_element_located((By.CSS_SELECTOR, "[role=status]")), "the replay's message")
    assert f"{failed_job}: replayed" in said.text
    assert Job.fetch(failed_job, connection=redis_conn, serializer=queue.serializer).get_status() == "queued"
    assert failed_job not in FailedJobRegistry(queue=queue)

    chrome.get(f"{console_url}/records?app=orders&record=12")
    assert "no_such_flow" in chrome.find_element(By.ID, "history").text
    chrome.get(f"{console_url}/")
    assert chrome.find_element(By.ID, "level").text == "critical"  # no worker runs in this test
    chrome.get(f"{console_url}/deadlines")
    assert "inquiry_first_contact" in chrome.find_element(By.ID, "rules").text
