"""Security: tokens checked in constant time, size limits, no secret or personal datum in any log,
the image runs as non-root.

The suite-wide half of the log check lives in tests/log_capture.py: every log line of every test
(and of every process a test starts) is scanned at the end of the run.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import ipaddress
import json
import logging
import re
import socket
import threading

import pytest
import structlog
from werkzeug.serving import make_server

from kgbridge import logs
from kgbridge.inbox import InboxEvent, inbox_key
from kgbridge.samples import notification, seed_embedded
from tests.conftest import ROOT, WEBHOOK_TOKEN
from tests.fault_kit import queued
from tests.log_capture import Needle, needles, scan
from tests.pii import COMPANY_NAME, GMOSIGN_WEBHOOK_TOKEN, PERSON_EMAIL, PERSON_NAME, PERSON_PHONE
from tests.procs import Gunicorn
from webhooks import create_app, token_matches

ROTATION_TOKEN_NEXT = "next-webhook-token-abcdefghijkl"


@pytest.fixture
def client(settings, redis_conn, ctx):
    return create_app(settings, connection=redis_conn).test_client()


# -- tokens ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/webhooks/kintone/wrong-token-0123456789",
        "/webhooks/kintone/" + WEBHOOK_TOKEN[:-1],  # all but the last character
        "/webhooks/kintone/" + WEBHOOK_TOKEN + "x",
        "/webhooks/kintone/" + WEBHOOK_TOKEN.upper(),
        "/webhooks/kintone/x",
        "/webhooks/kintone/",
        "/webhooks/kintone",
        "/webhooks/kintone/%00",
        "/webhooks/kintone/" + "ア" * 40,
    ],
)
def test_a_wrong_or_missing_token_gets_the_same_plain_404_and_records_nothing(path, client, redis_conn, settings):
    response = client.post(path, data=b'{"id": "1"}', content_type="application/json")

    assert (response.status_code, response.get_json()) == (404, {"ok": False, "error": "not found"})
    assert redis_conn.dbsize() == 0 and queued(redis_conn, settings) == 0


def test_every_configured_token_is_compared_in_constant_time_whatever_is_given(monkeypatch):
    compared = []
    real = hmac.compare_digest

    def recording(a, b):
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    tokens = [WEBHOOK_TOKEN, ROTATION_TOKEN_NEXT]
    for given in [WEBHOOK_TOKEN, ROTATION_TOKEN_NEXT, "", "x", WEBHOOK_TOKEN[:-1], "y" * 500]:
        compared.clear()
        token_matches(given, tokens)
        # Both tokens, every time (no early exit on a match), always 32 bytes against 32 bytes
        # (digests), so neither the match nor the length shows in the time taken.
        assert compared == [(32, 32), (32, 32)]


def test_either_token_is_accepted_while_rotating():
    assert token_matches(WEBHOOK_TOKEN, [WEBHOOK_TOKEN, ROTATION_TOKEN_NEXT])
    assert token_matches(ROTATION_TOKEN_NEXT, [WEBHOOK_TOKEN, ROTATION_TOKEN_NEXT])
    assert not token_matches("", [WEBHOOK_TOKEN])
    assert not token_matches(WEBHOOK_TOKEN, [])
    assert hashlib.sha256(WEBHOOK_TOKEN.encode()).digest() != hashlib.sha256(ROTATION_TOKEN_NEXT.encode()).digest()


# -- size limits ----------------------------------------------------------------------------------


@pytest.fixture
def small_receiver(settings, redis_conn, ctx):
    """The receiver on a real socket with a 4 KB limit."""
    app = create_app(settings.model_copy(update={"max_body_bytes": 4096}), connection=redis_conn)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def _raw_post(port: int, head: str, chunks: list[bytes]) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading after the limit, as it should
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server closed already (ENOTCONN); its answer is still in our receive buffer
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except ConnectionResetError:
            pass
        return answer


def test_a_chunked_body_without_length_is_cut_off_at_the_limit(small_receiver, redis_conn, settings):
    chunk = b" " * 1024
    chunks = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(64)] + [b"0\r\n\r\n"]
    head = (f"POST /webhooks/kintone/{WEBHOOK_TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")

    answer = _raw_post(small_receiver, head, chunks)

    assert answer.startswith(b"HTTP/1.1 413")
    assert queued(redis_conn, settings) == 0 and redis_conn.dbsize() == 0


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(small_receiver, redis_conn, settings):
    head = (f"POST /webhooks/kintone/{WEBHOOK_TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Length: 50000000\r\nConnection: close\r\n\r\n")

    answer = _raw_post(small_receiver, head, [b"{"])  # never sends the 50 MB

    assert answer.startswith(b"HTTP/1.1 413")
    assert queued(redis_conn, settings) == 0



def _chunked(body: bytes, size: int) -> list[bytes]:
    return [f"{len(part):x}\r\n".encode() + part + b"\r\n" for part in
            (body[i:i + size] for i in range(0, len(body), size))] + [b"0\r\n\r\n"]


@pytest.mark.parametrize("server", ["werkzeug", "gunicorn"])
def test_a_chunked_notification_up_to_the_limit_is_recorded_and_a_byte_more_is_refused(
        server, small_receiver, kintone, mappings, redis_url, redis_conn, settings):
    # The receiver reads the body itself (webhooks.read_body): a chunked body comes in reads of any
    # size, from werkzeug's server and from gunicorn, what `kgbridge serve` runs.
    ids = seed_embedded(kintone, mappings)
    text = json.dumps(notification(kintone, "3", ids["order_complete"], event_id="chunked-1"), ensure_ascii=False)
    at_limit = text.encode().ljust(4096)  # JSON allows the trailing blanks
    head = (f"POST /webhooks/kintone/{WEBHOOK_TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    env = {"KGBRIDGE_REDIS_URL": redis_url, "KGBRIDGE_CONNECTOR_MODE": "fake", "KGBRIDGE_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
           "KGBRIDGE_MAX_BODY_BYTES": "4096", "KGBRIDGE_QUEUE_NAME": settings.queue_name}

    def post(port):
        over = _raw_post(port, head, _chunked(at_limit.replace(b'"chunked-1"', b'"chunked-2"') + b" ", 1000))
        accepted = _raw_post(port, head, _chunked(at_limit, 1000))
        again = _raw_post(port, head, _chunked(at_limit, 333))
        return over, accepted, again

    if server == "werkzeug":
        over, accepted, again = post(small_receiver)
    else:
        with Gunicorn(env, workers=1, name="gunicorn-chunked") as web:
            over, accepted, again = post(web.port)

    assert over.startswith(b"HTTP/1.1 413") and b"larger than 4096 bytes" in over
    assert accepted.startswith(b"HTTP/1.1 200") and b'"duplicate":false' in accepted and b'"jobs":1' in accepted
    assert again.startswith(b"HTTP/1.1 200") and b'"duplicate":true' in again
    [entry] = redis_conn.lrange(inbox_key(settings), 0, -1)
    assert InboxEvent.loads(entry).event_id == "chunked-1"


# -- logs -----------------------------------------------------------------------------------------


def test_the_redaction_processor_hides_personal_data_logged_under_any_telling_key():
    out = io.StringIO()
    logs.configure("DEBUG", "json", stream=out)
    structlog.get_logger("t").info("oops", customer_name=PERSON_NAME, phone_number=PERSON_PHONE, email=PERSON_EMAIL,
                                   会社名=COMPANY_NAME, api_token=WEBHOOK_TOKEN, payload={"x": PERSON_NAME},
                                   error=f"POST /webhooks/kintone/{WEBHOOK_TOKEN} failed", record_id="12")
    line = json.loads(out.getvalue())
    assert all(v not in out.getvalue() for v in (PERSON_NAME, PERSON_PHONE, PERSON_EMAIL, COMPANY_NAME, WEBHOOK_TOKEN))
    assert line["record_id"] == "12" and line["error"] == "POST /webhooks/kintone/[redacted] failed"


def test_the_log_scan_finds_a_leaked_name_phone_email_or_token(tmp_path):
    leaky = tmp_path / "leaky.log"
    leaky.write_text("ok line\n"
                     f'{{"event": "x", "who": "{json.dumps(PERSON_NAME)[1:-1]}"}}\n'
                     f"INFO rq calling 09012345678\nGET /webhooks/kintone/{WEBHOOK_TOKEN}\n", encoding="utf-8")

    findings = scan([leaky], needles())

    assert [f.split(":")[1] for f in findings] == ["2", "3", "4"]
    assert scan([leaky], [Needle("secret", "not-there")]) == []


def test_a_webhook_full_of_personal_data_leaves_none_in_the_logs_even_at_debug(client, kintone, mappings, drain):
    out = io.StringIO()
    logs.configure("DEBUG", "json", stream=out)
    ids = seed_embedded(kintone, mappings)
    kintone.update_record("3", ids["order_incomplete"], {"就業先環境・ルール": {"value": f"{PERSON_NAME} {PERSON_EMAIL}"}})

    client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", data=json.dumps(notification(kintone, "3", ids["order_incomplete"]),
                                                                       ensure_ascii=False),
                content_type="application/json")
    client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", data=b'{"id": "' + PERSON_EMAIL.encode() + b'"}',
                content_type="application/json")
    drain()

    text = out.getvalue()
    assert "webhook accepted" in text and "record checked" in text and "webhook rejected" in text
    leaked = [n.text for n in needles() if n.text in text]
    assert leaked == []


# Every spelling of the webhook path that reaches the process (issue 16): each must be routed as
# the canonical path and leave no token in any log line.
PATH_FORMS = ["/webhooks/kintone/{t}", "/webhooks/kintone//{t}", "//webhooks/kintone/{t}", "/webhooks/Kintone/{t}",
              "/Webhooks/KINTONE/{t}", "/webhooks%2Fkintone%2F{t}", "/webhooks%2fkintone/{t}", "/webhooks/kintone/{t}/",
              "/webhooks/kintone/{t}?x={t}", "/webhooks/kintone/%74{t1}"]
GMOSIGN_FORMS = ["/webhooks/gmosign/{t}", "/Webhooks/gmosign/{t}", "/webhooks//GmoSign//{t}"]
# A body that passes the parser, so a receiver that cannot accept it answers 500.
ACCEPTABLE = json.dumps({"id": "n-500", "type": "ADD_RECORD", "app": {"id": "3"},
                         "record": {"$id": {"value": "1"}, "$revision": {"value": "1"}}}).encode()


def _form(path: str, token: str) -> str:
    return path.format(t=token, t1=token[1:])


def _raw_request(port: int, method: str, path: str, body: bytes = b"") -> int:
    """Send the path exactly as written (no client-side normalising); the status code."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json",
                                                       "Referer": f"https://example.cybozu.com{path}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


CLIENT_FORMS = [f for f in PATH_FORMS if not f.startswith("//")]  # the test client reads //x as a host


@pytest.mark.parametrize("form", CLIENT_FORMS)
def test_every_spelling_of_the_kintone_path_is_routed_as_the_canonical_one(form, client):
    # werkzeug's test client decodes the path as a server does (%2F -> /) before routing.
    assert client.post(_form(form, WEBHOOK_TOKEN), data=b"{}").status_code == 422  # reached the parser


def test_a_forced_500_and_every_path_spelling_leave_no_token_in_any_logger(settings, redis_conn, ctx):
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        logs.configure("DEBUG", "json", stream=out)
        app = create_app(settings, connection=redis_conn)
        app.extensions["kgbridge"]["mappings"] = None  # every webhook that passes the parser is a 500
        client = app.test_client()
        codes = {client.post(_form(form, WEBHOOK_TOKEN), data=ACCEPTABLE).status_code for form in CLIENT_FORMS}
        logging.getLogger("werkzeug").info('"POST %s HTTP/1.1" 500 -', f"/webhooks%2Fkintone%2F{WEBHOOK_TOKEN}")
    finally:
        logging.getLogger().removeHandler(handler)

    text = out.getvalue()
    assert codes == {500}
    assert "Exception on /webhooks/kintone/[redacted] [POST]" in text and "Traceback" in text
    assert WEBHOOK_TOKEN not in text and WEBHOOK_TOKEN[1:] not in text


def test_every_configured_secret_is_redacted_from_any_logger_and_any_structlog_key(redis_url):
    from kgbridge.settings import load_settings

    secrets = {"webhook_token": "hook-token-abcdefghijklmnop", "webhook_token_next": "hook-next-abcdefghijklmnop",
               "gmosign_webhook_token": "gmo-hook-abcdefghijklmnop", "gmosign_secret_key": "gmo-key-0123456789",
               "gstaff_api_key": "gstaff-key-0123456789", "kintone_api_tokens": {"orders": "kintone-api-0123456789"}}
    password = "redis-pass/word@0123"
    load_settings(connector_mode="fake", redis_url=redis_url.replace("redis://", "redis://:redis-pass%2Fword%400123@"),
                  **secrets)
    values = [v for v in secrets.values() if isinstance(v, str)] + ["kintone-api-0123456789", password]
    out = io.StringIO()
    logs.configure("DEBUG", "json", stream=out)
    handler = logging.StreamHandler(out)
    logging.getLogger().addHandler(handler)
    try:
        for value in values:
            logging.getLogger("rq.worker").warning("connecting with %s", value)
            logging.getLogger("gunicorn.error").error("Error handling request %s", f"/x?key={value}")
            logging.getLogger("anything.else").info({"nested": [value]})
            try:
                raise RuntimeError(f"refused {value}")
            except RuntimeError:
                logging.getLogger("flask.app").exception("Exception on /x [POST]")
                structlog.get_logger("t").exception("failed", detail={"deep": [value]}, step=value)
            structlog.get_logger("t").info(f"event with {value}", exception=value)
    finally:
        logging.getLogger().removeHandler(handler)

    text = out.getvalue()
    assert text.count("[redacted]") >= 7 * len(values)
    assert [v for v in [*values, "redis-pass%2Fword%400123"] if v in text] == []


def test_gunicorn_logs_show_no_token_for_any_path_spelling_nor_a_forced_500(redis_url):
    env = {"KGBRIDGE_REDIS_URL": redis_url, "KGBRIDGE_CONNECTOR_MODE": "fake", "KGBRIDGE_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
           "KGBRIDGE_GMOSIGN_WEBHOOK_TOKEN": GMOSIGN_WEBHOOK_TOKEN}
    codes = {}
    with Gunicorn(env, workers=1) as web:  # what `kgbridge serve` runs, logging to scanned files
        for form in PATH_FORMS:
            codes[form] = _raw_request(web.port, "POST", _form(form, WEBHOOK_TOKEN), b"{}")
        for form in GMOSIGN_FORMS:
            codes[form] = _raw_request(web.port, "POST", _form(form, GMOSIGN_WEBHOOK_TOKEN), b"{}")
    with Gunicorn(env, workers=1, app="tests.apps:receiver_without_mappings()", name="gunicorn-500") as broken:
        forced = [_raw_request(broken.port, "POST", _form(form, WEBHOOK_TOKEN), ACCEPTABLE) for form in PATH_FORMS]

    # Each spelling reached the parser (422 for "{}").
    assert {codes[f] for f in PATH_FORMS} == {422}, codes
    assert {codes[f] for f in GMOSIGN_FORMS} == {422}
    assert set(forced) == {500}
    access = web.access.read_text()
    lines = [json.loads(line) for line in access.splitlines()]  # gunicorn's lines in our JSON format
    assert all(line["logger"] == "gunicorn.access" for line in lines), access
    assert any(re.search(r'"POST /webhooks/kintone/\[redacted\] HTTP/1.1" 422', line["event"]) for line in lines), access
    errors = [json.loads(line) for line in web.errors.read_text().splitlines()]  # gunicorn's own lines too
    assert {line["logger"] for line in errors} <= {"gunicorn.error"} and errors, web.errors.read_text()
    assert any(line["event"].startswith("Booting worker") for line in errors), errors
    for path in (web.access, web.errors, web.output, broken.access, broken.errors, broken.output):
        text = path.read_text()
        assert WEBHOOK_TOKEN not in text and WEBHOOK_TOKEN[1:] not in text and GMOSIGN_WEBHOOK_TOKEN not in text, \
            (path.name, text[-3000:])
    assert "Exception on /webhooks/kintone/[redacted] [POST]" in broken.output.read_text()


# -- the image ------------------------------------------------------------------------------------


def test_the_docker_image_runs_as_a_non_root_user():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    users = [line.split(None, 1)[1].strip() for line in lines if line.upper().startswith("USER ")]
    assert users, "the Dockerfile sets no USER, so the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    last_user = max(i for i, line in enumerate(lines) if line.upper().startswith("USER "))
    starts = [i for i, line in enumerate(lines) if line.upper().startswith(("CMD", "ENTRYPOINT"))]
    assert starts and min(starts) > last_user  # the process starts after the switch
    if user.isdigit():
        assert re.search(rf"useradd[^\n]*--uid {user}\b", "\n".join(lines)), "the uid is created in the image"


# -- GMO Sign callbacks: a trigger, never a fact (issue 15) ----------------------------------------

GMOSIGN_PATH = "/webhooks/gmosign/security-gmosign-token-0123456789"


@pytest.fixture
def gmosign_ctx(ctx):
    from connectors.gmosign.fake import FakeGmoSign
    from connectors.gstaff.fake import FakeGStaff

    ctx.gmosign = FakeGmoSign(supports_lookup=False)  # GMO Sign as published: no status query
    ctx.gstaff = FakeGStaff.with_samples()
    return ctx


def _gmosign_client(settings, redis_conn, **extra):
    from pydantic import SecretStr

    update = {"gmosign_webhook_token": SecretStr(GMOSIGN_PATH.rsplit("/", 1)[1]), **extra}
    return create_app(settings.model_copy(update=update), connection=redis_conn).test_client()


def test_a_forged_completion_callback_with_the_right_token_concludes_nothing(settings, redis_conn, gmosign_ctx,
                                                                            kintone, drain):
    from flows import contract_issuance
    from tests.fault_kit import CONTRACTS, seed_client, seed_contract

    a = seed_contract(kintone, seed_client(kintone))
    b = seed_contract(kintone, seed_client(kintone))
    for rid in (a, b):
        assert contract_issuance.run(gmosign_ctx, "contracts", rid) == "sent_for_signature"
    envelope_a, envelope_b = (kintone.record_values(CONTRACTS, r)["GMOサイン文書ID"] for r in (a, b))
    gmosign_ctx.gmosign.complete(envelope_b)  # B is completed at GMO Sign; A is not
    client = _gmosign_client(settings, redis_conn)

    # The leaked-token attacker: "A is completed, here is its document" (B's).
    forged = {"envelope_xid": envelope_a, "event": "Completed",
              "document_list": [{"documentId": f"{envelope_b}-D1", "document_name": "契約書"}]}
    assert client.post(GMOSIGN_PATH, json=forged).status_code == 200
    drain()

    record = kintone.record_values(CONTRACTS, a)
    assert record["ステータス"] == "署名依頼中" and record["締結済PDF"] == [] and record["締結日"] in ("", None)
    assert gmosign_ctx.gstaff.archives == {}
    assert gmosign_ctx.gmosign.calls["download_document"] == 1  # A's own stored document, never B's


@pytest.mark.parametrize(("peer", "forwarded", "status"), [
    ("203.0.113.5", None, 200),  # GMO Sign itself
    ("198.51.100.9", None, 403),  # anyone else
    ("198.51.100.9", "203.0.113.5", 403),  # a header claiming an allowed address, from an untrusted peer
    ("10.0.0.2", "198.51.100.9, 203.0.113.5", 200),  # behind our proxy: the hop the proxy saw counts
    ("10.0.0.2", "203.0.113.5, 198.51.100.9", 403),
])
def test_the_gmo_sign_callback_allow_list_judges_the_real_source(settings, redis_conn, gmosign_ctx, peer,
                                                                 forwarded, status):
    client = _gmosign_client(settings, redis_conn, gmosign_callback_allowed_ips=[ipaddress.ip_network("203.0.113.0/28")],
                             trusted_proxies=[ipaddress.ip_network("10.0.0.0/24")])
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    answer = client.post(GMOSIGN_PATH, json={"envelope_xid": "ENV1"}, headers=headers,
                         environ_base={"REMOTE_ADDR": peer})
    assert answer.status_code == status
    if status == 403:
        assert answer.get_json()["error"] == "source address not allowed"
        assert redis_conn.dbsize() == 0
