"""Quiet hours (flows/held_messages.py): a comment that mentions people is not posted at night, on a
weekend or a holiday, whatever caused it; the record's own change is not delayed; the comment waits
in Redis, once, and the periodic ``held_messages`` job posts it the next business morning."""

from __future__ import annotations

import json

import pytest

from connectors.kintone import KintoneNotFound
from flows import held_messages, order_registration
from flows.context import FlowContext
from kgbridge import bootstrap, periodic
from kgbridge.ledger import Ledger
from kgbridge.samples import COMPLETE_ORDER, notification
from tests.conftest import WEBHOOK_TOKEN
from tests.records import at, visited
from webhooks import create_app

ORDERS, CLIENTS = "3", "1"
SATURDAY_NIGHT = at("2026-12-05T23:10")
SUNDAY = at("2026-12-06T11:00")
MONDAY_EARLY = at("2026-12-07T08:59")
MONDAY_MORNING = at("2026-12-07T09:00")
HELD = periodic.TASKS[[t.name for t in periodic.TASKS].index("held_messages")]


@pytest.fixture(autouse=True)
def worker_context(ctx, settings):
    """What a worker process holds (the periodic jobs read the settings too)."""
    bootstrap.set_context(ctx, settings)


@pytest.fixture
def client(settings, redis_conn, ctx):
    return create_app(settings, connection=redis_conn).test_client()


def post(client, body):
    return client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", data=json.dumps(body, ensure_ascii=False),
                       content_type="application/json")


def incomplete_order(kintone) -> str:
    client = kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "与信状態": "承認"})
    visited(kintone, client)
    values = dict(COMPLETE_ORDER, 顧客レコード番号=client)
    values.pop("募集背景")
    return kintone.seed(ORDERS, values)


def tick_held_messages(settings, redis_conn, drain, now):
    """What the worker's ticker does: offer the held_messages job for this slot, then run it."""
    job_id = periodic.offer(redis_conn, settings, HELD, now)
    drain()
    return job_id


def test_a_saturday_night_webhook_holds_the_comment_and_monday_morning_posts_it_once(
        ctx, client, kintone, settings, redis_conn, drain):
    ctx.clock = lambda: SATURDAY_NIGHT
    rid = incomplete_order(kintone)

    assert post(client, notification(kintone, ORDERS, rid)).status_code == 200
    drain()
    assert order_registration.run(ctx, "orders", rid) == "already_told"  # a re-run (reconcile) holds nothing more

    assert kintone.comment_texts(ORDERS, rid) == []
    [held] = held_messages.held(ctx)
    assert held["record_id"] == rid and "・募集背景" in held["text"]

    for moment in (SUNDAY, MONDAY_EARLY):
        ctx.clock = lambda m=moment: m
        tick_held_messages(settings, redis_conn, drain, moment)
        assert kintone.comment_texts(ORDERS, rid) == []

    ctx.clock = lambda: MONDAY_MORNING
    tick_held_messages(settings, redis_conn, drain, MONDAY_MORNING)
    [comment] = kintone.apps[ORDERS].comments[rid]
    assert [m.code for m in comment.mentions] == ["sato"]
    assert "・募集背景" in comment.text
    assert held_messages.held(ctx) == []

    ctx.clock = lambda: at("2026-12-07T09:30")
    tick_held_messages(settings, redis_conn, drain, at("2026-12-07T09:30"))
    assert len(kintone.comment_texts(ORDERS, rid)) == 1


def test_the_record_itself_moves_at_once_at_night(ctx, client, kintone, drain):
    ctx.clock = lambda: at("2026-12-02T02:00")  # a Wednesday, 02:00
    visited(kintone, kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "与信状態": "承認"}))
    rid = kintone.seed(ORDERS, dict(COMPLETE_ORDER, 顧客レコード番号="1"))

    post(client, notification(kintone, ORDERS, rid))
    drain()

    assert kintone.record_values(ORDERS, rid)["ステータス"] == "上長承認待ち"


def test_a_holiday_holds_until_the_next_business_day(ctx, kintone, settings, redis_conn, drain):
    ctx.clock = lambda: at("2026-11-23T10:00")  # 勤労感謝の日 (a Monday)
    rid = incomplete_order(kintone)
    assert order_registration.run(ctx, "orders", rid) == "told_rep_missing_items"

    tick_held_messages(settings, redis_conn, drain, at("2026-11-23T15:00"))
    assert kintone.comment_texts(ORDERS, rid) == []

    ctx.clock = lambda: at("2026-11-24T09:05")
    tick_held_messages(settings, redis_conn, drain, at("2026-11-24T09:05"))
    assert len(kintone.comment_texts(ORDERS, rid)) == 1


def test_the_signing_deadline_check_at_two_in_the_morning_waits_for_nine(ctx, kintone, settings, redis_conn, drain):
    from flows.signature_status import check_open_envelopes

    ctx.clock = lambda: at("2026-12-01T02:00")  # a Tuesday
    rid = kintone.seed("5", {"契約種別": "個別契約", "担当営業": [{"code": "sato", "name": "佐藤"}],
                             "署名期限": "2026-11-27"}, status="署名依頼中")
    ctx.gmosign = None  # the check only looks at the 署名期限 here

    assert check_open_envelopes(ctx).endswith("overdue=1 failed=0")
    assert check_open_envelopes(ctx).endswith("overdue=0 failed=0")  # the 03:00 run holds nothing more
    assert kintone.comment_texts("5", rid) == []

    ctx.clock = lambda: at("2026-12-01T09:00")
    tick_held_messages(settings, redis_conn, drain, at("2026-12-01T09:00"))
    [text] = kintone.comment_texts("5", rid)
    assert "署名期限（2026年11月27日（金））を過ぎました" in text


def test_a_comment_without_mentions_is_not_held(ctx, kintone, mappings):
    from flows.notify import tell

    ctx.clock = lambda: SATURDAY_NIGHT
    rid = incomplete_order(kintone)
    tell(ctx, mappings["orders"], rid, "記録のみのコメントです。", [])

    assert kintone.comment_texts(ORDERS, rid) == ["記録のみのコメントです。"]


def test_held_messages_survive_a_restart_and_a_lost_answer_posts_once(ctx, kintone, mappings, redis_url, settings,
                                                                     drain):
    import redis

    ctx.clock = lambda: SATURDAY_NIGHT
    rid = incomplete_order(kintone)
    order_registration.run(ctx, "orders", rid)

    # The worker restarts: a new process, a new connection and context; only Redis remembers.
    connection = redis.Redis.from_url(redis_url)
    restarted = FlowContext(kintone=kintone, mappings=mappings, ledger=Ledger(connection),
                            clock=lambda: MONDAY_MORNING)
    bootstrap.set_context(restarted, settings)
    kintone.lose_answer_of("add_comment")  # posted, but the answer never came back

    tick_held_messages(settings, connection, drain, MONDAY_MORNING)
    assert len(kintone.comment_texts(ORDERS, rid)) == 1
    assert len(held_messages.held(restarted)) == 1  # not known to be posted: kept

    held_messages.deliver_due(restarted)  # the next run finds it on the record and does not post again
    assert len(kintone.comment_texts(ORDERS, rid)) == 1
    assert held_messages.held(restarted) == []


def test_a_message_for_a_deleted_record_is_dropped_and_the_rest_go_out(ctx, kintone):
    ctx.clock = lambda: SATURDAY_NIGHT
    gone, kept = incomplete_order(kintone), incomplete_order(kintone)
    order_registration.run(ctx, "orders", gone)
    order_registration.run(ctx, "orders", kept)
    kintone.fail_next("add_comment", KintoneNotFound("record gone", status=404, code="GAIA_RE01"))

    ctx.clock = lambda: MONDAY_MORNING
    assert held_messages.deliver_due(ctx) == "delivered 1"
    assert len(kintone.comment_texts(ORDERS, kept)) == 1
    assert held_messages.held(ctx) == []


def test_the_clock_can_be_set_for_a_drill_and_runs_on(monkeypatch):
    from kgbridge.settings import SettingsError, load_settings

    monkeypatch.setenv("KGBRIDGE_CLOCK_START", "2026-12-05T23:10:00+09:00")
    clock = bootstrap.build_clock(load_settings(connector_mode="fake"))
    assert SATURDAY_NIGHT <= clock() < at("2026-12-05T23:11")
    monkeypatch.setenv("KGBRIDGE_CLOCK_START", "2026-12-05T23:10:00")
    with pytest.raises(SettingsError, match="KGBRIDGE_CLOCK_START"):
        load_settings(connector_mode="fake")
