"""稟議 applications found in bulk (issue 17): ``flows.workflow.decide`` is the one place the 06_1 /
06_2 rules are judged; it writes nothing, and both the per-record job and the page job
(``flows.workflow.run_page``) carry its Decision out. A reconciled backlog of applications costs a few
kintone calls per page (the comments and the kind's 承認 effects stay per application), reaches the same
end as one job per application, and an application someone changes meanwhile goes to its ordinary job.

Fake kintone, real Redis; jobs run as in a worker (a real RQ worker drains what the sweep and the page
jobs enqueue).
"""

from __future__ import annotations

from collections import Counter

import fakeredis
import pytest

from connectors.kintone.fake import FakeKintone
from flows import workflow
from flows.context import FlowContext
from kgbridge.jobs import flow_enqueuer, job_id, many_enqueuer
from kgbridge.ledger import Ledger
from kgbridge.ops import reconcile
from tests.people import CHECKED, CLIENTS, ORDERS, TUESDAY_MORNING, WORKFLOW, held_order, new_client, status_of
from tests.records import SATO

CREDIT, TRADE = "06_1 反社・与信チェック", "06_2 取引開始・契約書類締結"
TANAKA = [{"code": "tanaka", "name": "田中 部長"}]
DIRECTOR = [{"code": "kimura", "name": "木村 取締役"}]


@pytest.fixture(autouse=True)
def tuesday(ctx):
    ctx.clock = lambda: TUESDAY_MORNING


def application(kintone, client: str, kind: str = CREDIT, status: str = "申請中", **changes) -> str:
    """A 稟議 application of the client as a rep fills it in (06_1: every A-4 check item, all clear;
    changes as field code=value, None to leave an item empty)."""
    values = {"申請種別": kind, "件名": f"{kind} #{client}", "顧客": "有限会社はじめて製作所", "顧客レコード番号": client,
              "申請者": SATO, "上長": TANAKA, "申請日": "2026-11-20",
              **(CHECKED if kind == CREDIT else {"定形外契約書": "無"})}
    for code, value in changes.items():
        if value is None:
            values.pop(code, None)
        else:
            values[code] = value
    return kintone.seed(WORKFLOW, values, status=status)


def read(ctx, record_id: str) -> tuple[dict, str | None]:
    wf = ctx.mappings["workflow"]
    values = wf.read(ctx.kintone.get_record(wf.id, record_id))
    return values, wf.status_key(values.get("status"))


def writes(kintone) -> list:
    return [call for call in kintone.calls if not call[0].startswith("get_")]


def test_deciding_an_application_writes_nothing_and_names_the_comment_and_the_action(ctx, kintone):
    client = new_client(kintone, credit="審査中")
    incomplete = application(kintone, client, 信用調査機関の評価=None, 遵法性=None)
    values, status = read(ctx, incomplete)
    kintone.calls.clear()

    decision = workflow.decide(ctx, ctx.mappings["workflow"], values, status)

    assert (decision.outcome, decision.action, decision.assignee) == ("sent_back", "send_back", "sato")
    assert "・信用調査機関の評価（評点）\n・遵法性" in decision.comment
    assert not kintone.calls  # a 06_1's rules read nothing
    assert (status_of(kintone, WORKFLOW, incomplete), kintone.comment_texts(WORKFLOW, incomplete)) == ("申請中", [])

    assert workflow.carry_out(ctx, ctx.mappings["workflow"], values, decision) == "sent_back"
    assert status_of(kintone, WORKFLOW, incomplete) == "作成中"
    assert [decision.comment] == kintone.comment_texts(WORKFLOW, incomplete)


def test_a_06_2s_decision_reads_its_client_once_and_a_client_passed_in_not_at_all(ctx, kintone):
    client = new_client(kintone, credit="承認")
    trade = application(kintone, client, kind=TRADE, status="上長承認済")
    values, status = read(ctx, trade)
    wf = ctx.mappings["workflow"]
    kintone.calls.clear()

    decision = workflow.decide(ctx, wf, values, status)
    assert (decision.outcome, decision.action, decision.effects) == ("decided", "decide", "approved")
    assert kintone.calls == {("get_record", CLIENTS): 1} and writes(kintone) == []

    kintone.calls.clear()
    again, _ = read(ctx, trade)
    again["_client"] = ctx.mappings["clients"].read(kintone.get_record(CLIENTS, client))  # as a page reads it
    kintone.calls.clear()
    assert workflow.decide(ctx, wf, again, status) == decision
    assert not kintone.calls


def test_a_director_needed_at_approval_is_one_comment_and_the_director_action(ctx, kintone):
    client = new_client(kintone, credit="審査中")
    low = application(kintone, client, status="上長承認済", 信用調査機関の評価="48", 取締役=DIRECTOR)
    values, status = read(ctx, low)

    decision = workflow.decide(ctx, ctx.mappings["workflow"], values, status)

    assert (decision.action, decision.assignee, [u.code for u in decision.users]) == (
        "request_director_approval", "kimura", ["kimura"])
    assert "「信用調査機関の評価（評点）」（48）が基準（60）未満" in decision.comment
    assert workflow.run(ctx, "workflow", low) == "sent_to_director"
    assert status_of(kintone, WORKFLOW, low) == "取締役承認待ち"
    assert kintone.comment_texts(WORKFLOW, low) == [decision.comment]


# -- the page path ------------------------------------------------------------------------------


@pytest.fixture
def worker_ctx(ctx, redis_conn, settings):
    """The test context as a worker has it: flows start flows as jobs, many of them as page jobs."""
    ctx.enqueue = flow_enqueuer(redis_conn, settings)
    ctx.enqueue_many = many_enqueuer(redis_conn, settings)
    return ctx


def sweep_applications(settings, mappings, kintone, redis_conn) -> reconcile.AppSweep:
    [report] = reconcile.sweep(settings=settings, mappings=mappings, kintone=kintone, connection=redis_conn,
                               app_key="workflow")
    return report


def _mixed_backlog(kintone) -> dict[str, list[str]]:
    """Every kind of application a page can hold, by the outcome its own job reaches."""
    reviewing = new_client(kintone, credit="審査中")
    approved = [new_client(kintone, name=f"株式会社承認済{i}", credit="承認") for i in range(3)]
    antisocial = new_client(kintone, name="株式会社該当", credit="審査中")
    held_order(kintone, antisocial)  # its rep hears of the rejection (the kind's effects)
    fresh = new_client(kintone, name="株式会社決裁", credit="審査中")
    return {
        "waiting_for_manager": [application(kintone, reviewing) for _ in range(3)]
        + [application(kintone, reviewing, 信用調査機関の評価="48", 取締役=DIRECTOR)],  # the 上長 told
        "sent_back": [application(kintone, reviewing, 信用調査機関の評価=None, 遵法性=None) for _ in range(4)]
        + [application(kintone, reviewing, kind=TRADE, status="上長承認済")],  # its client not approved yet
        "credit_rejected": [application(kintone, antisocial, 反社会的勢力="該当する")],
        "sent_to_director": [application(kintone, reviewing, status="上長承認済", 信用調査機関の評価="48",
                                         取締役=DIRECTOR)],
        "credit_approved": [application(kintone, fresh, status="上長承認済")],
        "trade_approved": [application(kintone, approved[0], kind=TRADE, status="上長承認済"),
                           application(kintone, approved[1], kind=TRADE, status="上長承認済"),
                           application(kintone, approved[2], kind=TRADE, status="承認")],  # a person's 決裁
        "nothing_to_do": [application(kintone, reviewing, status="作成中"),
                          application(kintone, reviewing, status="取締役承認待ち", 取締役=DIRECTOR)],
    }


def _world(mappings) -> tuple[FlowContext, FakeKintone, dict[str, list[str]]]:
    fake = FakeKintone.from_mappings(mappings)
    backlog = _mixed_backlog(fake)
    return FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()),
                       clock=lambda: TUESDAY_MORNING), fake, backlog


def _end_state(fake: FakeKintone) -> dict:
    return {app: {rid: ({k: v for k, v in fake.record_values(app, rid).items() if k not in ("$revision", "更新日時", "作成日時")},
                        fake.comment_texts(app, rid))
                  for rid in fake.apps[app].records} for app in fake.apps}


def test_a_page_reaches_the_same_end_as_one_job_per_application(mappings):
    one_by_one, fake_a, backlog = _world(mappings)
    ids = [rid for kind in backlog.values() for rid in kind]
    outcomes = {rid: workflow.run(one_by_one, "workflow", rid) for rid in ids}
    assert outcomes == {rid: outcome for outcome, kind in backlog.items() for rid in kind}

    paged, fake_b, _ = _world(mappings)  # the same records, decided as one page (fallbacks run inline here)
    result = workflow.run_page(paged, "workflow", ids)

    assert _end_state(fake_b) == _end_state(fake_a)
    approved_by_hand = backlog["trade_approved"][-1]
    assert result.fallback == [approved_by_hand]  # a person's 決裁: the kind's effects, by its own job
    # each application the page decided ends with the word its own job ends with (a 決裁's or 否認's:
    # its effects', run in the page after the bulk call)
    assert result.outcomes == Counter(o for rid, o in outcomes.items() if rid != approved_by_hand)
    assert {"credit_approved", "trade_approved", "credit_rejected"} <= set(result.outcomes)
    # every action of the page in one PUT records/status.json (11 ≤ 100), none one by one
    assert fake_b.calls[("update_statuses", WORKFLOW)] == 1 and fake_b.calls[("update_status", WORKFLOW)] == 0
    assert fake_b.calls[("get_records", CLIENTS)] == 1  # the 06_2s' clients, once for the page
    assert status_of(fake_b, WORKFLOW, backlog["sent_to_director"][0]) == "取締役承認待ち"
    assert fake_b.record_values(CLIENTS, fake_b.record_values(WORKFLOW, backlog["credit_approved"][0])
                                ["顧客レコード番号"])["与信状態"] == "承認"


def _backlog_of_two_kinds(kintone, send_back: int, decide: int) -> tuple[list[str], list[str]]:
    """Incomplete 06_1s just submitted (each is sent back) and 06_2s the 上長 approved (each 決裁), each
    of its own approved client; their notifications were lost."""
    reviewing = new_client(kintone, credit="審査中")
    return ([application(kintone, reviewing, 信用調査機関の評価=None) for _ in range(send_back)],
            [application(kintone, new_client(kintone, name=f"株式会社取引先{i}", credit="承認"), kind=TRADE,
                         status="上長承認済") for i in range(decide)])


def test_a_reconciled_backlog_is_one_page_job_of_three_kintone_calls_and_the_per_application_rest(
        worker_ctx, kintone, mappings, settings, redis_conn, drain):
    incomplete, manager_approved = _backlog_of_two_kinds(kintone, send_back=100, decide=50)

    report = sweep_applications(settings, mappings, kintone, redis_conn)
    assert len(report.page_jobs) == 1
    assert sorted(report.enqueued) == sorted(job_id("workflow", "workflow", r, "r1")
                                             for r in incomplete + manager_approved)
    kintone.calls.clear()
    drain()

    assert {status_of(kintone, WORKFLOW, r) for r in incomplete} == {"作成中"}
    assert {kintone.record_values(WORKFLOW, r)["作業者"][0]["code"] for r in incomplete} == {"sato"}
    assert {status_of(kintone, WORKFLOW, r) for r in manager_approved} == {"承認"}
    for rid in incomplete:
        [text] = kintone.comment_texts(WORKFLOW, rid)
        assert "【未入力の項目】\n・信用調査機関の評価（評点）" in text
    for rid in manager_approved:
        client = kintone.record_values(WORKFLOW, rid)["顧客レコード番号"]
        assert kintone.record_values(CLIENTS, client)["取引状態"] == "取引可"
        [text] = kintone.comment_texts(WORKFLOW, rid)
        assert "取引開始が承認されました" in text
    assert kintone.calls == Counter({
        # the page: one read of the applications, one of the 06_2s' clients, one bulkRequest of
        # 2 × PUT records/status.json (150 actions), a comment per application sent back
        ("get_records", WORKFLOW): 1, ("get_records", CLIENTS): 1, ("bulk_request", WORKFLOW): 1,
        ("add_comment", WORKFLOW): 100 + 50,
        # each 決裁's effects in the page, on the application and client as the page read them (no second
        # read of either): update its client (with the revision read), tell the rep (the comments above)
        ("update_record", CLIENTS): 50})
    assert sweep_applications(settings, mappings, kintone, redis_conn).enqueued == []
    kintone.calls.clear()
    for rid in manager_approved[:3]:  # the effects ran once: a repeat of its job changes nothing
        assert workflow.run(worker_ctx, "workflow", rid) == "nothing_to_do"
    assert writes(kintone) == []


class PersonEditsDuringTheBulkCall:
    """kintone where the applicant saves one application after the page was read, just before the bulk call."""

    def __init__(self, fake: FakeKintone, record_id: str, change: dict) -> None:
        self._fake, self._record_id, self._change, self.edited = fake, record_id, change, False

    def __getattr__(self, name):
        return getattr(self._fake, name)

    def _edit(self) -> None:
        if not self.edited:
            self.edited = True
            self._fake.update_record(WORKFLOW, self._record_id, self._change)

    def bulk_request(self, writes):
        self._edit()
        return self._fake.bulk_request(writes)

    def update_statuses(self, app, actions):
        self._edit()
        return self._fake.update_statuses(app, actions)


def test_an_application_changed_meanwhile_goes_to_its_ordinary_job_and_the_rest_are_decided_in_bulk(
        worker_ctx, kintone, mappings, settings, redis_conn, drain):
    _, manager_approved = _backlog_of_two_kinds(kintone, send_back=0, decide=150)
    edited = manager_approved[120]  # in the second PUT records/status.json of the bulkRequest
    # a 定形外契約書 after all: legal must check it first, so its own job sends it back instead of 決裁
    worker_ctx.kintone = PersonEditsDuringTheBulkCall(kintone, edited, {"定形外契約書": {"value": "有"}})
    sweep_applications(settings, mappings, kintone, redis_conn)
    kintone.calls.clear()
    drain()

    assert {status_of(kintone, WORKFLOW, r) for r in manager_approved if r != edited} == {"承認"}
    assert kintone.calls[("bulk_request", WORKFLOW)] == 2  # refused (rolled back), then without the edited one
    assert kintone.calls[("update_status", WORKFLOW)] == 1  # the edited one's own job, at its new revision
    assert status_of(kintone, WORKFLOW, edited) == "作成中"
    [text] = kintone.comment_texts(WORKFLOW, edited)
    assert "定形外契約書のため、先に法務の確認が必要です" in text
    client = kintone.record_values(WORKFLOW, edited)["顧客レコード番号"]
    assert kintone.record_values(CLIENTS, client)["取引状態"] != "取引可"
    assert all(len(kintone.comment_texts(WORKFLOW, r)) == 1 for r in manager_approved)
    assert redis_conn.exists(f"rq:job:{job_id('workflow', 'workflow', edited, 'r1')}")


def test_a_rejection_in_bulk_tells_the_rep_of_each_held_order_once_by_the_applications_own_job(
        worker_ctx, kintone, mappings, settings, redis_conn, drain):
    clients = [new_client(kintone, name=f"株式会社該当{i}", credit="審査中") for i in range(25)]
    orders = {client: held_order(kintone, client) for client in clients}
    rejected = [application(kintone, client, 反社会的勢力="該当する") for client in clients]
    sweep_applications(settings, mappings, kintone, redis_conn)
    kintone.calls.clear()
    drain()

    assert {status_of(kintone, WORKFLOW, r) for r in rejected} == {"否認"}
    assert {kintone.record_values(CLIENTS, c)["与信状態"] for c in clients} == {"否認"}
    for client, order in orders.items():
        [text] = kintone.comment_texts(ORDERS, order)
        assert "否認されました" in text and "未処理のまま保留しています" in text
    assert kintone.calls[("update_statuses", WORKFLOW)] == 1 and kintone.calls[("update_status", WORKFLOW)] == 0
    assert kintone.calls[("get_records", CLIENTS)] == 0  # a 06_1 is decided on its answers: no clients query
    assert all(len(kintone.comment_texts(WORKFLOW, r)) == 1 for r in rejected)


def test_a_06_2_whose_client_is_gone_fails_its_own_job_and_the_rest_of_the_page_is_decided(
        worker_ctx, kintone, mappings, settings, redis_conn, drain):
    from rq.registry import FailedJobRegistry
    from rq.serializers import JSONSerializer

    _, manager_approved = _backlog_of_two_kinds(kintone, send_back=0, decide=30)
    orphan = manager_approved[7]
    kintone.apps[CLIENTS].records.pop(kintone.record_values(WORKFLOW, orphan)["顧客レコード番号"])  # deleted
    sweep_applications(settings, mappings, kintone, redis_conn)
    drain()

    assert {status_of(kintone, WORKFLOW, r) for r in manager_approved if r != orphan} == {"承認"}
    assert status_of(kintone, WORKFLOW, orphan) == "上長承認済"  # as its own job alone leaves it: failed, for an operator
    failed = FailedJobRegistry(settings.queue_name, connection=redis_conn, serializer=JSONSerializer).get_job_ids()
    assert failed == [job_id("workflow", "workflow", orphan, "r1")]
