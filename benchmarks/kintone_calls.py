"""kintone API calls per flow, counted with FakeKintone.calls, beside the fewest the API allows.

Each scenario seeds the fake, runs the flow once and counts the calls. "Fewest" is our reading of
the kintone REST API for what the flow must learn and change (the reason column says why); a flow
that makes more calls than that is a finding. Adding a flow is adding its scenarios to SCENARIOS.

What the API allows, and the project rules the counts keep (DESIGN.md):
- one GET record.json returns every field of a record; one GET records.json answers a query (up
  to 500 records, only the fields asked for);
- one PUT record.json writes any number of fields of one record, but cannot run a process action
  or post a comment: PUT record/status.json and POST record/comment.json are calls of their own;
  a file field needs its file uploaded first (POST file.json) for a fileKey;
- a webhook is a hint, not the record: every run reads the record it decides on (the body may be
  stale, and a job may run again later); an update carries the revision it was decided on, so a
  record is read before it is written;
- kintone has no unique key: creating a record that may already exist (a 稟議 a person opened,
  an application whose add answer was lost) looks first with one query.
The GMO Sign and G-Staff fakes stand in for those systems; only kintone calls are counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from benchmarks.common import ROOT, log_sink


@dataclass(frozen=True)
class Scenario:
    flow: str
    name: str
    prepare: Callable  # (fake, mappings, ctx) -> (app_key, record_id) or (app_key, record_id, params)
    fewest: int
    why: str
    outcome: str  # what the flow must answer, so a scenario cannot drift into measuring something else


def _complete(fake, mappings, ctx):
    from kgbridge.samples import seed_embedded

    return "orders", seed_embedded(fake, mappings)["order_complete"]


def _incomplete(fake, mappings, ctx):
    from kgbridge.samples import COMPLETE_ORDER, seed_embedded

    client = seed_embedded(fake, mappings)["client_approved"]  # credit approved: only items are missing
    values = {k: v for k, v in COMPLETE_ORDER.items() if k not in ("募集背景", "請求単価")}
    return "orders", fake.seed(mappings["orders"].id, dict(values, 顧客レコード番号=client))


def _incomplete_again(fake, mappings, ctx):
    from flows import order_registration

    app, rid = _incomplete(fake, mappings, ctx)
    order_registration.run(ctx, app, rid)
    return app, rid


def _accepted(fake, mappings, ctx):
    from flows import order_registration

    app, rid = _complete(fake, mappings, ctx)
    order_registration.run(ctx, app, rid)
    fake.update_status(mappings[app].id, rid, "承認")
    return app, rid


def _awaiting(fake, mappings, ctx):
    from flows import order_registration

    app, rid = _complete(fake, mappings, ctx)
    order_registration.run(ctx, app, rid)
    return app, rid


def _never_checked(fake, mappings, ctx):
    from kgbridge.samples import COMPLETE_ORDER, seed_embedded

    ids = seed_embedded(fake, mappings)  # client_new: 与信状態 未申請
    return "orders", fake.seed(mappings["orders"].id, dict(COMPLETE_ORDER, 顧客レコード番号=ids["client_new"],
                                                             顧客="有限会社はじめて製作所"))




def _never_checked_again(fake, mappings, ctx):
    from flows import order_registration

    app, rid = _never_checked(fake, mappings, ctx)
    order_registration.run(ctx, app, rid)
    return app, rid

# -- client_lookup ---------------------------------------------------------------------------------


def _inquiry(fake, mappings, **values) -> str:
    record = {"受付経路": "HP", "受付日時": "2026-11-24T00:30:00Z", "担当者名": "山田 花子",
              "問い合わせ内容": "倉庫の軽作業スタッフを3名お願いしたい", "担当営業": [{"code": "sato", "name": "佐藤 一郎"}]}
    return fake.seed(mappings["inquiries"].id, {**record, **values})


def _inquiry_known(fake, mappings, ctx):
    from kgbridge.samples import seed_embedded

    return "inquiries", seed_embedded(fake, mappings)["inquiry_known"]


def _inquiry_unknown(fake, mappings, ctx):
    return "inquiries", _inquiry(fake, mappings, 会社名="(有)はじめて製作所", 電話番号="０６－１２３４－５６７８")


def _inquiry_ambiguous(fake, mappings, ctx):
    return "inquiries", _inquiry(fake, mappings, 会社名="みどり運輸")


def _inquiry_invalid(fake, mappings, ctx):
    return "inquiries", _inquiry(fake, mappings, 会社名="x", 法人番号="1")


def _inquiry_linked(fake, mappings, ctx):
    from flows import client_lookup

    app, rid = _inquiry_known(fake, mappings, ctx)
    client_lookup.run(ctx, app, rid)  # what follows is the notification of our own write-back
    return app, rid


# -- inquiry_routing (seed A-2) ----------------------------------------------------------------------


def _inquiry_unassigned(fake, mappings, ctx):
    return "inquiries", _inquiry(fake, mappings, 会社名="株式会社あおば物流", 業態="物流", 担当営業=[])


def _inquiry_unassigned_written_back(fake, mappings, ctx):
    from flows import inquiry_routing

    app, rid = _inquiry_unassigned(fake, mappings, ctx)
    inquiry_routing.run(ctx, app, rid)  # what follows is the notification of our own write-back
    return app, rid


def _inquiry_assigned_by_manager(fake, mappings, ctx):
    from flows import inquiry_routing

    app, rid = _inquiry_unassigned(fake, mappings, ctx)
    inquiry_routing.run(ctx, app, rid)
    fake.update_record(mappings[app].id, rid, {"担当営業": {"value": [{"code": "sato", "name": "佐藤 一郎"}]}})
    fake.apps[mappings[app].id].records[rid]["更新者"] = {"type": "MODIFIER",
                                                         "value": {"code": "tanaka", "name": "田中"}}
    return app, rid


def _inquiry_assignment_written_back(fake, mappings, ctx):
    from flows import inquiry_routing

    app, rid = _inquiry_assigned_by_manager(fake, mappings, ctx)
    inquiry_routing.run(ctx, app, rid)  # what follows is the notification of our own write-back
    return app, rid


# -- contract_staffing (seed A-5) -----------------------------------------------------------------------


def _staff_decided(fake, mappings, ctx):
    from kgbridge.samples import COMPLETE_CONTRACT

    contracts = mappings["contracts"]
    rid = fake.seed(contracts.id, dict(COMPLETE_CONTRACT), status="作成中")
    fake.update_status(contracts.id, rid, "マーケ発報依頼")
    return "contracts", rid


def _staff_decided_again(fake, mappings, ctx):
    from flows import contract_staffing

    app, rid = _staff_decided(fake, mappings, ctx)
    contract_staffing.run(ctx, app, rid)
    return app, rid


def _shared_accepted(fake, mappings, ctx):
    app, rid = _accepted(fake, mappings, ctx)
    client = fake.record_values(mappings[app].id, rid)["顧客レコード番号"]
    fake.update_record(mappings["clients"].id, client, {"Gスタッフ顧客ID": {"value": "G-1001"}})
    return app, rid


def _accepted_edited(fake, mappings, ctx):
    from flows import order_registration

    app, rid = _shared_accepted(fake, mappings, ctx)
    order_registration.run(ctx, app, rid)  # acceptance recorded and shared
    order_registration.run(ctx, app, rid)  # its write-back notified: the shared content remembered
    fake.update_record(mappings[app].id, rid, {"請求単価": {"value": "2100"}})
    return app, rid


def _closed(fake, mappings, ctx):
    from flows import order_registration

    app, rid = _shared_accepted(fake, mappings, ctx)
    order_registration.run(ctx, app, rid)
    fake.update_status(mappings[app].id, rid, "終了")
    return app, rid


# -- visit_report (seed A-3) ---------------------------------------------------------------------------


def _visit_saved(fake, mappings, ctx):
    from kgbridge.samples import seed_embedded, seed_visit

    client = seed_embedded(fake, mappings)["client_approved"]
    return "visits", seed_visit(fake, mappings, client, 訪問日時="2026-11-24T00:00:00Z")


def _visit_saved_again(fake, mappings, ctx):
    from flows import visit_report

    app, rid = _visit_saved(fake, mappings, ctx)
    visit_report.run(ctx, app, rid)
    return app, rid


# -- workflow (稟議 06_1 / 06_2) ----------------------------------------------------------------------


def _credit_application(fake, mappings, ctx, *, submit: bool = True, fill: dict | None = None,
                        approve: bool = False) -> tuple[str, str]:
    """A client's 06_1, opened by its first order, then filled in, submitted and approved as asked."""
    from flows import order_registration
    from tests.people import CHECKED, held_order, new_client

    wf = mappings["workflow"].id
    order_registration.run(ctx, "orders", held_order(fake, new_client(fake)))
    application = max(fake.apps[wf].records, key=int)
    if fill is not None:
        fake.update_record(wf, application, {code: {"value": v} for code, v in {**CHECKED, **fill}.items()})
    if submit:
        fake.update_status(wf, application, "申請", assignee="tanaka")
    if approve:
        fake.update_status(wf, application, "上長承認")
    return "workflow", application


def _credit_submitted(fake, mappings, ctx):
    return _credit_application(fake, mappings, ctx, fill={})


def _credit_submitted_incomplete(fake, mappings, ctx):
    return _credit_application(fake, mappings, ctx)


def _credit_low_rating(fake, mappings, ctx):
    return _credit_application(fake, mappings, ctx, fill={"信用調査機関の評価": "40", "取締役": [{"code": "yamamoto"}]},
                               approve=True)


def _credit_manager_approved(fake, mappings, ctx):
    return _credit_application(fake, mappings, ctx, fill={}, approve=True)


def _credit_rejected(fake, mappings, ctx):
    app, application = _credit_application(fake, mappings, ctx, fill={})
    fake.update_status(mappings["workflow"].id, application, "否認")
    return app, application


def _credit_approved_again(fake, mappings, ctx):
    from flows import workflow

    app, application = _credit_manager_approved(fake, mappings, ctx)
    workflow.run(ctx, app, application)
    return app, application


def _trade_manager_approved(fake, mappings, ctx):
    from flows import workflow

    app, _credit = _credit_approved_again(fake, mappings, ctx)
    wf = mappings["workflow"].id
    trade = max(fake.apps[wf].records, key=int)  # the 06_2 the approval opened
    fake.update_record(wf, trade, {"定形外契約書": {"value": "無"}})
    fake.update_status(wf, trade, "申請", assignee="tanaka")
    workflow.run(ctx, app, trade)
    fake.update_status(wf, trade, "上長承認")
    return app, trade


# -- contracts: issuance, signature status, follow-up ------------------------------------------------


def _contract(fake, mappings, ctx, **changes) -> tuple[str, str]:
    from kgbridge.samples import COMPLETE_CONTRACT, seed_embedded

    ids = seed_embedded(fake, mappings)
    values = {**COMPLETE_CONTRACT, "顧客レコード番号": ids["client_approved"], **changes}
    values = {k: v for k, v in values.items() if v is not None}
    return "contracts", fake.seed(mappings["contracts"].id, values, status="発報処理中")


def _contract_complete(fake, mappings, ctx):
    return _contract(fake, mappings, ctx)


def _contract_incomplete(fake, mappings, ctx):
    return _contract(fake, mappings, ctx, 就業場所=None, 待遇情報受領日=None)


def _contract_basic(fake, mappings, ctx):
    app, rid = _contract(fake, mappings, ctx, 契約種別="基本契約")
    client = fake.record_values(mappings["contracts"].id, rid)["顧客レコード番号"]
    fake.update_record(mappings["clients"].id, client, {"取引状態": {"value": "取引可"}})
    return app, rid


def _contract_sent(fake, mappings, ctx):
    from flows import contract_issuance

    app, rid = _contract(fake, mappings, ctx)
    contract_issuance.run(ctx, app, rid)
    return app, rid


def _contract_cancelled(fake, mappings, ctx):
    app, rid = _contract_sent(fake, mappings, ctx)
    fake.update_status(mappings["contracts"].id, rid, "取消")
    return app, rid


def _envelope(fake, mappings, ctx) -> tuple[str, str]:
    app, rid = _contract_sent(fake, mappings, ctx)
    return app, fake.record_values(mappings["contracts"].id, rid)["GMOサイン文書ID"]


def _completed(fake, mappings, ctx):
    app, envelope_id = _envelope(fake, mappings, ctx)
    ctx.gmosign.complete(envelope_id)
    return app, "", {"envelope_id": envelope_id}


def _completed_again(fake, mappings, ctx):
    from flows import signature_status

    app, rid, params = _completed(fake, mappings, ctx)
    signature_status.run(ctx, app, rid, **params)
    return app, rid, params


def _declined(fake, mappings, ctx):
    from connectors.gmosign import EnvelopeState

    app, envelope_id = _envelope(fake, mappings, ctx)
    ctx.gmosign.move(envelope_id, EnvelopeState.SENT)
    ctx.gmosign.move(envelope_id, EnvelopeState.DECLINED)
    return app, "", {"envelope_id": envelope_id, "event": "Declined"}


def _concluded(fake, mappings, ctx):
    from tests.records import seed

    return "contracts", seed(fake, mappings, "contracts", status="締結済", contract_kind="個別契約",
                             client="株式会社サンプル物流", sales_rep=[{"code": "sato", "name": "佐藤 一郎"}],
                             staff_name="山田 花子", commander="物流課 高橋課長", dispatch_start="2026-12-01",
                             dispatch_end="2027-03-31")


def _concluded_two_workers(fake, mappings, ctx):
    """A contract for two workers, each of whom has an earlier follow-up (another contract) to continue."""
    from tests.records import seed

    app, rid = _concluded(fake, mappings, ctx)
    fake.update_record(mappings["contracts"].id, rid, {"派遣スタッフID": {"value": "S-1001、S-1002"},
                                                       "派遣スタッフ": {"value": "山田 花子、鈴木 一郎"}})
    for staff_id in ("S-1001", "S-1002"):
        seed(fake, mappings, "follow_ups", schedule_key=f"3:{staff_id}:month_2", title="2ヶ月フォロー",
             category="スタッフフォロー", contract_record_id="3", staff_id=staff_id, due_on="2026-11-02",
             done_on="2026-11-02", facts="更新を希望している")
    return app, rid


def _concluded_again(fake, mappings, ctx):
    from flows import follow_up

    app, rid = _concluded(fake, mappings, ctx)
    follow_up.run(ctx, app, rid)
    return app, rid


def _concluded_basic(fake, mappings, ctx):
    app, rid = _concluded(fake, mappings, ctx)
    fake.update_record(mappings["contracts"].id, rid, {"契約種別": {"value": "基本契約"}})
    return app, rid


def _master_and_individual(fake, mappings, ctx) -> tuple[str, str]:
    """A concluded 基本契約 archived in G-Staff, and an individual contract kept a year longer."""
    from connectors.gstaff import ArchivedContract
    from tests.records import seed

    rep = [{"code": "sato", "name": "佐藤 一郎"}]
    master = seed(fake, mappings, "contracts", status="締結済", contract_kind="基本契約", client_record_id="1",
                  client="株式会社サンプル物流", sales_rep=rep, concluded_on="2026-11-24",
                  retention_until="2034-05-31")
    archive_id = ctx.gstaff.archive_contract(ArchivedContract(f"kintone:contracts:{master}", "G-1001", "基本契約書.pdf",
                                                              b"%PDF", datetime(2034, 5, 31).date(), "基本契約"))
    fake.update_record(mappings["contracts"].id, master, {"Gスタッフ保管ID": {"value": archive_id}})
    individual = seed(fake, mappings, "contracts", status="締結済", contract_kind="個別契約", client_record_id="1",
                      client="株式会社サンプル物流", sales_rep=rep, concluded_on="2027-04-01",
                      retention_until="2035-05-31")
    return master, individual


def _individual_outlasting_master(fake, mappings, ctx):
    return "contracts", _master_and_individual(fake, mappings, ctx)[1]


def _individual_outlasting_master_again(fake, mappings, ctx):
    from flows import master_retention

    _master, individual = _master_and_individual(fake, mappings, ctx)
    master_retention.run(ctx, "contracts", individual)
    return "contracts", individual


def _master_trade_ended(fake, mappings, ctx):
    master, _individual = _master_and_individual(fake, mappings, ctx)
    fake.update_record(mappings["contracts"].id, master, {"取引終了日": {"value": "2030-03-31"}})
    return "contracts", master


def _master_trade_continued(fake, mappings, ctx):
    """A dormant 基本契約 (concluded 2019, no 個別契約 since) whose rep confirmed trading goes on."""
    from connectors.gstaff import ArchivedContract
    from tests.records import seed

    master = seed(fake, mappings, "contracts", status="締結済", contract_kind="基本契約", client_record_id="1",
                  client="株式会社サンプル物流", sales_rep=[{"code": "sato", "name": "佐藤 一郎"}],
                  concluded_on="2019-06-03", retention_until="2027-05-31", trade_continued_on="2026-12-01")
    archive_id = ctx.gstaff.archive_contract(ArchivedContract(f"kintone:contracts:{master}", "G-1001", "基本契約書.pdf",
                                                              b"%PDF", datetime(2027, 5, 31).date(), "基本契約"))
    fake.update_record(mappings["contracts"].id, master, {"Gスタッフ保管ID": {"value": archive_id}})
    return "contracts", master


def _follow_up_done(fake, mappings, ctx):
    from tests.records import seed

    return "follow_ups", seed(fake, mappings, "follow_ups", schedule_key="12:month_1", title="1ヶ月フォロー",
                              category="スタッフフォロー",
                              contract_record_id="12", due_on="2026-11-24", done_on="2026-11-24",
                              next_follow_up="2026-12-08", owner=[{"code": "sato", "name": "佐藤 一郎"}])


def _follow_up_done_near_milestone(fake, mappings, ctx):
    from tests.records import seed

    app, rid = _follow_up_done(fake, mappings, ctx)
    seed(fake, mappings, "follow_ups", schedule_key="12:month_2", title="2ヶ月フォロー", category="スタッフフォロー",
         contract_record_id="12", due_on="2026-12-10")
    return app, rid


def _follow_up_done_unsettled(fake, mappings, ctx):
    app, rid = _follow_up_done(fake, mappings, ctx)
    row = {"value": {"相談内容": {"value": "シフトの相談"}, "対応方針": {"value": "派遣先に確認"},
                     "対応期限": {"value": ""}, "報告方法": {"value": "電話"}, "対応済": {"value": []}}}
    fake.update_record(mappings[app].id, rid, {"相談・課題": {"value": [row]}})
    return app, rid


def _follow_up_done_again(fake, mappings, ctx):
    from flows import next_follow_up

    app, rid = _follow_up_done(fake, mappings, ctx)
    next_follow_up.run(ctx, app, rid)
    return app, rid


SCENARIOS = [
    Scenario("order_registration", "complete order, client approved", _complete, 4,
             "read order, one query for the client's visits (completed one? seed A-3), read client's 与信状態, "
             "run 上長承認依頼",
             outcome="sent_for_supervisor_approval"),
    Scenario("order_registration", "incomplete order", _incomplete, 4,
             "read order, the client's visits, read client, post one comment",
             outcome="told_rep_missing_items"),
    Scenario("order_registration", "same incomplete order notified again", _incomplete_again, 3,
             "read order, visits and client to know nothing changed; no write",
             outcome="already_told"),
    Scenario("order_registration", "order approved (受付済)", _accepted, 4,
             "read order; read client's Gスタッフ顧客ID for G-Staff (the order's lookup copy may predate "
             "client_lookup's write-back); write 受付日 and G-Staff's order number; one comment",
             outcome="acceptance_recorded"),
    Scenario("order_registration", "order waiting for the supervisor", _awaiting, 1,
             "read order; nothing to do",
             outcome="nothing_to_do"),
    Scenario("order_registration", "complete order, client never credit-checked", _never_checked, 7,
             "read order, the client's visits and client; 06_1 look-before-create query and add; client 与信状態 → 審査中; "
             "one comment to the rep",
             outcome="told_rep_missing_items"),
    Scenario("order_registration", "that held order notified again", _never_checked_again, 3,
             "read order, visits and client; the 06_1 named in the comment is still open: nothing new to say",
             outcome="already_told"),
    # client_lookup: a new 問い合わせ (or 顧客管理台帳) record, G-Staff asked first
    Scenario("client_lookup", "new inquiry, client known to G-Staff", _inquiry_known, 3,
             "read record; one write of Gスタッフ顧客ID and history; one comment with the risk summary (G-1001 has past trouble)",
             outcome="linked_existing_client"),
    Scenario("client_lookup", "new inquiry, client new to G-Staff (registered)", _inquiry_unknown, 2,
             "read record; one write of the new Gスタッフ顧客ID (no comment: a new client has no risk to tell, "
             "tell_linked \"risky\")",
             outcome="registered_new_client"),
    Scenario("client_lookup", "new inquiry, several G-Staff candidates", _inquiry_ambiguous, 2,
             "read record; one comment listing the candidates for a person to choose",
             outcome="told_candidates"),
    Scenario("client_lookup", "new inquiry, invalid 法人番号", _inquiry_invalid, 2,
             "read record; one comment saying what to fix",
             outcome="told_invalid_corporate_number"),
    Scenario("client_lookup", "our own write-back notified again", _inquiry_linked, 1,
             "read record to see it is linked already; no write",
             outcome="nothing_to_do"),
    # inquiry_routing: a new 問い合わせ nobody is assigned to, then the manager's assignment
    Scenario("inquiry_routing", "new inquiry, nobody assigned: the manager told with ranked reps",
             _inquiry_unassigned, 5,
             "read record; one query counting the department's reps' clients in 顧客管理台帳; one query for "
             "the client's 過去トラブル and 顧客評価 there; one comment; one write of 担当部署 and 部署責任者",
             outcome="told_manager"),
    Scenario("inquiry_routing", "its write-back notified while nobody is assigned yet", _inquiry_unassigned_written_back,
             1, "read record: the manager was told, 担当部署 and 部署責任者 are written; no workload read again",
             outcome="already_told"),
    Scenario("inquiry_routing", "the manager saved a 担当営業", _inquiry_assigned_by_manager, 3,
             "read record (更新者 is who assigned); one comment to the rep; one write of 割当者 and 割当日時",
             outcome="assignment_recorded"),
    Scenario("inquiry_routing", "our own write-back notified again", _inquiry_assignment_written_back, 1,
             "read record to see the assignment is recorded; no write",
             outcome="nothing_to_do"),
    Scenario("order_registration", "accepted order edited (A-7)", _accepted_edited, 2,
             "read order; the change goes to G-Staff; one comment without mentions",
             outcome="shared_changes"),
    Scenario("order_registration", "order closed (終了)", _closed, 2,
             "read order; closed in G-Staff; one comment without mentions",
             outcome="closed_in_gstaff"),
    # contract_staffing: the rep ran マーケ発報依頼 on an individual contract
    Scenario("contract_staffing", "staff decided: G-Staff shared, marketing asked", _staff_decided, 3,
             "read contract; one write of Gスタッフ個別契約ID; one comment to marketing",
             outcome="issue_requested"),
    Scenario("contract_staffing", "same request notified again", _staff_decided_again, 1,
             "read contract; G-Staff answers the same id, nothing to write or say",
             outcome="already_requested"),
    # visit_report: a visit saved with its 訪問記録
    Scenario("visit_report", "complete visit report saved", _visit_saved, 5,
             "read visit; one comment to the 上長; read + write the client's 最終訪問日 and 訪問記録要約; one query "
             "for the client's held orders (each released order is its own job)",
             outcome="reported"),
    Scenario("visit_report", "same report saved again", _visit_saved_again, 2,
             "read visit; read the client to see the summary is written (the release is remembered: no query)",
             outcome="already_reported"),
    # workflow: 稟議 status changes (06_1 credit_check, 06_2 trade_start)
    Scenario("workflow", "06_1 submitted, complete", _credit_submitted, 1,
             "read application; the manager acts next, nothing to write",
             outcome="waiting_for_manager"),
    Scenario("workflow", "06_1 submitted, items missing", _credit_submitted_incomplete, 3,
             "read application; one comment listing the items; 差戻し",
             outcome="sent_back"),
    Scenario("workflow", "06_1 manager-approved, rating below threshold", _credit_low_rating, 3,
             "read application; one comment saying why; 取締役承認依頼",
             outcome="sent_to_director"),
    Scenario("workflow", "06_1 manager-approved → 決裁 and credit approval", _credit_manager_approved, 8,
             "read application; 決裁; read + update client 与信状態; one query for all held orders; 06_2 "
             "look-before-create query and add; one comment (each held order is its own job)",
             outcome="credit_approved"),
    Scenario("workflow", "06_1 rejected (否認) by a person", _credit_rejected, 5,
             "read application; read + update client 与信状態; one held-order query; one comment per held "
             "order (1 here)",
             outcome="credit_rejected"),
    Scenario("workflow", "06_1 approved, notified again", _credit_approved_again, 1,
             "read application; its effects are remembered, nothing to write",
             outcome="nothing_to_do"),
    Scenario("workflow", "06_2 manager-approved → 決裁 and trade start", _trade_manager_approved, 5,
             "read application; read client (与信状態 still 承認?); 決裁; update client 取引状態 with the "
             "revision just read (決裁 changes only the application); one comment",
             outcome="trade_approved"),
    # contract_issuance: marketing ran 発報 (the record is in 発報処理中), or 取消
    Scenario("contract_issuance", "complete 個別契約 sent through GMO Sign", _contract_complete, 4,
             "read contract; one write of GMOサイン文書ID, 発報日時, 署名期限; 署名依頼; one comment to the rep",
             outcome="sent_for_signature"),
    Scenario("contract_issuance", "incomplete contract, not sent", _contract_incomplete, 3,
             "read contract; one comment listing what is missing; 不備差戻し",
             outcome="sent_back_not_sent"),
    Scenario("contract_issuance", "基本契約 sent (client's 取引状態 checked)", _contract_basic, 5,
             "as a 個別契約, plus one read of the client's 取引状態 (06_2 approved?)",
             outcome="sent_for_signature"),
    Scenario("contract_issuance", "sent contract notified again", _contract_sent, 1,
             "read contract; it is 署名依頼中, nothing to do",
             outcome="nothing_to_do"),
    Scenario("contract_issuance", "取消 in kintone, envelope withdrawn", _contract_cancelled, 2,
             "read contract; one write of GMOサイン状態 取り下げ (the withdrawal is a GMO Sign call; where "
             "the API cannot withdraw, one comment asks marketing instead: also 2)",
             outcome="envelope_withdrawn"),
    # signature_status: a GMO Sign callback names only the envelope
    Scenario("signature_status", "completion callback", _completed, 4,
             "one query finds the contract by GMOサイン文書ID; upload the signed PDF for a fileKey; one write "
             "of PDF, 締結日, 保管期限, G-Staff id; 締結",
             outcome="concluded"),
    Scenario("signature_status", "completion callback repeated", _completed_again, 1,
             "one query finds the contract already 締結済; nothing to write",
             outcome="already_concluded"),
    Scenario("signature_status", "signer declined (where GMO Sign can be asked)", _declined, 3,
             "one query finds the contract; one write of GMOサイン状態; 差戻し (the live client believes only "
             "completions: 1 call, the find)",
             outcome="moved_to_sent_back"),
    # follow_up: a 個別契約 reached 締結済
    Scenario("follow_up", "concluded 個別契約: first three months scheduled", _concluded, 4,
             "read contract; one query for existing follow-ups; one bulk add of all of them; one comment",
             outcome="schedule_created"),
    Scenario("follow_up", "concluded 個別契約 for two staff ids, each continuing a timeline", _concluded_two_workers, 6,
             "read contract; one query for existing follow-ups; one query for both workers' earlier follow-ups; "
             "one bulk add of both series; one bulk update pointing both earlier ones forward; one comment",
             outcome="schedule_created"),
    Scenario("follow_up", "same contract notified again", _concluded_again, 2,
             "read contract; one query shows every follow-up exists; no write",
             outcome="already_scheduled"),
    Scenario("follow_up", "concluded 基本契約 (no staff to follow)", _concluded_basic, 1,
             "read contract; nothing to do",
             outcome="not_individual_contract"),
    # master_retention: a contract reached 締結済, or a 基本契約's 取引終了日 was entered
    Scenario("master_retention", "concluded 個別契約 kept longer than its 基本契約", _individual_outlasting_master, 3,
             "read contract; one query for the client's 基本契約 in force; one write of its 保管期限 (after "
             "G-Staff's archive is extended)",
             outcome="master_extended"),
    Scenario("master_retention", "same contract notified again", _individual_outlasting_master_again, 1,
             "read contract; the ledger knows its 保管期限 is covered: no query",
             outcome="already_covered"),
    Scenario("master_retention", "取引終了日 entered on the 基本契約", _master_trade_ended, 4,
             "read contract; one query for the individual contracts under it; one write of 保管期限; one comment",
             outcome="retention_fixed"),
    Scenario("master_retention", "取引継続確認日 entered on a dormant 基本契約", _master_trade_continued, 3,
             "read contract; one write of 保管期限 (after G-Staff's archive is extended); one comment",
             outcome="retention_extended"),
    # next_follow_up: a follow-up saved as done with its 次回フォロー日
    Scenario("next_follow_up", "follow-up done with a next date", _follow_up_done, 5,
             "read follow-up; one query for the staff's open and linked follow-ups; add the next one (linked, "
             "facts and open 相談・課題 carried in); mark this one 完了 with its 引継ぎ先; one comment",
             outcome="next_follow_up_created"),
    Scenario("next_follow_up", "same follow-up saved again", _follow_up_done_again, 1,
             "read follow-up; the ledger knows this record and 次回フォロー日 were handled: no query, no write",
             outcome="already_done"),
    Scenario("next_follow_up", "next date near a planned milestone", _follow_up_done_near_milestone, 5,
             "read follow-up; one timeline query; move the milestone (予定日, link, carried rows) in one update; "
             "mark this one; one comment", outcome="milestone_moved"),
    Scenario("next_follow_up", "相談・課題 row without 対応期限", _follow_up_done_unsettled, 2,
             "read follow-up; one comment naming what is missing; nothing else",
             outcome="incomplete"),
]


def _as_its_own_job(*_job) -> bool:
    """A flow starting another flow (a released order): in a worker that is a job of its own, counted
    under its own flow, not here."""
    return True


def run(quiet: bool = True) -> list[dict]:
    """Every scenario once; ``quiet=False`` leaves logging as the caller configured it (tests)."""

    import fakeredis

    from kgbridge import logs

    if quiet:
        logs.configure("INFO", "json", stream=log_sink())

    from connectors.gmosign.fake import FakeGmoSign
    from connectors.gstaff.fake import FakeGStaff
    from connectors.kintone.fake import FakeKintone
    from flows import get_flow
    from flows.context import FlowContext
    from kgbridge.ledger import Ledger
    from mappings import load_mappings

    rows = []
    for scenario in SCENARIOS:
        mappings = load_mappings(ROOT / "mappings" / "default")
        fake = FakeKintone.from_mappings(mappings)
        ctx = FlowContext(kintone=fake, mappings=mappings, ledger=Ledger(fakeredis.FakeRedis()),
                          clock=lambda: datetime.fromisoformat("2026-11-24T10:00:00+09:00"),
                          gstaff=FakeGStaff.with_samples(), gmosign=FakeGmoSign(),
                          enqueue=_as_its_own_job)
        app, rid, *rest = scenario.prepare(fake, mappings, ctx)
        params = rest[0] if rest else {}
        fake.calls.clear()
        outcome = get_flow(scenario.flow)(ctx, app, rid, **params)
        calls = sum(fake.calls.values())
        detail = ", ".join(f"{m}(app {a}) ×{n}" for (m, a), n in sorted(fake.calls.items(), key=str))
        rows.append({"flow": scenario.flow, "scenario": scenario.name, "outcome": outcome, "calls": calls,
                     "fewest": scenario.fewest, "why": scenario.why, "detail": detail,
                     "expected_outcome": scenario.outcome})
    return rows
