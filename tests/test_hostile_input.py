"""Hostile bodies the fuzzing of issue 16 found: each gets a 4xx with its reason and changes nothing;
ids are ASCII digits only; job ids are one per distinct event; senders' keys cannot collide; the Redis
password stays out of every repr. Through the receiver's HTTP interface (Flask's test client)."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from connectors.gmosign import Signer, TemplateSend
from connectors.gmosign.fake import FakeGmoSign
from kgbridge.jobs import job_id, revision_of
from kgbridge.samples import notification, seed_embedded
from kgbridge.settings import load_settings
from tests.conftest import WEBHOOK_TOKEN
from tests.fault_kit import queued
from tests.pii import GMOSIGN_WEBHOOK_TOKEN
from webhooks import create_app

ORDERS = "3"
KINTONE = f"/webhooks/kintone/{WEBHOOK_TOKEN}"
GMOSIGN = f"/webhooks/gmosign/{GMOSIGN_WEBHOOK_TOKEN}"
REDIS_PASSWORD = "redis-password-do-not-log-0123"


@pytest.fixture
def client(settings, redis_conn, ctx):
    app = create_app(settings.model_copy(update={"gmosign_webhook_token": SecretStr(GMOSIGN_WEBHOOK_TOKEN)}),
                     connection=redis_conn)
    return app.test_client()


@pytest.fixture
def ids(kintone, mappings):
    return seed_embedded(kintone, mappings)


def _refused(client, path, data: bytes, redis_conn, settings, status=400) -> str:
    before = redis_conn.dbsize()
    response = client.post(path, data=data, content_type="application/json")
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["ok"] is False and body["error"].strip()
    assert redis_conn.dbsize() == before and queued(redis_conn, settings) == 0
    return body["error"]


def _with(valid: dict, fragment: str) -> bytes:
    """The valid body with a field ``x`` whose value is the raw JSON text ``fragment``."""
    text = json.dumps(valid, ensure_ascii=False)
    return (text[:-1] + ', "x": ' + fragment + "}").encode()


HOSTILE_NUMBERS = ["1" * 4301, "-" + "9" * 5000, "NaN", "Infinity", "-Infinity", "1e99999", "-1e400",
                   "[1e309]", '{"a": ' + "7" * 4400 + "}"]


@pytest.mark.parametrize("fragment", HOSTILE_NUMBERS, ids=lambda f: f[:12])
@pytest.mark.parametrize("path", [KINTONE, GMOSIGN], ids=["kintone", "gmosign"])
def test_numbers_json_does_not_allow_or_python_cannot_hold_are_refused_with_400(path, fragment, client, kintone, ids,
                                                                                 redis_conn, settings):
    valid = notification(kintone, ORDERS, ids["order_complete"]) if path == KINTONE else _gmosign_callback(ids)

    reason = _refused(client, path, _with(valid, fragment), redis_conn, settings)

    assert reason.startswith("body is not valid JSON")


def test_big_but_holdable_numbers_and_real_floats_still_pass(client, kintone, ids, redis_conn, settings):
    valid = notification(kintone, ORDERS, ids["order_complete"])
    response = client.post(KINTONE, data=_with(valid, "[" + "9" * 4300 + ", 1.5e308, -0.0, 1e-400]"),
                           content_type="application/json")
    assert response.status_code == 200 and response.get_json()["jobs"] == 1


@pytest.mark.parametrize("body", [b'{"id": "\\ud800"}', b'{"id": "a\\uDFFFb", "type": "ADD_RECORD"}',
                                  b'{"\\udbff": 1}', b'{"x": ["\\ud83d"]}'])
def test_a_lone_surrogate_escape_is_refused_with_400(body, client, redis_conn, settings):
    reason = _refused(client, KINTONE, body, redis_conn, settings)
    assert "surrogate" in reason


def test_a_surrogate_pair_is_a_character_and_passes(client, kintone, ids, redis_conn, settings):
    valid = notification(kintone, ORDERS, ids["order_complete"])
    response = client.post(KINTONE, data=_with(valid, '"\\ud83d\\ude00"'), content_type="application/json")
    assert response.status_code == 200


@pytest.mark.parametrize("body", [b"\xff{}", b'{"id": "\xe3\x81"}', b"\xef\xbb\xbf{}", b"{" * 100_000,
                                  b"[" * 3000 + b"]" * 3000])
def test_bytes_that_are_not_a_json_object_get_400(body, client, redis_conn, settings):
    _refused(client, KINTONE, body, redis_conn, settings)


@pytest.mark.parametrize("value", ["²", "١٢", "３", "12\n", " 12", "1_000", "+1", "", "1" * 21])
@pytest.mark.parametrize("key", ["$id", "$revision"])
def test_record_ids_and_revisions_are_ascii_digits_only(key, value, client, kintone, ids, redis_conn, settings):
    body = notification(kintone, ORDERS, ids["order_complete"])
    body["record"][key] = {"type": "__ID__", "value": value}

    reason = _refused(client, KINTONE, json.dumps(body, ensure_ascii=False).encode(), redis_conn, settings, 422)

    assert f"record.{key}.value must be a number" in reason


@pytest.mark.parametrize("field,value", [("recordId", "３"), ("recordId", "١٢"), ("comment", {"id": "²"})])
def test_record_and_comment_ids_of_other_events_are_ascii_digits_only(field, value, client, redis_conn, settings):
    body = {"id": "n-1", "type": "ADD_RECORD_COMMENT", "app": {"id": ORDERS}, "recordId": "1", "comment": {"id": "1"},
            field: value}
    _refused(client, KINTONE, json.dumps(body, ensure_ascii=False).encode(), redis_conn, settings, 422)


def test_revision_markers_read_ascii_digits_only():
    assert revision_of("r12") == 12
    assert [revision_of(m) for m in ("r²", "r３", "r١٢", "r", "c12", "r1\n")] == [None] * 6


def test_job_ids_are_one_per_distinct_event_and_keep_their_old_form_for_plain_ids():
    markers = ["eあ", "eい", "e_", "e.", "e:", "e/", "e_2e", "e_5f", "e-", "ea-b", "ea_b", "e" + "x" * 100, "e"]
    made = {job_id("order_registration", "orders", "7", m) for m in markers}
    assert len(made) == len(markers)
    assert len({job_id("f", "a", r, "r1") for r in ("1", "1-r1", "1_2d", "1-")}) == 4
    assert len({job_id("signature_status", "contracts", "", m) for m in ("E.1-Completed", "E_1-Completed",
                                                                         "E:1-Completed")}) == 3
    # What reconcile and the worker-kill tests compute, and GMO Sign's envelope markers, as before.
    assert job_id("contract_issuance", "contracts", "12", "r3") == "contract_issuance-contracts-12-r3"
    assert job_id("signature_status", "contracts", "", "ENV000077-Completed") == \
        "signature_status-contracts--ENV000077-Completed"
    assert all(set(i) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") for i in made)


def test_two_notifications_whose_ids_differ_only_outside_ascii_get_two_job_ids():
    from webhooks.intake import parse_kintone

    notes = [parse_kintone(json.dumps({"id": nid, "type": "DELETE_RECORD", "app": {"id": ORDERS},
                                       "recordId": "7"}).encode()) for nid in ("削除あ", "削除い", "削除_", "削除.")]
    assert len({job_id("order_registration", "orders", n.record_id, n.marker) for n in notes}) == 4


# -- one namespace per sender -------------------------------------------------------------------


def _gmosign_callback(ids) -> dict:
    gmosign = FakeGmoSign()
    sent = gmosign.send_from_template(TemplateSend(template_id="TPL-INDIVIDUAL", envelope_name="契約書",
                                                   document_code=f"kintone-contracts-{ids['contract']}",
                                                   signers=[Signer("署名 者", "signer@example.com")]))
    return gmosign.complete(sent.envelope_id)


def test_a_kintone_id_shaped_like_a_gmosign_key_does_not_make_the_callback_a_duplicate(client, kintone, ids,
                                                                                      redis_conn):
    from kgbridge import envelopes

    callback = _gmosign_callback(ids)
    envelopes.remember(redis_conn, callback["envelope_xid"], "contracts", ids["contract"])  # a contract's envelope
    body = notification(kintone, ORDERS, ids["order_complete"],
                        event_id=f"gmosign:{callback['envelope_xid']}:Completed")
    assert client.post(KINTONE, json=body).get_json()["duplicate"] is False

    answer = client.post(GMOSIGN, json=callback).get_json()

    assert answer["duplicate"] is False and answer["jobs"] == 1
    assert client.post(GMOSIGN, json=callback).get_json()["duplicate"] is True  # its own repeat still is


def test_the_gmosign_envelope_id_ENV000077_case(client, kintone, ids, redis_conn, mappings):
    """The case from the issue, with GMO Sign's own id: the kintone notification first, then the callback."""
    body = notification(kintone, ORDERS, ids["order_complete"], event_id="gmosign:ENV000077:Completed")
    assert client.post(KINTONE, json=body).status_code == 200
    answer = client.post(GMOSIGN, json={"envelope_xid": "ENV000077", "document_list": []}).get_json()
    assert answer["duplicate"] is False


def test_a_mark_written_before_the_namespaces_still_makes_a_repeat_a_duplicate(client, kintone, ids, redis_conn):
    body = notification(kintone, ORDERS, ids["order_complete"])
    redis_conn.set(f"kgbridge:seen:{body['id']}", "1", ex=60)  # what the previous release wrote

    assert client.post(KINTONE, json=body).get_json() == {"ok": True, "duplicate": True, "jobs": 0}


# -- the Redis password ---------------------------------------------------------------------------


def test_the_redis_url_password_is_in_no_repr_and_the_client_still_uses_it(redis_url):
    url = redis_url.replace("redis://", f"redis://:{REDIS_PASSWORD}@")
    settings = load_settings(connector_mode="fake", redis_url=url)

    for text in (repr(settings), str(settings), repr(settings.redis_url), settings.model_dump_json(),
                 str(settings.model_dump())):
        assert REDIS_PASSWORD not in text
    assert settings.redis_dsn() == url
    from kgbridge.bootstrap import redis_client

    pool = redis_client(settings).connection_pool
    assert pool.connection_kwargs["password"] == REDIS_PASSWORD and REDIS_PASSWORD not in repr(pool)
