"""Work found in bulk is decided per page (issue 17): a reconciled backlog and the held orders a
credit approval releases cost a few kintone calls per page, reach the same end as one job per
order, and a record someone changes meanwhile goes to its ordinary job.

Jobs run as in a worker: released orders and fallbacks are enqueued (``enqueue``/``enqueue_many``
as bootstrap wires them) and a real RQ worker drains them.
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import fakeredis
import pytest

from connectors.kintone.fake import FakeKintone
from flows import order_registration, workflow
from flows.context import FlowContext
from kgbridge.jobs import flow_enqueuer, job_id, many_enqueuer
from kgbridge.ledger import Ledger
from kgbridge.ops import reconcile
from kgbridge.samples import COMPLETE_ORDER
from tests.people import (
    CLIENTS,
    ORDERS,
    TUESDAY_MORNING,
    applications,
    approve_as_manager,
    fill_in,
    held_order,
    new_client,
    status_of,
    submit,
)
from tests.records import VISITS_APP

WAITING = "上長承認待ち"


@pytest.fixture
def worker_ctx(ctx, redis_conn, settings):
    """The test context as a worker has it: flows start flows as jobs, many of them as page jobs."""
    ctx.clock = lambda: TUESDAY_MORNING
    ctx.enqueue = flow_enqueuer(redis_conn, settings)
    ctx.enqueue_many = many_enqueuer(redis_conn, settings)
    return ctx


def approved_client(kintone) -> str:
    return new_client(kintone, name="株式会社サンプル物流", credit="承認")


def complete_orders(kintone, client: str, n: int) -> list[str]:
    return [kintone.seed(ORDERS, dict(COMPLETE_ORDER, 顧客レコード番号=client)) for _ in range(n)]


def sweep_orders(settings, mappings, kintone, redis_conn):
    [report] = reconcile.sweep(settings=settings, mappings=mappings, kintone=kintone, connection=redis_conn,
                               app_key="orders")
    return report


def test_a_reconciled_backlog_is_one_page_job_of_three_kintone_calls(worker_ctx, kintone, mappings, settings,
                                                                   redis_conn, drain):
    ids = complete_orders(kintone, approved_client(kintone), 150)  # their webhooks were lost

    report = sweep_orders(settings, mappings, kintone, redis_conn)
    assert len(report.page_jobs) == 1
    assert sorted(report.enqueued) == sorted(job_id("order_registration", "orders", r, "r1") for r in ids)
    kintone.calls.clear()
    drain()

    assert {status_of(kintone, ORDERS, r) for r in ids} == {WAITING}
    supervisor = COMPLETE_ORDER["上長"][0]["code"]  # the assignee the order names, as its own job sets it
    assert {kintone.record_values(ORDERS, r)["作業者"][0]["code"] for r in ids} == {supervisor}
    assert {kintone.record_values(ORDERS, r)["$revision"] for r in ids} == {"3"}  # one action each
    # one read of the orders, one of their client, one of its visits (seed A-3), one bulkRequest of
    # 2 × PUT records/status.json
    assert kintone.calls == Counter({("get_records", ORDERS): 1, ("get_records", CLIENTS): 1,
                                     ("get_records", VISITS_APP): 1, ("bulk_request", ORDERS): 1})
    assert sweep_orders(settings, mappings, kintone, redis_conn).enqueued == []


def test_a_record_the_page_job_carries_is_not_queued_twice_by_the_next_sweep(worker_ctx, kintone, mappings,
                                                                            settings, redis_conn):
    complete_orders(kintone, approved_client(kintone), 30)
    first = sweep_orders(settings, mappings, kintone, redis_conn)
    again = sweep_orders(settings, mappings, kintone, redis_conn)  # before the page job ran
    assert len(first.enqueued) == 30 and (again.enqueued, again.queued) == ([], 30)


def test_a_few_lost_webhooks_still_get_their_ordinary_jobs(worker_ctx, kintone, mappings, settings, redis_conn):
    ids = complete_orders(kintone, approved_client(kintone), settings.bulk_min_records - 1)
    report = sweep_orders(settings, mappings, kintone, redis_conn)
    assert report.page_jobs == [] and len(report.enqueued) == len(ids)


def _mixed_backlog(kintone) -> dict[str, list[str]]:
    """Every kind of order a page can hold, with the outcome its own job reaches."""
    ok = approved_client(kintone)
    fresh = new_client(kintone)  # never applied for credit: its 06_1 is opened (per record)
    under_review = new_client(kintone, name="株式会社審査中", credit="審査中")
    accepted = kintone.seed(ORDERS, dict(COMPLETE_ORDER, 顧客レコード番号=ok), status="受付済")
    return {
        "sent_for_supervisor_approval": complete_orders(kintone, ok, 25),
        "told_rep_missing_items": [held_order(kintone, ok, 募集背景=None, 請求単価=None) for _ in range(3)]
        + [held_order(kintone, under_review) for _ in range(2)],
        "credit_application_opened": [held_order(kintone, fresh)],
        "acceptance_recorded": [accepted],
        "nothing_to_do": [kintone.seed(ORDERS, dict(COMPLETE_ORDER, 顧客レコード番号=ok), status=WAITING)],
    }


def _fresh_ctx(mappings) -> tuple[FlowContext, FakeKintone, dict[str, list[str]]]:
    fake = FakeKintone.from_mappings(mappings)
    backlog = _mixed_backlog(fake)
    return FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()),
                       clock=lambda: TUESDAY_MORNING), fake, backlog


def _end_state(fake: FakeKintone) -> dict:
    return {app: {rid: ({k: v for k, v in fake.record_values(app, rid).items() if k not in ("$revision", "更新日時", "作成日時")},
                        fake.comment_texts(app, rid))
                  for rid in fake.apps[app].records} for app in fake.apps}


def test_a_page_reaches_the_same_end_as_one_job_per_order(mappings):
    one_by_one, fake_a, backlog = _fresh_ctx(mappings)
    outcomes = {rid: order_registration.run(one_by_one, "orders", rid) for ids in backlog.values() for rid in ids}
    own_word = {"credit_application_opened": "told_rep_missing_items"}  # opened, then the rep is told
    assert outcomes == {rid: own_word.get(kind, kind) for kind, ids in backlog.items() for rid in ids}

    paged, fake_b, _ = _fresh_ctx(mappings)  # the same records, decided as one page
    result = order_registration.run_page(paged, "orders", [rid for ids in backlog.values() for rid in ids])

    assert _end_state(fake_b) == _end_state(fake_a)
    assert sorted(result.fallback) == sorted(backlog["credit_application_opened"] + backlog["acceptance_recorded"])
    assert result.outcomes == {"sent_for_supervisor_approval": 25, "told_rep_missing_items": 5, "nothing_to_do": 1}
    assert len(applications(fake_b, "06_1")) == 1
    # the 25 approvals: one PUT records/status.json instead of 25 reads of an order, 25 of a client, 25 actions
    assert fake_b.calls[("update_statuses", ORDERS)] == 1 and fake_b.calls[("update_status", ORDERS)] == 0
    assert sum(fake_b.calls.values()) < sum(fake_a.calls.values()) / 3


class PersonEditsDuringTheBulkCall:
    """kintone where a person saves one order after the page was read, just before the bulk call."""

    def __init__(self, fake: FakeKintone, record_id: str) -> None:
        self._fake, self._record_id, self.edited = fake, record_id, False

    def __getattr__(self, name):
        return getattr(self._fake, name)

    def _edit(self) -> None:
        if not self.edited:
            self.edited = True
            self._fake.update_record(ORDERS, self._record_id, {"就業先環境・ルール": {"value": "入館証は初日に受付で受け取る"}})

    def bulk_request(self, writes):
        self._edit()
        return self._fake.bulk_request(writes)

    def update_statuses(self, app, actions):
        self._edit()
        return self._fake.update_statuses(app, actions)


def test_an_order_changed_meanwhile_goes_to_its_ordinary_job_and_the_rest_are_sent_in_bulk(
        worker_ctx, kintone, mappings, settings, redis_conn, drain):
    ids = complete_orders(kintone, approved_client(kintone), 150)
    edited = ids[120]  # in the second PUT records/status.json of the bulkRequest
    worker_ctx.kintone = PersonEditsDuringTheBulkCall(kintone, edited)
    sweep_orders(settings, mappings, kintone, redis_conn)
    kintone.calls.clear()
    drain()

    assert {status_of(kintone, ORDERS, r) for r in ids} == {WAITING}
    assert kintone.record_values(ORDERS, edited)["就業先環境・ルール"] == "入館証は初日に受付で受け取る"
    assert kintone.calls[("bulk_request", ORDERS)] == 2  # refused (rolled back), then without the edited order
    assert kintone.calls[("update_status", ORDERS)] == 1  # the edited order's own job, at its new revision
    assert {kintone.record_values(ORDERS, r)["$revision"] for r in ids if r != edited} == {"3"}
    assert kintone.record_values(ORDERS, edited)["$revision"] == "4"
    assert redis_conn.exists(f"rq:job:{job_id('order_registration', 'orders', edited, 'r1')}")


def test_held_orders_released_by_a_credit_approval_are_one_page_job(worker_ctx, kintone, drain):
    client = new_client(kintone)
    first = held_order(kintone, client)
    order_registration.run(worker_ctx, "orders", first)  # opens the 06_1, client 審査中
    held = [first] + [held_order(kintone, client) for _ in range(29)]
    incomplete = held_order(kintone, client, 募集背景=None)
    application = applications(kintone, "06_1")[-1]["$id"]
    fill_in(kintone, application)
    submit(kintone, application)
    workflow.run(worker_ctx, "workflow", application)
    approve_as_manager(kintone, application)

    assert workflow.run(worker_ctx, "workflow", application) == "credit_approved"
    kintone.calls.clear()
    drain()

    assert {status_of(kintone, ORDERS, r) for r in held} == {WAITING}
    assert status_of(kintone, ORDERS, incomplete) == "未処理"
    # one read of the 30 orders, one of their client, one of its visits, one PUT records/status.json
    # (30 ≤ 100: no bulkRequest)
    assert kintone.calls == Counter({("get_records", ORDERS): 1, ("get_records", CLIENTS): 1,
                                     ("get_records", VISITS_APP): 1, ("update_statuses", ORDERS): 1})
    assert workflow.run(worker_ctx, "workflow", application) == "nothing_to_do"


def test_held_orders_released_by_a_completed_visit_are_one_page_job(worker_ctx, kintone, drain):
    from flows import visit_report
    from tests.records import visited

    client = kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "与信状態": "承認", "電話番号": "06-0000-0000"})
    held = [held_order(kintone, client) for _ in range(30)]
    assert order_registration.run(worker_ctx, "orders", held[0]) != "approval_requested"  # no visit yet (seed A-3)
    assert status_of(kintone, ORDERS, held[0]) == "未処理"
    visit = visited(kintone, client)

    visit_report.run(worker_ctx, "visits", visit)
    kintone.calls.clear()
    drain()

    assert {status_of(kintone, ORDERS, r) for r in held} == {WAITING}
    # one read of the 30 orders, one of their client, one of its visits, one PUT records/status.json
    assert kintone.calls == Counter({("get_records", ORDERS): 1, ("get_records", CLIENTS): 1,
                                     ("get_records", VISITS_APP): 1, ("update_statuses", ORDERS): 1})
    kintone.calls.clear()
    visit_report.run(worker_ctx, "visits", visit)  # saved again: the orders are released once per visit
    drain()
    assert [call for call in kintone.calls if call[1] == ORDERS] == []


def test_a_page_flags_a_proposed_worker_who_left_the_client_within_a_year_as_the_orders_own_job_does(mappings):
    """法第40条の9 on the page path: the accepted order goes to its ordinary job (G-Staff per worker), so a
    page and one job per order end the same, with the same comment to the rep and the 上長."""
    from connectors.gstaff import EmploymentType, FormerEmployment, StaffMember
    from connectors.gstaff.fake import FakeGStaff

    def world() -> tuple[FlowContext, FakeKintone, dict[str, str]]:
        fake, gstaff = FakeKintone.from_mappings(mappings), FakeGStaff.with_samples()
        gstaff.add_staff(StaffMember("S-5001", EmploymentType.FIXED_TERM, date(1990, 1, 1),
                                     [FormerEmployment("G-1001", date(2025, 12, 2))]))  # < 1 year before 12-01
        client = new_client(fake, name="株式会社サンプル物流", credit="承認", Gスタッフ顧客ID="G-1001")
        accepted = dict(COMPLETE_ORDER, 顧客レコード番号=client, 受付日="2026-11-20", 開始時期="2026-12-01")
        ids = {"former": fake.seed(ORDERS, dict(accepted, 提案スタッフID="S-5001"), status="受付済"),
               "fine": fake.seed(ORDERS, dict(accepted, 提案スタッフID="S-2001"), status="受付済"),
               "new": complete_orders(fake, client, 1)[0]}
        ctx = FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()),
                          clock=lambda: TUESDAY_MORNING)
        ctx.gstaff = gstaff
        return ctx, fake, ids

    one_by_one, fake_a, ids = world()
    outcomes = {name: order_registration.run(one_by_one, "orders", rid) for name, rid in ids.items()}
    assert outcomes == {"former": "flagged_former_employee", "fine": "proposal_ok",
                        "new": "sent_for_supervisor_approval"}

    paged, fake_b, _ = world()
    result = order_registration.run_page(paged, "orders", list(ids.values()))  # fallbacks run inline here

    assert sorted(result.fallback) == sorted([ids["former"], ids["fine"]])
    assert _end_state(fake_b) == _end_state(fake_a)
    [comment] = fake_b.apps[ORDERS].comments[ids["former"]]
    assert "離職後1年以内の受入れ禁止（労働者派遣法第40条の9）：スタッフさん（スタッフID：S-5001）" in comment.text
    assert [m.code for m in comment.mentions] == ["sato", "tanaka"]
