"""A worker who left the client less than a year ago (労働者派遣法第40条の9) is flagged when proposed
for an accepted order, and a contract sending them is never sent. Dated edges: the day one year after
leaving, and the mandatory-retirement exception for workers of 60 or over."""

from __future__ import annotations

from datetime import date

import pytest

from connectors.gstaff import EmploymentType, FormerEmployment, StaffMember
from connectors.gstaff.fake import FakeGStaff
from flows import order_registration
from kgbridge.samples import COMPLETE_ORDER
from tests.contracts.conftest import NOW

ORDERS, CLIENTS = "3", "1"
FIXED = EmploymentType.FIXED_TERM


@pytest.fixture
def sctx(ctx):
    ctx.gstaff = FakeGStaff.with_samples()
    ctx.clock = lambda: NOW
    return ctx


def accepted_order(kintone, **changes) -> str:
    client = kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "与信状態": "承認", "Gスタッフ顧客ID": "G-1001"})
    values = dict(COMPLETE_ORDER, 顧客レコード番号=client, 受付日="2026-11-20", 開始時期="2026-12-01", **changes)
    return kintone.seed(ORDERS, values, status="受付済")


def former(staff_id: str, left_on: date, *, retired: bool = False, born: date = date(1990, 1, 1)) -> StaffMember:
    return StaffMember(staff_id, FIXED, born, former_employers=[FormerEmployment("G-1001", left_on, retired)])


@pytest.mark.parametrize(("left_on", "outcome"), [
    (date(2025, 12, 2), "flagged_former_employee"),   # one year has not passed by 2026-12-01
    (date(2025, 12, 1), "proposal_ok"),               # 2026-12-01 is one year after
])
def test_a_proposed_worker_who_left_the_client_within_a_year_is_flagged(sctx, kintone, left_on, outcome):
    sctx.gstaff.add_staff(former("S-5001", left_on))
    rid = accepted_order(kintone, 提案スタッフID="S-5001、S-2001")

    assert order_registration.run(sctx, "orders", rid) == outcome

    texts = kintone.comment_texts(ORDERS, rid)
    if outcome == "proposal_ok":
        assert texts == []
    else:
        [comment] = kintone.apps[ORDERS].comments[rid]
        assert [m.code for m in comment.mentions] == ["sato", "tanaka"]
        assert "離職後1年以内の受入れ禁止（労働者派遣法第40条の9）：スタッフさん（スタッフID：S-5001）" in comment.text
        assert "派遣開始は2026年12月2日（水）以降にしてください" in comment.text
        assert comment.text.endswith("別のスタッフさんを提案するか、上長と対応を相談してください。")
        assert "S-2001" not in comment.text
        assert order_registration.run(sctx, "orders", rid) == "already_told"


def test_a_worker_of_sixty_who_left_at_retirement_age_is_the_exception(sctx, kintone):
    sctx.gstaff.add_staff(former("S-5002", date(2026, 9, 30), retired=True, born=date(1966, 9, 1)))
    sctx.gstaff.add_staff(former("S-5003", date(2026, 9, 30), retired=False, born=date(1966, 9, 1)))

    assert order_registration.run(sctx, "orders", accepted_order(kintone, 提案スタッフID="S-5002")) == "proposal_ok"
    assert order_registration.run(sctx, "orders", accepted_order(kintone, 提案スタッフID="S-5003")) == \
        "flagged_former_employee"


def test_an_accepted_order_without_proposed_staff_asks_g_staff_nothing(sctx, kintone):
    assert order_registration.run(sctx, "orders", accepted_order(kintone)) == "nothing_to_do"
    assert sctx.gstaff.calls["get_staff"] == 0
