"""LiveKintoneClient against canned kintone answers (``responses`` blocks real network).

Request and response bodies follow the samples in docs/reference kintone.md §2
(official samples and real-tenant captures). Sleeps are recorded, never slept.
"""

from __future__ import annotations

import traceback
from datetime import UTC, datetime

import pytest
import requests
import responses
from responses import matchers
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from connectors.errors import Permanent, RetryLater
from connectors.http_retry import MAX_RETRY_AFTER, parse_retry_after
from connectors.kintone.errors import (
    KintoneAssigneeRequired,
    KintoneAuthError,
    KintoneConfigError,
    KintoneConnectionError,
    KintoneDatabaseLocked,
    KintoneDataError,
    KintoneNotFound,
    KintonePermissionDenied,
    KintoneProcessDisabled,
    KintoneRateLimited,
    KintoneRefused,
    KintoneRevisionConflict,
    KintoneStatusConflict,
    KintoneTokenDuplicate,
    KintoneTokenInvalid,
    KintoneTokenNotPermitted,
    KintoneUnavailable,
    KintoneValidationError,
)
from connectors.kintone.interface import Comment, KintoneClient, Mention
from connectors.kintone.live import LiveKintoneClient

BASE = "https://example.cybozu.com"
API = f"{BASE}/k/v1"
TOKEN_A = "AAAAtokenForApp1xxxxxxxxxxxxxxxxxxxxxxxx"
TOKEN_B = "BBBBtokenForApp2xxxxxxxxxxxxxxxxxxxxxxxx"
TOKEN_C = "CCCCtokenForLookupSourcexxxxxxxxxxxxxxxx"
ALL_TOKENS = (TOKEN_A, TOKEN_B, TOKEN_C)

# -- kintone answers (kintone.md §1.5, §2.5, §2.6, §2.7, §2.8) --------------------------------

RECORD = {
    "$id": {"type": "__ID__", "value": "1"},
    "$revision": {"type": "__REVISION__", "value": "5"},
    "会社名": {"type": "SINGLE_LINE_TEXT", "value": "サイボウズ株式会社"},
    "ステータス": {"type": "STATUS", "value": "申請中"},
}

NOT_FOUND = {
    "code": "GAIA_RE01",
    "id": "jxcbVKLdjmcOc1wQ2nMT",
    "message": "指定したレコード（id: 99999）が見つかりません。",
}
VALIDATION = {
    "code": "CB_VA01",
    "id": "lU7ktS1gHDiuQrE2FRJc",
    "message": "Missing or invalid input.",
    "errors": {"id": {"messages": ["Required field."]}},
}
RATE_LIMITED = {
    "code": "GAIA_TO04",
    "id": "1505999166-897850006",
    "message": "The number of concurrent API requests exceeds the limit.",
}
RATE_LIMIT_HEADERS = {
    "X-Cybozu-Error": "GAIA_TO04",
    "X-ConcurrencyLimit-Limit": "100",
    "X-ConcurrencyLimit-Running": "100",
}
DB_LOCKED = {
    "code": "GAIA_DA02",
    "id": "pQ2bWm8vXy1Zr3Ts4Uv5",
    "message": "Failed to save the changes because the database could not be locked. "
    "Please wait a while and try again.",
}
REVISION_CONFLICT = {
    "code": "GAIA_CO02",
    "id": "Kd9fGh2jLm4nPq6rSt8v",
    "message": "指定したrevisionは最新ではありません。ほかのユーザーがレコードを更新した可能性があります。",
}
STATUS_CONFLICT = {
    "code": "GAIA_IL03",
    "id": "Wx1yZa3bCd5eFg7hIj9k",
    "message": "Failed to update the status. The settings or the status itself may have been "
    "changed by someone.",
}
ASSIGNEE_REQUIRED = {
    "code": "GAIA_SA01",
    "id": "Lm2nOp4qRs6tUv8wXy0z",
    "message": "作業者を指定してください。",
}
PROCESS_DISABLED = {
    "code": "GAIA_ST02",
    "id": "Ab1cDe2fGh3iJk4lMn5o",
    "message": "Your request failed. The process management feature has been disabled.",
}
NO_PERMISSION = {
    "code": "CB_NO02",
    "id": "Pq6rSt7uVw8xYz9aBc0d",
    "message": "No privilege to proceed.",
}
AUTH_FAILED = {
    "code": "CB_WA01",
    "id": "Ef1gHi2jKl3mNo4pQr5s",
    "message": "Password authentication failed.",
}
# Illustrative: kintone's maintenance answer is an HTML page, not JSON (kintone.md §2.8).
MAINTENANCE_PAGE = (
    '<!DOCTYPE html><html lang="ja"><head><title>メンテナンス中 | cybozu.com</title></head>'
    "<body><h1>ただいまメンテナンス中です</h1><p>しばらくお待ちください。</p></body></html>"
)


class Sleeps(list):
    """Stands in for time.sleep: remembers what it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def kintone():
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.fixture
def client(sleeps) -> LiveKintoneClient:
    return LiveKintoneClient(
        BASE, {"1": [TOKEN_A], "2": [TOKEN_B, TOKEN_C]}, retry_budget=30.0, sleep=sleeps, file_app="1"
    )


def maintenance(kintone: responses.RequestsMock, method: str, url: str) -> None:
    kintone.add(method, url, body=MAINTENANCE_PAGE, status=503, content_type="text/html")


def token_header(call) -> str:
    return call.request.headers["X-Cybozu-API-Token"]


# -- protocol, headers, paths ---------------------------------------------------------------


def test_the_client_satisfies_the_kintone_client_protocol(client):
    assert isinstance(client, KintoneClient)


def test_an_apps_tokens_travel_joined_by_commas_in_one_header(client, kintone):
    kintone.get(
        f"{API}/record.json",
        json={"record": RECORD},
        match=[matchers.header_matcher({"X-Cybozu-API-Token": f"{TOKEN_B},{TOKEN_C}"})],
    )

    client.get_record("2", "1")

    assert len(kintone.calls) == 1


def test_a_guest_space_client_uses_the_guest_path(sleeps, kintone):
    client = LiveKintoneClient(BASE + "/", {"1": [TOKEN_A]}, guest_space_id="7", sleep=sleeps)
    kintone.get(f"{BASE}/k/guest/7/v1/record.json", json={"record": RECORD})

    assert client.get_record("1", "1") == RECORD


def test_every_request_carries_the_configured_timeout(sleeps, kintone):
    client = LiveKintoneClient(BASE, {"1": [TOKEN_A]}, timeout=4.5, sleep=sleeps)
    kintone.get(f"{API}/record.json", json={"record": RECORD})

    client.get_record("1", "1")

    assert kintone.calls[0].request.req_kwargs["timeout"] == 4.5


def test_more_than_nine_tokens_for_one_app_is_a_config_error():
    tokens = [f"token{i}xxxxxxxx" for i in range(10)]

    with pytest.raises(KintoneConfigError) as caught:
        LiveKintoneClient(BASE, {"1": tokens})

    assert not any(token in str(caught.value) for token in tokens)


def test_an_app_configured_without_tokens_is_a_config_error():
    with pytest.raises(KintoneConfigError, match="app 3"):
        LiveKintoneClient(BASE, {"1": [TOKEN_A], "3": []})


def test_a_call_for_an_app_without_tokens_fails_before_any_request(client, kintone):
    with pytest.raises(KintoneConfigError, match="app 9"):
        client.get_record("9", "1")

    assert len(kintone.calls) == 0


# -- each method: request and parsed result -------------------------------------------------


def test_get_record_returns_kintones_record_with_id_and_revision(client, kintone):
    kintone.get(
        f"{API}/record.json",
        json={"record": RECORD},
        match=[matchers.query_param_matcher({"app": "1", "id": "1"})],
    )

    record = client.get_record("1", "1")

    assert record["$id"]["value"] == "1"
    assert record["$revision"]["value"] == "5"
    assert record["会社名"]["value"] == "サイボウズ株式会社"


def test_get_records_appends_the_limit_and_sends_fields_as_an_array(client, kintone):
    kintone.get(
        f"{API}/records.json",
        json={"records": [RECORD], "totalCount": None},
        match=[
            matchers.query_param_matcher(
                {
                    "app": "1",
                    "query": 'ステータス in ("申請中") order by $id asc limit 100',
                    "fields[0]": "$id",
                    "fields[1]": "会社名",
                }
            )
        ],
    )

    records = client.get_records(
        "1", 'ステータス in ("申請中") order by $id asc', fields=["$id", "会社名"], limit=100
    )

    assert records == [RECORD]


def test_get_records_without_a_query_sends_only_the_limit(client, kintone):
    kintone.get(
        f"{API}/records.json",
        json={"records": []},
        match=[matchers.query_param_matcher({"app": "1", "query": "limit 500"})],
    )

    assert client.get_records("1") == []


def test_get_records_refuses_a_limit_above_five_hundred(client, kintone):
    with pytest.raises(KintoneValidationError):
        client.get_records("1", limit=501)


def test_a_long_query_is_sent_as_post_with_method_override(client, kintone):
    ids = ", ".join(f'"{n}"' for n in range(1000, 2000))
    query = f"$id in ({ids})"
    kintone.post(
        f"{API}/records.json",
        json={"records": [RECORD]},
        match=[
            matchers.header_matcher({"X-HTTP-Method-Override": "GET"}),
            matchers.json_params_matcher(
                {"app": "1", "query": f"{query} limit 500", "fields": ["$id"]}
            ),
        ],
    )

    assert client.get_records("1", query, fields=["$id"]) == [RECORD]


def test_add_record_returns_the_new_id_and_revision(client, kintone):
    record = {"会社名": {"value": "サイボウズ株式会社"}}
    kintone.post(
        f"{API}/record.json",
        json={"id": "100", "revision": "1"},
        match=[matchers.json_params_matcher({"app": "1", "record": record})],
    )

    assert client.add_record("1", record) == ("100", "1")


def test_update_record_sends_the_expected_revision_and_returns_the_new_one(client, kintone):
    # The official sample, with ids as strings (kintone sends and accepts them as strings).
    record = {
        "文字列1行_0": {"value": "character string is changed"},
        "テーブル_0": {
            "value": [{"id": 1, "value": {"文字列1行_1": {"value": "character string is changed"}}}]
        },
    }
    kintone.put(
        f"{API}/record.json",
        json={"revision": "3"},
        match=[
            matchers.json_params_matcher(
                {"app": "1", "id": "1001", "record": record, "revision": "2"}
            )
        ],
    )

    assert client.update_record("1", "1001", record, revision="2") == "3"


def test_update_record_without_a_revision_does_not_send_one(client, kintone):
    record = {"会社名": {"value": "x"}}
    kintone.put(
        f"{API}/record.json",
        json={"revision": "6"},
        match=[matchers.json_params_matcher({"app": "1", "id": "1", "record": record})],
    )

    assert client.update_record("1", "1", record) == "6"


def test_update_status_sends_action_assignee_and_revision(sleeps, kintone):
    client = LiveKintoneClient(BASE, {"4": [TOKEN_A]}, sleep=sleeps)
    kintone.put(
        f"{API}/record/status.json",
        json={"revision": "3"},
        match=[
            matchers.json_params_matcher(
                {"app": "4", "id": "1", "action": "申請", "assignee": "user2", "revision": "1"}
            )
        ],
    )

    assert client.update_status("4", "1", "申請", assignee="user2", revision="1") == "3"


def test_update_status_leaves_out_assignee_and_revision_when_not_given(client, kintone):
    kintone.put(
        f"{API}/record/status.json",
        json={"revision": "9"},
        match=[matchers.json_params_matcher({"app": "1", "id": "1", "action": "承認する"})],
    )

    assert client.update_status("1", "1", "承認する") == "9"


def test_add_comment_sends_text_and_mentions_and_returns_the_id(sleeps, kintone):
    client = LiveKintoneClient(BASE, {"12343": [TOKEN_A]}, sleep=sleeps)
    mentions = [
        Mention("takahashi"),
        Mention("guest/yamada@test.jp", "USER"),
        Mention("営業本部_OZKQWZ", "ORGANIZATION"),
        Mention("管理部受付_zX6C6r", "GROUP"),
    ]
    kintone.post(
        f"{API}/record/comment.json",
        json={"id": 3},
        match=[
            matchers.json_params_matcher(
                {
                    "app": "12343",
                    "record": "4",
                    "comment": {
                        "text": "システムからのコメントです。ご確認をお願いします。",
                        "mentions": [
                            {"code": "takahashi", "type": "USER"},
                            {"code": "guest/yamada@test.jp", "type": "USER"},
                            {"code": "営業本部_OZKQWZ", "type": "ORGANIZATION"},
                            {"code": "管理部受付_zX6C6r", "type": "GROUP"},
                        ],
                    },
                }
            )
        ],
    )

    comment_id = client.add_comment(
        "12343", "4", "システムからのコメントです。ご確認をお願いします。", mentions
    )

    assert comment_id == "3"


def test_get_comments_asks_newest_first_and_reads_mentions_and_creator(client, kintone):
    kintone.get(
        f"{API}/record/comments.json",
        json={
            "comments": [
                {
                    "id": "2",
                    "text": "takahashi \n署名依頼を送信しました。",
                    "createdAt": "2024-04-01T01:02:03Z",
                    "creator": {"code": "Administrator", "name": "Administrator"},
                    "mentions": [{"code": "takahashi", "type": "USER"}],
                },
                {
                    "id": "1",
                    "text": "確認します",
                    "createdAt": "2024-03-31T01:02:03Z",
                    "creator": {"code": "sato", "name": "佐藤"},
                    "mentions": [],
                },
            ],
            "older": False,
            "newer": False,
        },
        match=[
            matchers.query_param_matcher({"app": "1", "record": "4", "order": "desc", "limit": "5"})
        ],
    )

    comments = client.get_comments("1", "4", limit=5)

    assert comments == [
        Comment(
            "2", "takahashi \n署名依頼を送信しました。", [Mention("takahashi")], "Administrator"
        ),
        Comment("1", "確認します", [], "sato"),
    ]


def test_get_form_fields_returns_the_properties_by_field_code(client, kintone):
    properties = {
        "会社名": {"type": "SINGLE_LINE_TEXT", "code": "会社名", "label": "会社名"},
        "ステータス": {"type": "STATUS", "code": "ステータス", "label": "ステータス"},
    }
    kintone.get(
        f"{API}/app/form/fields.json",
        json={"properties": properties, "revision": "12"},
        match=[matchers.query_param_matcher({"app": "1"})],
    )

    assert client.get_form_fields("1") == properties


def test_get_process_settings_returns_the_whole_body(client, kintone):
    body = {
        "enable": True,
        "states": {"未処理": {"name": "未処理", "index": "0", "assignee": {"type": "ONE"}}},
        "actions": [{"name": "申請", "from": "未処理", "to": "申請中", "filterCond": ""}],
        "revision": "4",
    }
    kintone.get(
        f"{API}/app/status.json", json=body, match=[matchers.query_param_matcher({"app": "1"})]
    )

    assert client.get_process_settings("1") == body


def test_upload_file_posts_one_multipart_file_part_and_returns_the_file_key(client, kintone):
    kintone.post(f"{API}/file.json", json={"fileKey": "c15b3870-7505-4ab6-9d8d-b9bdbc74f5d6"})

    key = client.upload_file("契約書.pdf", b"%PDF-1.7 body", "application/pdf")

    assert key == "c15b3870-7505-4ab6-9d8d-b9bdbc74f5d6"
    request = kintone.calls[0].request
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert 'name="file"; filename="契約書.pdf"'.encode() in request.body
    assert b"Content-Type: application/pdf" in request.body
    assert b"%PDF-1.7 body" in request.body


def test_download_file_returns_the_bytes(client, kintone):
    kintone.get(
        f"{API}/file.json",
        body=b"%PDF-1.7 \x00\xff",
        content_type="application/pdf",
        match=[matchers.query_param_matcher({"fileKey": "20240401abcdef"})],
    )

    assert client.download_file("20240401abcdef") == b"%PDF-1.7 \x00\xff"


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error_class"),
    [
        (404, NOT_FOUND, KintoneNotFound),
        (400, VALIDATION, KintoneValidationError),
        (409, REVISION_CONFLICT, KintoneRevisionConflict),
        (400, STATUS_CONFLICT, KintoneStatusConflict),  # HTTP status not documented
        (400, ASSIGNEE_REQUIRED, KintoneAssigneeRequired),
        (400, PROCESS_DISABLED, KintoneProcessDisabled),  # HTTP status not documented
        (403, NO_PERMISSION, KintonePermissionDenied),
        (401, AUTH_FAILED, KintoneAuthError),
        (400, DB_LOCKED, KintoneDatabaseLocked),
        (429, RATE_LIMITED, KintoneRateLimited),
    ],
)
def test_each_kintone_error_code_becomes_its_typed_error(
    status, body, error_class, kintone, sleeps
):
    client = LiveKintoneClient(BASE, {"1": [TOKEN_A]}, max_attempts=1, sleep=sleeps)
    kintone.get(f"{API}/record.json", json=body, status=status)

    with pytest.raises(error_class) as caught:
        client.get_record("1", "99999")

    error = caught.value
    assert (error.status, error.code, error.request_id) == (status, body["code"], body["id"])
    assert body["message"] in str(error)
    assert f"(id: {body['id']})" in str(error)


def test_a_validation_error_carries_the_field_errors(client, kintone):
    kintone.get(f"{API}/record.json", json=VALIDATION, status=400)

    with pytest.raises(KintoneValidationError) as caught:
        client.get_record("1", "")

    assert caught.value.errors == {"id": {"messages": ["Required field."]}}


def test_the_html_maintenance_page_becomes_unavailable_without_the_html(sleeps, kintone):
    client = LiveKintoneClient(BASE, {"1": [TOKEN_A]}, max_attempts=1, sleep=sleeps)
    maintenance(kintone, "GET", f"{API}/record.json")

    with pytest.raises(KintoneUnavailable) as caught:
        client.get_record("1", "1")

    message = str(caught.value)
    assert caught.value.status == 503
    assert "<" not in message and "メンテナンス" not in message
    assert "text/html" in message


def test_a_non_json_success_answer_becomes_unavailable(sleeps, kintone):
    client = LiveKintoneClient(BASE, {"1": [TOKEN_A]}, max_attempts=1, sleep=sleeps)
    kintone.get(f"{API}/record.json", body="<html>login</html>", content_type="text/html")

    with pytest.raises(KintoneUnavailable, match="unexpected answer"):
        client.get_record("1", "1")


def test_a_retry_after_header_is_read_into_the_error(sleeps, kintone):
    client = LiveKintoneClient(BASE, {"1": [TOKEN_A]}, max_attempts=1, sleep=sleeps)
    kintone.get(
        f"{API}/record.json",
        json=RATE_LIMITED,
        status=429,
        headers={**RATE_LIMIT_HEADERS, "Retry-After": "7"},
    )

    with pytest.raises(KintoneRateLimited) as caught:
        client.get_record("1", "1")

    assert caught.value.retry_after == 7.0


def test_a_connection_error_becomes_kintone_connection_error_with_its_cause(sleeps, kintone):
    client = LiveKintoneClient(BASE, {"1": [TOKEN_A]}, max_attempts=1, sleep=sleeps)
    refused = requests.ConnectionError("Connection refused")
    kintone.get(f"{API}/record.json", body=refused)

    with pytest.raises(KintoneConnectionError) as caught:
        client.get_record("1", "1")

    assert caught.value.__cause__ is refused


# -- retries -------------------------------------------------------------------------------


def test_a_429_with_retry_after_then_success_waits_at_least_retry_after(client, kintone, sleeps):
    kintone.get(
        f"{API}/record.json",
        json=RATE_LIMITED,
        status=429,
        headers={**RATE_LIMIT_HEADERS, "Retry-After": "2"},
    )
    kintone.get(f"{API}/record.json", json={"record": RECORD})

    assert client.get_record("1", "1") == RECORD
    assert len(kintone.calls) == 2
    assert len(sleeps) == 1 and sleeps[0] >= 2


def test_two_maintenance_pages_then_success_returns_the_record(client, kintone, sleeps):
    maintenance(kintone, "GET", f"{API}/record.json")
    maintenance(kintone, "GET", f"{API}/record.json")
    kintone.get(f"{API}/record.json", json={"record": RECORD})

    assert client.get_record("1", "1") == RECORD
    assert len(kintone.calls) == 3
    assert len(sleeps) == 2 and all(0 < s <= 8 for s in sleeps)


def test_retries_stop_after_max_attempts_and_raise_the_last_error(sleeps, kintone):
    client = LiveKintoneClient(BASE, {"1": [TOKEN_A]}, max_attempts=3, sleep=sleeps)
    maintenance(kintone, "GET", f"{API}/record.json")

    with pytest.raises(KintoneUnavailable):
        client.get_record("1", "1")

    assert len(kintone.calls) == 3
    assert len(sleeps) == 2


def test_a_spent_budget_raises_unavailable_without_waiting(sleeps, kintone):
    client = LiveKintoneClient(BASE, {"1": [TOKEN_A]}, retry_budget=0.5, sleep=sleeps)
    maintenance(kintone, "GET", f"{API}/record.json")

    with pytest.raises(KintoneUnavailable):
        client.get_record("1", "1")

    assert len(kintone.calls) == 1  # the first backoff (≥ 0.5 s) already reaches the budget
    assert sleeps == []


def test_a_retry_after_beyond_the_budget_is_not_waited_for(client, kintone, sleeps):
    kintone.get(
        f"{API}/record.json",
        body=MAINTENANCE_PAGE,
        status=503,
        content_type="text/html",
        headers={"Retry-After": "120"},
    )

    with pytest.raises(KintoneUnavailable) as caught:
        client.get_record("1", "1")

    assert caught.value.retry_after == 120.0  # left for the job-level retry
    assert len(kintone.calls) == 1
    assert sleeps == []


def test_permanent_errors_are_not_retried(client, kintone, sleeps):
    kintone.get(f"{API}/record.json", json=NOT_FOUND, status=404)

    with pytest.raises(KintoneNotFound):
        client.get_record("1", "99999")

    assert len(kintone.calls) == 1
    assert sleeps == []


def test_add_record_after_a_5xx_is_not_retried(client, kintone, sleeps):
    maintenance(kintone, "POST", f"{API}/record.json")

    with pytest.raises(KintoneUnavailable):
        client.add_record("1", {"会社名": {"value": "x"}})

    assert len(kintone.calls) == 1
    assert sleeps == []


def test_add_record_after_a_429_is_retried(client, kintone):
    kintone.post(f"{API}/record.json", json=RATE_LIMITED, status=429, headers=RATE_LIMIT_HEADERS)
    kintone.post(f"{API}/record.json", json={"id": "100", "revision": "1"})

    assert client.add_record("1", {"会社名": {"value": "x"}}) == ("100", "1")
    assert len(kintone.calls) == 2


def test_add_record_after_a_database_lock_is_retried(client, kintone):
    kintone.post(f"{API}/record.json", json=DB_LOCKED, status=400)
    kintone.post(f"{API}/record.json", json={"id": "100", "revision": "1"})

    assert client.add_record("1", {"会社名": {"value": "x"}}) == ("100", "1")
    assert len(kintone.calls) == 2


def test_add_record_after_connection_refused_is_retried(client, kintone):
    refused = NewConnectionError(None, "Failed to establish a new connection: refused")
    kintone.post(
        f"{API}/record.json",
        body=requests.ConnectionError(MaxRetryError(None, "/k/v1/record.json", refused)),
    )
    kintone.post(f"{API}/record.json", json={"id": "100", "revision": "1"})

    assert client.add_record("1", {"会社名": {"value": "x"}}) == ("100", "1")
    assert len(kintone.calls) == 2


def test_add_record_after_a_connection_reset_mid_request_is_not_retried(client, kintone):
    reset = ProtocolError("Connection aborted.", ConnectionResetError(104, "reset"))
    kintone.post(f"{API}/record.json", body=requests.ConnectionError(reset))

    with pytest.raises(KintoneConnectionError):
        client.add_record("1", {"会社名": {"value": "x"}})

    assert len(kintone.calls) == 1


def test_add_comment_after_a_read_timeout_is_not_retried(client, kintone, sleeps):
    kintone.post(f"{API}/record/comment.json", body=requests.ReadTimeout("read timed out"))

    with pytest.raises(KintoneConnectionError):
        client.add_comment("1", "4", "署名が完了しました。")

    assert len(kintone.calls) == 1
    assert sleeps == []


def test_add_comment_after_a_connect_timeout_is_retried(client, kintone):
    kintone.post(f"{API}/record/comment.json", body=requests.ConnectTimeout("connect timed out"))
    kintone.post(f"{API}/record/comment.json", json={"id": "3"})

    assert client.add_comment("1", "4", "署名が完了しました。") == "3"
    assert len(kintone.calls) == 2


def test_upload_file_after_a_5xx_is_not_retried(client, kintone):
    maintenance(kintone, "POST", f"{API}/file.json")

    with pytest.raises(KintoneUnavailable):
        client.upload_file("a.pdf", b"%PDF", "application/pdf")

    assert len(kintone.calls) == 1


def test_update_record_after_a_read_timeout_is_retried(client, kintone):
    kintone.put(f"{API}/record.json", body=requests.ReadTimeout("read timed out"))
    kintone.put(f"{API}/record.json", json={"revision": "6"})

    assert client.update_record("1", "1", {"会社名": {"value": "x"}}, revision="5") == "6"
    assert len(kintone.calls) == 2


def test_update_status_after_a_5xx_is_retried(client, kintone):
    maintenance(kintone, "PUT", f"{API}/record/status.json")
    kintone.put(f"{API}/record/status.json", json={"revision": "7"})

    assert client.update_status("1", "1", "申請") == "7"
    assert len(kintone.calls) == 2


# -- secrets ---------------------------------------------------------------------------------


def _everything_printed_about(error: BaseException | None) -> str:
    """str and repr of the error and of every exception chained to it (what a log shows)."""
    printed = ""
    while error is not None:
        printed += str(error) + repr(error) + "".join(traceback.format_exception_only(error))
        error = error.__cause__ or error.__context__
    return printed


def test_no_token_appears_in_the_client_repr(client):
    for text in (repr(client), str(client)):
        assert text == "LiveKintoneClient(base_url='https://example.cybozu.com')"


@pytest.mark.parametrize(
    "answer",
    [
        {"json": NOT_FOUND, "status": 404},
        {"json": VALIDATION, "status": 400},
        {"body": MAINTENANCE_PAGE, "status": 503, "content_type": "text/html"},
        {"body": requests.ReadTimeout("read timed out")},
    ],
)
def test_no_token_appears_in_any_error(answer, sleeps, kintone):
    client = LiveKintoneClient(
        BASE, {"2": [TOKEN_B, TOKEN_C], "1": [TOKEN_A]}, max_attempts=1, sleep=sleeps
    )
    kintone.get(f"{API}/record.json", **answer)

    with pytest.raises(Exception) as caught:
        client.get_record("2", "1")

    printed = _everything_printed_about(caught.value)
    assert not any(token in printed for token in ALL_TOKENS)


def test_no_token_appears_in_config_errors():
    with pytest.raises(KintoneConfigError) as caught:
        LiveKintoneClient(BASE, {"1": [TOKEN_A, "bad token,with comma"]})

    printed = _everything_printed_about(caught.value)
    assert TOKEN_A not in printed and "with comma" not in printed


# -- Retry-After parsing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("5", 5.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # already past
        ("999999", MAX_RETRY_AFTER),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_http_date(header, seconds):
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)

    assert parse_retry_after(header, now=now) == seconds


# -- token errors and 520 (kintone/cli-kintone features/record/import.feature) -------------------

TOKEN_INVALID = {
    "code": "GAIA_IA02",
    "id": "1505999166-897850006",
    "message": "The specified API token does not match the API token generated via an app.",
}
TOKEN_DUPLICATE = {
    "code": "GAIA_DA03",
    "id": "1505999166-836316825",
    "message": "You cannot specify a duplicate API token for the same app.",
}
TOKEN_NOT_PERMITTED = {
    "code": "GAIA_NO01",
    "id": "lzQPJ1hkW3Aj4iVebWCG",
    "message": "Using this API token, you cannot run the specified API.",
}


@pytest.mark.parametrize(
    ("status", "body", "error_class", "fix"),
    [
        (400, TOKEN_INVALID, KintoneTokenInvalid, "「アプリを更新」"),  # wrong token, or a draft
        (520, TOKEN_INVALID, KintoneTokenInvalid, "「アプリを更新」"),  # as older tenants answered
        (400, TOKEN_DUPLICATE, KintoneTokenDuplicate, "one token"),
        (403, TOKEN_NOT_PERMITTED, KintoneTokenNotPermitted, "permissions"),
        (520, TOKEN_NOT_PERMITTED, KintoneTokenNotPermitted, "permissions"),
    ],
)
def test_token_errors_are_configuration_errors_that_say_what_to_fix_and_are_not_retried(
    status, body, error_class, fix, kintone, sleeps
):
    client = LiveKintoneClient(BASE, {"1": [TOKEN_A]}, sleep=sleeps)
    kintone.post(f"{API}/record.json", json=body, status=status)

    with pytest.raises(error_class) as caught:
        client.add_record("1", {"会社名": {"value": "x"}})

    error = caught.value
    assert isinstance(error, KintoneConfigError) and not isinstance(error, KintoneDataError)
    assert (error.status, error.code, error.request_id) == (status, body["code"], body["id"])
    assert "KGBRIDGE_KINTONE_API_TOKENS" in str(error) and fix in str(error)
    assert TOKEN_A not in str(error)
    assert len(kintone.calls) == 1 and sleeps == []


def test_a_520_with_an_unknown_code_is_permanent(client, kintone, sleeps):
    body = {"code": "GAIA_XX99", "id": "Zz9yYx8wWv7uUt6sSr5q", "message": "Unknown error."}
    kintone.get(f"{API}/record.json", json=body, status=520)

    with pytest.raises(KintoneRefused) as caught:
        client.get_record("1", "1")

    assert isinstance(caught.value, Permanent) and not isinstance(caught.value, RetryLater)
    assert len(kintone.calls) == 1 and sleeps == []


def test_a_520_without_a_json_code_is_still_retried(client, kintone, sleeps):
    kintone.get(f"{API}/record.json", body="<html>520</html>", status=520, content_type="text/html")
    kintone.get(f"{API}/record.json", json={"record": RECORD})

    assert client.get_record("1", "1") == RECORD
    assert len(kintone.calls) == 2


def test_file_calls_carry_only_the_file_apps_own_token(sleeps, kintone):
    client = LiveKintoneClient(BASE, {"1": [TOKEN_A], "2": [TOKEN_B, TOKEN_A]}, sleep=sleeps, file_app="2")
    kintone.get(f"{API}/file.json", body=b"%PDF-1.7")
    kintone.post(f"{API}/file.json", json={"fileKey": "c15b3870-7505-4ab6-9d8d-b9bdbc74f5d6"})

    client.download_file("abc")
    client.upload_file("a.pdf", b"%PDF-1.7", "application/pdf")

    assert [token_header(c) for c in kintone.calls] == [TOKEN_B, TOKEN_B]


def test_file_calls_without_a_file_app_refuse_to_guess_between_apps(sleeps, kintone):
    client = LiveKintoneClient(BASE, {"1": [TOKEN_A], "2": [TOKEN_B]}, sleep=sleeps)

    with pytest.raises(KintoneConfigError, match="KGBRIDGE_KINTONE_FILE_APP"):
        client.download_file("abc")
    assert len(kintone.calls) == 0


def test_file_calls_with_one_own_token_use_it(sleeps, kintone):
    client = LiveKintoneClient(BASE, {"1": [TOKEN_A], "2": [TOKEN_A]}, sleep=sleeps)
    kintone.get(f"{API}/file.json", body=b"%PDF-1.7")

    client.download_file("abc")

    assert token_header(kintone.calls[0]) == TOKEN_A
