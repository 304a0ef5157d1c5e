"""Concluded and cancelled contracts found in bulk get their follow-up schedules per page (issue 17):
one read of the contracts, one query of their follow-ups, the new follow-ups in bulk (≤ 100 per call,
whole contracts per call), the stops in bulk with each follow-up's revision, the comments one call
each. The page ends exactly as one follow_up job per contract would; a contract whose follow-up
someone changed meanwhile, or whose worker's timeline an earlier contract of the page continues,
goes to its ordinary job.

The other flows on Contracts (contract_issuance, master_retention) are left out, so the calls counted
are the schedule's.
"""

from __future__ import annotations

import math
from collections import Counter

import fakeredis
import pytest

from connectors.kintone.fake import FakeKintone
from flows import follow_up
from flows.context import FlowContext
from kgbridge.jobs import flow_enqueuer, job_id, many_enqueuer
from kgbridge.ledger import Ledger
from kgbridge.ops import reconcile
from tests.records import SATO, at, seed, without_flow

CONTRACTS, FOLLOW_UPS = "5", "7"
MONDAY_MORNING = at("2026-09-28T10:00")
OTHER_FLOWS = ("contract_issuance", "master_retention", "contract_staffing")


@pytest.fixture
def mappings(mappings):
    for flow in OTHER_FLOWS:
        mappings = without_flow(mappings, flow)
    return mappings


@pytest.fixture
def worker_ctx(ctx, redis_conn, settings):
    """The test context as a worker has it: flows start flows as jobs, many of them as page jobs."""
    ctx.clock = lambda: MONDAY_MORNING
    ctx.enqueue = flow_enqueuer(redis_conn, settings)
    ctx.enqueue_many = many_enqueuer(redis_conn, settings)
    return ctx


def contract(kintone, mappings, status: str = "締結済", **values) -> str:
    fields = {"contract_kind": "個別契約", "client": "株式会社サンプル物流", "sales_rep": SATO,
              "staff_name": "山田 花子", "commander": "物流課 高橋課長", "dispatch_start": "2026-10-01",
              "dispatch_end": "2027-03-31", "staff_ids": "S-1001"}
    fields.update(values)
    return seed(kintone, mappings, "contracts", status=status, **fields)


def cancel(kintone, rid: str) -> None:
    kintone.apps[CONTRACTS].records[rid]["ステータス"]["value"] = "取消"  # an administrator's change


def earlier_follow_up(kintone, mappings, staff_id: str) -> str:
    """The person's last follow-up of an earlier contract: done, pointing to no next one."""
    return seed(kintone, mappings, "follow_ups", schedule_key=f"900:{staff_id}:month_3", title="3ヶ月フォロー",
                category="スタッフフォロー", contract_record_id="900", staff_id=staff_id, staff_name="森 美咲",
                due_on="2026-08-03", done_on="2026-08-03", facts="夜勤は週2回までを希望。")


def mixed_page(kintone, mappings, ctx) -> dict[str, list[str]]:
    """Every outcome a page of contracts can reach, by the outcome word its own job returns; the
    contracts with follow-ups already (scheduled before, then cancelled or ended early) are set up by
    their own jobs first, as they were."""
    earlier_follow_up(kintone, mappings, "S-3001")
    created = [contract(kintone, mappings, staff_ids=f"S-1{i:03}", staff_name=f"派遣 {i}郎") for i in range(5)]
    created += [contract(kintone, mappings, staff_ids="S-2001、S-2002", staff_name="山田 花子、鈴木 一郎"),
                contract(kintone, mappings, staff_ids="S-3001", staff_name="森 美咲", renewal_count="1",
                         dispatch_start="2026-10-01"),  # a renewal: continues her timeline
                contract(kintone, mappings, staff_ids="", staff_name="")]
    scheduled = contract(kintone, mappings, staff_ids="S-4001")
    cancelled = [contract(kintone, mappings, staff_ids=f"S-5{i:03}") for i in range(2)]
    ended = contract(kintone, mappings, staff_ids="S-6001")
    for rid in [scheduled, *cancelled, ended]:
        assert follow_up.run(ctx, "contracts", rid) == "schedule_created"
    for rid in cancelled:
        cancel(kintone, rid)
    kintone.update_record(CONTRACTS, ended, {"中途終了日": {"value": "2026-11-13"}})  # no 終了理由: the rep is asked
    return {
        "schedule_created": created,
        "already_scheduled": [scheduled],
        "schedule_stopped": [*cancelled, ended],
        "nothing_to_stop": [contract(kintone, mappings, status="取消")],
        "no_dispatch_start": [contract(kintone, mappings, dispatch_start=None)],
        "not_individual_contract": [contract(kintone, mappings, contract_kind="基本契約")],
        "not_concluded": [contract(kintone, mappings, status="署名依頼中")],
    }


def world(mappings) -> tuple[FlowContext, FakeKintone, dict[str, list[str]]]:
    fake = FakeKintone.from_mappings(mappings)
    ctx = FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()),
                      clock=lambda: MONDAY_MORNING)
    backlog = mixed_page(fake, mappings, ctx)
    fake.calls.clear()
    return ctx, fake, backlog


def end_state(fake: FakeKintone) -> dict:
    """Every record's values (but kintone's own stamps) and comments (text and who is mentioned)."""
    return {app: {rid: ({k: v for k, v in fake.record_values(app, rid).items() if k not in ("更新日時", "作成日時")},
                        [(c.text, [m.code for m in c.mentions]) for c in fake.apps[app].comments[rid]])
                  for rid in fake.apps[app].records} for app in fake.apps}


def test_a_page_of_contracts_ends_exactly_as_one_follow_up_job_per_contract(mappings):
    one_by_one, fake_a, backlog = world(mappings)
    ids = sorted((rid for rids in backlog.values() for rid in rids), key=int)
    outcomes = {rid: follow_up.run(one_by_one, "contracts", rid) for rid in ids}
    assert outcomes == {rid: kind for kind, rids in backlog.items() for rid in rids}

    paged, fake_b, _ = world(mappings)  # the same contracts, decided as one page
    result = follow_up.run_page(paged, "contracts", ids)

    assert end_state(fake_b) == end_state(fake_a)  # follow-ups (ids, links, stops), revisions and comments
    assert result.fallback == []
    assert result.outcomes == {kind: len(rids) for kind, rids in backlog.items()}
    renewal = backlog["schedule_created"][6]
    [first] = [r for r in (fake_b.record_values(FOLLOW_UPS, f) for f in fake_b.apps[FOLLOW_UPS].records)
               if r["管理キー"] == f"{renewal}:renewal_1"]
    assert first["前回フォロー"] == "1" and fake_b.record_values(FOLLOW_UPS, "1")["引継ぎ先"] == first["$id"]
    # kintone calls: one read of the 16 contracts, one query of their follow-ups and one of the workers'
    # timelines; the 8 new schedules (67 follow-ups) in whole contracts per POST records.json (≤ 100);
    # one PUT records.json pointing her earlier follow-up forward, one stopping 20 follow-ups with their
    # revisions; and the comments the ordinary jobs post (8 schedules, 3 stops, 1 missing 終了理由, 1 no
    # 派遣開始日), one call each. One job per contract: 79 calls (16 reads, 14 follow-up queries, 7
    # timeline queries, 8 adds, 1 link, 20 stops one by one, 13 comments).
    assert len(fake_b.apps[FOLLOW_UPS].records) - 1 - 4 * 8 == 67  # but her earlier one and the 4 set up before
    assert fake_b.calls == Counter({("get_records", CONTRACTS): 1, ("get_records", FOLLOW_UPS): 2,
                                    ("add_records", FOLLOW_UPS): 1, ("update_records", FOLLOW_UPS): 2,
                                    ("add_comment", CONTRACTS): 13})
    assert fake_a.calls == Counter({("get_record", CONTRACTS): 16, ("get_records", FOLLOW_UPS): 21,
                                    ("add_records", FOLLOW_UPS): 8, ("update_records", FOLLOW_UPS): 1,
                                    ("update_record", FOLLOW_UPS): 20, ("add_comment", CONTRACTS): 13})
    # Run again (a retried page): nothing is added, stopped or said twice.
    fake_b.calls.clear()
    again = follow_up.run_page(paged, "contracts", ids)
    assert fake_b.calls == Counter({("get_records", CONTRACTS): 1, ("get_records", FOLLOW_UPS): 1})
    assert again.outcomes == {"already_scheduled": 9, "nothing_to_stop": 4, "no_dispatch_start": 1,
                              "not_individual_contract": 1, "not_concluded": 1}
    assert end_state(fake_b) == end_state(fake_a)


def sweep_contracts(settings, mappings, kintone, redis_conn) -> reconcile.AppSweep:
    [report] = reconcile.sweep(settings=settings, mappings=mappings, kintone=kintone, connection=redis_conn,
                               app_key="contracts")
    return report


@pytest.mark.parametrize("n", [30, 600, 1100])
def test_a_reconciled_backlog_of_concluded_contracts_costs_calls_per_page_and_the_comments(
        n, worker_ctx, kintone, mappings, settings, redis_conn, drain):
    ids = [contract(kintone, mappings, staff_ids=f"S-{i:05}") for i in range(n)]  # their webhooks were lost

    report = sweep_contracts(settings, mappings, kintone, redis_conn)
    assert len(report.page_jobs) == math.ceil(n / 500)
    assert sorted(report.enqueued) == sorted(job_id("follow_up", "contracts", r, "r1") for r in ids)
    kintone.calls.clear()
    drain()

    for rid in ids:
        [comment] = kintone.apps[CONTRACTS].comments[rid]
        assert "フォロー予定を、スタッフフォローアプリに登録しました" in comment.text
    keys = Counter(r["管理キー"]["value"].split(":")[0] for r in kintone.apps[FOLLOW_UPS].records.values())
    assert keys == {rid: 8 for rid in ids}  # 8 follow-ups per contract, once
    # Per page of 500: one read, one query of the follow-ups, one of the workers' timelines, and
    # the adds: 12 whole contracts (96 follow-ups) per POST records.json, 20 of those per bulkRequest
    # (one request alone goes as POST records.json). One job per contract: 5 calls (read, follow-ups,
    # timeline, add, comment).
    pages = [ids[i:i + 500] for i in range(0, n, 500)]
    requests = [math.ceil(len(p) / 12) for p in pages]
    adds = sum(math.ceil(r / 20) for r in requests)
    assert kintone.calls[("get_records", CONTRACTS)] == len(pages)
    assert kintone.calls[("get_records", FOLLOW_UPS)] == 2 * len(pages)
    assert kintone.calls[("bulk_request", FOLLOW_UPS)] == sum(math.ceil(r / 20) for r in requests if r > 1)
    assert kintone.calls[("add_records", FOLLOW_UPS)] == sum(1 for r in requests if r == 1)
    assert kintone.calls[("add_comment", CONTRACTS)] == n
    assert kintone.calls[("get_record", CONTRACTS)] == 0  # nobody went to their ordinary job
    assert sum(kintone.calls.values()) == 3 * len(pages) + adds + n
    # the next sweep finds nothing to do: each page marked its contracts processed
    assert sweep_contracts(settings, mappings, kintone, redis_conn).enqueued == []


class PersonEditsDuringTheBulkCall:
    """kintone where the rep saves one follow-up after the page was read, just before the bulk stop."""

    def __init__(self, fake: FakeKintone, record_id: str) -> None:
        self._fake, self._record_id, self.edited = fake, record_id, False

    def __getattr__(self, name):
        return getattr(self._fake, name)

    def _edit(self) -> None:
        if not self.edited:
            self.edited = True
            self._fake.update_record(FOLLOW_UPS, self._record_id, {"確認した事実": {"value": "本人から退職の申し出"}})

    def bulk_request(self, writes):
        self._edit()
        return self._fake.bulk_request(writes)

    def update_records(self, app, updates):
        self._edit()
        return self._fake.update_records(app, updates)


def test_a_cancelled_contract_whose_follow_up_changed_meanwhile_goes_to_its_ordinary_job(
        worker_ctx, kintone, mappings, settings, redis_conn, drain):
    ids = [contract(kintone, mappings, staff_ids=f"S-{i:05}") for i in range(30)]
    for rid in ids:
        follow_up.run(worker_ctx, "contracts", rid)
        cancel(kintone, rid)
    edited_contract = ids[14]  # its follow-ups are in the bulkRequest's second PUT records.json
    edited = next(fid for fid, r in kintone.apps[FOLLOW_UPS].records.items()
                  if r["管理キー"]["value"] == f"{edited_contract}:month_2")
    worker_ctx.kintone = PersonEditsDuringTheBulkCall(kintone, edited)
    sweep_contracts(settings, mappings, kintone, redis_conn)
    kintone.calls.clear()
    drain()

    assert kintone.calls[("bulk_request", FOLLOW_UPS)] == 2  # 240 stops refused (rolled back), then without hers
    assert kintone.calls[("get_record", CONTRACTS)] == 1  # the edited one's own job, and no other
    assert redis_conn.exists(f"rq:job:{job_id('follow_up', 'contracts', edited_contract, 'r1')}")
    for rid in ids:  # every follow-up stopped once, every rep told once, hers by her own job
        rows = [r for r in kintone.apps[FOLLOW_UPS].records.values() if r["契約レコード番号"]["value"] == rid]
        assert {(r["完了判定"]["value"], r["中止理由"]["value"]) for r in rows} == {("中止", "契約取消")}
        assert {r["$revision"]["value"] for r in rows if r["$id"]["value"] != edited} == {"2"}
        stopped = [t for t in kintone.comment_texts(CONTRACTS, rid) if "【スタッフフォロー予定の中止】" in t]
        assert len(stopped) == 1 and stopped[0].count("・") == 8
    assert kintone.record_values(FOLLOW_UPS, edited)["$revision"] == "3"  # her edit, then one stop
    assert kintone.calls[("update_record", FOLLOW_UPS)] == 1 + 8  # her edit, then her contract's 8 stops
    assert sweep_contracts(settings, mappings, kintone, redis_conn).enqueued == []


def test_two_contracts_continuing_one_persons_timeline_link_it_once(worker_ctx, kintone, mappings):
    """Her earlier follow-up can point forward to one next follow-up: the first contract of the page
    continues it; the second goes to its ordinary job, which (as one job after the other would) finds
    her timeline continued and opens unlinked."""
    earlier = earlier_follow_up(kintone, mappings, "S-3001")
    first, second = (contract(kintone, mappings, staff_ids="S-3001", staff_name="森 美咲") for _ in range(2))
    enqueued = []
    worker_ctx.enqueue = lambda flow, app, rid, marker: enqueued.append((flow, app, rid, marker)) or True

    result = follow_up.run_page(worker_ctx, "contracts", [first, second])

    assert result.fallback == [second] and enqueued == [("follow_up", "contracts", second, "r1")]
    assert result.outcomes == {"schedule_created": 1}
    [opened] = [r for r in kintone.apps[FOLLOW_UPS].records.values() if r["管理キー"]["value"] == f"{first}:first_day"]
    assert opened["前回フォロー"]["value"] == earlier
    assert kintone.record_values(FOLLOW_UPS, earlier)["引継ぎ先"] == opened["$id"]["value"]
    assert kintone.comment_texts(CONTRACTS, second) == []
    assert follow_up.run(worker_ctx, "contracts", second) == "schedule_created"
    assert kintone.record_values(FOLLOW_UPS, earlier)["引継ぎ先"] == opened["$id"]["value"]  # not moved


@pytest.mark.parametrize("path", ["its own job", "a page"])
def test_a_run_that_died_between_its_stops_and_its_comment_tells_them_on_the_retry(path, ctx, kintone, mappings):
    """The retry finds the follow-ups stopped already (nothing left to stop) and still tells the rep of
    every one of them, once: the ledger named them before the stops were written."""
    from connectors.kintone import KintoneConnectionError

    ctx.clock = lambda: MONDAY_MORNING
    rids = [contract(kintone, mappings, staff_ids=f"S-9{i:03}") for i in range(2)]
    for rid in rids:
        follow_up.run(ctx, "contracts", rid)
        cancel(kintone, rid)
    if path == "its own job":
        kintone.lose_answer_of("update_record")  # the first stop lands, its answer is lost: the job fails
        with pytest.raises(KintoneConnectionError):
            follow_up.run(ctx, "contracts", rids[0])
        assert follow_up.run(ctx, "contracts", rids[0]) == "schedule_stopped"
        assert follow_up.run(ctx, "contracts", rids[1]) == "schedule_stopped"
    else:
        kintone.lose_answer_of("update_records")  # the bulk stop lands, its answer is lost: the page fails
        with pytest.raises(KintoneConnectionError):
            follow_up.run_page(ctx, "contracts", rids)
        assert kintone.comment_texts(CONTRACTS, rids[0])[1:] == []  # every follow-up stopped, nobody told
        assert follow_up.run_page(ctx, "contracts", rids).outcomes == {"schedule_stopped": 2}

    for rid in rids:
        rows = [r for r in kintone.apps[FOLLOW_UPS].records.values() if r["契約レコード番号"]["value"] == rid]
        assert {(r["完了判定"]["value"], r["$revision"]["value"]) for r in rows} == {("中止", "2")}
        [told] = [t for t in kintone.comment_texts(CONTRACTS, rid) if "【スタッフフォロー予定の中止】" in t]
        assert told.count("\n・") == 8
    assert follow_up.run(ctx, "contracts", rids[0]) == "nothing_to_stop"  # and never again
