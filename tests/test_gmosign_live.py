"""LiveGmoSignClient against canned GMO Sign answers (``responses`` blocks real network).

Request and response shapes are those of GMO's Power Platform connector swagger
(reference/gmosign.md §1.3). The token endpoint is not public: its path and body here are our
documented assumption. Sleeps are recorded, never slept; the clock is ours.
"""

from __future__ import annotations

import base64
import json

import pytest
import requests
import responses
from responses import matchers
from urllib3.exceptions import MaxRetryError, NewConnectionError

from connectors.gmosign import (
    Approver,
    DocumentRef,
    GmoSignClient,
    GmoSignConfigError,
    GmoSignDataError,
    GmoSignNotFound,
    GmoSignNotSupported,
    GmoSignOutcomeUnknown,
    GmoSignTransientError,
    SignatureRequest,
    Signer,
    TemplateSend,
)
from connectors.gmosign.live import LiveGmoSignClient
from tests.test_kintone_live import Sleeps

BASE = "https://api.gmosign.com"
TOKEN_URL = f"{BASE}/customer/token"
SEND_URL = f"{BASE}/customer/envelopes/templates/TPL-INDIVIDUAL/transaction"
SECRET = "s3cr3t-key-never-logged"

SEND = TemplateSend(
    template_id="TPL-INDIVIDUAL",
    envelope_name="労働者派遣個別契約書（株式会社サンプル物流）",
    document_code="kintone-contracts-12",
    signers=[Signer(name="山田 花子", email="yamada@example.com", organization="株式会社サンプル物流")],
    approvers=[Approver(name="佐藤 一郎", email="sato@example.co.jp")],
    merge_fields={"就業場所": "東京物流センター", "管理番号": "kintone-contracts-12"},
    sender_name="マーケティング部",
    approval_comment="承認してください",
)
# SendEnvelopeResponse (201)
SENT = {
    "envelope_xid": "3f2a9c1e-envelope",
    "envelope_status": "1",
    "document_list": [{"document_name": "労働者派遣個別契約書", "control_number": "DOC-0001"}],
    "signer_list": [{"order_no": "1", "name": "山田 花子", "organize_name": "株式会社サンプル物流",
                     "email": "yamada@example.com", "phone_number": "", "envelope_signer_id": "77",
                     "envelope_sign_token": "t", "sign_status": "0"}],
}
PDF = b"%PDF-1.4\n% signed\n%%EOF\n"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def gmo():
    with responses.RequestsMock() as rsps:
        yield rsps


@pytest.fixture
def client(sleeps, clock) -> LiveGmoSignClient:
    """The native mode (assumed token endpoint): most tests here cover its token handling."""
    return LiveGmoSignClient(BASE, "C0001234", SECRET, auth="token", sleep=sleeps, clock=clock)


GATEWAY = "https://api.gmo-exapi.net/gmosign"


@pytest.fixture
def gateway(sleeps) -> LiveGmoSignClient:
    """The default, documented mode: the gateway with HTTP Basic."""
    return LiveGmoSignClient(GATEWAY, "C0001234", SECRET, sleep=sleeps)


def token(gmo, value: str = "tok-1", expires_in: int | None = 1800) -> None:
    body = {"access_token": value}
    if expires_in is not None:
        body["expires_in"] = expires_in
    gmo.post(TOKEN_URL, json=body, match=[matchers.json_params_matcher(
        {"customer_id": "C0001234", "secret_key": SECRET})])


def refused() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Connection refused")
    return requests.ConnectionError(MaxRetryError(None, SEND_URL, reason))


# -- protocol and authentication -------------------------------------------------------------------


def test_the_client_satisfies_the_gmo_sign_client_protocol(client):
    assert isinstance(client, GmoSignClient)


def test_a_token_is_fetched_once_and_sent_as_bearer_on_every_call(client, gmo):
    token(gmo)
    gmo.get(f"{BASE}/customer/documents/DOC-0001", json={"downloadedDocument": base64.b64encode(PDF).decode()})
    gmo.get(f"{BASE}/customer/documents/DOC-0002", json={"downloadedDocument": base64.b64encode(PDF).decode()})

    client.download_document("DOC-0001")
    client.download_document("DOC-0002")

    assert [c.request.url.split("?")[0] for c in gmo.calls] == [
        TOKEN_URL, f"{BASE}/customer/documents/DOC-0001", f"{BASE}/customer/documents/DOC-0002"]
    assert all(c.request.headers["Authorization"] == "Bearer tok-1" for c in gmo.calls[1:])


def test_the_token_is_renewed_five_minutes_before_it_expires(client, gmo, clock):
    token(gmo, "tok-1")
    token(gmo, "tok-2", expires_in=None)  # no expires_in: GMO Sign's 30 minutes are assumed
    for _ in range(3):
        gmo.get(f"{BASE}/customer/documents/D", json={"downloadedDocument": ""})

    client.download_document("D")
    clock.now += 1800 - 301
    client.download_document("D")
    clock.now += 2
    client.download_document("D")

    assert [c.request.headers.get("Authorization") for c in gmo.calls if "documents" in c.request.url] == [
        "Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_a_refused_token_is_renewed_once_and_the_call_repeated_even_for_a_send(client, gmo):
    token(gmo, "tok-old")
    gmo.post(SEND_URL, status=401, json={"status": "401", "result": "NG", "message": "invalid token"})
    token(gmo, "tok-new")
    gmo.post(SEND_URL, status=201, json=SENT)

    assert client.send_from_template(SEND).envelope_id == "3f2a9c1e-envelope"
    assert gmo.calls[-1].request.headers["Authorization"] == "Bearer tok-new"


def test_a_second_refusal_is_a_configuration_error(client, gmo):
    token(gmo, "tok-old")
    gmo.post(SEND_URL, status=401, json={"message": "invalid token"})
    token(gmo, "tok-new")
    gmo.post(SEND_URL, status=401, json={"message": "invalid token"})

    with pytest.raises(GmoSignConfigError, match="allow-list"):
        client.send_from_template(SEND)


def test_credentials_refused_at_the_token_endpoint_name_the_settings_but_not_the_secret(client, gmo):
    gmo.post(TOKEN_URL, status=401, json={"message": "認証に失敗しました"})

    with pytest.raises(GmoSignConfigError) as caught:
        client.download_document("D")

    text = str(caught.value) + repr(client)
    assert "KGBRIDGE_GMOSIGN_" in text and "認証に失敗しました" in text
    assert SECRET not in text and "C0001234" not in repr(client)


def test_basic_mode_talks_to_the_gateway_with_http_basic_and_no_token(sleeps, gmo):
    gateway = "https://api.gmo-exapi.net/gmosign"
    client = LiveGmoSignClient(gateway, "C0001234", SECRET, auth="basic", sleep=sleeps)
    gmo.get(f"{gateway}/customer/documents/D", json={"downloadedDocument": base64.b64encode(PDF).decode()})

    assert client.download_document("D") == PDF

    [call] = gmo.calls
    expected = "Basic " + base64.b64encode(f"C0001234:{SECRET}".encode()).decode()
    assert call.request.headers["Authorization"] == expected


# -- sending -------------------------------------------------------------------------------------


def test_send_from_template_posts_the_documented_body_and_reads_the_201(client, gmo):
    token(gmo)
    gmo.post(SEND_URL, status=201, json=SENT)

    sent = client.send_from_template(SEND)

    assert (sent.envelope_id, sent.document_ids) == ("3f2a9c1e-envelope", ["DOC-0001"])
    body = json.loads(gmo.calls[1].request.body)
    assert body == {
        "envelope_name": "労働者派遣個別契約書（株式会社サンプル物流） [kintone-contracts-12]",
        "signer_list": [{"signer_type": 2, "sign_type": 1, "order_no": "1", "use_template": 2, "name": "山田 花子",
                         "organize_name": "株式会社サンプル物流", "email": "yamada@example.com", "is_send_mail": 1,
                         "is_signer_change": 2, "language": "ja"}],
        "is_web_hook": 1,
        "inset_item_list": [{"name": "就業場所", "value": "東京物流センター"},
                            {"name": "管理番号", "value": "kintone-contracts-12"}],
        "sender_name": "マーケティング部",
        "approver_list": [{"order_no": "1", "name": "佐藤 一郎", "post_name": "", "email": "sato@example.co.jp"}],
        "work_flow_comment": "承認してください",
    }


def test_an_in_house_signer_stored_in_the_template_is_referenced_not_spelled_out(client, gmo):
    token(gmo)
    gmo.post(SEND_URL, status=201, json=SENT)
    ours = Signer(name="", email="", order=2, in_house=True, from_template=True)

    client.send_from_template(TemplateSend(**{**SEND.__dict__, "signers": [*SEND.signers, ours]}))

    assert json.loads(gmo.calls[1].request.body)["signer_list"][1] == {
        "signer_type": 1, "sign_type": 1, "order_no": "2", "use_template": 1}


@pytest.mark.parametrize("answer", [requests.ReadTimeout("read timed out"),
                                    requests.ConnectionError("Connection reset by peer")])
def test_a_send_without_an_answer_after_it_left_is_not_repeated(client, gmo, sleeps, answer):
    token(gmo)
    gmo.post(SEND_URL, body=answer)

    with pytest.raises(GmoSignOutcomeUnknown, match="may exist"):
        client.send_from_template(SEND)

    assert len([c for c in gmo.calls if c.request.url == SEND_URL]) == 1
    assert sleeps == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_send_answered_with_a_server_error_is_not_repeated(client, gmo, status):
    token(gmo)
    gmo.post(SEND_URL, status=status, body="<html>Service Unavailable</html>", content_type="text/html")

    with pytest.raises(GmoSignOutcomeUnknown) as caught:
        client.send_from_template(SEND)

    assert caught.value.status == status
    assert len(gmo.calls) == 2


def test_a_send_answered_without_an_envelope_id_is_an_unknown_outcome(client, gmo):
    token(gmo)
    gmo.post(SEND_URL, status=201, json={"status": "201", "result": "OK"})

    with pytest.raises(GmoSignOutcomeUnknown):
        client.send_from_template(SEND)


def test_a_send_that_never_connected_is_repeated(client, gmo, sleeps):
    token(gmo)
    gmo.post(SEND_URL, body=refused())
    gmo.post(SEND_URL, status=201, json=SENT)

    assert client.send_from_template(SEND).envelope_id == "3f2a9c1e-envelope"
    assert len(sleeps) == 1


def test_a_rate_limited_send_waits_as_told_and_is_repeated(client, gmo, sleeps):
    token(gmo)
    gmo.post(SEND_URL, status=429, json={"message": "too many requests"}, headers={"Retry-After": "7"})
    gmo.post(SEND_URL, status=201, json=SENT)

    client.send_from_template(SEND)

    assert sleeps == [7.0]


def test_a_send_refused_for_its_data_carries_gmo_signs_message_without_personal_data(client, gmo):
    token(gmo)
    gmo.post(SEND_URL, status=400, json={"status": "400", "result": "NG",
                                         "message": "署名者 yamada@example.com（090-1234-5678）の必須情報が不足しています"})

    with pytest.raises(GmoSignDataError, match="必須情報が不足しています") as caught:
        client.send_from_template(SEND)

    assert caught.value.status == 400
    assert "yamada@example.com" not in str(caught.value) and "090-1234-5678" not in str(caught.value)
    assert "[メールアドレス]" in str(caught.value)


def test_an_unknown_template_is_a_configuration_error(client, gmo):
    token(gmo)
    gmo.post(SEND_URL, status=404, json={"message": "template not found"})

    with pytest.raises(GmoSignConfigError, match="template id"):
        client.send_from_template(SEND)


def test_register_document_posts_the_documented_json_body(gateway, gmo):
    gmo.post(f"{GATEWAY}/customer/envelopes/documents",
             json={"status": "200", "result": "OK", "message": "", "document_code": "kintone-contracts-12"})

    assert gateway.register_document(PDF, "contract.pdf", "kintone-contracts-12") == "kintone-contracts-12"

    request = gmo.calls[0].request
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    # RegisterDocumentRequest: document (binary, sent base64), document_code, reuse_flag int enum [1].
    assert body == {"document": base64.b64encode(PDF).decode(), "document_code": "kintone-contracts-12",
                    "reuse_flag": 1, "remarks": "contract.pdf"}


def test_request_signature_sends_signers_with_their_document_lists_and_integer_approver_orders(gateway, gmo):
    gmo.post(f"{GATEWAY}/customer/envelopes/signatures/request",
             json={"status": "200", "result": "OK", "message": "", "envelope_xid": "X-1",
                   "document_list": [{"document_name": "契約書", "control_number": "DOC-9"}]})

    sent = gateway.request_signature(SignatureRequest(
        envelope_name="契約書", documents=[DocumentRef("kintone-contracts-12", "契約書")],
        signers=[SEND.signers[0], Signer("", "stamp@example.co.jp", in_house=True, order=2)],
        approvers=SEND.approvers))

    assert (sent.envelope_id, sent.document_ids) == ("X-1", ["DOC-9"])
    request = gmo.calls[0].request
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.body)
    assert body["document_list"] == [{"document_code": "kintone-contracts-12", "document_name": "契約書"}]
    assert body["is_detailed_response"] == 1 and body["is_web_hook"] == 1
    assert body["partner_signer_list"] == [{"order_no": "1", "is_or_sign": 2, "sign_type": 1, "name": "山田 花子",
                                            "organize_name": "株式会社サンプル物流", "email": "yamada@example.com",
                                            "is_send_mail": 1, "language": "ja"}]
    assert body["partner_signer_document_list"] == [
        {"signer_no": "yamada@example.com", "document_code": "kintone-contracts-12", "request_type": "1"}]
    assert body["our_signer_list"] == [{"order_no": "2", "is_or_sign": 2, "sign_type": 2,
                                        "email": "stamp@example.co.jp", "is_send_mail": 1, "language": "ja"}]
    assert body["in_house_signer_envelope_documents_list"] == [
        {"signer_no": "stamp@example.co.jp", "document_code": "kintone-contracts-12", "request_type": "1"}]
    assert body["approver_list"] == [{"order_no": 1, "name": "佐藤 一郎", "post_name": "", "email": "sato@example.co.jp"}]


def test_the_callback_is_registered_and_removed_through_the_documented_hook_operations(gateway, gmo):
    gmo.post(f"{GATEWAY}/customer/connect", status=201,
             json={"cus_id": "C0001234", "connect_id": "98", "envelopeEvents": "Completed",
                   "urlToPublishTo": "https://kgbridge.example.co.jp/webhooks/gmosign/x",
                   "created_at": "2026-12-02", "updated_at": "2026-12-02"},
             match=[matchers.json_params_matcher({"name": "kgbridge", "envelopeEvents": "Completed",
                                                  "urlToPublishTo": "https://kgbridge.example.co.jp/webhooks/gmosign/x"})])
    gmo.delete(f"{GATEWAY}/customer/connect/98", json={"connect_id": "98"})

    hook = gateway.connect_callback("kgbridge", "https://kgbridge.example.co.jp/webhooks/gmosign/x")
    gateway.delete_callback(hook.connect_id)

    assert (hook.connect_id, hook.events) == ("98", "Completed")
    expected = "Basic " + base64.b64encode(f"C0001234:{SECRET}".encode()).decode()
    assert [c.request.headers["Authorization"] for c in gmo.calls] == [expected, expected]


def test_the_native_mode_refuses_to_register_a_callback(client, gmo):
    with pytest.raises(GmoSignNotSupported):
        client.connect_callback("kgbridge", "https://kgbridge.example.co.jp/webhooks/gmosign/x")
    assert len(gmo.calls) == 0


# -- reading -------------------------------------------------------------------------------------


def test_download_decodes_the_documented_base64_document(client, gmo):
    token(gmo)
    gmo.get(f"{BASE}/customer/documents/DOC-0001", json={"downloadedDocument": base64.b64encode(PDF).decode()},
            match=[matchers.query_param_matcher({"download_type": "2", "operation": "1"})])

    assert client.download_document("DOC-0001") == PDF


def test_download_accepts_a_plain_pdf_answer(client, gmo):
    token(gmo)
    gmo.get(f"{BASE}/customer/documents/DOC-0001", body=PDF, content_type="application/pdf")

    assert client.download_document("DOC-0001") == PDF


def test_a_busy_download_is_retried_and_a_missing_document_is_not(client, gmo, sleeps):
    token(gmo)
    gmo.get(f"{BASE}/customer/documents/DOC-0001", status=503, json={"message": "busy"})
    gmo.get(f"{BASE}/customer/documents/DOC-0001", json={"downloadedDocument": base64.b64encode(PDF).decode()})
    gmo.get(f"{BASE}/customer/documents/GONE", status=404, json={"message": "document not found"})

    assert client.download_document("DOC-0001") == PDF
    assert len(sleeps) == 1
    with pytest.raises(GmoSignNotFound):
        client.download_document("GONE")


def test_a_download_that_keeps_failing_is_transient_for_the_job_to_retry(sleeps, gmo):
    client = LiveGmoSignClient(BASE, "C0001234", SECRET, auth="token", sleep=sleeps, max_attempts=2)
    token(gmo)
    gmo.get(f"{BASE}/customer/documents/D", status=502, body="bad gateway")
    gmo.get(f"{BASE}/customer/documents/D", status=502, body="bad gateway")

    with pytest.raises(GmoSignTransientError) as caught:
        client.download_document("D")
    assert caught.value.status == 502


# -- what the public API does not describe -------------------------------------------------------


@pytest.mark.parametrize(("call", "args"), [("find_envelope", ("kintone-contracts-12",)),
                                            ("get_envelope", ("X-1",)), ("cancel_envelope", ("X-1",))])
def test_operations_without_a_documented_endpoint_say_so_and_call_nothing(client, gmo, call, args):
    with pytest.raises(GmoSignNotSupported, match="not supported by the configured GMO Sign API"):
        getattr(client, call)(*args)
    assert len(gmo.calls) == 0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"base_url": "ftp://x"}, "https"), ({"customer_id": ""}, "required"), ({"auth": "oauth"}, "token"),
])
def test_bad_configuration_fails_at_construction(kwargs, message):
    args = {"base_url": BASE, "customer_id": "C1", "secret_key": SECRET, **kwargs}
    with pytest.raises(GmoSignConfigError, match=message):
        LiveGmoSignClient(args.pop("base_url"), args.pop("customer_id"), args.pop("secret_key"), **args)
