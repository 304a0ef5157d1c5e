"""Routing a new inquiry and recording the assignment (seed A-2): a kintone webhook in (real Redis,
real RQ worker), the Inquiries record and its comments out, with the fake kintone and fake G-Staff."""

from __future__ import annotations

import json

import pytest

from connectors.gstaff.fake import FakeGStaff
from connectors.gstaff.interface import RepWorkload
from flows import deadlines, inquiry_routing
from kgbridge.samples import notification
from mappings import MappingError
from tests.conftest import WEBHOOK_TOKEN
from tests.records import at, utc, without_flow
from webhooks import create_app

CLIENTS, INQUIRIES = "1", "2"
TUESDAY = at("2026-12-01T10:00")
TANAKA = {"code": "tanaka", "name": "田中 部長"}


@pytest.fixture
def mappings(mappings):
    """Only the routing flow on inquiries here; client_lookup has its own tests."""
    return without_flow(mappings, "client_lookup")


@pytest.fixture
def gstaff(ctx) -> FakeGStaff:
    fake = FakeGStaff.with_samples()
    fake.workloads = {"sato": RepWorkload("sato", current_staff=12), "suzuki": RepWorkload("suzuki", current_staff=0)}
    ctx.gstaff = fake
    ctx.clock = lambda: TUESDAY
    return fake


@pytest.fixture
def client(settings, redis_conn, ctx, gstaff):
    return create_app(settings, connection=redis_conn).test_client()


def post(client, kintone, record_id: str, event_type: str = "ADD_RECORD"):
    body = notification(kintone, INQUIRIES, record_id, event_type=event_type)
    response = client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", data=json.dumps(body, ensure_ascii=False),
                           content_type="application/json")
    assert response.status_code == 200, response.get_json()


def inquiry(kintone, **values) -> str:
    record = {"受付経路": "HP", "受付日時": utc("2026-12-01T09:40"), "会社名": "株式会社あおば物流",
              "業態": "物流", "問い合わせ内容": "倉庫の軽作業スタッフを3名お願いしたい"}
    record.update(values)
    return kintone.seed(INQUIRIES, record)


def clients_of(kintone, **per_rep: int) -> None:
    for code, n in per_rep.items():
        for i in range(n):
            kintone.seed(CLIENTS, {"会社名": f"株式会社{code}{i}", "担当営業": [{"code": code, "name": code}]})


def saved_by(kintone, record_id: str, user: dict, when: str, **changes) -> None:
    """A person saves the record in kintone (kintone sets 更新者 and 更新日時)."""
    kintone.update_record(INQUIRIES, record_id, {k: {"value": v} for k, v in changes.items()})
    record = kintone.apps[INQUIRIES].records[record_id]
    record["更新者"] = {"type": "MODIFIER", "value": user}
    record["更新日時"] = {"type": "UPDATED_TIME", "value": when}


def test_a_new_hp_inquiry_tells_the_departments_manager_with_reps_ranked(client, kintone, gstaff, drain):
    clients_of(kintone, sato=3, suzuki=1)
    rid = inquiry(kintone)

    post(client, kintone, rid)
    drain()

    record = kintone.record_values(INQUIRIES, rid)
    assert record["担当部署"] == "東京営業部"
    assert [u["code"] for u in record["部署責任者"]] == ["tanaka"]
    [comment] = kintone.apps[INQUIRIES].comments[rid]
    assert [m.code for m in comment.mentions] == ["tanaka"]
    assert "東京営業部に新しいお問い合わせ（HP）が入りました。担当者を決めて「担当営業」に入力してください。" in comment.text
    assert "会社名：株式会社あおば物流／業態：物流／受付日時：2026年12月1日（火）09:40" in comment.text
    # ito: 0 clients, 0 staff, knows 物流 (-3); suzuki: 1 client (+1); sato: 3 clients, 12 staff, knows 物流 (+3)
    ranking = comment.text.split("【担当候補】")[1]
    assert ranking.index("伊藤 健") < ranking.index("鈴木 花子") < ranking.index("佐藤 一郎")
    assert "1. 伊藤 健：担当クライアント0社・担当スタッフさん0名・物流の経験あり" in ranking
    assert "3. 佐藤 一郎：担当クライアント3社・担当スタッフさん12名・物流の経験あり" in ranking
    assert "※" not in comment.text  # no risk noted


def test_a_risky_client_puts_experienced_reps_first(client, kintone, gstaff, drain):
    clients_of(kintone, sato=3, suzuki=1)
    kintone.seed(CLIENTS, {"会社名": "株式会社あおば物流", "顧客評価": "C", "過去トラブル": "2025年2月3日（月） 未払い"})
    rid = inquiry(kintone)

    post(client, kintone, rid)
    drain()

    [text] = kintone.comment_texts(INQUIRIES, rid)
    ranking = text.split("【担当候補】")[1]
    # ito -3 + 5 = 2, sato 3 (experienced), suzuki 1 + 5 = 6
    assert ranking.index("伊藤 健") < ranking.index("佐藤 一郎") < ranking.index("鈴木 花子")
    assert "佐藤 一郎：担当クライアント3社・担当スタッフさん12名・物流の経験あり・難しいお客様の担当経験あり" in ranking
    assert "※このお客様は過去トラブルの記録があります、顧客評価が「C」です。経験のある担当者を優先して並べています。" in text


def test_the_department_follows_the_clients_business_type_or_the_record(client, kintone, gstaff, drain):
    office = inquiry(kintone, 業態="コールセンター", 受付経路="電話")
    chosen = inquiry(kintone, 業態="物流", 担当部署="オフィス営業部")

    post(client, kintone, office)
    post(client, kintone, chosen)
    drain()

    for rid in (office, chosen):
        record = kintone.record_values(INQUIRIES, rid)
        assert record["担当部署"] == "オフィス営業部"
        assert [u["code"] for u in record["部署責任者"]] == ["yamada"]
        [comment] = kintone.apps[INQUIRIES].comments[rid]
        assert [m.code for m in comment.mentions] == ["yamada"]
        assert "加藤 次郎" in comment.text
    assert "1営業日以内" not in kintone.comment_texts(INQUIRIES, office)[0]  # a phone inquiry


def test_the_assignment_is_recorded_once_and_the_rep_is_told(client, kintone, gstaff, drain):
    rid = inquiry(kintone)
    post(client, kintone, rid)
    drain()
    post(client, kintone, rid, "UPDATE_RECORD")  # our own write-back's notification
    post(client, kintone, rid, "UPDATE_RECORD")  # and a duplicate
    drain()
    assert len(kintone.comment_texts(INQUIRIES, rid)) == 1

    saved_by(kintone, rid, TANAKA, "2026-12-01T01:30:00Z", 担当営業=[{"code": "sato", "name": "佐藤 一郎"}])
    post(client, kintone, rid, "UPDATE_RECORD")
    drain()
    post(client, kintone, rid, "UPDATE_RECORD")  # our write-back of 割当者 and 割当日時
    drain()

    record = kintone.record_values(INQUIRIES, rid)
    assert [u["code"] for u in record["割当者"]] == ["tanaka"]
    assert record["割当日時"] == "2026-12-01T01:30:00Z"
    told = kintone.apps[INQUIRIES].comments[rid][1:]
    assert len(told) == 1 and [m.code for m in told[0].mentions] == ["sato"]
    assert "このお問い合わせの担当営業になりました（割当：田中 部長、2026年12月1日（火）10:30）。" in told[0].text
    assert "「初回連絡日時」を入力してください" in told[0].text

    # Reassigned to someone else: recorded again, the new rep told.
    saved_by(kintone, rid, TANAKA, "2026-12-01T02:00:00Z", 担当営業=[{"code": "suzuki", "name": "鈴木 花子"}])
    post(client, kintone, rid, "UPDATE_RECORD")
    drain()
    record = kintone.record_values(INQUIRIES, rid)
    assert record["割当日時"] == "2026-12-01T02:00:00Z"
    assert [m.code for m in kintone.apps[INQUIRIES].comments[rid][-1].mentions] == ["suzuki"]


def test_a_phone_inquiry_taken_by_the_rep_is_recorded_and_the_manager_hears_of_it(client, kintone, gstaff, drain):
    sato = {"code": "sato", "name": "佐藤 一郎"}
    rid = inquiry(kintone, 受付経路="電話", 担当営業=[sato])
    kintone.apps[INQUIRIES].records[rid]["更新者"] = {"type": "MODIFIER", "value": sato}

    post(client, kintone, rid)
    drain()

    record = kintone.record_values(INQUIRIES, rid)
    assert [u["code"] for u in record["割当者"]] == ["sato"]
    assert record["担当部署"] == "東京営業部"
    mentioned = {c.mentions[0].code: c.text for c in kintone.apps[INQUIRIES].comments[rid]}
    assert set(mentioned) == {"sato", "tanaka"}
    assert "新しいお問い合わせ（電話）を佐藤 一郎さんが担当しています" in mentioned["tanaka"]


def test_nobody_assigned_is_escalated_to_the_manager_the_same_business_day(client, ctx, kintone, gstaff, drain,
                                                                           mappings):
    rid = inquiry(kintone, 受付日時=utc("2026-12-01T10:00"))
    post(client, kintone, rid)
    drain()

    ctx.clock = lambda: at("2026-12-01T12:05")
    deadlines.sweep(ctx)
    ctx.clock = lambda: at("2026-12-01T14:05")
    deadlines.sweep(ctx)

    texts = [c for c in kintone.apps[INQUIRIES].comments[rid] if "担当営業の割り当て" in c.text]
    assert len(texts) == 2
    reminder, overdue = texts
    assert [m.code for m in reminder.mentions] == ["tanaka"]
    assert "2026年12月1日（火）14:00" in reminder.text
    assert "tanaka" in [m.code for m in overdue.mentions]
    assert "至急「担当営業」を入力し" in overdue.text


def test_a_mapping_without_one_default_department_is_refused(mappings):
    broken = mappings["inquiries"].model_copy(update={"routing": {"departments": [
        {"name": "A", "manager": "a", "reps": []}]}})
    with pytest.raises(MappingError, match=r"(?s)inquiries \[routing\].*default = true"):
        inquiry_routing.RoutingRules.of(broken)
