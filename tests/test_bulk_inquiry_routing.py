"""A bulk import of inquiries whose webhooks were lost, routed per page (issue 17, seed A-2): one kintone
read of the page, the reps' workload (顧客管理台帳 and G-Staff) and the clients' risk read once per page,
the decisions of the ordinary job, 担当部署/部署責任者/割当者/割当日時 written in bulk with each record's
revision, and, by the mapping's ``[routing] bulk_notice = "per_page"``, one notice per department to
its manager instead of one mention per inquiry. A reconcile sweep in, the records and comments out.
"""

from __future__ import annotations

import math
from collections import Counter

import fakeredis
import pytest

from connectors.gstaff.fake import FakeGStaff
from connectors.gstaff.interface import RepWorkload
from connectors.kintone import KintoneUnavailable
from connectors.kintone.fake import FakeKintone
from flows import deadlines, inquiry_routing
from flows.context import FlowContext
from kgbridge.jobs import flow_enqueuer, job_id, make_queue, many_enqueuer
from kgbridge.ledger import Ledger
from kgbridge.ops import reconcile
from tests.records import at, utc, without_flow

CLIENTS, INQUIRIES = "1", "2"
TUESDAY = at("2026-12-01T10:00")
SATO = {"code": "sato", "name": "佐藤 一郎"}


@pytest.fixture
def mappings(mappings):
    """Routing only (client_lookup has its own page tests), but for the test of both page flows."""
    return without_flow(mappings, "client_lookup")


def gstaff_with_workloads() -> FakeGStaff:
    fake = FakeGStaff.with_samples()
    fake.workloads = {"sato": RepWorkload("sato", current_staff=12), "suzuki": RepWorkload("suzuki", current_staff=0)}
    return fake


@pytest.fixture
def worker_ctx(ctx, redis_conn, settings):
    """The test context as a worker has it: G-Staff, flows start flows as (page) jobs, business hours."""
    ctx.gstaff = gstaff_with_workloads()
    ctx.clock = lambda: TUESDAY
    ctx.enqueue = flow_enqueuer(redis_conn, settings)
    ctx.enqueue_many = many_enqueuer(redis_conn, settings)
    return ctx


def inquiry(kintone, n: int = 0, **values) -> str:
    record = {"受付経路": "HP", "受付日時": utc("2026-12-01T09:40"), "会社名": f"株式会社あおば物流{n}号",
              "業態": "物流", "問い合わせ内容": "倉庫の軽作業スタッフを3名お願いしたい"}
    record.update(values)
    return kintone.seed(INQUIRIES, record)


def clients_of(kintone, **per_rep: int) -> None:
    for code, n in per_rep.items():
        for i in range(n):
            kintone.seed(CLIENTS, {"会社名": f"株式会社{code}{i}", "担当営業": [{"code": code, "name": code}]})


def mixed_import(kintone) -> dict[str, list[str]]:
    """An import with every outcome routing can reach, by the outcome word its own job returns."""
    clients_of(kintone, sato=3, suzuki=1)
    kintone.seed(CLIENTS, {"会社名": "株式会社あおば物流1号", "顧客評価": "C"})  # a risky client
    tokyo = [inquiry(kintone, i) for i in range(30)]
    office = [inquiry(kintone, i, 業態="コールセンター", 受付経路="電話") for i in range(4)]
    taken = [inquiry(kintone, i, 受付経路="電話", 担当営業=[SATO]) for i in range(3)]  # a rep took the call
    for rid in taken:
        kintone.apps[INQUIRIES].records[rid]["更新者"] = {"type": "MODIFIER", "value": SATO}
    done = inquiry(kintone, 99, 担当営業=[SATO], 担当部署="東京営業部", 割当日時="2026-11-30T01:00:00Z",
                   部署責任者=[{"code": "tanaka", "name": "田中"}])
    return {"told_manager": tokyo + office, "assignment_recorded": taken, "nothing_to_do": [done]}


def world(mappings, bulk_notice: str = "per_page"):
    mappings["inquiries"].model_extra["routing"]["bulk_notice"] = bulk_notice
    fake = FakeKintone.from_mappings(mappings)
    backlog = mixed_import(fake)
    ctx = FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()), clock=lambda: TUESDAY)
    ctx.gstaff = gstaff_with_workloads()
    return ctx, fake, backlog


def values_of(fake: FakeKintone) -> dict:
    """Every inquiry's values but kintone's own stamps."""
    return {rid: {k: v for k, v in fake.record_values(INQUIRIES, rid).items()
                  if k not in ("$revision", "更新日時", "作成日時")} for rid in fake.apps[INQUIRIES].records}


def comments_of(fake: FakeKintone) -> dict:
    return {rid: [(c.text, [m.code for m in c.mentions]) for c in fake.apps[INQUIRIES].comments[rid]]
            for rid in fake.apps[INQUIRIES].records}


def test_with_bulk_notice_per_record_a_page_ends_exactly_as_one_routing_job_per_inquiry(mappings):
    one_by_one, fake_a, backlog = world(mappings, "per_record")
    ids = [rid for rids in backlog.values() for rid in rids]
    assert {rid: inquiry_routing.run(one_by_one, "inquiries", rid) for rid in ids} == {
        rid: kind for kind, rids in backlog.items() for rid in rids}

    paged, fake_b, _ = world(mappings, "per_record")
    result = inquiry_routing.run_page(paged, "inquiries", ids)

    assert values_of(fake_b) == values_of(fake_a)
    assert comments_of(fake_b) == comments_of(fake_a)  # the same words, the same mentions
    assert result.fallback == [] and result.outcomes == {kind: len(rids) for kind, rids in backlog.items()}
    # The ordinary jobs: per unassigned inquiry a read, the reps' clients, the client's risk, a comment
    # and a write. The page: one read, the reps' clients and the clients' risk once (顧客管理台帳), one
    # PUT records.json for the 37 writes, and the comments.
    comments = sum(len(c) for c in comments_of(fake_b).values())
    assert fake_b.calls == Counter({("get_records", INQUIRIES): 1, ("get_records", CLIENTS): 2,
                                    ("update_records", INQUIRIES): 1, ("add_comment", INQUIRIES): comments})
    assert fake_a.calls[("get_records", CLIENTS)] == 2 * 34
    assert paged.gstaff.calls["rep_workloads"] == 1 and one_by_one.gstaff.calls["rep_workloads"] == 34


def test_a_page_tells_each_manager_once_of_the_departments_unassigned_inquiries(mappings):
    paged, fake, backlog = world(mappings)
    ids = [rid for rids in backlog.values() for rid in rids]
    tokyo, office = backlog["told_manager"][:30], backlog["told_manager"][30:]

    result = inquiry_routing.run_page(paged, "inquiries", ids)

    assert result.outcomes == {kind: len(rids) for kind, rids in backlog.items()}
    for rid in tokyo + office:  # routed as their own job routes them
        record = fake.record_values(INQUIRIES, rid)
        assert record["担当部署"] == ("東京営業部" if rid in tokyo else "オフィス営業部")
        assert [u["code"] for u in record["部署責任者"]] == (["tanaka"] if rid in tokyo else ["yamada"])
        assert record["$revision"] == "2"  # one write each
    notices = {rid: c for rid, c in fake.apps[INQUIRIES].comments.items() if c and rid in tokyo + office}
    assert sorted(notices) == [tokyo[0], office[0]]  # one per department, on its first inquiry
    [to_tanaka], [to_yamada] = notices[tokyo[0]], notices[office[0]]
    assert [m.code for m in to_tanaka.mentions] == ["tanaka"] and [m.code for m in to_yamada.mentions] == ["yamada"]
    text = to_tanaka.text
    assert text.startswith("東京営業部に、担当営業が決まっていない新しいお問い合わせが30件まとめて登録されました。"
                           "それぞれ担当者を決めて「担当営業」に入力してください。")
    assert "レコード一覧の絞り込みで「担当部署」が「東京営業部」、「担当営業」が空欄のものを表示すると" in text
    assert "うちHPからのお問い合わせが30件です。HPからのお問い合わせは、1営業日以内に営業から一度ご連絡するルールです。" in text
    assert "※うち1件は、過去トラブルの記録があるか顧客評価の低いお客様です。" in text
    # ito: 0 clients, 0 staff, knows 物流 (-3); suzuki: 1 client; sato: 3 clients, 12 staff, knows 物流 (+3)
    ranking = text.split("【担当候補】")[1]
    assert "1. 伊藤 健：担当クライアント0社・担当スタッフさん0名・物流の経験あり" in ranking
    assert ranking.index("伊藤 健") < ranking.index("鈴木 花子") < ranking.index("佐藤 一郎")
    assert f"・レコード番号{tokyo[0]}：株式会社あおば物流0号" in text and "ほか20件" in text
    assert "オフィス営業部に、担当営業が決まっていない新しいお問い合わせが4件" in to_yamada.text
    assert "HPから" not in to_yamada.text and "ほか" not in to_yamada.text  # phone inquiries, all listed
    # A rep who took the call is told per inquiry (as its own job); the manager hears of the three in one.
    taken = backlog["assignment_recorded"]
    for rid in taken:
        mentioned = sorted(m.code for c in fake.apps[INQUIRIES].comments[rid] for m in c.mentions)
        assert mentioned == (["sato", "tanaka"] if rid == taken[0] else ["sato"])
        assert [u["code"] for u in fake.record_values(INQUIRIES, rid)["割当者"]] == ["sato"]
    [arrived] = [c.text for c in fake.apps[INQUIRIES].comments[taken[0]] if c.mentions[0].code == "tanaka"]
    assert arrived.startswith("東京営業部に、受付時に「担当営業」が入力された新しいお問い合わせが3件まとめて登録されました"
                              "（佐藤 一郎さん 3件）。担当に問題がないかご確認ください。")
    assert f"・レコード番号{taken[2]}：株式会社あおば物流2号（担当：佐藤 一郎）" in arrived
    assert fake.calls[("add_comment", INQUIRIES)] == 2 + 3 + 1

    # Retried (or found again by a sweep): nothing said or written twice; the ordinary job agrees.
    fake.calls.clear()
    again = inquiry_routing.run_page(paged, "inquiries", ids)
    assert fake.calls == Counter({("get_records", INQUIRIES): 1})  # told: no workload or risk read again
    assert again.outcomes == {"already_told": 34, "nothing_to_do": 4}
    assert inquiry_routing.run(paged, "inquiries", tokyo[5]) == "already_told"
    assert fake.calls[("add_comment", INQUIRIES)] == 0


def sweep_inquiries(settings, mappings, kintone, redis_conn) -> reconcile.AppSweep:
    [report] = reconcile.sweep(settings=settings, mappings=mappings, kintone=kintone, connection=redis_conn,
                               app_key="inquiries")
    return report


@pytest.mark.parametrize("n", [600, 2100])
def test_a_reconciled_import_costs_a_read_per_500_a_bulk_call_per_2000_and_a_notice_per_page(
        n, worker_ctx, kintone, mappings, settings, redis_conn, drain):
    clients_of(kintone, sato=2)
    ids = [inquiry(kintone, i) for i in range(n)]  # a bulk import of HP inquiries: no webhook was ever sent

    report = sweep_inquiries(settings, mappings, kintone, redis_conn)
    pages = math.ceil(n / 500)
    assert len(report.page_jobs) == pages
    assert sorted(report.enqueued) == sorted(job_id("inquiry_routing", "inquiries", r, "r1") for r in ids)
    kintone.calls.clear()
    drain()

    for rid in ids:
        record = kintone.record_values(INQUIRIES, rid)
        assert (record["担当部署"], record["$revision"]) == ("東京営業部", "2")  # written once
    told = [rid for rid in ids if kintone.apps[INQUIRIES].comments[rid]]
    assert told == [ids[500 * p] for p in range(pages)]  # one notice per page, on its first inquiry
    assert all([m.code for m in kintone.apps[INQUIRIES].comments[rid][0].mentions] == ["tanaka"] for rid in told)
    # Per page of 500: one read of the page, one of the reps' clients, one of the clients' risk (5 ×
    # 100 会社名), one bulkRequest (or one PUT records.json) and one notice. One job per inquiry: 5 each.
    assert kintone.calls[("get_records", INQUIRIES)] == pages
    assert kintone.calls[("bulk_request", INQUIRIES)] + kintone.calls[("update_records", INQUIRIES)] == pages
    assert kintone.calls[("add_comment", INQUIRIES)] == pages
    assert kintone.calls[("get_record", INQUIRIES)] == kintone.calls[("update_record", INQUIRIES)] == 0
    assert kintone.calls[("get_records", CLIENTS)] == pages + math.ceil(n / 100)
    assert worker_ctx.gstaff.calls["rep_workloads"] == pages
    # the next sweep finds nothing to do: each page marked its records processed at their new revision
    assert sweep_inquiries(settings, mappings, kintone, redis_conn).enqueued == []


def test_routing_and_lookup_pages_of_the_same_import_run_one_after_the_other(
        worker_ctx, kintone, settings, redis_conn, drain):
    """Both flows have a page path: the lookup's page job waits for routing's (two page jobs writing the
    same records at once would refuse each other's writes), and each writes every inquiry once."""
    from mappings import load_mappings
    from tests.conftest import ROOT

    both = load_mappings(ROOT / "mappings" / "default")
    ids = [inquiry(kintone, i, 会社名="株式会社サンプル物流", 法人番号="9234567890123") for i in range(150)]
    report = sweep_inquiries(settings, both, kintone, redis_conn)
    routing, lookup = report.page_jobs
    assert routing.startswith("page-inquiry_routing") and lookup.startswith("page-client_lookup")
    queue = make_queue(redis_conn, settings)
    assert queue.job_ids == [routing] and queue.deferred_job_registry.get_job_ids() == [lookup]
    kintone.calls.clear()
    drain()

    for rid in ids:
        record = kintone.record_values(INQUIRIES, rid)
        assert (record["担当部署"], record["Gスタッフ顧客ID"], record["$revision"]) == ("東京営業部", "G-1001", "3")
    assert kintone.calls[("update_record", INQUIRIES)] == 0  # nobody fell back to one write per inquiry
    assert kintone.calls[("bulk_request", INQUIRIES)] == 2
    assert len(kintone.comment_texts(INQUIRIES, ids[0])) == 2  # the manager's notice and the lookup's risk
    # The lookup's write is a revision routing has not seen (a bulk write sends no webhook): the next sweep
    # gives routing one page job more, which reads the page and finds nothing to do; then all is quiet.
    again = sweep_inquiries(settings, both, kintone, redis_conn)
    assert [p.split("-")[1] for p in again.page_jobs] == ["inquiry_routing"]
    kintone.calls.clear()
    drain()
    assert kintone.calls == Counter({("get_records", INQUIRIES): 1})
    assert {kintone.record_values(INQUIRIES, r)["$revision"] for r in ids} == {"3"}
    assert sweep_inquiries(settings, both, kintone, redis_conn).enqueued == []


def test_a_sweep_while_the_lookup_page_waits_for_routings_adds_no_second_lookup(
        worker_ctx, kintone, settings, redis_conn, drain):
    """The sweep comes round again (a 10,000-inquiry import takes several) after routing wrote the
    inquiries but before the lookup's page job started: the newer revision needs no lookup of its own,
    since the waiting page job reads the inquiries as they are when it starts."""
    from mappings import load_mappings
    from tests.conftest import ROOT

    both = load_mappings(ROOT / "mappings" / "default")
    ids = [inquiry(kintone, i, 会社名="株式会社サンプル物流", 法人番号="9234567890123") for i in range(150)]
    first = sweep_inquiries(settings, both, kintone, redis_conn)
    inquiry_routing.run_page(worker_ctx, "inquiries", ids)  # routing's page has written them (r2)

    again = sweep_inquiries(settings, both, kintone, redis_conn)

    assert again.enqueued == [] and again.queued == 2 * len(ids)
    drain()
    assert {kintone.record_values(INQUIRIES, r)["Gスタッフ顧客ID"] for r in ids} == {"G-1001"}
    assert kintone.calls[("get_record", INQUIRIES)] == 0  # no ordinary lookup job
    assert len(first.page_jobs) == 2


class PersonEditsDuringTheBulkCall:
    """kintone where a person saves one inquiry after the page was read, just before the bulk write."""

    def __init__(self, fake: FakeKintone, record_id: str, change: dict) -> None:
        self._fake, self._record_id, self._change, self.edited = fake, record_id, change, False

    def __getattr__(self, name):
        return getattr(self._fake, name)

    def bulk_request(self, writes):
        if not self.edited:
            self.edited = True
            self._fake.update_record(INQUIRIES, self._record_id, {k: {"value": v} for k, v in self._change.items()})
        return self._fake.bulk_request(writes)


def test_an_inquiry_changed_after_the_page_was_read_goes_to_its_ordinary_job_which_says_nothing_twice(
        worker_ctx, kintone, mappings, settings, redis_conn, drain):
    clients_of(kintone, sato=1)
    ids = [inquiry(kintone, i) for i in range(150)]
    edited = ids[120]  # in the bulkRequest's second PUT records.json
    worker_ctx.kintone = PersonEditsDuringTheBulkCall(kintone, edited, {"担当者名": "山田 太郎"})
    sweep_inquiries(settings, mappings, kintone, redis_conn)
    kintone.calls.clear()
    drain()

    assert kintone.calls[("bulk_request", INQUIRIES)] == 2  # refused (rolled back), then without the edit
    assert kintone.calls[("update_record", INQUIRIES)] == 2  # the person's edit, then the inquiry's own job
    assert kintone.calls[("add_comment", INQUIRIES)] == 1  # the page's notice; its own job does not repeat it
    record = kintone.record_values(INQUIRIES, edited)
    assert (record["担当者名"], record["担当部署"], record["$revision"]) == ("山田 太郎", "東京営業部", "3")
    assert kintone.comment_texts(INQUIRIES, edited) == []
    assert {kintone.record_values(INQUIRIES, r)["$revision"] for r in ids if r != edited} == {"2"}
    assert sweep_inquiries(settings, mappings, kintone, redis_conn).enqueued == []


def test_a_page_that_fails_half_way_is_retried_without_a_second_notice(worker_ctx, kintone, mappings):
    """kintone unavailable at the bulk write (after the notice was posted): the page job fails for RQ to
    retry; the retry writes every inquiry and tells the manager nothing again."""
    ids = [inquiry(kintone, i) for i in range(120)]
    kintone.fail_next("bulk_request", KintoneUnavailable("unavailable", status=503))

    with pytest.raises(KintoneUnavailable):
        inquiry_routing.run_page(worker_ctx, "inquiries", ids)
    assert {kintone.record_values(INQUIRIES, r)["$revision"] for r in ids} == {"1"}  # rolled back: nothing written
    assert len(kintone.comment_texts(INQUIRIES, ids[0])) == 1

    result = inquiry_routing.run_page(worker_ctx, "inquiries", ids)

    assert result.outcomes == {"already_told": 120}
    assert {kintone.record_values(INQUIRIES, r)["担当部署"] for r in ids} == {"東京営業部"}
    assert sum(len(kintone.comment_texts(INQUIRIES, r)) for r in ids) == 1


def test_a_retry_after_a_crash_between_the_notice_and_its_marks_posts_it_once(worker_ctx, kintone, mappings):
    """The worker died right after kintone took the notice, before the ledger knew: the retry finds the
    same inquiries untold, hence the same notice, sees it on the record and does not post it again."""
    ids = [inquiry(kintone, i) for i in range(20)]
    lost = []
    real_mark = worker_ctx.ledger.mark

    def dies_after_the_post(key, *args, **kwargs):
        if key.startswith("told:") and not key.endswith(":sending"):
            lost.append(key)
            raise SystemExit("worker killed")
        return real_mark(key, *args, **kwargs)

    worker_ctx.ledger.mark = dies_after_the_post
    with pytest.raises(SystemExit):
        inquiry_routing.run_page(worker_ctx, "inquiries", ids)
    worker_ctx.ledger.mark = real_mark
    assert lost and len(kintone.comment_texts(INQUIRIES, ids[0])) == 1

    result = inquiry_routing.run_page(worker_ctx, "inquiries", ids)

    assert result.outcomes == {"already_told": 20}
    assert len(kintone.comment_texts(INQUIRIES, ids[0])) == 1
    assert {kintone.record_values(INQUIRIES, r)["$revision"] for r in ids} == {"2"}


def test_in_quiet_hours_the_pages_notice_waits_for_the_morning_and_is_held_once(worker_ctx, kintone, mappings):
    from flows import held_messages

    ids = [inquiry(kintone, i) for i in range(30)]
    worker_ctx.clock = lambda: at("2026-12-01T22:30")

    inquiry_routing.run_page(worker_ctx, "inquiries", ids)
    inquiry_routing.run_page(worker_ctx, "inquiries", ids)  # a retried page

    assert all(kintone.comment_texts(INQUIRIES, r) == [] for r in ids)
    assert {kintone.record_values(INQUIRIES, r)["担当部署"] for r in ids} == {"東京営業部"}  # written now
    worker_ctx.clock = lambda: at("2026-12-02T09:05")
    held_messages.deliver_due(worker_ctx)
    [text] = kintone.comment_texts(INQUIRIES, ids[0])
    assert "お問い合わせが30件まとめて登録されました" in text
    assert sum(len(kintone.comment_texts(INQUIRIES, r)) for r in ids) == 1


def test_the_same_day_escalation_still_applies_to_each_inquiry_routed_in_bulk(worker_ctx, kintone, mappings):
    ids = [inquiry(kintone, i, 受付日時=utc("2026-12-01T10:00")) for i in range(3)]
    inquiry_routing.run_page(worker_ctx, "inquiries", ids)
    worker_ctx.kintone.update_record(INQUIRIES, ids[2], {"担当営業": {"value": [SATO]},
                                                         "割当日時": {"value": "2026-12-01T02:00:00Z"}})

    worker_ctx.clock = lambda: at("2026-12-01T14:05")  # 4 business hours after arrival
    deadlines.sweep(worker_ctx)

    for rid in ids[:2]:
        [overdue] = [c for c in kintone.apps[INQUIRIES].comments[rid] if "担当営業の割り当て" in c.text]
        assert "tanaka" in [m.code for m in overdue.mentions] and "至急「担当営業」を入力し" in overdue.text
    assert not [c for c in kintone.apps[INQUIRIES].comments[ids[2]] if "担当営業の割り当て" in c.text]


def test_an_unknown_bulk_notice_is_a_mapping_error(mappings):
    from mappings import MappingError

    mappings["inquiries"].model_extra["routing"]["bulk_notice"] = "per_day"
    with pytest.raises(MappingError, match=r"(?s)inquiries \[routing\].*bulk_notice"):
        inquiry_routing.RoutingRules.of(mappings["inquiries"])
