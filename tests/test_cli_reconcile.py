"""``kgbridge reconcile``: webhooks dropped on the floor are found by a sweep over kintone and
processed once, with the fewest kintone calls the API allows. Most tests look at the Orders app
(``--app orders``); the others sweep every app with record triggers, as the schedule does
(its ticker: tests/test_periodic.py)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rq.registry import FailedJobRegistry

from connectors.gmosign.fake import FakeGmoSign
from connectors.gstaff.fake import FakeGStaff
from connectors.kintone import KintoneAuthError
from connectors.kintone.fake import FakeKintone
from kgbridge.jobs import make_queue, waiting_key
from kgbridge.ops import reconcile
from kgbridge.ops.env import OpsEnv
from kgbridge.samples import COMPLETE_ORDER, notification
from mappings import load_mappings
from tests.conftest import ROOT, dispatch_inbox
from tests.records import VISITS_APP, visited
from webhooks.intake import accept_kintone, parse_kintone

CLIENTS, INQUIRIES, ORDERS, WORKFLOW, CONTRACTS = "1", "2", "3", "4", "5"


@pytest.fixture
def queue(redis_conn, settings):
    return make_queue(redis_conn, settings)


def seed_orders(kintone, count: int, **changes) -> list[str]:
    client = kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "法人番号": "9234567890123", "与信状態": "承認"})
    if not kintone.apps[VISITS_APP].records:
        visited(kintone, client)  # orders need a completed visit (seed A-3)
    values = dict(COMPLETE_ORDER, 顧客レコード番号=client, **changes)
    return [kintone.seed(ORDERS, values) for _ in range(count)]


def deliver(kintone, ops_env, record_id, **kw) -> list[str]:
    body = json.dumps(notification(kintone, ORDERS, record_id, **kw)).encode()
    jobs = accept_kintone(parse_kintone(body), **ops_env.intake()).jobs
    dispatch_inbox(ops_env.connection, ops_env.settings, ops_env.mappings)  # as the worker's dispatcher
    return jobs


def sweep_json(cli, *args, app: str = "orders") -> dict:
    """Sweep one app and return its report."""
    result = cli("reconcile", "--json", "--app", app, *args)
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.stdout)["apps"]
    return report


@pytest.fixture
def every_connector(ctx):
    """The G-Staff and GMO Sign fakes too, so every flow a sweep finds work for can run."""
    ctx.gstaff = FakeGStaff.with_samples()
    ctx.gmosign = FakeGmoSign()
    return ctx


def swept_apps(mappings) -> list:
    """The apps a sweep reads: those whose mapping has record triggers."""
    return [m for m in mappings if reconcile.record_triggers(m)]


def test_reconcile_processes_exactly_the_records_whose_webhooks_were_dropped_once(cli, kintone, ops_env, drain):
    orders = seed_orders(kintone, 10)
    delivered, dropped = orders[:6], orders[6:]
    for record_id in delivered:
        deliver(kintone, ops_env, record_id)
    drain()
    revisions_after_webhooks = {r: kintone.record_values(ORDERS, r)["$revision"] for r in delivered}
    kintone.calls.clear()

    report = sweep_json(cli)

    assert sorted(report["enqueued"]) == sorted(f"order_registration-orders-{r}-r1" for r in dropped)
    assert report["already_processed"] == len(delivered)
    assert kintone.calls == {("get_records", ORDERS): 1}  # one query found all of them
    drain()
    for record_id in dropped:
        record = kintone.record_values(ORDERS, record_id)
        assert record["ステータス"] == "上長承認待ち" and record["$revision"] == "3"  # one action each
    assert {r: kintone.record_values(ORDERS, r)["$revision"] for r in delivered} == revisions_after_webhooks
    assert kintone.calls[("update_status", ORDERS)] == len(dropped)

    kintone.calls.clear()
    again = sweep_json(cli)

    assert again["enqueued"] == []
    assert kintone.calls == {("get_records", ORDERS): 1}  # an idle sweep: one call per app
    assert len(make_queue(ops_env.connection, ops_env.settings)) == 0


def test_an_idle_sweep_costs_exactly_one_call_per_app_with_record_triggers(cli, kintone, mappings, every_connector,
                                                                           drain, queue):
    orders = seed_orders(kintone, 3)  # and their client, which client_lookup looks up in G-Staff
    first = json.loads(cli("reconcile", "--json").stdout)["apps"]
    drain()
    assert sorted(job for r in first for job in r["enqueued"]) == sorted(
        ["client_lookup-clients-1-r1", "visit_report-visits-1-r1", *(f"order_registration-orders-{r}-r1" for r in orders)])
    assert len(FailedJobRegistry(queue=queue)) == 0
    assert kintone.record_values(CLIENTS, "1")["$revision"] == "3"  # the flows wrote: new revisions to ignore
    # Two flows wrote the client (client_lookup, visit_report's 最終訪問日): the revision one wrote last
    # is new to the other flow, which runs once more there and changes nothing.
    cli("reconcile")
    drain()
    assert kintone.record_values(CLIENTS, "1")["$revision"] == "3"
    kintone.calls.clear()

    result = cli("reconcile")

    swept = swept_apps(mappings)
    assert {m.key for m in swept} == {"clients", "inquiries", "orders", "workflow", "contracts", "follow_ups",
                                      "visits"}
    assert result.exit_code == 0
    assert f"0 lost record job(s) enqueued; kintone calls: {len(swept)}." in result.stdout
    assert kintone.calls == {("get_records", m.id): 1 for m in swept}
    assert len(queue) == 0


def test_the_query_asks_only_for_what_routing_needs(cli, kintone, ops_env, monkeypatch):
    seed_orders(kintone, 1)
    queries = {}
    original = kintone.get_records

    def recording(app, query="", fields=None, limit=500):
        queries[app] = (query, fields, limit)
        return original(app, query, fields=fields, limit=limit)

    monkeypatch.setattr(kintone, "get_records", recording)

    cli("reconcile", "--since", "2026-01-01T00:00:00Z")

    since, order = '(更新日時 >= "2026-01-01T00:00:00Z")', " order by 更新日時 asc, $id asc"
    routing = ["$id", "$revision", "更新日時"]
    assert queries == {
        ORDERS: (since + order, routing, 500),  # order_registration runs in any status: no status needed
        CLIENTS: (since + order, routing, 500),
        INQUIRIES: (since + order, routing, 500),
        "7": (since + order, routing, 500),  # follow-ups: next_follow_up runs on any edit
        # Every Contracts trigger names its statuses: only contracts in one of them are read.
        CONTRACTS: (since + ' and ステータス in ("取消", "発報処理中", "発報待ち", "締結済")' + order,
                    [*routing, "ステータス"], 500),
        VISITS_APP: (since + order, routing, 500),  # visit_report runs on any edit
        # One Workflow trigger runs on any status change, the other only in some: all, with the status.
        WORKFLOW: (since + order, [*routing, "ステータス"], 500),
    }


def test_a_backlog_larger_than_a_page_is_read_in_pages_of_500(cli, kintone, ops_env):
    orders = seed_orders(kintone, 1100)  # mostly within the same second: paging must not rely on time alone
    kintone.calls.clear()

    report = sweep_json(cli)

    assert kintone.calls == {("get_records", ORDERS): 3}  # 500 + 500 + 100
    assert report["records_seen"] == 1100
    assert sorted(report["enqueued"]) == sorted(f"order_registration-orders-{r}-r1" for r in orders)


def test_a_sweep_stopped_after_its_page_limit_carries_on_where_it_stopped(cli, kintone, ops_env, monkeypatch):
    monkeypatch.setattr(reconcile, "MAX_PAGES", 2)
    orders = seed_orders(kintone, 1100)  # a bulk import: mostly the same second

    first = sweep_json(cli)
    second = sweep_json(cli)

    assert (first["kintone_calls"], len(first["enqueued"]), first["more"]) == (2, 1000, True)
    assert (second["kintone_calls"], len(second["enqueued"]), second["more"]) == (1, 100, False)
    assert sorted(first["enqueued"] + second["enqueued"]) == sorted(
        f"order_registration-orders-{r}-r1" for r in orders)


def test_a_sweep_that_failed_half_way_carries_on_where_it_stopped(cli, kintone, ops_env, monkeypatch):
    orders = seed_orders(kintone, 700)
    original = kintone.get_records
    pages = []

    def second_page_fails(app, query="", fields=None, limit=500):
        pages.append(query)
        if len(pages) == 2:
            raise KintoneAuthError("GET records.json: bad token", status=401, code="CB_AU01")
        return original(app, query, fields=fields, limit=limit)

    monkeypatch.setattr(kintone, "get_records", second_page_fails)
    failed = cli("reconcile", "--json", "--app", "orders")
    again = sweep_json(cli)

    assert failed.exit_code == 1
    [report] = json.loads(failed.stdout)["apps"]
    assert len(report["enqueued"]) == 500 and report["error"]
    assert len(again["enqueued"]) == 200 and again["kintone_calls"] == 1
    assert pages[2].startswith('(更新日時 > "') and "$id > 500" in pages[2]  # resumed, not restarted
    assert sorted(report["enqueued"] + again["enqueued"]) == sorted(
        f"order_registration-orders-{r}-r1" for r in orders)


def test_a_sweep_while_webhooks_arrive_enqueues_nothing_twice(cli, kintone, ops_env, queue):
    [record_id] = seed_orders(kintone, 1)
    [job_id] = deliver(kintone, ops_env, record_id)  # arrived, not yet run

    report = sweep_json(cli)

    assert report["enqueued"] == [] and report["already_queued"] == 1
    assert queue.job_ids == [job_id]


def test_a_failed_job_is_left_for_the_operator(cli, kintone, ops_env, drain, queue):
    [record_id] = seed_orders(kintone, 1)
    deliver(kintone, ops_env, record_id)
    kintone.fail_next("get_record", KintoneAuthError("no", status=401, code="CB_AU01"))
    drain()

    report = sweep_json(cli)

    assert report["enqueued"] == [] and report["already_queued"] == 1
    assert len(FailedJobRegistry(queue=queue)) == 1


def test_a_record_changed_after_the_sweep_is_found_by_the_next(cli, kintone, ops_env, drain, redis_conn):
    first, second = seed_orders(kintone, 2, 募集背景="")
    cli("reconcile")
    drain()  # both incomplete: the rep was told once each
    assert reconcile.read_cursor(redis_conn, "orders") is not None
    revision = kintone.update_record(ORDERS, second, {"募集背景": {"value": "増員"}})

    report = sweep_json(cli)

    assert report["enqueued"] == [f"order_registration-orders-{second}-r{revision}"]
    drain()
    assert kintone.record_values(ORDERS, second)["ステータス"] == "上長承認待ち"
    assert kintone.record_values(ORDERS, first)["ステータス"] == "未処理"
    assert len(kintone.comment_texts(ORDERS, first)) == 1


def test_the_cursor_starts_the_next_sweep_with_an_overlap(cli, kintone, ops_env, redis_conn):
    seed_orders(kintone, 1)
    cursor_before = reconcile.read_cursor(redis_conn, "orders")

    report = sweep_json(cli)

    cursor = reconcile.read_cursor(redis_conn, "orders")
    assert cursor_before is None and cursor is not None
    again = sweep_json(cli)
    assert again["since"] == (cursor - reconcile.OVERLAP).isoformat().replace("+00:00", "Z")
    assert report["cursor"] == again["cursor"]


def _stamp_all(kintone, app: str, when: datetime) -> None:
    """Backdate every record's 更新日時, as a bulk import at ``when`` would have left it."""
    for record in kintone.apps[app].records.values():
        record["更新日時"]["value"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_import_nobody_touched_since_costs_the_following_sweeps_one_call_each(cli, kintone, ops_env, redis_conn):
    orders = seed_orders(kintone, 1100)
    _stamp_all(kintone, ORDERS, datetime.now(UTC) - timedelta(hours=2))  # one second, two hours ago

    first = sweep_json(cli)
    idle = [sweep_json(cli) for _ in range(3)]

    assert (first["kintone_calls"], first["records_seen"], len(first["enqueued"])) == (3, 1100, 1100)
    assert [(s["kintone_calls"], s["records_seen"]) for s in idle] == [(1, 0)] * 3  # not 3 calls and 1,100 each
    edited = kintone.update_record(ORDERS, orders[0], {"募集背景": {"value": "増員"}})
    found = sweep_json(cli)
    # Found, and already queued: the page job carrying it has not started, and reads it as edited.
    assert (found["enqueued"], found["already_queued"]) == ([], 1)
    assert (found["kintone_calls"], found["records_seen"]) == (1, 1)
    redis_conn.delete(waiting_key("order_registration", "orders", orders[0]))  # as when that page job starts
    found = sweep_json(cli)
    assert found["enqueued"] == [f"order_registration-orders-{orders[0]}-r{edited}"]
    again = sweep_json(cli)  # the edit is fresh: the next sweep reads its overlap again, as before
    assert again["since"] == (datetime.fromisoformat(found["cursor"]) - reconcile.OVERLAP).isoformat().replace(
        "+00:00", "Z")
    assert again["records_seen"] == 1 and again["enqueued"] == []


def test_records_stamped_within_the_settling_time_are_read_again_so_a_late_one_is_not_missed(cli, kintone, ops_env):
    [early] = seed_orders(kintone, 1)
    _stamp_all(kintone, ORDERS, datetime.now(UTC) - timedelta(seconds=60))
    sweep_json(cli)
    late = kintone.seed(ORDERS, dict(COMPLETE_ORDER, 顧客レコード番号=kintone.record_values(ORDERS, early)["顧客レコード番号"]))
    kintone.apps[ORDERS].records[late]["更新日時"]["value"] = (datetime.now(UTC) - timedelta(seconds=90)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")  # committed late, stamped before the record the sweep read last

    report = sweep_json(cli)

    assert report["enqueued"] == [f"order_registration-orders-{late}-r1"]


# -- the other apps: each flow found once, its own writes not found again ----------------------

def test_an_inquiry_is_looked_up_once_and_its_own_write_back_is_not_work_for_the_next_sweep(
        cli, kintone, every_connector, drain):
    rid = kintone.seed(INQUIRIES, {"受付経路": "電話", "会社名": "㈱サンプル物流", "法人番号": "9234567890123",
                                   "担当営業": [{"code": "sato", "name": "佐藤 一郎"}]})

    found = sweep_json(cli, app="inquiries")
    drain()
    # Two flows write the record (client_lookup, inquiry_routing): the revision one wrote last is
    # new to the other, which runs once more there, reads, and changes nothing.
    sweep_json(cli, app="inquiries")
    drain()
    revision = kintone.record_values(INQUIRIES, rid)["$revision"]
    kintone.calls.clear()
    again = sweep_json(cli, app="inquiries")

    assert kintone.record_values(INQUIRIES, rid)["$revision"] == revision
    assert sorted(found["enqueued"]) == [f"client_lookup-inquiries-{rid}-r1", f"inquiry_routing-inquiries-{rid}-r1"]
    assert kintone.record_values(INQUIRIES, rid)["Gスタッフ顧客ID"] == "G-1001"  # linked: our own revisions
    assert kintone.record_values(INQUIRIES, rid)["割当日時"]  # the assignment recorded, by the routing flow
    assert again["enqueued"] == []
    assert kintone.calls == {("get_records", INQUIRIES): 1}


def test_a_person_editing_a_linked_client_costs_one_read_and_changes_nothing(cli, kintone, every_connector, drain):
    rid = kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "法人番号": "9234567890123"})
    sweep_json(cli, app="clients")
    drain()
    comments = kintone.comment_texts(CLIENTS, rid)
    revision = kintone.update_record(CLIENTS, rid, {"住所": {"value": "東京都江東区"}})  # a person's edit
    kintone.calls.clear()

    report = sweep_json(cli, app="clients")
    drain()

    assert report["enqueued"] == [f"client_lookup-clients-{rid}-r{revision}"]  # as its webhook would
    assert kintone.calls == {("get_records", CLIENTS): 1, ("get_record", CLIENTS): 1}
    assert kintone.comment_texts(CLIENTS, rid) == comments
    assert sweep_json(cli, app="clients")["enqueued"] == []


def test_an_application_with_two_triggers_of_one_flow_gets_one_job(cli, kintone, ops_env):
    applied = kintone.seed(WORKFLOW, {"申請種別": "06_1 反社・与信チェック"}, status="申請中")  # both triggers match
    approved = kintone.seed(WORKFLOW, {"申請種別": "06_1 反社・与信チェック"}, status="承認")  # the status one only

    report = sweep_json(cli, app="workflow")

    assert sorted(report["enqueued"]) == sorted(f"workflow-workflow-{r}-r1" for r in (applied, approved))
    assert (report["in_trigger_state"], report["already_queued"]) == (2, 0)


def test_contracts_are_read_only_in_a_trigger_status_and_each_flow_runs_once(cli, kintone, every_connector, drain):
    from tests.contracts.conftest import COMPLETE_CONTRACT, NOW

    every_connector.clock = lambda: NOW
    drafting = kintone.seed(CONTRACTS, COMPLETE_CONTRACT, status="作成中")
    issuing = kintone.seed(CONTRACTS, COMPLETE_CONTRACT, status="発報処理中")
    concluded = kintone.seed(CONTRACTS, COMPLETE_CONTRACT, status="締結済")
    cancelled = kintone.seed(CONTRACTS, COMPLETE_CONTRACT, status="取消")  # never sent: nothing to withdraw

    found = sweep_json(cli, app="contracts")
    drain()

    assert found["records_seen"] == 3 and drafting not in {j.split("-")[2] for j in found["enqueued"]}
    assert sorted(found["enqueued"]) == sorted([f"contract_issuance-contracts-{issuing}-r1",
                                                f"contract_issuance-contracts-{cancelled}-r1",
                                                f"follow_up-contracts-{cancelled}-r1",  # stops its follow-ups
                                                f"follow_up-contracts-{concluded}-r1",
                                                f"master_retention-contracts-{concluded}-r1"])  # 基本契約 kept
    assert kintone.record_values(CONTRACTS, issuing)["ステータス"] == "署名依頼中"
    assert every_connector.gmosign.calls["send_from_template"] == 1
    follow_ups = len(kintone.apps["7"].records)
    assert follow_ups > 0

    kintone.update_record(CONTRACTS, concluded, {"保管期限": {"value": "2034-05-31"}})  # a later write
    again = sweep_json(cli, app="contracts")
    drain()

    assert sorted(again["enqueued"]) == [f"follow_up-contracts-{concluded}-r2",  # the issued one left the query
                                         f"master_retention-contracts-{concluded}-r2"]
    assert len(kintone.apps["7"].records) == follow_ups  # the schedule exists: nothing added
    assert every_connector.gmosign.calls["send_from_template"] == 1
    assert sweep_json(cli, app="contracts")["enqueued"] == []


@pytest.fixture
def custom_mappings(tmp_path):
    """The default mappings with the Orders triggers replaced; returns a function taking TOML."""
    def _with(triggers_toml: str):
        folder = tmp_path / "mappings"
        shutil.copytree(ROOT / "mappings" / "default", folder)
        orders = folder / "orders.toml"
        text = orders.read_text(encoding="utf-8")
        head, rest = text.split("[[triggers]]", 1)
        tail = rest[rest.index("# The オーダーヒアリングシート"):]
        orders.write_text(head + triggers_toml + "\n" + tail, encoding="utf-8")
        return load_mappings(Path(folder))
    return _with


def _env_for(mappings, settings, redis_conn):
    fake = FakeKintone.from_mappings(mappings)
    return fake, OpsEnv(settings_=settings, connection_=redis_conn, mappings_=mappings, kintone_=fake)


def _invoke(env, *args):
    import structlog.testing
    from click.testing import CliRunner

    from cli import main

    with structlog.testing.capture_logs():
        return CliRunner().invoke(main, list(args), obj=env, catch_exceptions=False)


def test_triggers_with_statuses_narrow_the_query_to_those_statuses(custom_mappings, settings, redis_conn):
    mappings = custom_mappings('[[triggers]]\nflow = "order_registration"\nevents = ["UPDATE_STATUS"]\n'
                               'statuses = ["accepted"]\n')
    fake, env = _env_for(mappings, settings, redis_conn)
    waiting = fake.seed(ORDERS, dict(COMPLETE_ORDER), status="上長承認待ち")
    accepted = fake.seed(ORDERS, dict(COMPLETE_ORDER), status="受付済")
    queries = []
    original = fake.get_records
    fake.get_records = lambda app, query="", fields=None, limit=500: queries.append(query) or original(
        app, query, fields=fields, limit=limit)

    result = _invoke(env, "reconcile", "--json", "--app", "orders")

    [report] = json.loads(result.stdout)["apps"]
    assert report["enqueued"] == [f"order_registration-orders-{accepted}-r1"]
    assert waiting not in {e.split("-")[2] for e in report["enqueued"]}
    assert queries[0].endswith(' and ステータス in ("受付済") order by 更新日時 asc, $id asc')


def test_an_add_only_trigger_runs_once_per_new_record(custom_mappings, settings, redis_conn):
    mappings = custom_mappings('[[triggers]]\nflow = "order_registration"\nevents = ["ADD_RECORD"]\n')
    fake, env = _env_for(mappings, settings, redis_conn)
    new = fake.seed(ORDERS, dict(COMPLETE_ORDER))
    announced = fake.seed(ORDERS, dict(COMPLETE_ORDER))
    queue = make_queue(redis_conn, settings)
    body = json.dumps(notification(fake, ORDERS, announced)).encode()
    accept_kintone(parse_kintone(body), **env.intake())  # its ADD_RECORD job is queued (r1) ...
    dispatch_inbox(redis_conn, settings, mappings)
    fake.update_record(ORDERS, announced, {"募集背景": {"value": "edited"}})  # ... and it changed since

    [report] = json.loads(_invoke(env, "reconcile", "--json", "--app", "orders").stdout)["apps"]

    assert report["enqueued"] == [f"order_registration-orders-{new}-r1"]
    assert report["already_queued"] == 1
    assert len(queue) == 2


def test_a_kintone_failure_is_reported_and_exits_1(cli, kintone):
    kintone.fail_next("get_records", KintoneAuthError("GET records.json: bad token", status=401, code="CB_AU01"))

    result = cli("reconcile")

    assert result.exit_code == 1
    assert "ERROR: [401] [CB_AU01] GET records.json: bad token" in result.stdout


def test_one_sweep_of_an_app_at_a_time(cli, kintone, redis_conn):
    seed_orders(kintone, 1)
    redis_conn.set(f"{reconcile.LOCK_PREFIX}:orders", "another-sweep", ex=60)

    result = cli("reconcile", "--app", "orders")

    assert result.exit_code == 1 and "busy" in result.stdout
    assert kintone.calls[("get_records", ORDERS)] == 0
    assert redis_conn.get(f"{reconcile.LOCK_PREFIX}:orders") == b"another-sweep"


@pytest.mark.parametrize("args", [["reconcile", "--app", "invoices"], ["reconcile", "--since", "soon"]])
def test_bad_usage_exits_2(cli, args):
    assert cli(*args).exit_code == 2


def test_an_idle_sweep_is_one_http_request_per_app_to_the_live_api(settings, mappings, redis_conn):
    import responses
    from responses import matchers

    from connectors.kintone.live import LiveKintoneClient

    swept = swept_apps(mappings)
    tokens = {m.id: f"{m.key.capitalize()}Token0123456789" for m in swept}
    client = LiveKintoneClient("https://example.cybozu.com", {app: [token] for app, token in tokens.items()})
    for m in swept:
        redis_conn.set(reconcile.cursor_key(m.key), "2026-11-24T00:02:00Z")
    url = "https://example.cybozu.com/k/v1/records.json"
    with responses.RequestsMock() as api:
        api.get(url, json={"records": [], "totalCount": None},
                match=[matchers.query_param_matcher({
                    "app": ORDERS,
                    "query": '(更新日時 >= "2026-11-24T00:00:00Z") order by 更新日時 asc, $id asc limit 500',
                    "fields[0]": "$id", "fields[1]": "$revision", "fields[2]": "更新日時"}),
                    matchers.header_matcher({"X-Cybozu-API-Token": tokens[ORDERS]})])
        for m in swept:
            if m.id != ORDERS:
                api.get(url, json={"records": [], "totalCount": None},
                        match=[matchers.query_param_matcher({"app": m.id}, strict_match=False),
                               matchers.header_matcher({"X-Cybozu-API-Token": tokens[m.id]})])

        reports = reconcile.sweep(settings=settings, mappings=mappings, kintone=client, connection=redis_conn)

        assert sorted(call.request.params["app"] for call in api.calls) == sorted(tokens)  # one request each
    assert [(r.app, r.ok, r.calls, r.enqueued) for r in reports] == [(m.key, True, 1, []) for m in swept]
