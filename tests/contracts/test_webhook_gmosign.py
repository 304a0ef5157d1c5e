"""The GMO Sign callback receiver: token, validation, de-duplication, answers."""

from __future__ import annotations

import json

import pytest
from rq import Queue
from rq.serializers import JSONSerializer

from kgbridge import envelopes
from tests.conftest import dispatch_inbox
from tests.contracts.conftest import GMOSIGN_TOKEN, post_gmosign
from webhooks.gmosign_intake import COALESCE_SECONDS, accept_gmosign, parse_gmosign

COMPLETED = {"envelope_xid": "ENV000001", "envelope_name": "労働者派遣個別契約書",
             "document_list": [{"documentId": "ENV000001-D1", "document_name": "契約書"}]}


def queued(redis_conn, settings) -> list:
    return Queue(settings.queue_name, connection=redis_conn, serializer=JSONSerializer).jobs


@pytest.fixture
def known(redis_conn):
    """ENV000001 is the envelope of contract #1 (as the issuance flow records when it sends)."""
    envelopes.remember(redis_conn, "ENV000001", "contracts", "1")


def test_a_callback_for_a_known_envelope_becomes_one_job_carrying_only_its_envelope_id(
        client, redis_conn, settings, mappings, known):
    response = post_gmosign(client, COMPLETED)
    dispatch_inbox(redis_conn, settings, mappings)

    assert response.status_code == 200
    assert response.get_json() == {"ok": True, "duplicate": False, "jobs": 1}
    [job] = queued(redis_conn, settings)
    assert job.id.startswith("signature_status-contracts--ENV000001-s")
    # Neither the event nor the document ids of the body reach the flow: it is only a trigger.
    assert job.kwargs == {"flow": "signature_status", "app_key": "contracts", "record_id": "",
                          "envelope_id": "ENV000001"}


def test_the_raw_body_is_kept_for_replay(client, redis_conn, known):
    body = json.dumps(dict(COMPLETED, extra={"anything": [1, 2]}), ensure_ascii=False).encode()
    post_gmosign(client, body)

    [key] = redis_conn.keys(envelopes.body_key("gmosign:ENV000001:*"))
    assert redis_conn.get(key) == body


def test_callbacks_for_one_envelope_within_the_coalescing_slot_start_one_look(client, redis_conn, settings,
                                                                            mappings, known):
    post_gmosign(client, COMPLETED)
    again = post_gmosign(client, COMPLETED)
    other = post_gmosign(client, dict(COMPLETED, event="Declined", envelope_name="renamed"))
    dispatch_inbox(redis_conn, settings, mappings)

    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert other.get_json()["duplicate"] is True
    assert len(queued(redis_conn, settings)) == 1


def test_a_callback_in_a_later_slot_starts_another_look(redis_conn, settings, mappings, known):
    callback = parse_gmosign(json.dumps(COMPLETED).encode())
    first = accept_gmosign(callback, mappings=mappings, connection=redis_conn, settings=settings, now=1_000_000)
    later = accept_gmosign(callback, mappings=mappings, connection=redis_conn, settings=settings,
                           now=1_000_000 + COALESCE_SECONDS)
    assert first.jobs and later.jobs and first.jobs != later.jobs


@pytest.mark.parametrize("body", [
    {"envelope_xid": "ENV000001"},  # the only field required
    dict(COMPLETED, document_list="not a list"),
    dict(COMPLETED, document_list=[{"documentId": "../etc"}], event="Complet ed", envelope_name=12),
])
def test_the_intake_is_lenient_everything_but_the_envelope_id_is_optional_and_unread(client, body, known):
    response = post_gmosign(client, body)
    assert response.status_code == 200 and response.get_json()["jobs"] == 1


def test_a_callback_for_an_unknown_envelope_makes_no_job_and_waits_for_one_lookup(client, redis_conn, settings,
                                                                                 mappings):
    response = post_gmosign(client, COMPLETED)
    again = post_gmosign(client, COMPLETED)
    dispatch_inbox(redis_conn, settings, mappings)

    assert response.status_code == 200 and response.get_json()["ignored"] == \
        "envelope not known yet; it will be looked up"
    assert again.get_json()["ignored"] == "envelope not known yet; it will be looked up"
    assert queued(redis_conn, settings) == []
    assert envelopes.pending_count(redis_conn) == 1


@pytest.mark.parametrize("token", ["test-webhook-token-0123456789", "wrong-token-0123456789"])
def test_a_wrong_token_or_the_kintone_token_is_refused_without_detail(client, token, redis_conn):
    response = post_gmosign(client, COMPLETED, token=token)
    assert response.status_code == 404
    assert "token" not in response.get_data(as_text=True)
    assert redis_conn.dbsize() == 0


def test_without_a_configured_gmo_sign_token_every_callback_is_refused(settings, redis_conn, cctx):
    from webhooks import create_app

    client = create_app(settings, connection=redis_conn).test_client()
    assert post_gmosign(client, COMPLETED, token="").status_code in (404, 405)
    assert post_gmosign(client, COMPLETED, token=GMOSIGN_TOKEN).status_code == 404


@pytest.mark.parametrize(("body", "status", "reason"), [
    (b"{not json", 400, "not valid JSON"),
    (b"[]", 400, "JSON object"),
    (json.dumps({"envelope_name": "x"}), 422, "envelope_xid"),
    (json.dumps({"envelope_xid": 'A" or 1=1'}), 422, "envelope_xid"),
    (json.dumps({"envelope_xid": "封筒1"}), 422, "envelope_xid"),
])
def test_malformed_callbacks_get_a_4xx_with_the_reason_and_record_nothing(client, body, status, reason, redis_conn):
    response = post_gmosign(client, body)
    assert response.status_code == status
    assert reason in response.get_json()["error"]
    assert redis_conn.dbsize() == 0


def test_redis_down_answers_503(settings, cctx):
    import redis as redis_lib
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from webhooks import create_app

    dead = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    app = create_app(settings.model_copy(update={"gmosign_webhook_token": settings.webhook_token}), connection=dead)
    response = app.test_client().post(f"/webhooks/gmosign/{settings.webhook_token.get_secret_value()}",
                                      data=json.dumps(COMPLETED), content_type="application/json")
    assert response.status_code == 503


def test_replay_goes_through_the_same_parse_and_accept(redis_conn, settings, mappings, known):
    queue = Queue(settings.queue_name, connection=redis_conn, serializer=JSONSerializer)
    callback = parse_gmosign(json.dumps(COMPLETED).encode())

    first = accept_gmosign(callback, mappings=mappings, connection=redis_conn, queue=queue, settings=settings,
                           source="replay")
    second = accept_gmosign(callback, mappings=mappings, connection=redis_conn, queue=queue, settings=settings,
                            source="replay")
    dispatch_inbox(redis_conn, settings, mappings)

    assert (len(first.jobs), second.duplicate) == (1, True)
    assert [job.id for job in queue.jobs] == first.jobs
    assert queue.jobs[0].meta["source"] == "replay"
