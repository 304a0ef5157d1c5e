"""The kintone webhook receiver, through Flask's test client against a real Redis and a real
RQ worker: a webhook in, the kintone record out."""

from __future__ import annotations

import json

import pytest
from rq import Queue
from rq.serializers import JSONSerializer

from kgbridge.inbox import inbox_key
from kgbridge.samples import notification, seed_embedded
from tests.conftest import WEBHOOK_TOKEN
from webhooks import create_app

ORDERS = "3"


@pytest.fixture
def app(settings, redis_conn, ctx):
    return create_app(settings, connection=redis_conn)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def ids(kintone, mappings):
    return seed_embedded(kintone, mappings)


def _queued(redis_conn, settings) -> int:
    return Queue(settings.queue_name, connection=redis_conn, serializer=JSONSerializer).count


def post(client, body, token=WEBHOOK_TOKEN):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body, ensure_ascii=False)
    return client.post(f"/webhooks/kintone/{token}", data=data, content_type="application/json")


def test_complete_order_webhook_ends_in_supervisor_approval(client, kintone, ids, drain):
    response = post(client, notification(kintone, ORDERS, ids["order_complete"]))
    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "duplicate": False, "jobs": 1}
    assert response.headers["Content-Type"] == "application/json"

    drain()

    record = kintone.record_values(ORDERS, ids["order_complete"])
    assert record["ステータス"] == "上長承認待ち"
    assert [u["code"] for u in record["作業者"]] == ["tanaka"]


def test_incomplete_order_webhook_ends_with_one_comment_listing_missing_items(client, kintone, ids, drain):
    post(client, notification(kintone, ORDERS, ids["order_incomplete"]))
    drain()

    [text] = kintone.comment_texts(ORDERS, ids["order_incomplete"])
    for label in ("募集背景", "請求単価", "残業時間"):
        assert f"・{label}" in text
    assert "有限会社はじめて製作所" in text  # the client has no credit approval either
    assert kintone.record_values(ORDERS, ids["order_incomplete"])["ステータス"] == "未処理"


def test_repeated_notification_changes_nothing_more(client, kintone, ids, drain, redis_conn, settings):
    body = notification(kintone, ORDERS, ids["order_incomplete"])
    post(client, body)
    drain()
    calls = sum(kintone.calls.values())

    again = post(client, body)
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    # Same record revision under a new notification id: the job id de-duplicates.
    fresh = dict(body, id="another-notification-id")
    assert post(client, fresh).get_json()["jobs"] in (0, 1)
    drain()

    assert len(kintone.comment_texts(ORDERS, ids["order_incomplete"])) == 1
    assert _queued(redis_conn, settings) == 0
    assert sum(kintone.calls.values()) - calls <= 2  # at most a re-read, never a second comment


def test_our_own_status_change_does_not_loop(client, kintone, ids, drain):
    post(client, notification(kintone, ORDERS, ids["order_complete"]))
    drain()
    # kintone now notifies UPDATE_STATUS for the action we ran.
    post(client, notification(kintone, ORDERS, ids["order_complete"], event_type="UPDATE_STATUS"))
    drain()

    record = kintone.record_values(ORDERS, ids["order_complete"])
    assert record["ステータス"] == "上長承認待ち" and record["$revision"] == "3"


@pytest.mark.parametrize("token", ["wrong-token-0123456789", "", "x" * 300])
def test_wrong_token_is_refused_without_detail_and_records_nothing(client, kintone, ids, token, redis_conn,
                                                                    settings):
    response = client.post(f"/webhooks/kintone/{token}", data=b"{}", content_type="application/json")
    assert response.status_code in (404, 405)
    assert "token" not in response.get_data(as_text=True)
    assert _queued(redis_conn, settings) == 0
    assert redis_conn.dbsize() == 0


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b"{not json", 400, "not valid JSON"),
        (b"\xff\xfe", 400, "not UTF-8"),
        (b"[1, 2]", 400, "JSON object"),
        (json.dumps({"id": "x", "type": "ADD_RECORD", "app": {"id": "3"}}), 422, "needs a 'record'"),
        (json.dumps({"id": "x", "type": "EXPLODE", "app": {"id": "3"}}), 422, "type"),
        (json.dumps({"id": "x", "type": "DELETE_RECORD", "app": {"id": "3"}}), 422, "recordId"),
        (json.dumps({"id": "x", "type": "ADD_RECORD", "app": {"id": "3"},
                     "record": {"$id": {"value": 5}, "$revision": {"value": "1"}}}), 422, "$id"),
        (b"[" * 100000 + b"]" * 100000, 400, "nested"),
        *[(json.dumps({"id": "x", "type": "ADD_RECORD", "app": {"id": "3"}, "record": record}), 422,
           "not a kintone notification: record: Input should be a valid dictionary")
          for record in ("x", [], 7, True, [{"$id": {"value": "1"}}])],
        (json.dumps({"id": "x", "type": "UPDATE_STATUS", "app": {"id": "3"}, "record": None}), 422,
         "not a kintone notification: body: Value error, UPDATE_STATUS needs a 'record'"),
    ],
)
def test_malformed_bodies_get_a_4xx_with_the_reason_and_record_nothing(client, body, status, reason, redis_conn):
    response = post(client, body)
    assert response.status_code == status
    assert reason in response.get_json()["error"]
    assert redis_conn.dbsize() == 0


def test_unknown_app_is_refused_and_nothing_recorded(client, kintone, ids, redis_conn):
    body = notification(kintone, ORDERS, ids["order_complete"])
    body["app"]["id"] = "999"
    response = post(client, body)
    assert response.status_code == 422
    assert "not mapped" in response.get_json()["error"]
    assert redis_conn.dbsize() == 0


def test_oversized_body_is_refused(client, settings):
    response = post(client, b" " * (settings.max_body_bytes + 1))
    assert response.status_code == 413
    assert "larger than" in response.get_json()["error"]


def test_event_without_a_flow_is_acknowledged_and_ignored(client, kintone, ids, redis_conn, settings, drain):
    body = {"id": "del-1", "type": "DELETE_RECORD", "app": {"id": ORDERS, "name": "オーダー"},
            "recordId": ids["order_complete"], "deletedBy": {"code": "sato", "name": "x"},
            "deletedAt": "2026-11-23T00:00:00Z"}
    response = post(client, body)
    again = post(client, body)
    drain()

    assert response.status_code == 200
    assert response.get_json()["jobs"] == 0 and "ignored" in response.get_json()
    assert again.get_json()["duplicate"] is True
    assert redis_conn.llen(inbox_key(settings)) == 0 and _queued(redis_conn, settings) == 0
    assert sum(kintone.calls.values()) == 0


def test_redis_down_answers_503_so_nothing_is_acknowledged(settings, ctx, kintone, ids):
    import redis as redis_lib

    dead = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    app = create_app(settings, connection=dead)
    response = post(app.test_client(), notification(kintone, ORDERS, ids["order_complete"]))
    assert response.status_code == 503
    assert response.headers["Retry-After"]


def test_health_and_readiness(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").get_json() == {"ok": True}


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
def test_a_recorded_webhook_logs_its_receiver_line_at_debug_only_and_a_duplicate_at_info(level, client, kintone, ids):
    import io

    from kgbridge import logs

    out = io.StringIO()
    logs.configure(level, "json", stream=out)
    body = notification(kintone, ORDERS, ids["order_complete"])
    assert post(client, body).status_code == 200
    assert post(client, body).get_json()["duplicate"] is True

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    accepted = [(line["level"], line["outcome"]) for line in lines if line["event"] == "webhook accepted"]
    expected = [("info", "duplicate")] if level == "INFO" else [("debug", "recorded"), ("info", "duplicate")]
    assert accepted == expected
    assert logs.enabled_for(20) and logs.enabled_for(10) is (level == "DEBUG")
