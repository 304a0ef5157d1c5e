"""Order registration → supervisor approval (seed A-7, DESIGN.md flow 2).

A new or edited order in 未処理 is checked against the オーダーヒアリングシート (the required
hearing items named in the mapping) and the client's 与信 (credit approval). Anything missing:
one comment that mentions the sales rep and lists exactly what is missing; the status stays.
Complete: the action 上長承認依頼 with the supervisor as assignee. When the order reaches
受付済, the order is shared to G-Staff (under the reference ``kintone:orders:<id>``, so a re-run
shares it once), the acceptance date and G-Staff's order number are recorded, and the rep is told.
Before anything else, the dispatch-law intake check (``flows.order_legality``): an order for
prohibited work or 日雇派遣 is flagged to the rep and the 上長 and goes no further (no 06_1, no
上長承認依頼). A hearing item marked 「訪問時確認」 does not hold the order before the client's visit;
once the visit is complete it is required like any other item, and the rep is told which.
A client that never applied for credit (与信状態 未申請) gets its 06_1 application opened here
(``flows.credit_check``), and the comment names it; when that application is approved, the held
order comes back here by itself.

Before any of that, the client must have been visited (seed A-3, ``flows.visit_gate``): without a
completed visit the comment says so and no 06_1 is opened; each decision reads the client's visits
(one more call than the counts below).

kintone calls: complete order 3 (order, client, action); incomplete 2–3 (order, client when
linked, one comment); a client without a credit application, or whose approval lapsed
(past its 与信有効期限: held as if never approved), adds 3 (application query and
add, client update; +1 comment on the application when G-Staff could not be asked); repeated
notification for an unchanged order 2 (no comment); acceptance 4 (order, client, update,
comment) plus one G-Staff call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from connectors.gstaff import SharedOrder
from connectors.kintone import KintoneNotFound
from connectors.kintone.interface import StatusAction
from flows import applications as apps
from flows import bulk, credit_check, order_legality, order_sync, staff_proposal, visit_gate
from flows.context import FlowContext
from flows.decide import on_fresh_record
from flows.notify import bullet_list, tell
from mappings import AppMapping
from mappings.credit import has_lapsed
from mappings.dispatch_law import staff_ids
from mappings.fields import is_blank
from mappings.japanese_dates import full_date

FLOW = "order_registration"
ITEMS_BUSINESS_DAYS = 2  # seed A-5: 個別契約に必要な項目をメールにて派遣先に確認する…2日以内に収集する


def run(ctx: FlowContext, app_key: str, record_id: str, **_params) -> str:
    orders = ctx.mappings[app_key]

    def decide(order: dict, status: str | None) -> str:
        if status == "unprocessed":
            return register_order(ctx, orders, order)
        if status == "accepted":
            outcome = record_acceptance(ctx, orders, order)
            if outcome != "nothing_to_do":
                return outcome
            # staff proposed later (提案スタッフID): 法第40条の9 (flows/staff_proposal.py)
            checked = staff_proposal.check_proposal(ctx, orders, order)
            # an edit of the accepted order reaches G-Staff once per change (A-7, flows/order_sync.py)
            shared = order_sync.share_changes(ctx, orders, order)
            return shared if shared != "nothing_to_do" else checked
        if status == "closed":
            return order_sync.close(ctx, orders, order)
        return "nothing_to_do"

    return on_fresh_record(ctx, orders, record_id, FLOW, decide)


# -- the decision: one order and its client as read, no kintone call ----------------------------
#
# The per-record job above and the page job below (``run_page``) both decide with ``decide``; what
# each outcome needs is in the Decision: a process action (bulk-able: PUT records/status.json), one
# comment to the rep (kintone has no bulk comment: one call each), or the ordinary job alone
# (``per_record``: opening a 06_1 application, sharing an accepted order to G-Staff).

NOT_FOUND = object()  # the order names a client the Clients app does not have


@dataclass(frozen=True)
class Decision:
    outcome: str  # the outcome word when carried out
    action: str | None = None  # process action to run on the order
    assignee: str | None = None
    complaint: str | None = None  # comment text for the rep, said once ...
    same_as: str | None = None  # ... per set of gaps (not per wording)
    per_record: bool = False  # only the ordinary job can carry it out
    tell_supervisor: bool = False  # the comment mentions the 上長 too (a dispatch-law flag)
    detail: str = ""  # what was decided, in a few words for the run history (ctx.report)


def decide(mappings, orders: AppMapping, order: dict, status: str | None, client,
           application_id: str | None = None, *, today: date,
           visit: visit_gate.VisitProblem | None = None) -> Decision:
    """What the order needs now. ``client``: the client as read, None when the order names none,
    ``NOT_FOUND``; ``application_id``: the 06_1 just opened for a client that had none (or whose
    approval lapsed); ``today``: the day a credit approval's validity is judged on; ``visit``: why the
    client's visits do not allow the order yet (``flows.visit_gate``), None when they do."""
    shared = not is_blank(order.get("gstaff_order_id"))
    if status == "accepted":
        if not is_blank(order.get("accepted_on")):
            # By the ordinary job: a shared order's edit goes to G-Staff (flows/order_sync.py), and proposed
            # staff are checked against 法第40条の9 with G-Staff (flows/staff_proposal.py).
            proposed = bool(staff_ids(order.get("proposed_staff_ids")))
            return Decision("nothing_to_do", per_record=shared or proposed)
        return Decision("acceptance_recorded", per_record=True)  # G-Staff and a comment, per record
    if status == "closed" and shared:
        return Decision("nothing_to_do", per_record=True)  # 終了 closes it in G-Staff, by the ordinary job
    if status != "unprocessed":
        return Decision("nothing_to_do")
    flags = order_legality.intake_flags(orders, order)  # 禁止業務, 日雇派遣: before any visit or credit work
    if flags:
        return Decision("flagged_dispatch_law", complaint=order_legality.flag_text(orders, order, flags),
                        same_as="dispatch_law|" + "|".join(flags.keys), tell_supervisor=True,
                        detail="flagged (dispatch law): " + ", ".join(flags.keys))
    missing, left_for_visit = empty_hearing_labels(orders, order)
    # 「訪問時確認」 items wait for the visit only: once the client's visit is complete they are due.
    unconfirmed = [] if waiting_for_visit(visit) else left_for_visit
    # Seed A-3 「必ず訪問すること」: nothing goes on, not even the client's 06_1, before a completed visit.
    credit = None if visit else credit_problem(mappings, orders, order, client, application_id, today=today)
    if credit is not None and credit.kind == "needs_application":
        return Decision("credit_application_opened", per_record=True)
    if missing or unconfirmed or credit or visit:
        # The same gaps are the same complaint, however the sentence reads: a client whose 06_1 we
        # just opened is 審査中 on the next run, and the rep has been told that already.
        return Decision("told_rep_missing_items",
                        complaint=complaint_text(orders, order, missing, credit.text if credit else None,
                                                 visit_problem=visit.text if visit else None,
                                                 unconfirmed=unconfirmed),
                        same_as="|".join([credit.kind if credit else "", *missing])
                        + (f"|visit:{visit.kind}" if visit else "")
                        + "".join(f"|after_visit:{label}" for label in unconfirmed),
                        detail="held: " + "; ".join(([f"missing {'、'.join(missing)}"] if missing else [])
                                                    + ([f"unconfirmed after the visit {'、'.join(unconfirmed)}"]
                                                       if unconfirmed else [])
                                                    + ([f"credit {credit.kind}"] if credit else [])
                                                    + ([f"visit {visit.kind}"] if visit else [])))
    approval = orders.action("request_supervisor_approval")
    supervisor = order[approval.assignee][0].code if approval.assignee and order.get(approval.assignee) else None
    return Decision("sent_for_supervisor_approval", action=approval.name, assignee=supervisor,
                    detail=f"approval requested ({approval.name})")


def register_order(ctx: FlowContext, orders: AppMapping, order: dict) -> str:
    """Send a complete order for the supervisor's approval, or tell the rep what is missing."""
    client = read_client(ctx, order)
    visit = visit_gate.problem(ctx, order.get("client_record_id"), _client_name(order, client))
    decision = decide(ctx.mappings, orders, order, "unprocessed", client, today=ctx.now().date(), visit=visit)
    if decision.per_record:  # the client never applied for credit: its 06_1 is opened now
        application_id = credit_check.open_application(ctx, client, order)
        decision = decide(ctx.mappings, orders, order, "unprocessed", client, application_id, today=ctx.now().date(),
                          visit=visit)
    if decision.action:
        ctx.kintone.update_status(orders.id, order["record_id"], decision.action, assignee=decision.assignee,
                                  revision=order["revision"])
        ctx.report(decision.detail)
        return decision.outcome
    return tell_rep(ctx, orders, order, decision)


def tell_rep(ctx: FlowContext, orders: AppMapping, order: dict, decision: Decision) -> str:
    people = [*(order.get("sales_rep") or []), *(order.get("supervisor") or [] if decision.tell_supervisor else [])]
    told = tell(ctx, orders, order["record_id"], decision.complaint, people, once_as="incomplete",
                same_as=decision.same_as)
    ctx.report(decision.detail)
    return decision.outcome if told else "already_told"


def run_page(ctx: FlowContext, app_key: str, record_ids: list[str]) -> bulk.PageResult:
    """Orders found in bulk (a reconcile page, the held orders a credit approval released), per page.

    One read of the orders (≤ 500 per call) and one of their clients, ``decide`` for each order as
    its own job would, then every 上長承認依頼 of the page in bulk (``flows.bulk``: 2,000 per call,
    each with the revision it was decided on). A complaint is one comment per order (kintone has
    no bulk comment), said once as the ordinary job says it. Outcomes only the ordinary job can
    carry out (a 06_1 to open, an acceptance to share with G-Staff, proposed staff to check against
    法第40条の9 in G-Staff), and records a bulk call refused, go to that order's ordinary job.
    """
    orders = ctx.mappings[app_key]
    result = bulk.PageResult()
    rows = bulk.read_records(ctx, orders, record_ids)
    page = [orders.read(row) for row in rows.values()]
    clients = read_clients(ctx, page)
    visits = visit_gate.problems(ctx, {str(int(o["client_record_id"])): _client_name(o, clients.get(
        str(int(o["client_record_id"])))) for o in page if o.get("client_record_id") is not None})
    actions = []
    for order in page:
        client = None if order.get("client_record_id") is None else clients.get(str(int(order["client_record_id"])),
                                                                                 NOT_FOUND)
        visit = None if order.get("client_record_id") is None else visits.get(str(int(order["client_record_id"])))
        decision = decide(ctx.mappings, orders, order, orders.status_key(order.get("status")), client,
                          today=ctx.now().date(), visit=visit)
        if decision.per_record:
            result.fallback.append(order["record_id"])
        elif decision.action:
            actions.append(StatusAction(order["record_id"], decision.action, decision.assignee, order["revision"]))
        else:
            outcome = tell_rep(ctx, orders, order, decision) if decision.complaint else decision.outcome
            result.handled(order["record_id"], outcome, order["revision"], decision.detail)
    approval = orders.action("request_supervisor_approval").name
    sent = dict.fromkeys((a.id for a in actions), "sent_for_supervisor_approval")
    return bulk.finish_page(ctx, FLOW, orders, record_ids, rows, result, sent=sent,
                            landed=bulk.run_actions(ctx, orders, actions),
                            detail=f"approval requested ({approval}), in bulk")


def _client_name(order: dict, client) -> str:
    if isinstance(client, dict) and client.get("company_name"):
        return client["company_name"]
    return order.get("client") or ""


def read_clients(ctx: FlowContext, page: list[dict]) -> dict[str, dict]:
    """The clients a page of orders names, as the mapping reads them (one query per 500 clients)."""
    clients = ctx.mappings["clients"]
    wanted = sorted({str(int(o["client_record_id"])) for o in page if o.get("client_record_id") is not None}, key=int)
    return {rid: clients.read(row) for rid, row in bulk.read_records(ctx, clients, wanted).items()}


def hearing_item_names(orders: AppMapping) -> list[str]:
    """Every item ``missing_hearing_items`` looks at (for a query's ``fields``)."""
    settings = orders.settings(FLOW)
    names = list(settings.get("required_items", []))
    for rule in settings.get("conditional_items", []):
        names += [rule["item"], rule["when"]]
    names += [n for n in order_legality.FIELDS if n in orders.fields]  # what the intake check reads
    return list(dict.fromkeys(names))


def empty_hearing_items(orders: AppMapping, order: dict) -> list[str]:
    """Required hearing items (domain names) that are still empty, in form order."""
    settings = orders.settings(FLOW)
    empty = [name for name in settings.get("required_items", []) if is_blank(order.get(name))]
    for rule in settings.get("conditional_items", []):
        if order.get(rule["when"]) == rule["equals"] and is_blank(order.get(rule["item"])):
            empty.append(rule["item"])
    return empty


def empty_hearing_labels(orders: AppMapping, order: dict) -> tuple[list[str], list[str]]:
    """The Japanese labels of the empty required hearing items: (missing now, marked 「訪問時確認」 —
    due once the client's visit is complete; seed A-1)."""
    later = order_legality.confirmed_at_visit(orders, order)
    missing, left_for_visit = [], []
    for name in empty_hearing_items(orders, order):
        (left_for_visit if name in later else missing).append(orders.field(name).display)
    return missing, left_for_visit


def missing_hearing_items(orders: AppMapping, order: dict) -> list[str]:
    """The Japanese labels of required hearing items that are still empty and not left for the visit."""
    return empty_hearing_labels(orders, order)[0]


def waiting_for_visit(visit: visit_gate.VisitProblem | None) -> bool:
    """The client has no completed visit yet (a visit with a 問題あり answer is complete)."""
    return visit is not None and visit.kind in ("no_visit", "incomplete")


@dataclass(frozen=True)
class CreditProblem:
    kind: str  # pending (applied or being applied for), rejected, unknown_client, not_applied, other,
    #            needs_application (a 06_1 must be opened first: never applied, or the approval lapsed)
    text: str  # what the rep should know, in Japanese


def read_client(ctx: FlowContext, order: dict):
    """The order's client as the mapping reads it; None when the order names none; ``NOT_FOUND``."""
    if order.get("client_record_id") is None:
        return None
    clients = ctx.mappings["clients"]
    try:
        return clients.read(ctx.kintone.get_record(clients.id, str(int(order["client_record_id"]))))
    except KintoneNotFound:
        return NOT_FOUND


def credit_problem(mappings, orders: AppMapping, order: dict, client, application_id: str | None = None, *,
                   today: date) -> CreditProblem | None:
    """None when the client's 与信状態 is 承認 and its 与信有効期限 not past ``today``; otherwise what
    the rep should know.

    A client that has not applied yet needs its 06_1 application opened (kind ``needs_application``,
    until ``application_id`` names the one opened).
    """
    if client is None:
        return None  # 顧客 itself is reported as a missing item
    if client is NOT_FOUND:
        return CreditProblem("unknown_client", f"「{orders.field('client').display}」に指定された顧客が"
                             "顧客管理台帳に見つかりません。顧客を選び直してください。")
    credit = mappings["clients"].settings("credit")
    state = client.get("credit_status") or credit.get("not_applied", "未申請")
    name = client.get("company_name") or "（会社名未入力）"
    approved, until = state == credit.get("approved", "承認"), client.get("credit_valid_until")
    if approved and not has_lapsed(until, today):
        return None
    form = apps.form_name(mappings, "credit_check", client.get("company_name"))
    if approved:
        # A lapsed approval holds the order as if never approved (workflow.toml [credit_check.validity]).
        expired = f"顧客「{name}」の与信承認は{full_date(until)}で有効期限が切れています。"
        if "workflow" not in mappings:
            return CreditProblem("not_applied", expired + f"稟議「{form}」で再審査を申請してください。")
        if application_id is None:
            return CreditProblem("needs_application", "")  # the re-check 06_1 (found or opened)
        return CreditProblem("pending", expired + f"再審査の稟議「{form}」（稟議 #{application_id}）が承認されるまで、"
                             "このオーダーは受付できません。稟議に信用調査機関の評価とチェック項目を入力し、「申請」を"
                             "実行してください。承認されると、このオーダーは自動で上長承認依頼に進みます。")
    if state == credit.get("rejected", "否認"):
        return CreditProblem("rejected", f"顧客「{name}」の与信は否認されています。このオーダーは受付できませんので、"
                "上長にご相談ください。")
    if state == credit.get("under_review", "審査中"):
        return CreditProblem("pending", f"顧客「{name}」の与信は審査中です。与信が承認され次第、このオーダーは"
                "自動で上長承認依頼に進みます。")
    if state == credit.get("not_applied", "未申請") and "workflow" in mappings:
        if application_id is None:
            return CreditProblem("needs_application", "")
        return CreditProblem("pending", f"顧客「{name}」の与信チェックのため、稟議「{form}」（稟議 #{application_id}）を"
                "作成しました。稟議に信用調査機関の評価とチェック項目を入力し、「申請」を実行してください。"
                "承認されると、このオーダーは自動で上長承認依頼に進みます。")
    if state == credit.get("not_applied", "未申請"):  # no 稟議 app mapped: the rep applies by hand
        return CreditProblem("not_applied", f"顧客「{name}」の与信が承認されていません（与信状態：{state}）。"
                f"稟議「{form}」を申請してください。")
    return CreditProblem("other", f"顧客「{name}」の与信が承認されていません（与信状態：{state}）。"
                         "顧客管理台帳の与信状態を確認し、上長にご相談ください。")


def complaint_text(orders: AppMapping, order: dict, missing: list[str], credit_problem: str | None,
                   *, visit_problem: str | None = None, unconfirmed: list[str] | None = None) -> str:
    title = order.get("title") or f"レコード番号 {order['record_id']}"
    parts = [f"オーダー「{title}」は、次の点が揃っていないため上長承認依頼に進めていません。"]
    if visit_problem:
        parts.append("【訪問】\n" + bullet_list([visit_problem]))
    if missing:
        parts.append("【未入力のオーダーヒアリング項目】\n" + bullet_list(missing))
    if unconfirmed:
        mark = orders.field("confirm_at_visit").display
        parts.append(f"【「{mark}」にした項目】\n顧客への訪問が完了したため、「{mark}」にしていた次の項目も"
                     "受付の前に入力が必要です。訪問で確認した内容を入力してください。\n" + bullet_list(unconfirmed))
    if credit_problem:
        parts.append("【与信】\n" + bullet_list([credit_problem]))
    if missing or unconfirmed:
        parts.append("上記の項目を入力してレコードを保存してください。保存すると自動で再チェックし、"
                     "揃っていれば上長承認依頼に進めます。")
    return "\n\n".join(parts)


def record_acceptance(ctx: FlowContext, orders: AppMapping, order: dict) -> str:
    """On 受付済: share the order to G-Staff, write the acceptance date once, tell the rep."""
    if not is_blank(order.get("accepted_on")):
        return "nothing_to_do"
    today = ctx.now().date()
    title = order.get("title") or f"レコード番号 {order['record_id']}"
    gstaff_order_id, note = share_to_gstaff(ctx, orders, order, title)
    values = {"accepted_on": today}
    if gstaff_order_id:
        values["gstaff_order_id"] = gstaff_order_id
    ctx.kintone.update_record(orders.id, order["record_id"], orders.write(values), revision=order["revision"])
    tell(ctx, orders, order["record_id"],
         f"オーダー「{title}」が上長に承認され、受付済になりました（受付日：{full_date(today)}）。{note}\n"
         + next_steps_text(ctx, today), order.get("sales_rep"), once_as="accepted")
    return "acceptance_recorded"


def share_to_gstaff(ctx: FlowContext, orders: AppMapping, order: dict, title: str) -> tuple[str | None, str]:
    """Share the accepted order to G-Staff; return (its order number, a sentence for the rep)."""
    if ctx.gstaff is None or order.get("client_record_id") is None:
        return None, ""
    clients = ctx.mappings["clients"]
    client = clients.read(ctx.kintone.get_record(clients.id, str(int(order["client_record_id"]))))
    client_id = (client.get("gstaff_client_id") or "").strip()
    if not client_id:
        return None, (f"なお、顧客管理台帳の「{clients.field('gstaff_client_id').display}」が未入力のため、"
                      "Gスタッフへのオーダー共有はできていません。顧客をGスタッフと紐付けたうえで共有してください。")
    shared = SharedOrder(
        reference=f"kintone:{orders.key}:{order['record_id']}", client_id=client_id, title=title,
        job_description=order.get("job_description") or "", start_on=order.get("start_period"),
        billing_rate=order.get("billing_rate"))
    order_id = ctx.gstaff.share_order(shared)
    return order_id, f"Gスタッフにオーダーを共有しました（Gスタッフオーダー番号：{order_id}）。"


def next_steps_text(ctx: FlowContext, today) -> str:
    """What the rep does after acceptance (seed A-7 オーダー受付, A-5 契約締結チェック)."""
    items_due = ctx.calendar.add_business_days(today, ITEMS_BUSINESS_DAYS)
    return ("【次の手順】\n"
            "1. 基本契約書ひな形を依頼企業へ送付してください（基本契約が未締結の場合）。\n"
            "2. 個別契約に必要な項目（就業場所、業務内容、賃金、休憩、派遣期間、指揮命令者、苦情窓口等）を"
            f"派遣先にメールで確認し、{full_date(items_due)}までに揃えてください。\n"
            "3. 人選を進め、スタッフさんが決まったら契約管理アプリで個別契約を作成し「マーケ発報依頼」を実行してください。")
