"""A contract signed on a Saturday (seed 000, seed 002): GMO Sign's callback concludes it at once and
the follow-up schedule is created at once, but the comment telling the rep and the manager waits in
Redis for Monday morning, when the periodic ``held_messages`` job posts it once."""

from __future__ import annotations

from flows import contract_issuance, held_messages
from kgbridge import bootstrap, periodic
from tests.contracts.conftest import CONTRACTS, post_gmosign, post_kintone
from tests.records import at

FOLLOW_UPS = "7"
HELD = next(t for t in periodic.TASKS if t.name == "held_messages")


def test_a_contract_signed_on_saturday_is_concluded_at_once_and_announced_on_monday(
        cctx, client, kintone, gmosign, contract, settings, redis_conn, drain):
    bootstrap.set_context(cctx, settings)
    rid = contract()
    assert contract_issuance.run(cctx, "contracts", rid) == "sent_for_signature"
    envelope_id = kintone.record_values(CONTRACTS, rid)["GMOサイン文書ID"]
    before = len(kintone.comment_texts(CONTRACTS, rid))

    saturday = at("2026-11-28T14:00")
    cctx.clock = lambda: saturday
    body = gmosign.complete(envelope_id)
    post_gmosign(client, body)
    drain()
    post_kintone(client, kintone, rid)  # kintone announces the new status 締結済
    drain()

    assert kintone.record_values(CONTRACTS, rid)["ステータス"] == "締結済"
    assert kintone.apps[FOLLOW_UPS].records  # the schedule itself is not delayed
    assert len(kintone.comment_texts(CONTRACTS, rid)) == before
    [held] = held_messages.held(cctx)
    assert held["record_id"] == rid

    monday = at("2026-11-30T09:00")
    cctx.clock = lambda: monday
    periodic.offer(redis_conn, settings, HELD, monday)
    drain()

    comments = kintone.apps[CONTRACTS].comments[rid]
    assert len(comments) == before + 1
    assert {m.code for m in comments[-1].mentions} >= {"sato"}
    assert held_messages.held(cctx) == []
