"""Contracts found in bulk, decided per page (issue 17): individual contracts at 発報待ち whose
webhooks were lost (contract_staffing: each shared with G-Staff, Gスタッフ個別契約ID written in bulk,
then marketing asked on each), and concluded ones whose 基本契約 must be kept as long (master_retention:
one query for the page's clients' 基本契約, each extended once in G-Staff and then in kintone, in bulk).
The page ends as one job per contract would, costs one read per 500 contracts, a bulk call per 2,000
writes (and the comments), and a contract someone changed meanwhile goes to its ordinary job.

contract_issuance and signature_status keep one job per contract (GMO Sign: one call per envelope).
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date

import fakeredis
import pytest

from connectors.gstaff import ArchivedContract
from connectors.gstaff.fake import FakeGStaff
from connectors.kintone.fake import FakeKintone
from flows import contract_staffing, master_retention
from flows.context import FlowContext
from kgbridge.jobs import flow_enqueuer, job_id, many_enqueuer
from kgbridge.ledger import Ledger
from kgbridge.ops import reconcile
from kgbridge.samples import COMPLETE_CONTRACT
from tests.conftest import BUSINESS_HOURS
from tests.records import without_flow

CONTRACTS = "5"
AWAITING = "発報待ち"


@pytest.fixture
def worker_ctx(ctx, redis_conn, settings):
    """The test context as a worker has it: G-Staff, and flows start flows as (page) jobs."""
    ctx.gstaff = FakeGStaff.with_samples()
    ctx.enqueue = flow_enqueuer(redis_conn, settings)
    ctx.enqueue_many = many_enqueuer(redis_conn, settings)
    return ctx


def awaiting_issue(kintone, n: int = 0, **changes) -> str:
    """An individual contract the rep ran マーケ発報依頼 on (None removes a field)."""
    values = dict(COMPLETE_CONTRACT, 派遣スタッフ=f"派遣 太郎{n}号")
    values.update(changes)
    return kintone.seed(CONTRACTS, {k: v for k, v in values.items() if v is not None}, status=AWAITING)


def staffed(kintone, n: int) -> list[str]:
    return [awaiting_issue(kintone, i) for i in range(n)]


def mixed_backlog(kintone) -> dict[str, list[str]]:
    """Every outcome a page of 発報待ち contracts can reach, by the outcome word its own job returns."""
    return {
        "issue_requested": staffed(kintone, 30),
        "refused_no_staff": [awaiting_issue(kintone, 派遣スタッフ=None) for _ in range(2)],
        "told_no_gstaff_client": [awaiting_issue(kintone, i, Gスタッフ顧客ID=None) for i in range(2)],
        "nothing_to_do": [kintone.seed(CONTRACTS, dict(COMPLETE_CONTRACT, 契約種別="基本契約"), status=AWAITING)],
    }


def world(mappings) -> tuple[FlowContext, FakeKintone, FakeGStaff, dict[str, list[str]]]:
    fake, gstaff = FakeKintone.from_mappings(mappings), FakeGStaff.with_samples()
    backlog = mixed_backlog(fake)
    ctx = FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()),
                      clock=lambda: BUSINESS_HOURS)
    ctx.gstaff = gstaff
    return ctx, fake, gstaff, backlog


def end_state(fake: FakeKintone) -> dict:
    """Every record's values (but kintone's own stamps) and comments (text and who is mentioned)."""
    return {app: {rid: ({k: v for k, v in fake.record_values(app, rid).items()
                         if k not in ("$revision", "更新日時", "作成日時")},
                        [(c.text, [m.code for m in c.mentions]) for c in fake.apps[app].comments[rid]])
                  for rid in fake.apps[app].records} for app in fake.apps}


def shared(gstaff: FakeGStaff) -> dict[str, tuple[str, str]]:
    """What G-Staff holds: reference -> (its id, the staff shared)."""
    return {ref: (cid, c.staff_name) for ref, (cid, c) in gstaff.individual_contracts.items()}


def sweep_contracts(settings, mappings, kintone, redis_conn) -> reconcile.AppSweep:
    [report] = reconcile.sweep(settings=settings, mappings=mappings, kintone=kintone, connection=redis_conn,
                               app_key="contracts")
    return report


# -- contract_staffing: 発報待ち → G-Staff, Gスタッフ個別契約ID, marketing asked ------------------------------


def test_a_page_of_contracts_awaiting_issue_ends_exactly_as_one_staffing_job_per_contract(mappings):
    one_by_one, fake_a, gstaff_a, backlog = world(mappings)
    ids = [rid for rids in backlog.values() for rid in rids]
    outcomes = {rid: contract_staffing.run(one_by_one, "contracts", rid) for rid in ids}
    assert outcomes == {rid: kind for kind, rids in backlog.items() for rid in rids}

    paged, fake_b, gstaff_b, _ = world(mappings)  # the same backlog, decided as one page
    result = contract_staffing.run_page(paged, "contracts", ids)

    assert end_state(fake_b) == end_state(fake_a)
    assert shared(gstaff_b) == shared(gstaff_a) and len(shared(gstaff_b)) == 30
    assert gstaff_b.calls == gstaff_a.calls == Counter({"share_individual_contract": 30})
    assert result.fallback == [] and result.outcomes == {kind: len(rids) for kind, rids in backlog.items()}
    # One read, one PUT records.json for the 30 write-backs (≤ 100), one comment per contract told (30
    # requests to marketing, 4 refusals); the ordinary jobs: a read each, 30 writes and the same comments.
    requested = backlog["issue_requested"]
    assert fake_b.calls == Counter({("get_records", CONTRACTS): 1, ("update_records", CONTRACTS): 1,
                                    ("add_comment", CONTRACTS): 34})
    assert fake_a.calls == Counter({("get_record", CONTRACTS): len(ids), ("update_record", CONTRACTS): 30,
                                    ("add_comment", CONTRACTS): 34})
    for rid in requested:
        [comment] = fake_b.apps[CONTRACTS].comments[rid]
        assert [m.code for m in comment.mentions] == ["yoshida"]
        assert fake_b.record_values(CONTRACTS, rid)["Gスタッフ個別契約ID"] in comment.text
        assert fake_b.record_values(CONTRACTS, rid)["$revision"] == "2"  # one write
    # Run again (a retried page): nothing is shared, written or said twice; one read, no G-Staff call.
    fake_b.calls.clear()
    again = contract_staffing.run_page(paged, "contracts", ids)
    assert fake_b.calls == Counter({("get_records", CONTRACTS): 1})
    assert gstaff_b.calls == Counter({"share_individual_contract": 30})
    assert again.outcomes == {"already_requested": 30, "already_told": 4, "nothing_to_do": 1}


@pytest.mark.parametrize("n", [600, 2100])
def test_a_reconciled_backlog_of_contracts_costs_one_read_per_500_a_bulk_call_per_2000_and_the_comments(
        n, worker_ctx, kintone, mappings, settings, redis_conn, drain):
    ids = staffed(kintone, n)  # 発報待ち reached while kintone dropped the webhooks

    report = sweep_contracts(settings, mappings, kintone, redis_conn)
    assert len(report.page_jobs) == math.ceil(n / 500)
    assert sorted(report.enqueued) == sorted(job_id("contract_staffing", "contracts", r, "r1") for r in ids)
    kintone.calls.clear()
    drain()

    for rid in ids:
        record = kintone.record_values(CONTRACTS, rid)
        assert record["Gスタッフ個別契約ID"].startswith("C-") and record["$revision"] == "2"
        assert [[m.code for m in c.mentions] for c in kintone.apps[CONTRACTS].comments[rid]] == [["yoshida"]]
    assert len(worker_ctx.gstaff.individual_contracts) == n
    pages = math.ceil(n / 500)
    assert kintone.calls[("get_records", CONTRACTS)] == pages
    assert kintone.calls[("bulk_request", CONTRACTS)] + kintone.calls[("update_records", CONTRACTS)] == pages
    assert kintone.calls[("add_comment", CONTRACTS)] == n
    assert kintone.calls[("get_record", CONTRACTS)] == kintone.calls[("update_record", CONTRACTS)] == 0
    assert sum(kintone.calls.values()) == 2 * pages + n
    assert sweep_contracts(settings, mappings, kintone, redis_conn).enqueued == []


class PersonEditsDuringTheBulkCall:
    """kintone where a person saves one contract after the page was read, just before the bulk write."""

    def __init__(self, fake: FakeKintone, app: str, record_id: str, change: dict) -> None:
        self._fake, self._app, self._record_id, self._change, self.edited = fake, app, record_id, change, False

    def __getattr__(self, name):
        return getattr(self._fake, name)

    def _edit(self) -> None:
        if not self.edited:
            self.edited = True
            self._fake.update_record(self._app, self._record_id, {k: {"value": v} for k, v in self._change.items()})

    def bulk_request(self, writes):
        self._edit()
        return self._fake.bulk_request(writes)

    def update_records(self, app, updates):
        self._edit()
        return self._fake.update_records(app, updates)


def test_a_contract_changed_after_the_page_was_read_goes_to_its_ordinary_job(
        worker_ctx, kintone, mappings, settings, redis_conn, drain):
    ids = staffed(kintone, 150)
    edited = ids[120]  # in the second PUT records.json of the bulkRequest
    worker_ctx.kintone = PersonEditsDuringTheBulkCall(kintone, CONTRACTS, edited, {"就業場所": "横浜物流センター（横浜市鶴見区）"})
    sweep_contracts(settings, mappings, kintone, redis_conn)
    kintone.calls.clear()
    drain()

    assert kintone.calls[("bulk_request", CONTRACTS)] == 2  # refused (rolled back), then without the edit
    assert kintone.calls[("get_records", CONTRACTS)] == 2  # the page, then the refused request's revisions
    assert kintone.calls[("update_record", CONTRACTS)] == 2  # the person's edit, then the contract's own job
    assert kintone.calls[("add_comment", CONTRACTS)] == 150  # marketing asked once per contract
    assert redis_conn.exists(f"rq:job:{job_id('contract_staffing', 'contracts', edited, 'r1')}")
    record = kintone.record_values(CONTRACTS, edited)
    # Its own job shared the content as it is now (a new reference: the 就業場所 changed), wrote that id.
    [(new_id, _content)] = [(cid, c) for ref, (cid, c) in worker_ctx.gstaff.individual_contracts.items()
                           if ref.startswith(f"kintone:contracts:{edited}:") and c.work_location.startswith("横浜")]
    assert (record["Gスタッフ個別契約ID"], record["$revision"]) == (new_id, "3")
    [comment] = kintone.comment_texts(CONTRACTS, edited)
    assert new_id in comment
    assert {kintone.record_values(CONTRACTS, r)["$revision"] for r in ids if r != edited} == {"2"}
    assert sweep_contracts(settings, mappings, kintone, redis_conn).enqueued == []


def test_a_contract_g_staff_refuses_goes_to_its_ordinary_job_and_the_page_goes_on(worker_ctx, kintone):
    """A permanent G-Staff refusal (the client is not in G-Staff) fails that contract's own job, where it
    is seen with its reason; the rest of the page is shared and marketing asked."""
    ids = [*staffed(kintone, 3), awaiting_issue(kintone, 9, Gスタッフ顧客ID="G-9999")]
    enqueued = []
    worker_ctx.enqueue = lambda flow, app, rid, marker: enqueued.append((flow, rid, marker)) or True

    result = contract_staffing.run_page(worker_ctx, "contracts", ids)

    assert result.fallback == [ids[3]] and enqueued == [("contract_staffing", ids[3], "r1")]
    assert kintone.comment_texts(CONTRACTS, ids[3]) == []
    assert kintone.record_values(CONTRACTS, ids[3])["Gスタッフ個別契約ID"] == ""
    assert all(kintone.record_values(CONTRACTS, r)["Gスタッフ個別契約ID"] for r in ids[:3])


# -- master_retention: concluded individual contracts keep their 基本契約 as long ----------------------

REP = [{"code": "sato", "name": "佐藤 一郎"}]


def master(kintone, gstaff, client: str, concluded_on="2026-11-24", until="2034-05-31", archived=True,
           **values) -> str:
    """A concluded 基本契約 of ``client``, archived in G-Staff with its 保管期限 (as signature_status does)."""
    rid = kintone.seed(CONTRACTS, {"契約種別": "基本契約", "顧客": f"株式会社サンプル{client}号", "顧客レコード番号": client,
                                   "Gスタッフ顧客ID": "G-1001", "担当営業": REP, "締結日": concluded_on,
                                   "保管期限": until, **values}, status="締結済")
    if archived:
        archive_id = gstaff.archive_contract(ArchivedContract(f"kintone:contracts:{rid}", "G-1001", "基本契約書.pdf",
                                                              b"%PDF", date.fromisoformat(until), "基本契約"))
        kintone.update_record(CONTRACTS, rid, {"Gスタッフ保管ID": {"value": archive_id}})
    return rid


def individual(kintone, client: str, concluded_on: str, until: str | None) -> str:
    """A concluded 個別契約 of ``client`` with the 締結日 and 保管期限 signature_status wrote."""
    values = dict(COMPLETE_CONTRACT, 顧客レコード番号=client, 締結日=concluded_on)
    if until:
        values["保管期限"] = until
    return kintone.seed(CONTRACTS, values, status="締結済")


def kept(kintone, gstaff, rid: str) -> tuple[str, date | None]:
    """(保管期限 in kintone, 保管期限 in G-Staff's archive, None when not archived)."""
    archived = gstaff.archives.get(f"kintone:contracts:{rid}")
    return kintone.record_values(CONTRACTS, rid)["保管期限"], archived[1].retention_until if archived else None


def concluded_backlog(kintone, gstaff) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Concluded contracts of four clients, by the outcome each one's own job returns (in record order),
    and their 基本契約 by name."""
    masters = {"one": master(kintone, gstaff, "1"),
               "old": master(kintone, gstaff, "2", concluded_on="2020-04-01", until="2028-05-31"),
               "new": master(kintone, gstaff, "2", archived=False),
               "ended": master(kintone, gstaff, "4", 取引終了日="2030-03-31")}
    outcomes = {"nothing_to_do": list(masters.values())[:3], "retention_fixed": [masters["ended"]],
                "master_extended": [], "covered": [], "no_master_contract": []}
    outcomes["master_extended"].append(individual(kintone, "1", "2027-04-01", "2035-05-31"))  # a fiscal year later
    outcomes["covered"] += [individual(kintone, "1", "2027-03-31", "2034-05-31") for _ in range(20)]  # the same
    outcomes["master_extended"].append(individual(kintone, "1", "2028-04-03", "2036-05-31"))  # later still
    outcomes["covered"].append(individual(kintone, "1", "2027-05-06", "2035-05-31"))  # covered by the one before
    outcomes["master_extended"].append(individual(kintone, "2", "2025-06-02", "2033-05-31"))  # the old 基本契約's
    outcomes["master_extended"].append(individual(kintone, "2", "2027-04-01", "2035-05-31"))  # the new one's
    outcomes["no_master_contract"].append(individual(kintone, "3", "2027-04-01", "2035-05-31"))
    outcomes["nothing_to_do"].append(individual(kintone, "1", "2027-04-01", None))  # no 保管期限 yet
    return outcomes, masters


def concluded_world(mappings):
    fake, gstaff = FakeKintone.from_mappings(mappings), FakeGStaff.with_samples()
    backlog, masters = concluded_backlog(fake, gstaff)
    fake.calls.clear()
    ctx = FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()),
                      clock=lambda: BUSINESS_HOURS)
    ctx.gstaff = gstaff
    return ctx, fake, gstaff, backlog, masters


def test_a_page_of_concluded_contracts_ends_exactly_as_one_retention_job_per_contract(mappings):
    mappings = without_flow(mappings, "follow_up")
    one_by_one, fake_a, gstaff_a, backlog, masters = concluded_world(mappings)
    ids = sorted((rid for rids in backlog.values() for rid in rids), key=int)
    outcomes = {rid: master_retention.run(one_by_one, "contracts", rid) for rid in ids}
    assert outcomes == {rid: kind for kind, rids in backlog.items() for rid in rids}

    paged, fake_b, gstaff_b, _, _ = concluded_world(mappings)  # the same contracts, decided as one page
    result = master_retention.run_page(paged, "contracts", ids)

    assert end_state(fake_b) == end_state(fake_a)
    assert gstaff_b.archives == gstaff_a.archives
    assert kept(fake_b, gstaff_b, masters["one"]) == ("2036-05-31", date(2036, 5, 31))
    assert kept(fake_b, gstaff_b, masters["old"]) == ("2033-05-31", date(2033, 5, 31))
    assert kept(fake_b, gstaff_b, masters["new"]) == ("2035-05-31", None)  # in kintone only: not archived yet
    assert kept(fake_b, gstaff_b, masters["ended"]) == ("2037-05-31", date(2037, 5, 31))
    assert result.fallback == [masters["ended"]]  # its comment to the rep: its ordinary job (run inline here)
    assert result.outcomes == {kind: len(rids) for kind, rids in backlog.items() if kind != "retention_fixed"}
    # One extension per 基本契約 in G-Staff (two individual contracts asked 基本契約 "one" for more, one job
    # each asked twice), one read of the page, one query of the clients' 基本契約, one PUT records.json of
    # the three 基本契約 extended; the ended 基本契約's own job: read, its longest contract, write, comment.
    assert gstaff_a.calls["extend_retention"] == 3 + 1 and gstaff_b.calls["extend_retention"] == 2 + 1
    assert fake_b.calls == Counter({("get_records", CONTRACTS): 2 + 1, ("update_records", CONTRACTS): 1,
                                    ("get_record", CONTRACTS): 1, ("update_record", CONTRACTS): 1,
                                    ("add_comment", CONTRACTS): 1})
    covering = len(ids) - 4 - 1  # the 基本契約 and the contract without 保管期限: one read each
    assert fake_a.calls == Counter({("get_record", CONTRACTS): len(ids), ("get_records", CONTRACTS): covering + 1,
                                    ("update_record", CONTRACTS): 4 + 1, ("add_comment", CONTRACTS): 1})
    for rid in masters.values():
        assert fake_b.record_values(CONTRACTS, rid)["$revision"] == fake_a.record_values(CONTRACTS, rid)["$revision"] \
            or rid == masters["one"]  # extended twice one job at a time, once per page
    # Run again (a retried page): each covered contract is remembered; nothing written, G-Staff not asked.
    # Read: the page, the 基本契約 of the contract without one (looked for again), and the ended 基本契約's
    # own job (itself and its longest contract; the rep was told).
    fake_b.calls.clear()
    again = master_retention.run_page(paged, "contracts", ids)
    assert fake_b.calls == Counter({("get_records", CONTRACTS): 3, ("get_record", CONTRACTS): 1})
    assert gstaff_b.calls["extend_retention"] == 3
    assert again.outcomes["already_covered"] == len(backlog["master_extended"]) + len(backlog["covered"])


def many_concluded(kintone, gstaff, n: int, clients: int = 3) -> tuple[list[str], list[str]]:
    """n concluded individual contracts, a fiscal year after their clients' 基本契約 (each needs it longer)."""
    masters = [master(kintone, gstaff, str(c + 1)) for c in range(clients)]
    return masters, [individual(kintone, str(i % clients + 1), "2027-04-01", "2035-05-31") for i in range(n)]


@pytest.mark.parametrize("n", [600, 2100])
def test_a_reconciled_backlog_of_concluded_contracts_costs_two_reads_per_500_and_one_write_per_basic_contract(
        n, worker_ctx, kintone, mappings, settings, redis_conn, drain):
    mappings = without_flow(mappings, "follow_up")  # the follow-up schedules are another flow's
    masters, ids = many_concluded(kintone, worker_ctx.gstaff, n)

    report = sweep_contracts(settings, mappings, kintone, redis_conn)
    assert len(report.page_jobs) == math.ceil((n + 3) / 500)  # the 基本契約 are concluded too
    kintone.calls.clear()
    drain()

    for rid in masters:
        assert kept(kintone, worker_ctx.gstaff, rid) == ("2035-05-31", date(2035, 5, 31))
        assert kintone.record_values(CONTRACTS, rid)["$revision"] == "3"  # archived, then extended once
    assert worker_ctx.gstaff.calls["extend_retention"] == 3
    pages = math.ceil((n + 3) / 500)
    # Per page: its read and the query of its clients' 基本契約; the first page extends all three (one PUT
    # records.json), the others find them covered. One job per contract: 2 reads each and 3 writes.
    assert kintone.calls == Counter({("get_records", CONTRACTS): 2 * pages, ("update_records", CONTRACTS): 1})
    assert all(kintone.comment_texts(CONTRACTS, r) == [] for r in ids)
    assert sweep_contracts(settings, mappings, kintone, redis_conn).enqueued == []


class PersonEditsBeforeEachBulkCall(PersonEditsDuringTheBulkCall):
    """kintone where a person saves a 基本契約 before each of the next ``times`` bulk writes (4: the page's
    first call and its resend of the others, then both of its decisions again)."""

    def __init__(self, fake, app, record_id, change, times: int) -> None:
        super().__init__(fake, app, record_id, change)
        self.times = times

    def _edit(self) -> None:
        if self.times:
            self.times -= 1
            self._fake.update_record(self._app, self._record_id, {k: {"value": v} for k, v in self._change.items()})


def test_a_basic_contract_changed_after_it_was_read_is_read_and_decided_again_in_the_page(
        worker_ctx, kintone, mappings, settings, redis_conn, drain):
    mappings = without_flow(mappings, "follow_up")
    masters, _ids = many_concluded(kintone, worker_ctx.gstaff, 60)
    worker_ctx.kintone = PersonEditsDuringTheBulkCall(kintone, CONTRACTS, masters[1], {"担当営業": []})
    sweep_contracts(settings, mappings, kintone, redis_conn)
    kintone.calls.clear()
    drain()

    # The page and its clients' 基本契約 read; the PUT records.json refused (the edit: rolled back whole),
    # the refused request's revisions read, the two unchanged 基本契約 sent again; the edited one read
    # again and written with its new revision: no contract went to its ordinary job.
    assert kintone.calls == Counter({("get_records", CONTRACTS): 2 + 2, ("update_records", CONTRACTS): 3,
                                     ("update_record", CONTRACTS): 1})  # the person's edit
    for rid in masters:
        assert kept(kintone, worker_ctx.gstaff, rid) == ("2035-05-31", date(2035, 5, 31))
    assert kintone.record_values(CONTRACTS, masters[1])["担当営業"] == []  # the person's edit stays
    assert worker_ctx.gstaff.calls["extend_retention"] == 3  # the archive was not asked again
    assert sweep_contracts(settings, mappings, kintone, redis_conn).enqueued == []


def test_a_basic_contract_refused_again_and_again_sends_its_contracts_to_their_ordinary_jobs(
        worker_ctx, kintone, mappings, settings, redis_conn, drain):
    mappings = without_flow(mappings, "follow_up")
    masters, ids = many_concluded(kintone, worker_ctx.gstaff, 60)
    worker_ctx.kintone = PersonEditsBeforeEachBulkCall(kintone, CONTRACTS, masters[1], {"担当営業": []}, times=4)
    sweep_contracts(settings, mappings, kintone, redis_conn)
    kintone.calls.clear()
    drain()

    under = [r for r in ids if kintone.record_values(CONTRACTS, r)["顧客レコード番号"] == "2"]
    assert len(under) == 20
    for rid in under:  # each one's own job ran (and found the 基本契約 its first job extended covering it)
        assert redis_conn.exists(f"rq:job:{job_id('master_retention', 'contracts', rid, 'r1')}")
    assert kintone.calls[("update_record", CONTRACTS)] == 4 + 1  # the person's edits, then the first own job
    assert kintone.calls[("get_record", CONTRACTS)] == 20
    for rid in masters:
        assert kept(kintone, worker_ctx.gstaff, rid) == ("2035-05-31", date(2035, 5, 31))
    assert worker_ctx.gstaff.calls["extend_retention"] == 3  # remembered: the own job did not ask again
    # The next sweep: the 基本契約 the person edited (and the first own job wrote) once more, as any edit of
    # a concluded contract; it finds nothing to do.
    revision = kintone.record_values(CONTRACTS, masters[1])["$revision"]
    assert sweep_contracts(settings, mappings, kintone, redis_conn).enqueued == [
        job_id("master_retention", "contracts", masters[1], f"r{revision}")]


def test_concluded_contracts_found_in_bulk_get_the_follow_up_page_first_then_the_retention_page(
        worker_ctx, kintone, mappings, settings, redis_conn, drain):
    """Both page flows of a 締結済 backlog: follow_up's page job first, master_retention's waits for it
    (flows.PAGE_FLOWS' order; follow_up writes the Follow-ups app, master_retention the 基本契約)."""
    from rq.job import Job
    from rq.serializers import JSONSerializer

    masters, _ids = many_concluded(kintone, worker_ctx.gstaff, 30)
    report = sweep_contracts(settings, mappings, kintone, redis_conn)
    follow_up, retention = report.page_jobs
    assert follow_up.startswith("page-follow_up-contracts-") and retention.startswith("page-master_retention-")
    assert Job.fetch(retention, connection=redis_conn, serializer=JSONSerializer).dependency_ids == [follow_up]
    drain()

    for rid in masters:
        assert kept(kintone, worker_ctx.gstaff, rid) == ("2035-05-31", date(2035, 5, 31))
    assert worker_ctx.gstaff.calls["extend_retention"] == 3
    # The next sweep: follow_up on the three 基本契約 the retention page wrote (an edit of a concluded
    # contract, as the write's webhook would have started one by one); nothing for the retention itself.
    assert sorted(sweep_contracts(settings, mappings, kintone, redis_conn).enqueued) == sorted(
        job_id("follow_up", "contracts", rid, "r3") for rid in masters)
