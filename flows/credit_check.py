"""06_1 反社・与信チェック: the credit and anti-social-forces check of a new client (seed A-4, A-6).

An order whose client has no credit application (与信状態 未申請) opens one 06_1 application,
prefilled from the Clients record, the order and G-Staff's history (past unpaid wages, labour
trouble, turnover), and the client becomes 審査中. The rep completes and submits it; the
manager approves; an answer of the 取引可否基準 or the 労務リスク that is not clear, or a
信用調査機関の評価 below the threshold, needs the director, and an answer that ends it (反社会的勢力
「該当する」) is 否認 (``mappings.credit`` judges, ``flows.workflow`` routes). Approved: the
client's 与信状態 becomes 承認 with 与信承認日 and 与信有効期限, 反社チェック from the answer, every complete
order held in 未処理 for that client is sent through order registration again (once each), and
the 06_2 application is opened. Rejected: 与信状態 否認, 反社チェック from the answer, and every
rep with a held order is told.

kintone calls: opening 3 (application query and add, client update; order registration
reads the order and client and posts its comment) + 1 comment on the application when
G-Staff could not be asked; approval 6 (client read and update, held-order query, 06_2 query
and add, comment; each released order is its own order-registration job); rejection 3
(client read and update, held-order query) + one comment per held order; a repeat of either
0 (remembered). ``flows.workflow`` adds its own read (and 「決裁」). A re-check sweep: 1 query
per 500 approved clients near their 与信有効期限 (1 when idle), and per re-check opened 2–3
(application query and add; + a G-Staff note) + 1 comment; a re-check already opened 0.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from connectors.gstaff.errors import GStaffError
from flows import applications as apps
from flows import trade_start
from flows.context import FlowContext
from flows.notify import bullet_list, tell
from mappings import AppMapping
from mappings.credit import CreditRules, Screening, recheck_opens_on, screen, valid_until
from mappings.japanese_dates import full_date

KIND = "credit_check"
DECIDES_ON_CLIENT = False  # flows.workflow decides a 06_1 on its own answers (a page reads no client for it)
NOT_IN_GSTAFF = "Gスタッフに登録なし（取引実績なし）"
NO_RECORD = "記録なし（Gスタッフ）"
RECORDED, NOT_RECORDED = "あり", "なし"  # 未払いの記録 (RADIO_BUTTON choices)


# -- opening the application for a held order ---------------------------------------------

def open_application(ctx: FlowContext, client: dict, order: dict) -> str:
    """Open (or find) the client's 06_1 application and mark the client 審査中; return its record id.

    ``client`` and ``order`` are as the mappings read them. A revision conflict on the client
    propagates (the caller re-reads and decides again; the query then finds this application).
    """
    wf, clients = ctx.mappings["workflow"], ctx.mappings["clients"]
    # The key names this attempt: the client as seen now. A retry sees the same revision (the
    # client is updated last), so it finds the record an unclear failure may have left.
    reference = f"06_1:client-{client['record_id']}:r{client['revision']}"
    record_id, _ = _open(ctx, wf, client, reference, source_order_id=order["record_id"],
                         applicant=order.get("sales_rep") or [], supervisor=order.get("supervisor") or [])
    credit = clients.settings("credit")
    apps.update_client(ctx, client, {"credit_status": credit.get("under_review", "審査中")})
    return record_id


def _open(ctx: FlowContext, wf: AppMapping, client: dict, reference: str, *, source_order_id, applicant: list,
          supervisor: list) -> tuple[str, bool]:
    """Find the client's open 06_1 or add one prefilled from G-Staff; a G-Staff gap is told the rep."""
    note: list[str] = []

    def values() -> dict:
        prefill, gstaff_note = labour_risk_from_gstaff(ctx, wf, client)
        if gstaff_note:
            note.append(gstaff_note)
        name = client.get("company_name") or ""
        return {
            "kind": apps.kind_name(wf, KIND),
            "title": apps.form_name(ctx.mappings, KIND, name),
            "client": name,
            "client_record_id": client["record_id"],
            "source_order_id": source_order_id,
            "applicant": applicant,
            "supervisor": supervisor,
            "applied_on": ctx.now().date(),
            **prefill,
        }

    record_id, created = apps.open_once(ctx, wf, KIND, client["record_id"], reference, values)
    if created and note:
        tell(ctx, wf, record_id, note[0], applicant, once_as="gstaff_unavailable")
    return record_id, created


def labour_risk_from_gstaff(ctx: FlowContext, wf: AppMapping, client: dict) -> tuple[dict, str | None]:
    """労務リスク from G-Staff: ({item: value}, a note for the rep when G-Staff could not tell)."""
    missing_note = ("Gスタッフの履歴を取得できなかったため、労務リスク（過去の未払い・労務トラブル・離職率）は"
                    "空欄のままです。Gスタッフで確認して入力してから申請してください。")
    if ctx.gstaff is None:
        return {}, missing_note
    try:
        gstaff_id = client.get("gstaff_client_id") or ""
        if not gstaff_id:
            found = ctx.gstaff.find_clients(corporate_number=client.get("corporate_number") or "",
                                            name=client.get("company_name") or "", phone=client.get("phone") or "")
            if not found:
                return {"past_unpaid_wages": NOT_IN_GSTAFF, "labour_trouble": NOT_IN_GSTAFF,
                        "unpaid_wages_recorded": NOT_RECORDED}, None
            if len(found) > 1:
                return {}, ("Gスタッフに該当しそうな顧客が複数あり特定できなかったため、労務リスク（過去の未払い・"
                            "労務トラブル・離職率）は空欄のままです。Gスタッフで確認して入力してから申請してください。")
            gstaff_id = found[0].client_id
        history = ctx.gstaff.get_history(gstaff_id)
    except GStaffError as exc:
        ctx.log.warning("G-Staff history unavailable; opening the application without it",
                        step="prefill", error=type(exc).__name__)
        return {}, missing_note
    settings = wf.settings(KIND)

    def hits(categories: list[str]) -> list:
        return [t for t in history.troubles if any(c in t.category for c in categories)]

    def lines(entries: list) -> str:
        return "\n".join(f"{full_date(t.occurred_on)} {t.category}：{t.summary}" for t in entries) or NO_RECORD

    unpaid = hits(settings.get("unpaid_categories", ["未払"]))
    troubles = hits(settings.get("labour_trouble_categories", ["労務"]))
    prefill = {"past_unpaid_wages": lines(unpaid), "labour_trouble": lines(troubles),
               "unpaid_wages_recorded": RECORDED if unpaid else NOT_RECORDED}
    if troubles:
        prefill["last_labour_trouble_on"] = max(t.occurred_on for t in troubles)
    if history.turnover_rate is not None:
        prefill["turnover_rate"] = (Decimal(history.turnover_rate) * 100).quantize(Decimal("0.1"))
    return prefill, None


# -- what flows.workflow asks of this kind --------------------------------------------------

def required_items(wf: AppMapping, application: dict) -> list[str]:
    return list(wf.settings(KIND).get("required_items", []))


def screening(ctx: FlowContext, wf: AppMapping, application: dict) -> Screening:
    """The 取引可否 answers, the 労務リスク and the rating judged (``mappings.credit``)."""
    return screen(wf, CreditRules.of(wf, KIND), application, ctx.now().date())


def problems(ctx: FlowContext, wf: AppMapping, application: dict) -> list[str]:
    """The director must approve, and nobody is named as 取締役."""
    found = screening(ctx, wf, application)
    if found.director and not found.reject and not apps.codes_of(application.get("director")):
        return ["".join(found.director) + f"「{wf.field('director').display}」に承認者を入力してください。"]
    return []


def antisocial_result(ctx: FlowContext, application: dict) -> str:
    """The client's 反社チェック, written from the application's 反社会的勢力 answer."""
    settings = ctx.mappings["clients"].settings("antisocial")
    answer = application.get("antisocial") or ""
    return dict(settings.get("from_answer", {})).get(answer, settings.get("unclear", "要確認"))


def approval_dates(ctx: FlowContext, wf: AppMapping) -> dict:
    """与信承認日 today and 与信有効期限 its last valid day ([credit_check.validity])."""
    today = ctx.now().date()
    return {"credit_approved_on": today,
            "credit_valid_until": valid_until(CreditRules.of(wf, KIND).validity, today)}


def on_approved(ctx: FlowContext, wf: AppMapping, application: dict) -> str:
    """与信状態 承認, held orders sent on, the 06_2 application opened, the applicant told."""
    done = f"workflow:{application['record_id']}:credit_approved"
    if ctx.ledger.done(done):
        return "nothing_to_do"
    if application.get("client_record_id") is None:
        return apps.tell_no_client(ctx, wf, application)
    found = screening(ctx, wf, application)
    if found.reject:  # approved by hand against an answer that ends it: the client is not approved
        return refuse_approval(ctx, wf, application, found.reject)
    clients = ctx.mappings["clients"]
    client = apps.read_client(ctx, application["client_record_id"])
    apps.update_client(ctx, client, {
        "credit_status": clients.settings("credit").get("approved", "承認"),
        "antisocial_check": antisocial_result(ctx, application),
        **approval_dates(ctx, wf),
    })
    released = release_held_orders(ctx, application["record_id"], client["record_id"])
    name = client.get("company_name") or application.get("client") or ""
    until = approval_dates(ctx, wf)["credit_valid_until"]
    parts = [f"顧客「{name}」の反社・与信チェックが承認されました。顧客管理台帳の与信状態を「承認」、"
             f"与信有効期限を{full_date(until)}にしました。"]
    if released:
        parts.append(f"保留中だったオーダー {released} 件を上長承認依頼に進めます。")
    if client.get("trade_status") != clients.settings("trade").get("ready", "取引可"):  # not a re-check
        trade_id, _ = trade_start.open_application(ctx, wf, application, client)
        parts.append(f"続けて稟議「{apps.form_name(ctx.mappings, 'trade_start', name)}」（稟議 #{trade_id}）に"
                     "定形外契約書の有無を入力し、取引開始前に申請してください。")
    tell(ctx, wf, application["record_id"], "\n".join(parts), application.get("applicant"), once_as="credit_approved")
    ctx.ledger.mark(done, apps.REMEMBER_SECONDS)
    return "credit_approved"


def on_rejected(ctx: FlowContext, wf: AppMapping, application: dict) -> str:
    """与信状態 否認, and the rep of every order still held for the client is told."""
    done = f"workflow:{application['record_id']}:credit_rejected"
    if ctx.ledger.done(done):
        return "nothing_to_do"
    if application.get("client_record_id") is None:
        return apps.tell_no_client(ctx, wf, application)
    clients, orders = ctx.mappings["clients"], ctx.mappings["orders"]
    client = apps.read_client(ctx, application["client_record_id"])
    apps.update_client(ctx, client, {"credit_status": clients.settings("credit").get("rejected", "否認"),
                                     "antisocial_check": antisocial_result(ctx, application)})
    name = client.get("company_name") or application.get("client") or ""
    for row in held_orders(ctx, client["record_id"], ["title", "sales_rep"]):
        order = orders.read(row)
        title = order.get("title") or f"レコード番号 {order['record_id']}"
        tell(ctx, orders, order["record_id"],
             f"顧客「{name}」の稟議「{apps.form_name(ctx.mappings, KIND, name)}」（稟議 #{application['record_id']}）は"
             "否認されました。"
             f"オーダー「{title}」は受付できないため、未処理のまま保留しています。今後の対応は上長にご相談ください。",
             order.get("sales_rep"), once_as=f"credit_rejected:{application['record_id']}")
    ctx.ledger.mark(done, apps.REMEMBER_SECONDS)
    return "credit_rejected"


def refuse_approval(ctx: FlowContext, wf: AppMapping, application: dict, reasons: list[str]) -> str:
    """An application in 承認 whose answers end it: say so, and leave the client as it is."""
    tell(ctx, wf, application["record_id"],
         f"稟議「{apps.title_of(application)}」は承認済みになっていますが、次の理由で取引できないため、"
         "顧客管理台帳の与信状態は「承認」にしていません。保留中のオーダーも受付できません。\n"
         + bullet_list(reasons) + "\n回答を確認し、上長とシステム担当者に連絡してください。",
         (application.get("applicant") or []) + (application.get("supervisor") or []), once_as="approval_refused")
    return "approval_refused"


# -- validity: the re-check before an approval lapses (scheduled) ------------------------------

def sweep_rechecks(ctx: FlowContext) -> str:
    """Open a re-check 06_1 for every approved client whose 与信有効期限 is near, once each.

    Near: 与信有効期限 within [credit_check.validity] recheck_lead_days from today. Run on a
    business day in business hours only (a lead day on a weekend opens it on the next business
    day). The client stays 承認 until the approval lapses; from the day after 与信有効期限 its
    orders are held as if never approved (``flows.order_registration``).
    """
    wf, clients = ctx.mappings["workflow"], ctx.mappings["clients"]
    now = ctx.now()
    today = now.date()
    if not ctx.calendar.is_business_day(today) or ctx.calendar.next_business_morning(now) > now:
        return "outside_business_hours"
    validity = CreditRules.of(wf, KIND).validity
    horizon = today + timedelta(days=validity.recheck_lead_days)
    approved = clients.settings("credit").get("approved", "承認")
    base = (f"{clients.field('credit_status').code} in ({apps.kintone_string(approved)})"
            f" and {clients.field('credit_valid_until').code} <= {apps.kintone_string(horizon.isoformat())}")
    fields = ["$id", "$revision", *clients.codes("company_name", "credit_status", "credit_valid_until", "sales_rep",
                                                 "gstaff_client_id", "corporate_number", "phone")]
    opened = 0
    last_id = 0
    while True:
        rows = ctx.kintone.get_records(clients.id, f"{base} and $id > {last_id} order by $id asc", fields=fields,
                                       limit=500)
        for row in rows:
            client = clients.read(row)
            until = client.get("credit_valid_until")
            if until is not None and recheck_opens_on(validity, until) <= today:
                opened += open_recheck(ctx, wf, client, until)
        if len(rows) < 500:
            break
        last_id = int(rows[-1]["$id"]["value"])
    ctx.log.info("credit re-checks swept", flow="credit_check", step="sweep_rechecks", opened=opened)
    return "swept"


def open_recheck(ctx: FlowContext, wf: AppMapping, client: dict, until) -> bool:
    """The re-check 06_1 of one approval (valid through ``until``); True when opened now."""
    done = f"credit_recheck:client-{client['record_id']}:until-{until.isoformat()}"
    if ctx.ledger.done(done):
        return False
    rep = client.get("sales_rep") or []
    record_id, created = _open(ctx, wf, client, f"06_1:recheck:client-{client['record_id']}:until-{until.isoformat()}",
                               source_order_id=None, applicant=rep, supervisor=[])
    name = client.get("company_name") or ""
    tell(ctx, wf, record_id,
         f"顧客「{name}」の与信承認の有効期限は{full_date(until)}です。期限までに再審査を受けるため、この稟議に"
         f"「{wf.field('supervisor').display}」、信用調査機関の評価とチェック項目を入力し、「{wf.action('submit').name}」を"
         "実行してください。期限を過ぎると、再審査が承認されるまでこの顧客の新しいオーダーは受付できません。",
         rep, once_as=f"recheck:{until.isoformat()}")
    ctx.ledger.mark(done, apps.REMEMBER_SECONDS)
    return created


# -- held orders ------------------------------------------------------------------------------

def held_orders(ctx: FlowContext, client_record_id: str, names: list[str]) -> list[dict]:
    """The client's orders in 未処理 (one query, only the named fields)."""
    orders = ctx.mappings["orders"]
    query = (f"{orders.field('client_record_id').code} = {int(client_record_id)}"
             f" and {orders.field('status').code} in ({apps.kintone_string(orders.status_name('unprocessed'))})"
             " order by $id asc")
    return ctx.kintone.get_records(orders.id, query, fields=["$id", *orders.codes(*dict.fromkeys(names))], limit=500)


def release_held_orders(ctx: FlowContext, application_id: str, client_record_id: str) -> int:
    """Send every complete held order of the client through order registration, once each (many of
    them: decided per page with bulk actions, ``flows.order_registration.run_page``)."""
    from flows.order_registration import FLOW as ORDER_FLOW  # order_registration imports this module
    from flows.order_registration import hearing_item_names, missing_hearing_items

    orders = ctx.mappings["orders"]
    complete = [order for order in (orders.read(row) for row in held_orders(ctx, client_record_id,
                                                                              hearing_item_names(orders)))
                if not missing_hearing_items(orders, order)]  # held for more than credit: the rep's next save
    keys = {o["record_id"]: f"workflow:{application_id}:released:{o['record_id']}" for o in complete}
    todo = [rid for rid, key in keys.items() if not ctx.ledger.done(key)]
    marker = f"credit-approved-{application_id}"
    apps.start_flows(ctx, ORDER_FLOW, orders.key, [(rid, marker) for rid in todo], key=marker)
    for rid in todo:
        ctx.ledger.mark(keys[rid], apps.REMEMBER_SECONDS)
    return len(complete)
