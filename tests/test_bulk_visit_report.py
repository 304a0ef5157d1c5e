"""Visits whose webhooks were lost, reported per page (issue 17): one read of the page, one of the
clients the visits name, the comments the visits' own jobs post (one each), the 顧客管理台帳 writes in
bulk with each client's revision, and the held orders of the clients visited in one query. The page
ends exactly as one visit_report job per visit; a visit whose client someone changes meanwhile goes to
its ordinary job, which says nothing twice.
"""

from __future__ import annotations

from collections import Counter

import fakeredis
import pytest

from connectors.kintone.fake import FakeKintone
from flows import visit_report
from flows.context import FlowContext
from kgbridge.jobs import flow_enqueuer, job_id, many_enqueuer
from kgbridge.ledger import Ledger
from kgbridge.ops import reconcile
from kgbridge.samples import COMPLETE_ORDER
from tests.conftest import BUSINESS_HOURS
from tests.records import VISITS_APP, utc, visited

CLIENTS, ORDERS = "1", "3"
WAITING = "上長承認待ち"


@pytest.fixture
def worker_ctx(ctx, redis_conn, settings):
    """The test context as a worker has it: flows start flows as jobs, many of them as page jobs."""
    ctx.enqueue = flow_enqueuer(redis_conn, settings)
    ctx.enqueue_many = many_enqueuer(redis_conn, settings)
    return ctx


def client(fake: FakeKintone, n: int) -> str:
    return fake.seed(CLIENTS, {"会社名": f"株式会社訪問先{n}", "与信状態": "承認", "電話番号": f"03-0000-{n:04d}"})


def held_orders(fake: FakeKintone, client_id: str, n: int) -> list[str]:
    """Complete orders in 未処理 that waited for the client's visit (seed A-3)."""
    return [fake.seed(ORDERS, dict(COMPLETE_ORDER, 顧客レコード番号=client_id)) for _ in range(n)]


def visits_backlog(fake: FakeKintone) -> tuple[dict[str, list[str]], list[str]]:
    """Every case a page of visits holds, by what its own job does; and the held orders it releases."""
    complete = [client(fake, i) for i in range(25)]
    orders = held_orders(fake, complete[0], 25)
    twice = client(fake, 100)
    orders += held_orders(fake, twice, 1)
    cases = {
        "complete": [visited(fake, c, 顧客=f"株式会社訪問先{i}") for i, c in enumerate(complete)],
        "gaps": [visited(fake, client(fake, 200 + i), 教育実施="未確認") for i in range(3)],
        "blocked": [visited(fake, client(fake, 300 + i), 安全衛生体制="問題あり") for i in range(2)],
        "no_report": [visited(fake, client(fake, 400 + i), 訪問記録="") for i in range(2)],
        # one client visited three times: the ledger keeps the newest visit, the first 派遣の仕組み説明
        "same_client": [visited(fake, twice, 訪問日時=utc("2026-11-18T14:00")),
                        visited(fake, twice, 訪問日時=utc("2026-11-20T09:30"), 派遣の仕組み説明="未説明"),
                        visited(fake, twice, 訪問日時=utc("2026-11-10T11:00"), 訪問記録="電話で再ヒアリング")],
        "client_gone": [visited(fake, "9999")],
        "no_client": [visited(fake, "")],
    }
    return cases, orders


def end_state(fake: FakeKintone) -> dict:
    """Every record's values (but kintone's own stamps) and comments (text and who is mentioned)."""
    return {app: {rid: ({k: v for k, v in fake.record_values(app, rid).items()
                         if k not in ("$revision", "更新日時", "作成日時")},
                        [(c.text, [m.code for m in c.mentions]) for c in fake.apps[app].comments[rid]])
                  for rid in fake.apps[app].records} for app in fake.apps}


def sweep_visits(settings, mappings, kintone, redis_conn) -> reconcile.AppSweep:
    [report] = reconcile.sweep(settings=settings, mappings=mappings, kintone=kintone, connection=redis_conn,
                               app_key="visits")
    return report


def test_a_page_of_visits_ends_exactly_as_one_visit_report_job_per_visit(worker_ctx, kintone, mappings, settings,
                                                                         redis_conn, drain):
    one_by_one = FakeKintone.from_mappings(mappings)
    cases, orders = visits_backlog(one_by_one)
    ctx = FlowContext(kintone=one_by_one, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()),
                      clock=lambda: BUSINESS_HOURS)
    ids = sorted((rid for rids in cases.values() for rid in rids), key=int)
    outcomes = Counter(visit_report.run(ctx, "visits", rid) for rid in ids)  # the released orders run inline
    assert outcomes == {"reported": len(ids) - 2, "no_report_yet": 2}

    assert visits_backlog(kintone) == (cases, orders)  # the same backlog, found by a sweep
    report = sweep_visits(settings, mappings, kintone, redis_conn)
    assert len(report.page_jobs) == 1
    assert sorted(report.enqueued) == sorted(job_id("visit_report", "visits", r, "r1") for r in ids)
    kintone.calls.clear()
    drain()

    assert end_state(kintone) == end_state(one_by_one)
    assert {kintone.record_values(ORDERS, r)["ステータス"] for r in orders} == {WAITING}
    ledger = kintone.record_values(CLIENTS, kintone.record_values(VISITS_APP, cases["same_client"][0])["顧客レコード番号"])
    assert (ledger["最終訪問日"], ledger["派遣の仕組み説明日"]) == ("2026-11-20", "2026-11-18")
    assert ledger["$revision"] == "2"  # three visits, one write
    comments = sum(len(kintone.apps[VISITS_APP].comments[r]) for r in ids)
    # the 上長's report on each visit with one; the rep's gaps (and the same client's 未説明 visit)
    assert comments == len(ids) - 2 + len(cases["gaps"]) + 1
    # The visits' page: one read, one of their clients, one PUT records.json (32 clients ≤ 100), the
    # comments, one query of the held orders. The 26 orders released are one order_registration page
    # (read, client, visits, one PUT records/status.json), not a job per order nor per visit.
    assert kintone.calls == Counter({("get_records", VISITS_APP): 1 + 1, ("get_records", CLIENTS): 1 + 1,
                                     ("update_records", CLIENTS): 1, ("add_comment", VISITS_APP): comments,
                                     ("get_records", ORDERS): 1 + 1, ("update_statuses", ORDERS): 1})
    # against one job per visit: read, comments, read and write its client, the held orders' query
    assert sum(one_by_one.calls[(m, VISITS_APP)] for m in ("get_record", "add_comment")) == len(ids) + comments

    kintone.calls.clear()  # the page again (a retried job): one read each, nothing said or written twice
    again = visit_report.run_page(worker_ctx, "visits", ids)
    assert again.outcomes == {"already_reported": len(ids) - 2, "no_report_yet": 2}
    assert kintone.calls == Counter({("get_records", VISITS_APP): 1, ("get_records", CLIENTS): 1})
    assert sweep_visits(settings, mappings, kintone, redis_conn).enqueued == []


class PersonEditsTheClient:
    """kintone where a person saves a client after the page was read, just before the bulk write."""

    def __init__(self, fake: FakeKintone, client_id: str) -> None:
        self._fake, self._client_id, self.edited = fake, client_id, False

    def __getattr__(self, name):
        return getattr(self._fake, name)

    def _edit(self) -> None:
        if not self.edited:
            self.edited = True
            self._fake.update_record(CLIENTS, self._client_id, {"住所": {"value": "東京都江東区新木場1-1"}})

    def bulk_request(self, writes):
        self._edit()
        return self._fake.bulk_request(writes)

    def update_records(self, app, updates):
        self._edit()
        return self._fake.update_records(app, updates)


@pytest.mark.parametrize("clients", [30, 150])  # one PUT records.json; a bulkRequest of two
def test_a_visit_whose_client_changed_after_the_page_was_read_goes_to_its_ordinary_job(
        clients, worker_ctx, kintone, mappings, settings, redis_conn, drain):
    customers = [client(kintone, i) for i in range(clients)]
    ids = [visited(kintone, c) for c in customers]
    edited = customers[120 if clients > 100 else 12]
    worker_ctx.kintone = PersonEditsTheClient(kintone, edited)
    sweep_visits(settings, mappings, kintone, redis_conn)
    kintone.calls.clear()
    drain()

    bulk = "bulk_request" if clients > 100 else "update_records"
    assert kintone.calls[(bulk, CLIENTS)] == 2  # refused (rolled back), then without the edited client
    assert kintone.calls[("get_records", CLIENTS)] == 2  # the page's clients, then the refused ones' revisions
    assert kintone.calls[("update_record", CLIENTS)] == 2  # the person's edit, then the visit's own job
    visit = ids[customers.index(edited)]
    assert redis_conn.exists(f"rq:job:{job_id('visit_report', 'visits', visit, 'r1')}")
    record = kintone.record_values(CLIENTS, edited)
    assert (record["住所"], record["最終訪問日"], record["$revision"]) == ("東京都江東区新木場1-1", "2026-11-20", "3")
    assert [len(kintone.apps[VISITS_APP].comments[r]) for r in ids] == [1] * clients  # its own job said nothing again
    assert {kintone.record_values(CLIENTS, c)["$revision"] for c in customers if c != edited} == {"2"}
    assert sweep_visits(settings, mappings, kintone, redis_conn).enqueued == []
