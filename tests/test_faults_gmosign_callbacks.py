"""Fault suite: GMO Sign callbacks nobody should believe or pay for (issue 15).

- A flood of callbacks for envelopes no contract holds: no job, no queue growth, one batched kintone
  lookup per hundred ids (remembered), while order webhooks keep flowing and their effects arrive.
- Forged callbacks for a real contract awaiting signature: coalesced into one look, the contract
  stays 署名依頼中, one comment.

Receiver through Flask's test client, real Redis, real RQ worker (burst), fake kintone / GMO Sign.
"""

from __future__ import annotations

import json
import time

import pytest
from pydantic import SecretStr
from rq import Queue
from rq.serializers import JSONSerializer

from connectors.gmosign.fake import FakeGmoSign
from connectors.gstaff.fake import FakeGStaff
from flows import contract_issuance
from kgbridge import envelopes
from kgbridge.envelope_lookup import look_up_pending
from kgbridge.inbox import inbox_key
from tests.fault_kit import CONTRACTS, ORDERS, post_webhook, seed_client, seed_contract, seed_order, webhook_body
from webhooks import create_app

GMOSIGN_TOKEN = "fault-gmosign-token-0123456789"
FLOOD = int(__import__("os").environ.get("FLOOD", "10000"))
ORDER_EVERY = 200  # one genuine order webhook per this many unknown callbacks


@pytest.fixture
def client(settings, redis_conn, ctx):
    ctx.gmosign = FakeGmoSign(supports_lookup=False)
    ctx.gstaff = FakeGStaff.with_samples()
    app = create_app(settings.model_copy(update={"gmosign_webhook_token": SecretStr(GMOSIGN_TOKEN)}),
                     connection=redis_conn)
    return app.test_client()


def post_callback(client, body: dict):
    return client.post(f"/webhooks/gmosign/{GMOSIGN_TOKEN}", data=json.dumps(body, ensure_ascii=False),
                       content_type="application/json")


def queue_ids(redis_conn, settings) -> list[str]:
    return Queue(settings.queue_name, connection=redis_conn, serializer=JSONSerializer).job_ids


@pytest.mark.timeout(1800)  # 10,000 requests: minutes on a loaded machine
def test_a_flood_of_unknown_envelopes_never_becomes_work_and_orders_keep_flowing(
        client, kintone, redis_conn, settings, mappings, drain):
    customer = seed_client(kintone)
    orders, deepest_inbox, deepest_queue = [], 0, 0
    started = time.monotonic()
    for n in range(FLOOD):
        body = {"envelope_xid": f"FORGED{n:06d}", "envelope_name": "x",
                "document_list": [{"documentId": f"FORGED{n:06d}-D1", "document_name": "x"}]}
        answer = post_callback(client, body)
        assert answer.status_code == 200 and answer.get_json()["jobs"] == 0
        if n % ORDER_EVERY == 0:
            rid = seed_order(kintone, customer)
            assert post_webhook(client, webhook_body(kintone, rid)).get_json()["jobs"] == 1
            orders.append(rid)
            deepest_inbox = max(deepest_inbox, redis_conn.llen(inbox_key(settings)))
    flood_seconds = time.monotonic() - started
    kintone.calls.clear()
    drain()  # the orders' jobs: nothing else was recorded
    deepest_queue = max(deepest_queue, len(queue_ids(redis_conn, settings)))

    for rid in orders:
        assert kintone.record_values(ORDERS, rid)["ステータス"] == "上長承認待ち"
    assert deepest_inbox <= len(orders)  # the inbox only ever held order events
    assert queue_ids(redis_conn, settings) == []
    assert kintone.calls[("get_records", CONTRACTS)] == 0  # the receiver asked kintone nothing
    assert envelopes.pending_count(redis_conn) == FLOOD

    runs, calls = 0, 0
    while envelopes.pending_count(redis_conn):
        calls += look_up_pending(kintone, mappings, redis_conn, settings)["calls"]
        runs += 1
    assert calls == FLOOD // envelopes.BATCH == kintone.calls[("get_records", CONTRACTS)]
    assert runs == FLOOD // (envelopes.BATCH * envelopes.BATCHES)

    # The same envelopes again: remembered, answered without a lookup or a job.
    kintone.calls.clear()
    for n in range(0, FLOOD, 10):
        answer = post_callback(client, {"envelope_xid": f"FORGED{n:06d}"})
        assert answer.get_json()["ignored"] == "no contract holds this envelope"
    assert envelopes.pending_count(redis_conn) == 0 and sum(kintone.calls.values()) == 0
    assert redis_conn.llen(inbox_key(settings)) == 0
    print(f"\nflood: {FLOOD} unknown callbacks + {len(orders)} order webhooks in {flood_seconds:.1f} s; "
          f"deepest inbox {deepest_inbox}, deepest queue {deepest_queue}; "
          f"kintone lookups {calls} in {runs} runs; repeat flood: 0 calls")


def test_a_lookup_finds_a_contract_sent_before_the_index_and_hands_its_callback_to_the_flow(
        client, kintone, redis_conn, settings, mappings, ctx, drain):
    rid = seed_contract(kintone, seed_client(kintone))
    assert contract_issuance.run(ctx, "contracts", rid) == "sent_for_signature"
    envelope_id = kintone.record_values(CONTRACTS, rid)["GMOサイン文書ID"]
    redis_conn.delete(envelopes.known_key(envelope_id))  # as if sent by an older version

    assert post_callback(client, ctx.gmosign.callback_body(envelope_id)).get_json()["ignored"].startswith(
        "envelope not known yet")
    assert look_up_pending(kintone, mappings, redis_conn, settings) == {"found": 1, "unknown": 0, "calls": 1}
    drain()

    assert envelopes.owner(redis_conn, envelope_id) == f"contracts:{rid}"
    # The held callback reached the flow, which found no proof of signing (nothing is signed yet).
    assert kintone.record_values(CONTRACTS, rid)["ステータス"] == "署名依頼中"
    assert any("締結完了の通知を受け取りましたが" in t for t in kintone.comment_texts(CONTRACTS, rid))


def test_kintone_down_during_a_lookup_keeps_the_pending_ids_for_the_next_run(client, kintone, redis_conn, settings,
                                                                            mappings):
    from connectors.kintone import KintoneTransientError

    post_callback(client, {"envelope_xid": "FORGED1"})
    kintone.fail_next("get_records", KintoneTransientError("[503] maintenance", status=503))
    with pytest.raises(KintoneTransientError):
        look_up_pending(kintone, mappings, redis_conn, settings)
    assert envelopes.pending_count(redis_conn) == 1
    assert look_up_pending(kintone, mappings, redis_conn, settings)["unknown"] == 1


def test_forged_completion_callbacks_for_a_real_contract_conclude_nothing(client, kintone, redis_conn, settings,
                                                                         ctx, drain):
    rid = seed_contract(kintone, seed_client(kintone))
    assert contract_issuance.run(ctx, "contracts", rid) == "sent_for_signature"
    envelope_id = kintone.record_values(CONTRACTS, rid)["GMOサイン文書ID"]
    kintone.calls.clear()

    for n in range(50):  # a storm of forged completions, each body different
        post_callback(client, {"envelope_xid": envelope_id, "event": "Completed", "n": n,
                               "document_list": [{"documentId": f"ELSEWHERE-{n}"}]})
    drain()

    record = kintone.record_values(CONTRACTS, rid)
    assert record["ステータス"] == "署名依頼中" and record["締結済PDF"] == []
    assert ctx.gstaff.archives == {}
    assert ctx.gmosign.calls["download_document"] == 1  # one look, at the envelope's own document
    notes = [t for t in kintone.comment_texts(CONTRACTS, rid) if "締結完了の通知を受け取りましたが" in t]
    assert len(notes) == 1
    assert kintone.calls[("get_records", CONTRACTS)] == 1
