"""A backlog found in bulk: kintone calls per app, wall time and the share of the daily quota.

N complete orders whose webhooks were lost (a bulk import, a day of dropped notifications) are
found by one reconcile sweep and decided per page (flows/bulk.py): page jobs of 500 orders, each
one read of the orders, one of their client, one query of the client's visits and one
bulkRequest.json of 上長承認依頼 actions. Two
``python worker.py`` processes on the live kintone client do the work against the loopback kintone
(tests/kintone_server.py over the fake's state); the sweep itself runs here, on the live client
too, so every kintone call of the run crosses the loopback server and is counted there, per app.

"Per record (today's cost)" is the same backlog with one order_registration job per order (what
the sweep enqueued before page jobs): its calls are counted on the in-process fake (4 per order:
read order, the client's visits, read client, run the action), and for the smallest backlog it is also timed with the
same two workers against the loopback kintone.

The daily quota is kintone's 10,000 API calls per app per day (Standard course; reference/kintone.md §0).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from types import SimpleNamespace

from benchmarks.common import ROOT, RedisProcess, base_env, log_sink, wait_for
from benchmarks.latency import PERIODIC_OFF, UNUSED_CONNECTORS

DAILY_QUOTA = 10_000
TOKENS = {"orders": "benchBacklogOrders0001", "clients": "benchBacklogClients0001",
          "visits": "benchBacklogVisits0001"}
WAITING = "上長承認待ち"


def _backlog(orders: int):
    from connectors.kintone.fake import FakeKintone
    from kgbridge.samples import COMPLETE_ORDER, seed_visit
    from mappings import load_mappings

    mappings = load_mappings(ROOT / "mappings" / "default")
    fake = FakeKintone.from_mappings(mappings)
    client = fake.seed(mappings["clients"].id, {"会社名": "株式会社サンプル物流", "与信状態": "承認"})
    seed_visit(fake, mappings, client)  # orders need a completed visit (seed A-3)
    ids = [fake.seed(mappings["orders"].id, dict(COMPLETE_ORDER, 顧客レコード番号=client)) for _ in range(orders)]
    return mappings, fake, ids


def per_record_calls(orders: int) -> Counter:
    """kintone calls per app of the per-record path: the sweep's queries plus one job per order."""
    import fakeredis

    from flows import order_registration
    from flows.context import FlowContext
    from kgbridge import logs
    from kgbridge.ledger import Ledger

    logs.configure("WARNING", "json", stream=log_sink())

    mappings, fake, ids = _backlog(orders)
    ctx = FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()),
                      clock=lambda: datetime.fromisoformat(BUSINESS_MORNING))
    for rid in ids:
        order_registration.run(ctx, "orders", rid)
    calls = _calls_per_app(fake)
    calls[mappings["orders"].id] += orders // 500 + 1  # the reconcile sweep's pages (one more after a full page)
    return calls


def run(orders: int, workers: int = 2, per_record: bool = False) -> dict:
    """Sweep and drain the backlog with ``workers`` workers; per_record=True: one job per order (today)."""
    from connectors.kintone.live import LiveKintoneClient
    from kgbridge import logs
    from kgbridge.settings import load_settings
    from tests.kintone_server import KintoneServer

    logs.configure("WARNING", "json", stream=log_sink())
    mappings, fake, _ids = _backlog(orders)
    orders_id, clients_id = mappings["orders"].id, mappings["clients"].id
    redis_proc = RedisProcess()
    visits_id = mappings["visits"].id
    server = KintoneServer(fake, tokens={orders_id: TOKENS["orders"], clients_id: TOKENS["clients"],
                                         visits_id: TOKENS["visits"]}).start()
    bulk_from = orders + 1 if per_record else 20
    env = base_env(redis_url=redis_proc.url, connector_mode="live", kintone_base_url=server.url,
                   kintone_api_tokens=json.dumps(TOKENS), log_level="WARNING", bulk_min_records=bulk_from,
                   **UNUSED_CONNECTORS, **PERIODIC_OFF)
    procs = _start_workers(env, workers)
    connection = redis_proc.client()
    try:
        wait_for(lambda: connection.scard("rq:workers") >= workers, 180, "the workers to start")
        settings = load_settings(connector_mode="fake", redis_url=redis_proc.url, bulk_min_records=bulk_from)
        live = LiveKintoneClient(server.url, {orders_id: [TOKENS["orders"]], clients_id: [TOKENS["clients"]],
                                              visits_id: [TOKENS["visits"]]})
        start = time.perf_counter()
        page_jobs = _sweep_to_the_end(settings, mappings, live, connection, "orders")
        status = mappings["orders"].field("status").code
        app = fake.apps[orders_id]

        def done() -> bool:
            return sum(1 for r in app.records.values() if r[status]["value"] == WAITING) == orders

        wait_for(done, 1800, f"{orders} orders sent for approval")
        seconds = time.perf_counter() - start
        failed = connection.zcard(f"rq:failed:{settings.queue_name}")
    finally:
        _stop(procs, server, redis_proc)
    calls, kinds = _requests_per_app(server)
    return {"orders": orders, "workers": workers, "path": "per record" if per_record else "per page",
            "seconds": seconds, "failed": failed, "calls": dict(calls), "requests": dict(kinds),
            "page_jobs": page_jobs}


def quota_share(calls: int) -> float:
    return calls / DAILY_QUOTA


# -- a bulk import of HP inquiries: routing and the G-Staff client lookup per page ------------------
#
# N HP inquiries imported in bulk (no webhook), as marketing enters them: no 担当営業 yet (seed:
# the department's manager assigns), half of a client G-Staff knows with a risk (G-1001: past trouble,
# a 抵触日 within six months, 離職率 18 %), half of one without (G-1002). One reconcile sweep of the
# Inquiries app finds them; per page of 500, first inquiry_routing's page job (flows/inquiry_routing.
# run_page: one read, the reps' workload and the clients' risk from the 顧客管理台帳 once, 担当部署 and
# 部署責任者 in bulk, one notice to the manager: [routing] bulk_notice = "per_page"), then, once it
# ended, client_lookup's (flows/client_lookup.run_page: one read, G-Staff per inquiry on the loopback
# G-Staff, tests/gstaff_server.py, the comment a risky client gets: [client_lookup] tell_linked =
# "risky", the write-backs in bulk). The workers' clock starts in business hours, so the comments are
# posted, not held for the morning.

INQUIRY_TOKENS = {"inquiries": "benchBacklogInquiries001", "clients": "benchBacklogClients0002"}
GSTAFF_KEY = "bench-gstaff-loopback-key-0001"
BUSINESS_MORNING = "2026-12-01T10:00:00+09:00"
KNOWN = ({"会社名": "株式会社サンプル物流", "法人番号": "9234567890123"},  # G-1001: a risk, the rep is told
         {"会社名": "株式会社テスト商事", "電話番号": "045-000-0000"})  # G-1002: none, linked without a comment


def _inquiries(n: int):
    from connectors.kintone.fake import FakeKintone
    from mappings import load_mappings

    mappings = load_mappings(ROOT / "mappings" / "default")
    fake = FakeKintone.from_mappings(mappings)
    for code, clients in (("sato", 3), ("suzuki", 1)):  # the reps' 顧客管理台帳 clients the ranking counts
        for i in range(clients):
            fake.seed(mappings["clients"].id, {"会社名": f"株式会社{code}{i}", "担当営業": [{"code": code, "name": code}]})
    ids = [fake.seed(mappings["inquiries"].id, {"受付経路": "HP", "受付日時": "2026-12-01T00:30:00Z",
                                                "問い合わせ内容": "倉庫の軽作業スタッフを3名お願いしたい", **KNOWN[i % 2]})
           for i in range(n)]
    return mappings, fake, ids


def inquiry_comments(n: int, per_record: bool) -> int:
    """The comments the import costs: one per inquiry of the risky client (client_lookup), and the
    manager's: one per unassigned inquiry by its own job, one per page of 500 by the page job."""
    return (n + 1) // 2 + (n if per_record else -(-n // 500))


def per_record_inquiry_calls(n: int) -> Counter:
    """kintone calls per app of one inquiry_routing and one client_lookup job per inquiry, plus the
    sweep's pages."""
    import fakeredis

    from connectors.gstaff.fake import FakeGStaff
    from flows import client_lookup, inquiry_routing
    from flows.context import FlowContext
    from kgbridge import logs
    from kgbridge.ledger import Ledger

    logs.configure("WARNING", "json", stream=log_sink())
    mappings, fake, ids = _inquiries(n)
    fake.calls.clear()
    ctx = FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()),
                      clock=lambda: datetime.fromisoformat(BUSINESS_MORNING), gstaff=FakeGStaff.with_samples())
    for rid in ids:  # in the sweep's order: routing's jobs, then the lookup's
        inquiry_routing.run(ctx, "inquiries", rid)
    for rid in ids:
        client_lookup.run(ctx, "inquiries", rid)
    calls = _calls_per_app(fake)
    calls[mappings["inquiries"].id] += n // 500 + 1  # the reconcile sweep's pages
    return calls


def run_inquiries(n: int, workers: int = 2, per_record: bool = False) -> dict:
    """Sweep and drain an import of ``n`` inquiries with ``workers`` workers (per_record: a job each)."""
    from connectors.gstaff.fake import FakeGStaff
    from connectors.kintone.live import LiveKintoneClient
    from kgbridge import logs
    from kgbridge.settings import load_settings
    from tests.gstaff_server import GStaffServer
    from tests.kintone_server import KintoneServer

    logs.configure("WARNING", "json", stream=log_sink())
    mappings, fake, ids = _inquiries(n)
    app_id, clients_id = mappings["inquiries"].id, mappings["clients"].id
    redis_proc = RedisProcess()
    server = KintoneServer(fake, tokens={app_id: INQUIRY_TOKENS["inquiries"],
                                         clients_id: INQUIRY_TOKENS["clients"]}).start()
    gstaff = GStaffServer(FakeGStaff.with_samples(), GSTAFF_KEY).start()
    bulk_from = n + 1 if per_record else 20
    unused = {k: v for k, v in UNUSED_CONNECTORS.items() if not k.startswith("gstaff_")}
    env = base_env(redis_url=redis_proc.url, connector_mode="live", kintone_base_url=server.url,
                   kintone_api_tokens=json.dumps(INQUIRY_TOKENS), log_level="WARNING", bulk_min_records=bulk_from,
                   gstaff_base_url=gstaff.url, gstaff_api_key=GSTAFF_KEY, clock_start=BUSINESS_MORNING,
                   **unused, **PERIODIC_OFF)
    procs = _start_workers(env, workers)
    connection = redis_proc.client()
    comments = inquiry_comments(n, per_record)
    try:
        wait_for(lambda: connection.scard("rq:workers") >= workers, 180, "the workers to start")
        settings = load_settings(connector_mode="fake", redis_url=redis_proc.url, bulk_min_records=bulk_from)
        live = LiveKintoneClient(server.url, {app_id: [INQUIRY_TOKENS["inquiries"]],
                                              clients_id: [INQUIRY_TOKENS["clients"]]})
        start = time.perf_counter()
        page_jobs = _sweep_to_the_end(settings, mappings, live, connection, "inquiries")
        linked, routed = (mappings["inquiries"].field(name).code for name in ("gstaff_client_id", "department"))
        app = fake.apps[app_id]

        def done() -> bool:
            return (sum(1 for rid in ids if app.records[rid][linked]["value"] and app.records[rid][routed]["value"])
                    == n and sum(len(app.comments[rid]) for rid in ids) >= comments)

        wait_for(done, 1800, f"{n} inquiries routed, linked and told")
        seconds = time.perf_counter() - start
        failed = connection.zcard(f"rq:failed:{settings.queue_name}")
        posted = sum(len(app.comments[rid]) for rid in ids)
    finally:
        _stop(procs, server, gstaff, redis_proc)
    calls, kinds = _requests_per_app(server)
    return {"inquiries": n, "workers": workers, "path": "per record" if per_record else "per page",
            "seconds": seconds, "failed": failed, "calls": dict(calls), "requests": dict(kinds),
            "page_jobs": page_jobs, "comments": posted}


# -- the import's deadlines while nobody assigns it ------------------------------------------------
#
# The same import, routed per page (in-process), then the deadline sweep as the workers run it (every
# 1,800 s, KGBRIDGE_DEADLINE_SWEEP_SECONDS) through three business days, 09:00 to 17:30 Tokyo, while nobody
# enters a 担当営業: inquiry_assignment (the 部署責任者 reminded 2 business hours after arrival, escalated
# after 4) and inquiry_first_contact (the 上長 reminded on the due day, escalated the next). Counted on
# the in-process fake: the Inquiries app's calls of the sweeps (counts, not times), with the default
# mapping's digest_from and without it (one comment per inquiry and level, as before issue 17's digests).

SWEEP_DAYS = ("2026-12-01", "2026-12-02", "2026-12-03")


def import_deadline_calls(n: int, digest: bool) -> Counter:
    """The Inquiries app's kintone calls (by method) of the deadline sweeps after an import of ``n``."""
    import fakeredis

    from connectors.gstaff.fake import FakeGStaff
    from flows import bulk, deadlines, inquiry_routing
    from flows.context import FlowContext
    from kgbridge import logs
    from kgbridge.ledger import Ledger

    logs.configure("WARNING", "json", stream=log_sink())
    mappings, fake, ids = _inquiries(n)
    if not digest:
        rules = [r.model_copy(update={"digest_from": None}) for r in mappings.deadlines.rules]
        mappings.deadlines = mappings.deadlines.model_copy(update={"rules": rules})
    now = {"at": datetime.fromisoformat(BUSINESS_MORNING)}
    ctx = FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()), clock=lambda: now["at"],
                      gstaff=FakeGStaff.with_samples())
    for page in bulk.chunks(ids, 500):
        inquiry_routing.run_page(ctx, "inquiries", page)
    fake.calls.clear()
    for day in SWEEP_DAYS:
        for slot in range(18):  # 09:00, 09:30, …, 17:30
            now["at"] = datetime.fromisoformat(f"{day}T09:00:00+09:00") + timedelta(minutes=30 * slot)
            deadlines.sweep(ctx)
    app = mappings["inquiries"].id
    return Counter({method: count for (method, a), count in fake.calls.items() if a == app})


# -- a day of concluded contracts: their follow-up schedules per page ---------------------------------
#
# N individual contracts (個別契約) concluded while their webhooks were lost, one worker each (a
# スタッフID with no earlier timeline): each gets the first three months' follow-ups and the
# renewal-intent checks, 8 records in the スタッフフォロー app, and one comment to the rep and the
# manager. One reconcile sweep of the Contracts app finds them (only follow_up's triggers: the other
# flows on 締結済, master_retention, have their own figures); per page of 500, follow_up's page job
# (flows/follow_up.run_page: one read of the contracts, one query of their follow-ups, one of the
# workers' timelines, the 4,000 follow-ups in whole contracts per POST records.json, 12 contracts a
# call, then the comments). Per record: one follow_up job per contract (5 calls: the contract, its
# follow-ups, the worker's timeline, one add, one comment).

CONTRACT_TOKENS = {"contracts": "benchBacklogContracts0001", "follow_ups": "benchBacklogFollowUps0001"}
FOLLOW_UPS_PER_CONTRACT = 8
OTHER_CONTRACT_FLOWS = ("contract_issuance", "master_retention", "contract_staffing")


def _concluded_contracts(n: int):
    from connectors.kintone.fake import FakeKintone
    from mappings import load_mappings

    mappings = load_mappings(ROOT / "mappings" / "default")
    fake = FakeKintone.from_mappings(mappings)
    ids = [fake.seed(mappings["contracts"].id, {
        "契約種別": "個別契約", "顧客": "株式会社サンプル物流", "担当営業": [{"code": "sato", "name": "佐藤 一郎"}],
        "派遣スタッフ": "派遣 太郎", "派遣スタッフID": f"S-{i:05}", "指揮命令者": "鈴木 次郎",
        "派遣開始日": "2026-12-01", "派遣終了日": "2027-05-31"}, status="締結済") for i in range(n)]
    return mappings, fake, ids


def _schedules_only(mappings):
    """The mappings with follow_up's triggers alone on Contracts (what the sweep enqueues)."""
    from mappings import Mappings

    apps = [m.model_copy(update={"triggers": [t for t in m.triggers if t.flow not in OTHER_CONTRACT_FLOWS]})
            for m in mappings]
    out = Mappings(apps)
    out.deadlines = mappings.deadlines
    return out


def per_record_follow_up_calls(n: int) -> Counter:
    """kintone calls per app of one follow_up job per contract, plus the sweep's pages.

    Counted 100 contracts at a time, each hundred in a fake kintone of its own: a contract's job
    asks only for its own follow-ups and its worker's timeline, so the counts are the same, and the
    fake (which reads every record for a query) does not scan 80,000 follow-ups 20,000 times."""
    import fakeredis

    from flows import follow_up
    from flows.context import FlowContext
    from kgbridge import logs
    from kgbridge.ledger import Ledger

    logs.configure("WARNING", "json", stream=log_sink())
    calls: Counter = Counter()
    contracts_app = None
    for start in range(0, n, 100):
        mappings, fake, ids = _concluded_contracts(min(100, n - start))
        contracts_app = mappings["contracts"].id
        ctx = FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()),
                          clock=lambda: datetime.fromisoformat(BUSINESS_MORNING))
        for rid in ids:
            follow_up.run(ctx, "contracts", rid)
        calls += _calls_per_app(fake)
    calls[contracts_app] += n // 500 + 1  # the reconcile sweep's pages
    return calls


def run_follow_ups(n: int, workers: int = 2, per_record: bool = False) -> dict:
    """Sweep and drain ``n`` concluded contracts with ``workers`` workers (per_record: a job each)."""
    from connectors.kintone.live import LiveKintoneClient
    from kgbridge import logs
    from kgbridge.settings import load_settings
    from tests.kintone_server import KintoneServer

    logs.configure("WARNING", "json", stream=log_sink())
    mappings, fake, ids = _concluded_contracts(n)
    contracts_id, follow_ups_id = mappings["contracts"].id, mappings["follow_ups"].id
    redis_proc = RedisProcess()
    server = KintoneServer(fake, tokens={contracts_id: CONTRACT_TOKENS["contracts"],
                                         follow_ups_id: CONTRACT_TOKENS["follow_ups"]}).start()
    bulk_from = n + 1 if per_record else 20
    env = base_env(redis_url=redis_proc.url, connector_mode="live", kintone_base_url=server.url,
                   kintone_api_tokens=json.dumps(CONTRACT_TOKENS), log_level="WARNING", bulk_min_records=bulk_from,
                   clock_start=BUSINESS_MORNING, **UNUSED_CONNECTORS, **PERIODIC_OFF)
    procs = _start_workers(env, workers)
    connection = redis_proc.client()
    try:
        wait_for(lambda: connection.scard("rq:workers") >= workers, 180, "the workers to start")
        settings = load_settings(connector_mode="fake", redis_url=redis_proc.url, bulk_min_records=bulk_from)
        live = LiveKintoneClient(server.url, {contracts_id: [CONTRACT_TOKENS["contracts"]],
                                              follow_ups_id: [CONTRACT_TOKENS["follow_ups"]]})
        start = time.perf_counter()
        page_jobs = _sweep_to_the_end(settings, _schedules_only(mappings), live, connection, "contracts")
        added, app = fake.apps[follow_ups_id], fake.apps[contracts_id]

        def done() -> bool:
            return (len(added.records) == FOLLOW_UPS_PER_CONTRACT * n
                    and sum(len(app.comments[rid]) for rid in ids) >= n)

        wait_for(done, 1800, f"{n} contracts scheduled and told")
        seconds = time.perf_counter() - start
        failed = connection.zcard(f"rq:failed:{settings.queue_name}")
        posted = sum(len(app.comments[rid]) for rid in ids)
    finally:
        _stop(procs, server, redis_proc)
    calls, kinds = _requests_per_app(server)
    return {"contracts": n, "workers": workers, "path": "per record" if per_record else "per page",
            "seconds": seconds, "failed": failed, "calls": dict(calls), "requests": dict(kinds),
            "page_jobs": page_jobs, "comments": posted, "follow_ups": len(added.records)}


# -- the Contracts app: contract_staffing and master_retention per page ---------------------------
#
# N individual contracts whose webhooks were lost, in one of two states. "staffing": at 発報待ち (the rep
# ran マーケ発報依頼), each of a client G-Staff knows: contract_staffing's page job (flows/contract_staffing.
# run_page: one read, a G-Staff share per contract on the loopback G-Staff, Gスタッフ個別契約ID in bulk,
# then one comment per contract asking marketing to run 発報). "retention": 締結済 a fiscal year after their
# clients' 基本契約 (CONTRACT_CLIENTS clients, each with one archived 基本契約), so each 基本契約 must be kept
# longer: master_retention's page job (flows/master_retention.run_page: one read, one query of the page's
# clients' 基本契約, each extended once in G-Staff, then in one bulk write; no comment). The follow-up
# schedule of the concluded contracts (follow_up, also a page flow) is left out of the sweep here: its
# figures are its own (the Follow-ups app). Per record: one job per contract, counted on the in-process
# fake (staffing: read, write, comment; retention: read, the client's 基本契約, and the write for the
# first contract of each 基本契約), plus the sweep's pages.

CONTRACT_FLOW_TOKENS = {"contracts": "benchBacklogContracts001"}
CONTRACT_CLIENTS = 100
OLD_UNTIL, NEW_UNTIL = "2034-05-31", "2035-05-31"
CONTRACT_KINDS = ("staffing", "retention")


def _contract_mappings():
    from mappings import Mappings, load_mappings

    loaded = load_mappings(ROOT / "mappings" / "default")
    apps = [m.model_copy(update={"triggers": [t for t in m.triggers if t.flow != "follow_up"]}) for m in loaded]
    out = Mappings(apps)
    out.deadlines = loaded.deadlines
    return out


def _contracts(n: int, kind: str):
    """(mappings, fake kintone, fake G-Staff, the contracts' ids, the 基本契約's ids) for ``kind``."""
    from datetime import date

    from connectors.gstaff import ArchivedContract
    from connectors.gstaff.fake import FakeGStaff
    from connectors.kintone.fake import FakeKintone
    from kgbridge.samples import COMPLETE_CONTRACT

    mappings = _contract_mappings()
    fake, gstaff = FakeKintone.from_mappings(mappings), FakeGStaff.with_samples()
    app = mappings["contracts"].id
    if kind == "staffing":
        ids = [fake.seed(app, dict(COMPLETE_CONTRACT, 派遣スタッフ=f"派遣 太郎{i}号"), status="発報待ち") for i in range(n)]
        return mappings, fake, gstaff, ids, []
    masters = []
    for c in range(1, CONTRACT_CLIENTS + 1):
        rid = fake.seed(app, {"契約種別": "基本契約", "顧客": f"株式会社サンプル{c}号", "顧客レコード番号": str(c),
                              "Gスタッフ顧客ID": "G-1001", "締結日": "2026-11-24", "保管期限": OLD_UNTIL}, status="締結済")
        archive_id = gstaff.archive_contract(ArchivedContract(f"kintone:contracts:{rid}", "G-1001", "基本契約書.pdf",
                                                              b"%PDF", date.fromisoformat(OLD_UNTIL), "基本契約"))
        fake.update_record(app, rid, {"Gスタッフ保管ID": {"value": archive_id}})
        masters.append(rid)
    ids = [fake.seed(app, dict(COMPLETE_CONTRACT, 顧客レコード番号=str(i % CONTRACT_CLIENTS + 1), 締結日="2027-04-01",
                               保管期限=NEW_UNTIL), status="締結済") for i in range(n)]
    fake.calls.clear()
    gstaff.calls.clear()
    return mappings, fake, gstaff, ids, masters


def contract_comments(n: int, kind: str) -> int:
    """The comments a backlog costs, either path: marketing asked once per contract; none for retention."""
    return n if kind == "staffing" else 0


def per_record_contract_calls(n: int, kind: str) -> tuple[Counter, Counter]:
    """kintone calls per app of one job per contract (plus the sweep's pages) and G-Staff's calls."""
    import fakeredis

    from flows import contract_staffing, master_retention
    from flows.context import FlowContext
    from kgbridge import logs
    from kgbridge.ledger import Ledger

    logs.configure("WARNING", "json", stream=log_sink())
    mappings, fake, gstaff, ids, masters = _contracts(n, kind)
    ctx = FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()),
                      clock=lambda: datetime.fromisoformat(BUSINESS_MORNING), gstaff=gstaff)
    flow = contract_staffing if kind == "staffing" else master_retention
    for rid in masters + ids:  # the sweep's order (更新日時, $id): a 基本契約 finds nothing to do
        flow.run(ctx, "contracts", rid)
    calls = _calls_per_app(fake)
    calls[mappings["contracts"].id] += (len(masters) + n) // 500 + 1  # the reconcile sweep's pages
    return calls, Counter(gstaff.calls)


def run_contracts(n: int, kind: str, workers: int = 2, per_record: bool = False) -> dict:
    """Sweep and drain a backlog of ``n`` contracts with ``workers`` workers (per_record: a job each)."""
    from rq import Queue
    from rq.registry import StartedJobRegistry
    from rq.serializers import JSONSerializer

    from connectors.kintone.live import LiveKintoneClient
    from kgbridge import logs
    from kgbridge.jobs import processed_key
    from kgbridge.settings import load_settings
    from tests.gstaff_server import GStaffServer
    from tests.kintone_server import KintoneServer

    logs.configure("WARNING", "json", stream=log_sink())
    mappings, fake, gstaff_fake, ids, masters = _contracts(n, kind)
    contracts = mappings["contracts"]
    redis_proc = RedisProcess()
    server = KintoneServer(fake, tokens={contracts.id: CONTRACT_FLOW_TOKENS["contracts"]}).start()
    gstaff = GStaffServer(gstaff_fake, GSTAFF_KEY).start()
    bulk_from = n + len(masters) + 1 if per_record else 20
    unused = {k: v for k, v in UNUSED_CONNECTORS.items() if not k.startswith("gstaff_")}
    env = base_env(redis_url=redis_proc.url, connector_mode="live", kintone_base_url=server.url,
                   kintone_api_tokens=json.dumps(CONTRACT_FLOW_TOKENS), log_level="WARNING", bulk_min_records=bulk_from,
                   gstaff_base_url=gstaff.url, gstaff_api_key=GSTAFF_KEY, clock_start=BUSINESS_MORNING,
                   **unused, **PERIODIC_OFF)
    procs = _start_workers(env, workers)
    connection = redis_proc.client()
    app = fake.apps[contracts.id]
    written = contracts.field("gstaff_contract_id" if kind == "staffing" else "retention_until").code
    flow = "contract_staffing" if kind == "staffing" else "master_retention"
    try:
        wait_for(lambda: connection.scard("rq:workers") >= workers, 180, "the workers to start")
        settings = load_settings(connector_mode="fake", redis_url=redis_proc.url, bulk_min_records=bulk_from)
        queue = Queue(settings.queue_name, connection=connection, serializer=JSONSerializer)
        started = StartedJobRegistry(settings.queue_name, connection=connection, serializer=JSONSerializer)
        live = LiveKintoneClient(server.url, {contracts.id: [CONTRACT_FLOW_TOKENS["contracts"]]})
        start = time.perf_counter()
        page_jobs = _sweep_to_the_end(settings, mappings, live, connection, "contracts")

        marks = [processed_key(flow, "contracts", rid) for rid in ids]

        def done() -> bool:  # every contract's job (its own or its page's) finished and marked it
            if kind == "staffing" and not all(app.records[rid][written]["value"] for rid in ids):
                return False
            if kind == "retention" and not all(app.records[rid][written]["value"] == NEW_UNTIL for rid in masters):
                return False
            return connection.exists(*marks) == n and queue.count == 0 and started.count == 0

        wait_for(done, 1800, f"{n} contracts ({kind}) done")
        seconds = time.perf_counter() - start
        failed = connection.zcard(f"rq:failed:{settings.queue_name}")
        posted = sum(len(app.comments[rid]) for rid in ids)
    finally:
        _stop(procs, server, gstaff, redis_proc)
    calls, kinds = _requests_per_app(server)
    return {"contracts": n, "kind": kind, "workers": workers, "path": "per record" if per_record else "per page",
            "seconds": seconds, "failed": failed, "calls": dict(calls), "requests": dict(kinds),
            "page_jobs": page_jobs, "comments": posted, "gstaff": dict(gstaff_fake.calls)}


# -- shared by the orders and the inquiries runs ------------------------------------------------

def _calls_per_app(fake) -> Counter:
    """The fake kintone's calls, per app."""
    calls: Counter = Counter()
    for (_method, app), count in fake.calls.items():
        calls[app] += count
    return calls


def _start_workers(env: dict, workers: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, str(ROOT / "worker.py")], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]


def _sweep_to_the_end(settings, mappings, kintone, connection, app_key: str) -> int:
    """Reconcile ``app_key`` until a sweep reaches the end; the page jobs it started."""
    from kgbridge.ops import reconcile

    page_jobs = 0
    while True:
        [report] = reconcile.sweep(settings=settings, mappings=mappings, kintone=kintone, connection=connection,
                                   app_key=app_key)
        if report.error:
            raise RuntimeError(f"reconcile failed: {report.error}")
        page_jobs += len(report.page_jobs)
        if not report.more:
            return page_jobs


def _stop(procs: list[subprocess.Popen], *servers) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(30)
    for server in servers:
        server.stop()


def _requests_per_app(server) -> tuple[Counter, Counter]:
    """The loopback kintone's requests: per app (a bulkRequest counts for each app it names) and per kind."""
    calls: Counter = Counter()
    kinds: Counter = Counter()
    for r in server.requests:
        for a in (r.app or "").split(","):
            calls[a] += 1
        kinds[f"{r.method} {r.resource}"] += 1
    return calls, kinds


# -- a backlog of 稟議 applications: the new-client gates per page ------------------------------------
#
# N 06_1 / 06_2 applications whose notifications were lost (kintone dropped them, a day of outage), in
# the states a branch's applications are in, ten at a time: three 06_1 submitted complete and clear (they
# wait for the 上長: nothing to do), two submitted without their 信用調査機関の評価 (sent back with one
# comment), one submitted with a low rating (the 上長 told the director follows: one comment), one the
# 上長 approved with a low rating (to the director: one comment and 取締役承認依頼), one clear 06_1 and
# two 06_2 the 上長 approved (決裁, then the kind's effects: the 06_1's client 承認 and its 06_2 opened,
# the 06_2s' clients 取引可, each applicant told). Each approval is of a client of its own. One
# reconcile sweep of the Workflow app finds them; page jobs of 500 (flows/workflow.run_page: one read,
# the 06_2s' clients in one query, the comments, every action in one bulkRequest), then each 決裁's
# ordinary job runs the kind's effects. Per record (today): one workflow job per application.

WORKFLOW_TOKENS = {"workflow": "benchBacklogWorkflow0001", "clients": "benchBacklogClients0003",
                   "orders": "benchBacklogOrders0003"}
WORKFLOW_MIX = ("waiting", "waiting", "waiting", "incomplete", "incomplete", "director_ahead", "to_director",
                "credit_decided", "trade_decided", "trade_decided")


def _applications(n: int):
    from connectors.kintone.fake import FakeKintone
    from mappings import load_mappings
    from tests.people import CHECKED

    mappings = load_mappings(ROOT / "mappings" / "default")
    fake = FakeKintone.from_mappings(mappings)
    wf, clients = mappings["workflow"].id, mappings["clients"].id
    rep, boss = [{"code": "sato", "name": "佐藤"}], [{"code": "tanaka", "name": "田中"}]
    director = [{"code": "kimura", "name": "木村"}]
    reviewing = fake.seed(clients, {"会社名": "株式会社審査中", "与信状態": "審査中"})
    expected: dict[str, str] = {}  # record id -> the status its application ends in
    for i in range(n):
        shape = WORKFLOW_MIX[i % len(WORKFLOW_MIX)]
        values = {"申請者": rep, "上長": boss, "申請日": "2026-11-27", "顧客": "株式会社審査中",
                  "顧客レコード番号": reviewing, "申請種別": "06_1 反社・与信チェック", "件名": f"06_1 #{i}", **CHECKED}
        status, end = "申請中", "申請中"
        if shape == "incomplete":
            values.pop("信用調査機関の評価")
            end = "作成中"
        elif shape == "director_ahead":
            values.update(信用調査機関の評価="48", 取締役=director)
        elif shape == "to_director":
            values.update(信用調査機関の評価="48", 取締役=director)
            status, end = "上長承認済", "取締役承認待ち"
        elif shape == "credit_decided":
            values["顧客レコード番号"] = fake.seed(clients, {"会社名": f"株式会社はじめて{i}", "与信状態": "審査中"})
            status, end = "上長承認済", "承認"
        elif shape == "trade_decided":
            values = {"申請者": rep, "上長": boss, "申請日": "2026-11-27", "申請種別": "06_2 取引開始・契約書類締結",
                      "件名": f"06_2 #{i}", "定形外契約書": "無",
                      "顧客レコード番号": fake.seed(clients, {"会社名": f"株式会社取引先{i}", "与信状態": "承認"})}
            status, end = "上長承認済", "承認"
        expected[fake.seed(wf, values, status=status)] = end
    return mappings, fake, expected


def application_comments(n: int) -> int:
    """One comment per application but those waiting for the 上長 (a send-back, the director ahead or
    asked, an approval told), on either path."""
    return sum(1 for i in range(n) if WORKFLOW_MIX[i % len(WORKFLOW_MIX)] != "waiting")


def per_record_application_calls(n: int) -> tuple[Counter, Counter, Counter]:
    """(kintone calls per app, comments per app, the kind's effects' other calls per app) of one workflow
    job per application, plus the sweep's pages; in-process fake."""
    import fakeredis

    from flows import workflow
    from flows.context import FlowContext
    from kgbridge import logs
    from kgbridge.ledger import Ledger

    logs.configure("WARNING", "json", stream=log_sink())
    mappings, fake, expected = _applications(n)
    fake.calls.clear()
    ctx = FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()),
                      clock=lambda: datetime.fromisoformat(BUSINESS_MORNING))
    effects: Counter = Counter()
    run_effects = workflow.run_effects

    def counted(*args, **kwargs):  # the kind's 承認 effects: the same calls on either path
        before = Counter(fake.calls)
        try:
            return run_effects(*args, **kwargs)
        finally:
            effects.update({k: v for k, v in (Counter(fake.calls) - before).items() if k[0] != "add_comment"})

    workflow.run_effects = counted
    try:
        for rid in expected:
            workflow.run(ctx, "workflow", rid)
    finally:
        workflow.run_effects = run_effects
    calls = _calls_per_app(fake)
    calls[mappings["workflow"].id] += n // 500 + 1  # the reconcile sweep's pages
    comments: Counter = Counter()
    for (method, app), count in fake.calls.items():
        if method == "add_comment":
            comments[app] += count
    per_app: Counter = Counter()
    for (_method, app), count in effects.items():
        per_app[app] += count
    return calls, comments, per_app


def run_applications(n: int, workers: int = 2, per_record: bool = False) -> dict:
    """Sweep and drain ``n`` applications with ``workers`` workers (per_record: one job each)."""
    from rq.registry import StartedJobRegistry
    from rq.serializers import JSONSerializer

    from connectors.kintone.live import LiveKintoneClient
    from kgbridge import logs
    from kgbridge.settings import load_settings
    from tests.kintone_server import KintoneServer

    logs.configure("WARNING", "json", stream=log_sink())
    mappings, fake, expected = _applications(n)
    ids = {key: mappings[key].id for key in WORKFLOW_TOKENS}
    redis_proc = RedisProcess()
    server = KintoneServer(fake, tokens={ids[key]: token for key, token in WORKFLOW_TOKENS.items()}).start()
    bulk_from = n + 1 if per_record else 20
    env = base_env(redis_url=redis_proc.url, connector_mode="live", kintone_base_url=server.url,
                   kintone_api_tokens=json.dumps(WORKFLOW_TOKENS), log_level="WARNING", bulk_min_records=bulk_from,
                   clock_start=BUSINESS_MORNING, **UNUSED_CONNECTORS, **PERIODIC_OFF)
    procs = _start_workers(env, workers)
    connection = redis_proc.client()
    app = fake.apps[ids["workflow"]]
    status = mappings["workflow"].field("status").code
    comments = application_comments(n)
    try:
        wait_for(lambda: connection.scard("rq:workers") >= workers, 180, "the workers to start")
        settings = load_settings(connector_mode="fake", redis_url=redis_proc.url, bulk_min_records=bulk_from)
        live = LiveKintoneClient(server.url, {ids[key]: [token] for key, token in WORKFLOW_TOKENS.items()})
        started = StartedJobRegistry(settings.queue_name, connection=connection, serializer=JSONSerializer)
        start = time.perf_counter()
        page_jobs = _sweep_to_the_end(settings, mappings, live, connection, "workflow")

        def done() -> bool:
            return (all(app.records[rid][status]["value"] == end for rid, end in expected.items())
                    and sum(len(app.comments[rid]) for rid in expected) >= comments
                    and connection.llen(f"rq:queue:{settings.queue_name}") == 0 and started.count == 0)

        wait_for(done, 1800, f"{n} applications decided and their approvals' effects run")
        seconds = time.perf_counter() - start
        failed = connection.zcard(f"rq:failed:{settings.queue_name}")
        posted = sum(len(app.comments[rid]) for rid in expected)
    finally:
        _stop(procs, server, redis_proc)
    calls, kinds = _requests_per_app(server)
    return {"applications": n, "workers": workers, "path": "per record" if per_record else "per page",
            "seconds": seconds, "failed": failed, "calls": dict(calls), "requests": dict(kinds),
            "page_jobs": page_jobs, "comments": posted}


# -- visits reported and follow-ups planned per page ----------------------------------------------
#
# N visits whose webhooks were lost (a day of visit reports entered while kintone dropped notifications,
# or imported), each a complete report of a client of its own (no order held for it), and N staff
# follow-ups saved as done with their 次回フォロー日 (each its own staff member's: a new follow-up is
# added on the agreed day). One reconcile sweep of the Visits (or Follow-ups) app finds them; page jobs of
# 500: flows/visit_report.run_page (one read, the clients in one query, the 上長's report one comment
# each, the 顧客管理台帳 writes in one bulkRequest, the held orders in one query) and
# flows/next_follow_up.run_page (one read, the timelines in one query per 100, the next follow-ups in 5
# POST records.json, the 完了 marks in one bulkRequest, the 担当者 told one comment each). Per record
# (today): one visit_report job per visit (read, comment, read client, write client, held-order query),
# one next_follow_up job per follow-up (read, timeline, add, mark, comment). Comments are one call each
# on either path (no API bulks them).

VISIT_TOKENS = {"visits": "benchBacklogVisits0002", "clients": "benchBacklogClients0004",
                "orders": "benchBacklogOrders0004", "follow_ups": "benchBacklogFollowUps001"}


def _visits(n: int):
    from connectors.kintone.fake import FakeKintone
    from kgbridge.samples import seed_visit
    from mappings import load_mappings

    mappings = load_mappings(ROOT / "mappings" / "default")
    fake = FakeKintone.from_mappings(mappings)
    clients = [fake.seed(mappings["clients"].id, {"会社名": f"株式会社訪問先{i}", "与信状態": "承認"}) for i in range(n)]
    ids = [seed_visit(fake, mappings, c, 顧客=f"株式会社訪問先{i}") for i, c in enumerate(clients)]
    return mappings, fake, ids


def _follow_ups(n: int):
    from connectors.kintone.fake import FakeKintone
    from mappings import load_mappings
    from tests.records import seed

    mappings = load_mappings(ROOT / "mappings" / "default")
    fake = FakeKintone.from_mappings(mappings)
    ids = [seed(fake, mappings, "follow_ups", schedule_key=f"{100 + i}:month_1", title="1ヶ月フォロー",
                category="スタッフフォロー", contract_record_id=str(100 + i), staff_id=f"S-{i:05d}",
                staff_name="山本 さくら", client="株式会社サンプル物流", due_on="2026-11-30", done_on="2026-11-30",
                next_follow_up="2026-12-14", facts="勤務は順調。残業は月5時間程度。", dispatch_end="2027-03-31",
                owner=[{"code": "sato", "name": "佐藤 一郎"}]) for i in range(n)]
    return mappings, fake, ids


BACKLOGS = {"visits": (_visits, "visit_report"), "follow_ups": (_follow_ups, "next_follow_up")}


def per_record_backlog_calls(app_key: str, n: int) -> Counter:
    """kintone calls per app of one job per record (visit_report or next_follow_up), plus the sweep's
    pages; in-process fake."""
    import fakeredis

    from flows import get_flow
    from flows.context import FlowContext
    from kgbridge import logs
    from kgbridge.ledger import Ledger

    logs.configure("WARNING", "json", stream=log_sink())
    make, flow = BACKLOGS[app_key]
    mappings, fake, ids = make(n)
    fake.calls.clear()
    ctx = FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()),
                      clock=lambda: datetime.fromisoformat(BUSINESS_MORNING))
    for rid in ids:
        get_flow(flow)(ctx, app_key, rid)
    calls = _calls_per_app(fake)
    calls[mappings[app_key].id] += n // 500 + 1  # the reconcile sweep's pages
    return calls


def run_backlog(app_key: str, n: int, workers: int = 2, per_record: bool = False) -> dict:
    """Sweep and drain ``n`` visits or follow-ups with ``workers`` workers (per_record: a job each); done
    when every record has its comment and no job is queued or running. Then one more sweep, as the
    workers' next one: it finds the records the page jobs wrote without a webhook (counted apart)."""
    from rq.registry import StartedJobRegistry
    from rq.serializers import JSONSerializer

    from connectors.kintone.live import LiveKintoneClient
    from kgbridge import logs
    from kgbridge.settings import load_settings
    from tests.kintone_server import KintoneServer

    logs.configure("WARNING", "json", stream=log_sink())
    make, _flow = BACKLOGS[app_key]
    mappings, fake, ids = make(n)
    app_ids = {key: mappings[key].id for key in VISIT_TOKENS}
    redis_proc = RedisProcess()
    server = KintoneServer(fake, tokens={app_ids[key]: token for key, token in VISIT_TOKENS.items()}).start()
    bulk_from = n + 1 if per_record else 20
    env = base_env(redis_url=redis_proc.url, connector_mode="live", kintone_base_url=server.url,
                   kintone_api_tokens=json.dumps(VISIT_TOKENS), log_level="WARNING", bulk_min_records=bulk_from,
                   clock_start=BUSINESS_MORNING, **UNUSED_CONNECTORS, **PERIODIC_OFF)
    procs = _start_workers(env, workers)
    connection = redis_proc.client()
    app = fake.apps[app_ids[app_key]]
    try:
        wait_for(lambda: connection.scard("rq:workers") >= workers, 180, "the workers to start")
        settings = load_settings(connector_mode="fake", redis_url=redis_proc.url, bulk_min_records=bulk_from)
        live = LiveKintoneClient(server.url, {app_ids[key]: [token] for key, token in VISIT_TOKENS.items()})
        started = StartedJobRegistry(settings.queue_name, connection=connection, serializer=JSONSerializer)
        start = time.perf_counter()
        page_jobs = _sweep_to_the_end(settings, mappings, live, connection, app_key)

        def done() -> bool:
            return (all(app.comments[rid] for rid in ids) and connection.llen(f"rq:queue:{settings.queue_name}") == 0
                    and started.count == 0)

        wait_for(done, 1800, f"{n} {app_key} decided")
        seconds = time.perf_counter() - start
        failed = connection.zcard(f"rq:failed:{settings.queue_name}")
        posted = sum(len(app.comments[rid]) for rid in ids)
        before = len(server.requests)
        [after] = reconcile_once(settings, mappings, live, connection, app_key)
        wait_for(lambda: connection.llen(f"rq:queue:{settings.queue_name}") == 0 and started.count == 0, 600,
                 "the next sweep's jobs")
        next_sweep = {"calls": len(server.requests) - before, "enqueued": len(after.enqueued),
                      "page_jobs": len(after.page_jobs)}
    finally:
        _stop(procs, server, redis_proc)
    calls, kinds = _requests_per_app(SimpleNamespace(requests=server.requests[:before]))
    return {"records": n, "app": app_key, "workers": workers, "path": "per record" if per_record else "per page",
            "seconds": seconds, "failed": failed, "calls": dict(calls), "requests": dict(kinds),
            "page_jobs": page_jobs, "comments": posted, "next_sweep": next_sweep}


def reconcile_once(settings, mappings, kintone, connection, app_key: str):
    from kgbridge.ops import reconcile

    return reconcile.sweep(settings=settings, mappings=mappings, kintone=kintone, connection=connection,
                           app_key=app_key)
