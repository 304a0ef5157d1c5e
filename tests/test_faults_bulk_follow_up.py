"""Faults in the follow-up schedules made per page (issue 17, flows/follow_up.run_page): a worker killed
between the bulk adds of a backlog of concluded contracts, or after them; a bulkRequest of adds kintone refused
(a 管理キー added meanwhile: nothing of the call is added); a bulk stop refused half-way (rolled back
whole); a 5xx after kintone added the follow-ups or stopped them. Each follow-up is created once,
each earlier timeline pointed forward once, every stop written once, every rep told once.

Real ``python worker.py`` processes on the live kintone client talk to the loopback kintone
(tests/kintone_server.py). The page jobs are what a reconcile sweep enqueues for contracts whose
webhooks were lost.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

from flows import follow_up
from kgbridge.ops import reconcile
from tests.fault_kit import (
    CONTRACTS,
    FOLLOW_UPS,
    failed_jobs,
    finished_jobs,
    queued,
    seed_concluded_contract,
    seed_done_follow_up,
    start_kintone,
)
from tests.kintone_server import Answer, unavailable
from tests.pii import API_TOKENS, PERSON_NAME
from tests.procs import start_worker, stop_process, wait_until, worker_env
from tests.records import without_flow
from tests.test_faults_worker_kill import _kill_midway

pytestmark = pytest.mark.timeout(300)

RECOVERY_BOUND = 120.0  # generous: a loaded CI machine; the wait ends as soon as the work is done
KEYS = ("first_day", "thanks_first_day", "week_1", "month_1", "month_2", "month_3",
        "renewal_intent_staff_2027-03-31", "renewal_intent_commander_2027-03-31")


@pytest.fixture
def workers():
    started = []
    yield started
    for proc in started:
        stop_process(proc)


def schedules_only(mappings):
    """The sweep enqueues the follow-up schedules alone (the other flows of Contracts have their own faults)."""
    for flow in ("contract_issuance", "master_retention", "contract_staffing"):
        mappings = without_flow(mappings, flow)
    return mappings


def sweep(settings, mappings, fake, redis_conn) -> reconcile.AppSweep:
    [report] = reconcile.sweep(settings=settings, mappings=schedules_only(mappings), kintone=fake,
                               connection=redis_conn, app_key="contracts")
    assert report.page_jobs, "the backlog should have gone to page jobs"
    return report


def all_done(redis_conn, settings, report) -> bool:
    return queued(redis_conn, settings) == 0 and set(report.page_jobs) <= set(finished_jobs(redis_conn, settings))


def env_for(redis_url, server):
    return worker_env(redis_url, server.url, {"contracts": API_TOKENS["contracts"],
                                              "follow_ups": API_TOKENS["follow_ups"]})


def backlog(fake, n: int, linked: int = 0) -> tuple[list[str], dict[str, str]]:
    """n concluded contracts, one worker each; the first ``linked`` workers have an earlier timeline
    ({contract id: the earlier follow-up its first one continues})."""
    earlier = {f"S-7{i:03}": seed_done_follow_up(fake, f"S-7{i:03}") for i in range(linked)}
    ids = [seed_concluded_contract(fake, f"S-7{i:03}") for i in range(n)]
    return ids, {rid: earlier[f"S-7{i:03}"] for i, rid in enumerate(ids[:linked])}


def follow_ups_of(fake, rid: str) -> list[dict]:
    return [r for r in fake.apps[FOLLOW_UPS].records.values() if r["契約レコード番号"]["value"] == rid]


def scheduled_once(fake, ids: list[str], links: dict[str, str]) -> None:
    keys = Counter(r["管理キー"]["value"] for r in fake.apps[FOLLOW_UPS].records.values())
    assert max(keys.values()) == 1, "a follow-up was created twice"
    for rid in ids:
        rows = follow_ups_of(fake, rid)
        assert sorted(r["管理キー"]["value"] for r in rows) == sorted(f"{rid}:{k}" for k in KEYS)
        assert {r["派遣スタッフ"]["value"] for r in rows} == {PERSON_NAME}
        [told] = [t for t in fake.comment_texts(CONTRACTS, rid) if "【スタッフフォロー予定の作成】" in t]
        assert "・初日フォロー：2026年10月1日（木）" in told
    for rid, earlier in links.items():  # her timeline continued once, both ways
        [first] = [r for r in follow_ups_of(fake, rid) if r["管理キー"]["value"] == f"{rid}:first_day"]
        assert first["前回フォロー"]["value"] == earlier
        assert fake.record_values(FOLLOW_UPS, earlier)["引継ぎ先"] == first["$id"]["value"]
        assert fake.record_values(FOLLOW_UPS, earlier)["$revision"] == "2"


@pytest.mark.parametrize(("case", "dies"), [
    ("after kintone added the first page's first follow-ups, before its answer", "worker"),
    ("after kintone added the first page's first follow-ups, before its answer", "work horse"),
    ("after the page's adds, before its first comment", "worker"),
])
def test_a_worker_killed_between_bulk_adds_ends_with_each_follow_up_created_once(
        case, dies, kintone, mappings, settings, redis_conn, redis_url, workers):
    ids, links = backlog(kintone, 530, linked=5)  # two pages: 500 + 30 contracts, 8 follow-ups each
    report = sweep(settings, mappings, kintone, redis_conn)
    assert len(report.page_jobs) == 2
    with start_kintone(kintone, mappings) as server:
        if case.startswith("after kintone added"):
            # the first bulkRequest: 20 POST records.json of 12 contracts each, the 5 linked among them
            held = server.hold("POST", "bulkRequest", after_effect=True)
        else:
            held = server.hold("POST", "record/comment", after_effect=False)
        env = env_for(redis_url, server)
        workers.append(start_worker(env, "worker-a"))
        assert held.reached.wait(60), "the page job never reached the call"
        _kill_midway(dies, held, workers, env)
        wait_until(lambda: all_done(redis_conn, settings, report), RECOVERY_BOUND, "both page jobs to finish")

    scheduled_once(kintone, ids, links)
    assert kintone.calls[("get_record", CONTRACTS)] == 0  # nobody fell back to one job per contract
    assert failed_jobs(redis_conn, settings) == []


def duplicate_key(requests: int) -> Answer:
    """kintone refusing the first POST records.json of a bulkRequest: a 管理キー (prohibit duplicate values)
    another job added meanwhile; the whole call is rolled back ({"results": [{error}, {}, …]})."""
    error = {"code": "CB_VA01", "id": uuid.uuid4().hex[:20], "message": "入力内容が正しくありません。",
             "errors": {"records[3].管理キー.value": {"messages": ["値がほかのレコードと重複しています。"]}}}
    body = {"results": [error] + [{}] * (requests - 1)}
    return Answer(400, json.dumps(body, ensure_ascii=False).encode(), headers={"X-Cybozu-Error": "CB_VA01"})


def test_a_bulk_add_kintone_refused_sends_its_contracts_to_their_ordinary_jobs(
        kintone, mappings, settings, redis_conn, redis_url, workers):
    ids, links = backlog(kintone, 150, linked=3)
    report = sweep(settings, mappings, kintone, redis_conn)
    with start_kintone(kintone, mappings) as server:
        server.fail(duplicate_key(13), method="POST", resource="bulkRequest")  # its first request: 12 contracts
        workers.append(start_worker(env_for(redis_url, server), "worker-a"))
        wait_until(lambda: all_done(redis_conn, settings, report) and queued(redis_conn, settings) == 0
                   and kintone.calls[("get_record", CONTRACTS)] == 12, RECOVERY_BOUND, "the 12 ordinary jobs")
        wait_until(lambda: queued(redis_conn, settings) == 0 and all(
            kintone.comment_texts(CONTRACTS, r) for r in ids), RECOVERY_BOUND, "every rep told")
        assert server.count("POST", "bulkRequest", status=400) == 1

    scheduled_once(kintone, ids, links)
    assert kintone.calls[("bulk_request", FOLLOW_UPS)] == 1  # the other 12 requests sent again
    assert kintone.calls[("add_records", FOLLOW_UPS)] == 12  # one per ordinary job
    assert failed_jobs(redis_conn, settings) == []


def test_a_5xx_after_kintone_added_the_follow_ups_does_not_add_them_twice(
        kintone, mappings, settings, redis_conn, redis_url, workers):
    ids, links = backlog(kintone, 150, linked=3)
    report = sweep(settings, mappings, kintone, redis_conn)
    with start_kintone(kintone, mappings) as server:
        server.fail(unavailable(), method="POST", resource="bulkRequest", after_effect=True)
        workers.append(start_worker(env_for(redis_url, server), "worker-a"))
        wait_until(lambda: all_done(redis_conn, settings, report) and queued(redis_conn, settings) == 0,
                   RECOVERY_BOUND, "the page job (and any fallback) to finish")
        assert server.count("POST", "bulkRequest", status=503) == 1

    scheduled_once(kintone, ids, links)
    assert failed_jobs(redis_conn, settings) == []


# -- stops: cancelled contracts whose open follow-ups stop in bulk ----------------------------------


def cancelled_backlog(ctx, kintone, n: int) -> list[str]:
    """n contracts scheduled by their own jobs, then cancelled (an administrator's change, no webhook)."""
    ids = [seed_concluded_contract(kintone, f"S-8{i:03}") for i in range(n)]
    for rid in ids:
        assert follow_up.run(ctx, "contracts", rid) == "schedule_created"
        kintone.apps[CONTRACTS].records[rid]["ステータス"]["value"] = "取消"
    kintone.calls.clear()
    return ids


def stopped_once(fake, ids: list[str], edited: str | None = None) -> None:
    for rid in ids:
        rows = follow_ups_of(fake, rid)
        assert {(r["完了判定"]["value"], r["中止理由"]["value"]) for r in rows} == {("中止", "契約取消")}
        assert {r["$revision"]["value"] for r in rows if r["$id"]["value"] != edited} == {"2"}  # one stop each
        [told] = [t for t in fake.comment_texts(CONTRACTS, rid) if "【スタッフフォロー予定の中止】" in t]
        assert told.count("\n・") == len(KEYS)  # every follow-up stopped is named, in one comment


def test_a_bulk_stop_refused_half_way_is_rolled_back_and_each_follow_up_stops_once(
        ctx, kintone, mappings, settings, redis_conn, redis_url, workers):
    ids = cancelled_backlog(ctx, kintone, 30)  # 240 stops: a bulkRequest of three PUT records.json
    report = sweep(settings, mappings, kintone, redis_conn)
    edited_contract = ids[14]  # its follow-ups are in the second request
    [edited] = [r["$id"]["value"] for r in follow_ups_of(kintone, edited_contract)
                if r["管理キー"]["value"].endswith(":month_2")]
    with start_kintone(kintone, mappings) as server:
        held = server.hold("POST", "bulkRequest", after_effect=False)
        workers.append(start_worker(env_for(redis_url, server), "worker-a"))
        assert held.reached.wait(60)
        kintone.update_record(FOLLOW_UPS, edited, {"確認した事実": {"value": "本人から退職の申し出"}})
        held.release()  # kintone refuses request 2: the first 100 stops are rolled back with it
        wait_until(lambda: all_done(redis_conn, settings, report), RECOVERY_BOUND, "the page job to finish")
        wait_until(lambda: queued(redis_conn, settings) == 0 and kintone.calls[("update_record", FOLLOW_UPS)] == 9,
                   RECOVERY_BOUND, "the edited contract's own job")  # her edit, then its 8 stops
        assert server.count("POST", "bulkRequest", status=409) == 1
        assert server.count("POST", "bulkRequest", status=200) == 1

    stopped_once(kintone, ids, edited)
    assert kintone.record_values(FOLLOW_UPS, edited)["$revision"] == "3"  # her edit, then one stop
    assert failed_jobs(redis_conn, settings) == []


def test_a_5xx_after_kintone_stopped_the_follow_ups_stops_and_tells_each_once(
        ctx, kintone, mappings, settings, redis_conn, redis_url, workers):
    ids = cancelled_backlog(ctx, kintone, 30)
    report = sweep(settings, mappings, kintone, redis_conn)
    with start_kintone(kintone, mappings) as server:
        server.fail(unavailable(), method="POST", resource="bulkRequest", after_effect=True)
        workers.append(start_worker(env_for(redis_url, server), "worker-a"))
        wait_until(lambda: all_done(redis_conn, settings, report) and queued(redis_conn, settings) == 0,
                   RECOVERY_BOUND, "the page job (and any fallback) to finish")
        assert server.count("POST", "bulkRequest", status=503) == 1

    stopped_once(kintone, ids)  # the retry finds them stopped, and tells each rep of them (the ledger names them)
    assert failed_jobs(redis_conn, settings) == []
