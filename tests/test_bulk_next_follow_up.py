"""Follow-ups saved as done whose webhooks were lost, decided per page (issue 17): one read of the page,
the staff members' timelines in one query, the next follow-ups added in bulk, the milestones moved or
linked and the records marked 完了 in one bulk write with their revisions, the comments one each. The
page ends exactly as one next_follow_up job per follow-up; two follow-ups of one staff member, and one
someone changes meanwhile, go to their ordinary job.
"""

from __future__ import annotations

from collections import Counter

import fakeredis
import pytest

from connectors.kintone.fake import FakeKintone
from flows import next_follow_up
from flows.context import FlowContext
from kgbridge.jobs import flow_enqueuer, job_id, many_enqueuer
from kgbridge.ledger import Ledger
from kgbridge.ops import reconcile
from tests.conftest import BUSINESS_HOURS
from tests.records import seed

FOLLOW_UPS, CONTRACTS = "7", "5"
SATO = [{"code": "sato", "name": "佐藤 一郎"}]
ROW = {"value": {"相談内容": {"value": "シフトの相談"}, "対応方針": {"value": "派遣先に確認"},
                 "対応期限": {"value": "2026-12-04"}, "報告方法": {"value": "電話"}, "対応済": {"value": []}}}


@pytest.fixture
def worker_ctx(ctx, redis_conn, settings):
    """The test context as a worker has it: flows start flows as jobs, many of them as page jobs."""
    ctx.enqueue = flow_enqueuer(redis_conn, settings)
    ctx.enqueue_many = many_enqueuer(redis_conn, settings)
    return ctx


def follow_up(fake, mappings, staff: str, contract: int, **values) -> str:
    base = {"schedule_key": f"{contract}:month_1", "title": "1ヶ月フォロー", "category": "スタッフフォロー",
            "contract_record_id": str(contract), "staff_id": staff, "staff_name": "山本 さくら",
            "client": "株式会社サンプル物流", "due_on": "2026-11-24", "done_on": "2026-11-24",
            "facts": "勤務は順調。残業は月5時間程度。", "dispatch_end": "2027-03-31", "owner": SATO}
    return seed(fake, mappings, "follow_ups", **{**base, **values})


def planned(fake, mappings, staff: str, contract: int, due: str, key: str = "month_2") -> str:
    return follow_up(fake, mappings, staff, contract, schedule_key=f"{contract}:{key}", title="2ヶ月フォロー",
                     due_on=due, done_on=None, facts="")


def backlog(fake, mappings) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Every outcome a page of follow-ups reaches, by the outcome word its own job returns; the targets."""
    cases: dict[str, list[str]] = {k: [] for k in next_follow_up.OUTCOMES.values()}
    cases.update(incomplete=[], done=[], nothing_to_do=[], stopped=[])
    targets: dict[str, str] = {}
    for i in range(25):
        cases["next_follow_up_created"].append(follow_up(fake, mappings, f"S-{i:04d}", 100 + i,
                                                         next_follow_up="2026-12-08"))
    fake.update_record(FOLLOW_UPS, cases["next_follow_up_created"][0], {"相談・課題": {"value": [ROW]}})  # carried in
    for i in range(3):  # a 次回フォロー日 within 7 days of the planned 2ヶ月フォロー: moved there
        targets[f"M-{i}"] = planned(fake, mappings, f"M-{i}", 200 + i, "2026-12-10")
        cases["milestone_moved"].append(follow_up(fake, mappings, f"M-{i}", 200 + i, next_follow_up="2026-12-08"))
    for i in range(2):  # no 次回フォロー日: linked to the next planned one
        targets[f"P-{i}"] = planned(fake, mappings, f"P-{i}", 300 + i, "2026-12-24")
        cases["linked_to_planned"].append(follow_up(fake, mappings, f"P-{i}", 300 + i))
    cases["no_next_follow_up"] += [follow_up(fake, mappings, f"N-{i}", 400 + i) for i in range(2)]
    cases["after_dispatch_end"] += [follow_up(fake, mappings, f"E-{i}", 500 + i, next_follow_up="2026-12-08",
                                              dispatch_end="2026-12-05") for i in range(2)]
    unsettled = {"value": {**ROW["value"], "対応期限": {"value": ""}}}
    for i in range(2):
        rid = follow_up(fake, mappings, f"I-{i}", 600 + i, next_follow_up="2026-12-08")
        fake.update_record(FOLLOW_UPS, rid, {"相談・課題": {"value": [unsettled]}})
        cases["incomplete"].append(rid)
    cases["incomplete"] += [follow_up(fake, mappings, "", 700 + i, category="お礼電話", title="お礼電話（初日）",
                                      caller=SATO, called_at="2026-11-24T02:00:00Z", client_request="休憩室を増やしたい")
                            for i in range(2)]
    for i in range(2):  # a renewal-intent check: its answer goes on the contract
        contract = fake.seed(CONTRACTS, {"契約種別": "個別契約", "担当営業": SATO})
        cases["done"].append(follow_up(fake, mappings, f"R-{i}", int(contract), category="更新意向確認",
                                       title="更新意向確認（スタッフさん）", renewal_intent="延長希望"))
    cases["nothing_to_do"] += [follow_up(fake, mappings, f"D-{i}", 800 + i, done_on=None) for i in range(2)]
    cases["stopped"].append(follow_up(fake, mappings, "X-0", 900, completion="中止"))
    # one staff member's two follow-ups: the first opens the next one, the second links to it
    cases["next_follow_up_created"].append(follow_up(fake, mappings, "T-1", 950, next_follow_up="2026-12-08"))
    cases["linked_to_planned"].append(follow_up(fake, mappings, "T-1", 950, schedule_key="950:week_1",
                                                due_on="2026-11-25", done_on="2026-11-25"))
    return cases, targets


def end_state(fake: FakeKintone) -> dict:
    """Every record's values (but kintone's own stamps) and comments (text and who is mentioned)."""
    return {app: {rid: ({k: v for k, v in fake.record_values(app, rid).items()
                         if k not in ("$revision", "更新日時", "作成日時")},
                        [(c.text, [m.code for m in c.mentions]) for c in fake.apps[app].comments[rid]])
                  for rid in fake.apps[app].records} for app in fake.apps}


def sweep(settings, mappings, kintone, redis_conn) -> reconcile.AppSweep:
    [report] = reconcile.sweep(settings=settings, mappings=mappings, kintone=kintone, connection=redis_conn,
                               app_key="follow_ups")
    return report


def test_a_page_of_follow_ups_ends_exactly_as_one_next_follow_up_job_per_follow_up(
        worker_ctx, kintone, mappings, settings, redis_conn, drain):
    one_by_one = FakeKintone.from_mappings(mappings)
    cases, targets = backlog(one_by_one, mappings)
    ctx = FlowContext(kintone=one_by_one, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()),
                      clock=lambda: BUSINESS_HOURS)
    ids = sorted((rid for rids in cases.values() for rid in rids), key=int)
    outcomes = {rid: next_follow_up.run(ctx, "follow_ups", rid) for rid in ids}
    assert outcomes == {rid: kind for kind, rids in cases.items() for rid in rids}

    assert backlog(kintone, mappings) == (cases, targets)  # the same backlog, found by a sweep
    report = sweep(settings, mappings, kintone, redis_conn)
    assert len(report.page_jobs) == 1
    kintone.calls.clear()
    drain()

    assert end_state(kintone) == end_state(one_by_one)
    second = cases["linked_to_planned"][-1]  # T-1's second follow-up: after the page, by its own job
    assert redis_conn.exists(f"rq:job:{job_id('next_follow_up', 'follow_ups', second, 'r1')}")
    created = len(cases["next_follow_up_created"])
    told = len(ids) - len(cases["nothing_to_do"]) - len(cases["stopped"])  # each decided one, once
    assert sum(len(kintone.apps[FOLLOW_UPS].comments[r]) for r in ids) == told - len(cases["done"])
    assert sum(len(c) for c in kintone.apps[CONTRACTS].comments.values()) == len(cases["done"])
    # The page: one read, one timeline query, one POST records.json of the 26 next follow-ups, one PUT
    # records.json (the 5 milestones and 38 records marked ≤ 100), the comments; then T-1's second
    # follow-up as its own job (read, timeline, link, mark, comment).
    assert kintone.calls == Counter({("get_records", FOLLOW_UPS): 2 + 1, ("add_records", FOLLOW_UPS): 1,
                                     ("update_records", FOLLOW_UPS): 1, ("add_comment", FOLLOW_UPS): told - 2,
                                     ("add_comment", CONTRACTS): 2, ("get_record", FOLLOW_UPS): 1,
                                     ("update_record", FOLLOW_UPS): 2})
    assert one_by_one.calls[("add_record", FOLLOW_UPS)] == created  # one add per record, as many as the page's

    kintone.calls.clear()  # the page again (a retried job): one read, nothing said, written or added twice
    again = next_follow_up.run_page(worker_ctx, "follow_ups", ids)
    assert again.outcomes == {"already_done": told - 4, "incomplete": 4, "nothing_to_do": 2, "stopped": 1}
    assert kintone.calls == Counter({("get_records", FOLLOW_UPS): 1})
    assert end_state(kintone) == end_state(one_by_one)


class PersonEditsDuringTheBulkWrite:
    """kintone where a person saves follow-ups after the page was read, just before the bulk write."""

    def __init__(self, fake: FakeKintone, changes: dict[str, dict]) -> None:
        self._fake, self._changes, self.edited = fake, changes, False

    def __getattr__(self, name):
        return getattr(self._fake, name)

    def _edit(self) -> None:
        if not self.edited:
            self.edited = True
            for rid, change in self._changes.items():
                self._fake.update_record(FOLLOW_UPS, rid, {k: {"value": v} for k, v in change.items()})

    def bulk_request(self, writes):
        self._edit()
        return self._fake.bulk_request(writes)

    def update_records(self, app, updates):
        self._edit()
        return self._fake.update_records(app, updates)


@pytest.mark.parametrize("n", [30, 150])  # one PUT records.json; a bulkRequest of two
def test_a_follow_up_or_milestone_changed_after_the_page_was_read_goes_to_its_ordinary_job(
        n, worker_ctx, kintone, mappings, settings, redis_conn, drain):
    ids = [follow_up(kintone, mappings, f"S-{i:04d}", 100 + i, next_follow_up="2026-12-08") for i in range(n)]
    milestone = planned(kintone, mappings, "M-0", 200, "2026-12-10")
    moving = follow_up(kintone, mappings, "M-0", 200, next_follow_up="2026-12-08")
    edited = ids[n - 10]  # its next follow-up is added before the write that refuses it
    worker_ctx.kintone = PersonEditsDuringTheBulkWrite(kintone, {edited: {"確認した事実": "勤務は順調。本人と面談済。"},
                                                                 milestone: {"フォロー名": "2ヶ月フォロー（面談）"}})
    sweep(settings, mappings, kintone, redis_conn)
    records_before = len(kintone.apps[FOLLOW_UPS].records)
    kintone.calls.clear()
    drain()

    bulk = "bulk_request" if n > 90 else "update_records"
    assert kintone.calls[(bulk, FOLLOW_UPS)] == 2  # refused (rolled back), then without the two changed
    assert kintone.calls[("add_records", FOLLOW_UPS)] == -(-n // 100)  # each next follow-up added once
    assert len(kintone.apps[FOLLOW_UPS].records) == records_before + n  # none by the ordinary jobs
    for rid in (edited, moving):
        assert redis_conn.exists(f"rq:job:{job_id('next_follow_up', 'follow_ups', rid, 'r1')}")
    record = kintone.record_values(FOLLOW_UPS, edited)  # its own job found the follow-up the page added
    added = next(r for r in kintone.apps[FOLLOW_UPS].records
                 if kintone.record_values(FOLLOW_UPS, r)["前回フォロー"] == edited)
    assert (record["完了判定"], record["引継ぎ先"], record["確認した事実"]) == ("完了", added, "勤務は順調。本人と面談済。")
    [text] = kintone.comment_texts(FOLLOW_UPS, edited)
    assert f"レコード #{added}" in text
    target = kintone.record_values(FOLLOW_UPS, milestone)  # moved by the ordinary job, after the person's edit
    assert (target["予定日"], target["前回フォロー"], target["フォロー名"]) == ("2026-12-08", moving, "2ヶ月フォロー（面談）")
    assert kintone.record_values(FOLLOW_UPS, moving)["引継ぎ先"] == milestone
    assert all(len(kintone.comment_texts(FOLLOW_UPS, r)) == 1 for r in [*ids, moving])
    others = [r for r in ids if r != edited]
    assert {kintone.record_values(FOLLOW_UPS, r)["$revision"] for r in others} == {"2"}  # marked once, in bulk
