"""Faults in the Contracts app's page jobs (issue 17): a worker killed between the bulk calls of a
backlog, or around one; a bulk call kintone refused half-way (rolled back whole); a 5xx after kintone
did the bulk call. Each effect happens once: every 発報待ち contract shared with G-Staff once (one
G-Staff call: the id it gave is remembered), its Gスタッフ個別契約ID written once and marketing asked
once (contract_staffing); every 基本契約 extended once in G-Staff's archive and once in kintone
(master_retention).

Real ``python worker.py`` processes on the live kintone and G-Staff clients talk to the loopback
kintone (tests/kintone_server.py, which holds a bulk call open so the kill lands at a known point) and
the loopback G-Staff (tests/gstaff_server.py). The page jobs are what a reconcile sweep enqueues for a
backlog whose webhooks were lost. Contracts carry personal data (signer, staff): the log scan checks
that none of it reaches a log line.
"""

from __future__ import annotations

from datetime import date

import pytest

from connectors.gstaff import ArchivedContract
from connectors.gstaff.fake import FakeGStaff
from kgbridge.ops import reconcile
from kgbridge.samples import COMPLETE_CONTRACT
from tests.fault_kit import (
    CONTRACTS,
    REP,
    failed_jobs,
    finished_jobs,
    gstaff_settings,
    queued,
    start_gstaff,
    start_kintone,
)
from tests.kintone_server import unavailable
from tests.pii import API_TOKENS, COMPANY_NAME, PERSON_EMAIL, PERSON_NAME
from tests.procs import start_worker, stop_process, wait_until, worker_env
from tests.records import without_flow
from tests.test_faults_worker_kill import _kill_midway

pytestmark = pytest.mark.timeout(300)

RECOVERY_BOUND = 120.0  # generous: a loaded CI machine; the wait ends as soon as the work is done
MARKETING = ["yoshida"]


@pytest.fixture
def workers():
    started = []
    yield started
    for proc in started:
        stop_process(proc)


def env_for(redis_url, server, gserver):
    return worker_env(redis_url, server.url, {"contracts": API_TOKENS["contracts"]}, **gstaff_settings(gserver))


def sweep(settings, mappings, fake, redis_conn) -> reconcile.AppSweep:
    """The Contracts app's page jobs of these flows (the follow-up schedules are another suite's)."""
    [report] = reconcile.sweep(settings=settings, mappings=without_flow(mappings, "follow_up"), kintone=fake,
                               connection=redis_conn, app_key="contracts")
    assert report.page_jobs, "the backlog should have gone to page jobs"
    return report


def all_done(redis_conn, settings, report) -> bool:
    return queued(redis_conn, settings) == 0 and set(report.page_jobs) <= set(finished_jobs(redis_conn, settings))


# -- contract_staffing: 発報待ち contracts shared, written back and told in bulk -------------------------


def awaiting_issue(fake, n: int) -> list[str]:
    """Individual contracts the reps ran マーケ発報依頼 on; the signer and the staff are people."""
    return [fake.seed(CONTRACTS, dict(COMPLETE_CONTRACT, 顧客=COMPANY_NAME, 担当営業=REP, 署名者氏名=PERSON_NAME,
                                      署名者メール=PERSON_EMAIL, 派遣スタッフ=f"{PERSON_NAME}{i}"), status="発報待ち")
            for i in range(n)]


def shared_once(fake, gstaff: FakeGStaff, ids: list[str], edited: str | None = None) -> None:
    assert gstaff.calls["share_individual_contract"] == len(gstaff.individual_contracts) == len(ids)
    by_record = {ref.split(":")[2]: contract_id for ref, (contract_id, _) in gstaff.individual_contracts.items()}
    for rid in ids:
        record = fake.record_values(CONTRACTS, rid)
        revision = "3" if rid == edited else "2"  # one write (after the person's edit)
        assert (record["Gスタッフ個別契約ID"], record["$revision"]) == (by_record[rid], revision), rid
        [comment] = fake.apps[CONTRACTS].comments[rid]  # marketing asked once
        assert [m.code for m in comment.mentions] == MARKETING and by_record[rid] in comment.text


@pytest.mark.parametrize(("case", "dies"), [
    ("after kintone wrote the first page back, before its answer", "worker"),
    ("after kintone wrote the first page back, before its answer", "work horse"),
    ("after the page's shares, before its bulk write", "worker"),
])
def test_a_worker_killed_around_a_staffing_pages_bulk_write_ends_with_each_effect_once(
        case, dies, kintone, mappings, settings, redis_conn, redis_url, workers):
    ids = awaiting_issue(kintone, 600)  # two pages: 500 (a bulkRequest) + 100 (one PUT records.json)
    gstaff = FakeGStaff.with_samples()
    report = sweep(settings, mappings, kintone, redis_conn)
    assert len(report.page_jobs) == 2
    with start_kintone(kintone, mappings) as server, start_gstaff(gstaff) as gserver:
        held = server.hold("POST", "bulkRequest", after_effect=case.startswith("after kintone wrote"))
        env = env_for(redis_url, server, gserver)
        workers.append(start_worker(env, "worker-a"))
        assert held.reached.wait(60), "the page job never reached its bulk write"
        _kill_midway(dies, held, workers, env)
        wait_until(lambda: all_done(redis_conn, settings, report), RECOVERY_BOUND, "both page jobs to finish")

    shared_once(kintone, gstaff, ids)
    assert kintone.calls[("update_record", CONTRACTS)] == 0  # nobody fell back to one write per contract
    assert failed_jobs(redis_conn, settings) == []


def test_a_staffing_pages_bulk_write_refused_half_way_is_rolled_back_and_nothing_happens_twice(
        kintone, mappings, settings, redis_conn, redis_url, workers):
    ids = awaiting_issue(kintone, 150)
    gstaff = FakeGStaff.with_samples()
    report = sweep(settings, mappings, kintone, redis_conn)
    edited = ids[130]  # in the bulkRequest's second PUT records.json
    with start_kintone(kintone, mappings) as server, start_gstaff(gstaff) as gserver:
        held = server.hold("POST", "bulkRequest", after_effect=False)
        workers.append(start_worker(env_for(redis_url, server, gserver), "worker-a"))
        assert held.reached.wait(60)
        # Not a shared item: the same content, so its own job finds the share under the same reference.
        kintone.update_record(CONTRACTS, edited, {"安全衛生": {"value": "安全靴・ヘルメット貸与"}})
        held.release()  # kintone refuses request 2: the first 100 write-backs are rolled back with it
        wait_until(lambda: all_done(redis_conn, settings, report), RECOVERY_BOUND, "the page job to finish")
        wait_until(lambda: queued(redis_conn, settings) == 0 and kintone.calls[("update_record", CONTRACTS)] == 2,
                   RECOVERY_BOUND, "the edited contract's own job")
        assert server.count("POST", "bulkRequest", status=409) == 1
        assert server.count("POST", "bulkRequest", status=200) == 1

    shared_once(kintone, gstaff, ids, edited=edited)  # its own job found the share remembered: no second call
    assert kintone.record_values(CONTRACTS, edited)["安全衛生"] == "安全靴・ヘルメット貸与"  # the person's edit stays
    assert failed_jobs(redis_conn, settings) == []


FIVE_XX = pytest.mark.parametrize("landed", [True, False], ids=["after kintone ran it", "before kintone ran it"])


@FIVE_XX
def test_a_5xx_answering_the_staffing_pages_bulk_write_does_not_share_write_or_ask_twice(
        landed, kintone, mappings, settings, redis_conn, redis_url, workers):
    """After it landed the retried page finds the ids written; before, it writes them: either way the
    shares are remembered, so G-Staff is not asked again."""
    ids = awaiting_issue(kintone, 150)
    gstaff = FakeGStaff.with_samples()
    report = sweep(settings, mappings, kintone, redis_conn)
    with start_kintone(kintone, mappings) as server, start_gstaff(gstaff) as gserver:
        server.fail(unavailable(), method="POST", resource="bulkRequest", after_effect=landed)
        workers.append(start_worker(env_for(redis_url, server, gserver), "worker-a"))
        wait_until(lambda: all_done(redis_conn, settings, report) and queued(redis_conn, settings) == 0,
                   RECOVERY_BOUND, "the page job (and any fallback) to finish")
        assert server.count("POST", "bulkRequest", status=503) == 1

    shared_once(kintone, gstaff, ids)
    assert failed_jobs(redis_conn, settings) == []


# -- master_retention: concluded contracts extend their clients' 基本契約 in bulk ------------------------

OLD_UNTIL, NEW_UNTIL = "2034-05-31", "2035-05-31"


def basic_contracts(fake, gstaff: FakeGStaff, clients: int) -> list[str]:
    """A concluded, archived 基本契約 per client (its 保管期限 in G-Staff and in kintone, revision 2)."""
    out = []
    for c in range(1, clients + 1):
        rid = fake.seed(CONTRACTS, {"契約種別": "基本契約", "顧客": COMPANY_NAME, "顧客レコード番号": str(c),
                                    "Gスタッフ顧客ID": "G-1001", "担当営業": REP, "署名者氏名": PERSON_NAME,
                                    "締結日": "2026-11-24", "保管期限": OLD_UNTIL}, status="締結済")
        archive_id = gstaff.archive_contract(ArchivedContract(f"kintone:contracts:{rid}", "G-1001", "基本契約書.pdf",
                                                              b"%PDF", date.fromisoformat(OLD_UNTIL), "基本契約"))
        fake.update_record(CONTRACTS, rid, {"Gスタッフ保管ID": {"value": archive_id}})
        out.append(rid)
    gstaff.calls.clear()
    return out


def concluded(fake, clients: int, n: int) -> list[str]:
    """n concluded individual contracts a fiscal year after their 基本契約: each needs it kept longer."""
    return [fake.seed(CONTRACTS, dict(COMPLETE_CONTRACT, 顧客=COMPANY_NAME, 顧客レコード番号=str(i % clients + 1),
                                      担当営業=REP, 署名者氏名=PERSON_NAME, 署名者メール=PERSON_EMAIL,
                                      締結日="2027-04-01", 保管期限=NEW_UNTIL), status="締結済")
            for i in range(n)]


def extended_once(fake, gstaff: FakeGStaff, masters: list[str], edited: str | None = None) -> None:
    assert gstaff.calls["extend_retention"] == len(masters)  # once per 基本契約, never asked again
    for rid in masters:
        _archive_id, archived = gstaff.archives[f"kintone:contracts:{rid}"]
        record = fake.record_values(CONTRACTS, rid)
        assert (record["保管期限"], archived.retention_until) == (NEW_UNTIL, date.fromisoformat(NEW_UNTIL)), rid
        assert record["$revision"] == ("4" if rid == edited else "3"), rid  # one write (after the person's edit)
    assert all(fake.comment_texts(CONTRACTS, rid) == [] for rid in fake.apps[CONTRACTS].records)


@pytest.mark.parametrize(("case", "dies"), [
    ("after kintone wrote the first page's 基本契約, before its answer", "worker"),
    ("after kintone wrote the first page's 基本契約, before its answer", "work horse"),
    ("after the page's G-Staff extensions, before its bulk write", "worker"),
])
def test_a_worker_killed_around_a_retention_pages_bulk_write_ends_with_each_extension_once(
        case, dies, kintone, mappings, settings, redis_conn, redis_url, workers):
    gstaff = FakeGStaff.with_samples()
    masters = basic_contracts(kintone, gstaff, 150)  # 150 基本契約: a bulkRequest of two PUT records.json
    concluded(kintone, 150, 450)  # with the 基本契約 two pages: 500 + 100
    report = sweep(settings, mappings, kintone, redis_conn)
    assert len(report.page_jobs) == 2
    with start_kintone(kintone, mappings) as server, start_gstaff(gstaff) as gserver:
        held = server.hold("POST", "bulkRequest", after_effect=case.startswith("after kintone wrote"))
        env = env_for(redis_url, server, gserver)
        workers.append(start_worker(env, "worker-a"))
        assert held.reached.wait(60), "the page job never reached its bulk write"
        _kill_midway(dies, held, workers, env)
        wait_until(lambda: all_done(redis_conn, settings, report), RECOVERY_BOUND, "both page jobs to finish")

    extended_once(kintone, gstaff, masters)
    assert kintone.calls[("update_record", CONTRACTS)] == 150  # the archive ids seeded; no write by a fallback
    assert failed_jobs(redis_conn, settings) == []


def test_a_retention_pages_bulk_write_refused_half_way_is_decided_again_and_nothing_happens_twice(
        kintone, mappings, settings, redis_conn, redis_url, workers):
    gstaff = FakeGStaff.with_samples()
    masters = basic_contracts(kintone, gstaff, 150)
    concluded(kintone, 150, 150)
    report = sweep(settings, mappings, kintone, redis_conn)
    edited = masters[130]  # in the bulkRequest's second PUT records.json
    with start_kintone(kintone, mappings) as server, start_gstaff(gstaff) as gserver:
        held = server.hold("POST", "bulkRequest", after_effect=False)
        workers.append(start_worker(env_for(redis_url, server, gserver), "worker-a"))
        assert held.reached.wait(60)
        kintone.update_record(CONTRACTS, edited, {"担当営業": {"value": []}})  # a person saves the 基本契約
        held.release()  # kintone refuses request 2: the first 100 extensions are rolled back with it
        wait_until(lambda: all_done(redis_conn, settings, report) and queued(redis_conn, settings) == 0,
                   RECOVERY_BOUND, "the page job to finish")
        assert server.count("POST", "bulkRequest", status=409) == 1
        assert server.count("POST", "bulkRequest", status=200) == 1  # the 149 others sent again

    extended_once(kintone, gstaff, masters, edited=edited)  # read and written again by the page itself
    assert kintone.record_values(CONTRACTS, edited)["担当営業"] == []  # the person's edit stays
    assert failed_jobs(redis_conn, settings) == []


@FIVE_XX
def test_a_5xx_answering_the_retention_pages_bulk_write_does_not_extend_twice(
        landed, kintone, mappings, settings, redis_conn, redis_url, workers):
    """After it landed the retried page finds every 基本契約 covered; before, it writes them again with the
    date G-Staff kept, remembered: G-Staff's archive is asked once per 基本契約 either way."""
    gstaff = FakeGStaff.with_samples()
    masters = basic_contracts(kintone, gstaff, 150)
    concluded(kintone, 150, 150)
    report = sweep(settings, mappings, kintone, redis_conn)
    with start_kintone(kintone, mappings) as server, start_gstaff(gstaff) as gserver:
        server.fail(unavailable(), method="POST", resource="bulkRequest", after_effect=landed)
        workers.append(start_worker(env_for(redis_url, server, gserver), "worker-a"))
        wait_until(lambda: all_done(redis_conn, settings, report) and queued(redis_conn, settings) == 0,
                   RECOVERY_BOUND, "the page job (and any fallback) to finish")
        assert server.count("POST", "bulkRequest", status=503) == 1

    extended_once(kintone, gstaff, masters)
    assert failed_jobs(redis_conn, settings) == []
