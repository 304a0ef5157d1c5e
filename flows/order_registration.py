"""Order registration → supervisor approval (seed A-7, DESIGN.md flow 2).

A new or edited order in 未処理 is checked against the オーダーヒアリングシート (the required
hearing items named in the mapping) and the client's 与信 (credit approval). Anything missing:
one comment that mentions the sales rep and lists exactly what is missing; the status stays.
Complete: the action 上長承認依頼 with the supervisor as assignee. When the order reaches
受付済, the order is shared to G-Staff (under the reference ``kintone:orders:<id>``, so a re-run
shares it once), the acceptance date and G-Staff's order number are recorded, and the rep is told.
A client that never applied for credit (与信状態 未申請) gets its 06_1 application opened here
(``flows.credit_check``), and the comment names it; when that application is approved, the held
order comes back here by itself.

kintone calls: complete order 3 (order, client, action); incomplete 2–3 (order, client when
linked, one comment); a client without a credit application adds 3 (application query and
add, client update; +1 comment on the application when G-Staff could not be asked); repeated
notification for an unchanged order 2 (no comment); acceptance 4 (order, client, update,
comment) plus one G-Staff call.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.gstaff import SharedOrder
from connectors.kintone import KintoneNotFound
from flows import credit_check
from flows.context import FlowContext
from flows.decide import on_fresh_record
from flows.notify import bullet_list, tell
from mappings import AppMapping
from mappings.fields import is_blank

FLOW = "order_registration"


def run(ctx: FlowContext, app_key: str, record_id: str, **_params) -> str:
    orders = ctx.mappings[app_key]

    def decide(order: dict, status: str | None) -> str:
        if status == "unprocessed":
            return register_order(ctx, orders, order)
        if status == "accepted":
            return record_acceptance(ctx, orders, order)
        return "nothing_to_do"

    return on_fresh_record(ctx, orders, record_id, FLOW, decide)


def register_order(ctx: FlowContext, orders: AppMapping, order: dict) -> str:
    """Send a complete order for the supervisor's approval, or tell the rep what is missing."""
    missing = missing_hearing_items(orders, order)
    credit = check_client_credit(ctx, orders, order)
    if missing or credit:
        text = complaint_text(orders, order, missing, credit.text if credit else None)
        # The same gaps are the same complaint, however the sentence reads: a client whose 06_1 we
        # just opened is 審査中 on the next run, and the rep has been told that already.
        same = "|".join([credit.kind if credit else "", *missing])
        told = tell(ctx, orders, order["record_id"], text, order["sales_rep"], once_as="incomplete", same_as=same)
        return "told_rep_missing_items" if told else "already_told"

    approval = orders.action("request_supervisor_approval")
    supervisor = order[approval.assignee][0].code if approval.assignee else None
    ctx.kintone.update_status(orders.id, order["record_id"], approval.name, assignee=supervisor,
                              revision=order["revision"])
    return "sent_for_supervisor_approval"


def hearing_item_names(orders: AppMapping) -> list[str]:
    """Every item ``missing_hearing_items`` looks at (for a query's ``fields``)."""
    settings = orders.settings(FLOW)
    names = list(settings.get("required_items", []))
    for rule in settings.get("conditional_items", []):
        names += [rule["item"], rule["when"]]
    return list(dict.fromkeys(names))


def missing_hearing_items(orders: AppMapping, order: dict) -> list[str]:
    """The Japanese labels of required hearing items that are still empty, in form order."""
    settings = orders.settings(FLOW)
    missing = [name for name in settings.get("required_items", []) if is_blank(order.get(name))]
    for rule in settings.get("conditional_items", []):
        if order.get(rule["when"]) == rule["equals"] and is_blank(order.get(rule["item"])):
            missing.append(rule["item"])
    return [orders.field(name).display for name in missing]


@dataclass(frozen=True)
class CreditProblem:
    kind: str  # pending (applied or being applied for), rejected, unknown_client, not_applied, other
    text: str  # what the rep should know, in Japanese


def check_client_credit(ctx: FlowContext, orders: AppMapping, order: dict) -> CreditProblem | None:
    """None when the client's 与信状態 is 承認; otherwise what the rep should know.

    A client that has not applied yet gets its 06_1 application opened (once per client).
    """
    if order.get("client_record_id") is None:
        return None  # 顧客 itself is reported as a missing item
    clients = ctx.mappings["clients"]
    try:
        client = clients.read(ctx.kintone.get_record(clients.id, str(int(order["client_record_id"]))))
    except KintoneNotFound:
        return CreditProblem("unknown_client", f"「{orders.field('client').display}」に指定された顧客が"
                             "顧客管理台帳に見つかりません。顧客を選び直してください。")
    credit = clients.settings("credit")
    state = client.get("credit_status") or credit.get("not_applied", "未申請")
    name = client.get("company_name") or "（会社名未入力）"
    if state == credit.get("approved", "承認"):
        return None
    if state == credit.get("rejected", "否認"):
        return CreditProblem("rejected", f"顧客「{name}」の与信は否認されています。このオーダーは受付できませんので、"
                "上長にご相談ください。")
    if state == credit.get("under_review", "審査中"):
        return CreditProblem("pending", f"顧客「{name}」の与信は審査中です。与信が承認され次第、このオーダーは"
                "自動で上長承認依頼に進みます。")
    if state == credit.get("not_applied", "未申請") and "workflow" in ctx.mappings:
        application_id = credit_check.open_application(ctx, client, order)
        return CreditProblem("pending", f"顧客「{name}」の与信チェックのため、稟議「06_1 反社・与信チェック申請」（稟議 #{application_id}）を"
                "作成しました。稟議に信用調査機関の評価とチェック項目を入力し、「申請」を実行してください。"
                "承認されると、このオーダーは自動で上長承認依頼に進みます。")
    if state == credit.get("not_applied", "未申請"):  # no 稟議 app mapped: the rep applies by hand
        return CreditProblem("not_applied", f"顧客「{name}」の与信が承認されていません（与信状態：{state}）。"
                "稟議「06_1 反社・与信チェック申請」を申請してください。")
    return CreditProblem("other", f"顧客「{name}」の与信が承認されていません（与信状態：{state}）。"
                         "顧客管理台帳の与信状態を確認し、上長にご相談ください。")


def complaint_text(orders: AppMapping, order: dict, missing: list[str], credit_problem: str | None) -> str:
    title = order.get("title") or f"レコード番号 {order['record_id']}"
    parts = [f"オーダー「{title}」は、次の点が揃っていないため上長承認依頼に進めていません。"]
    if missing:
        parts.append("【未入力のオーダーヒアリング項目】\n" + bullet_list(missing))
    if credit_problem:
        parts.append("【与信】\n" + bullet_list([credit_problem]))
    if missing:
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
         f"オーダー「{title}」が上長に承認され、受付済になりました（受付日：{today:%Y年%m月%d日}）。"
         f"{note}人選と契約準備を進めてください。",
         order.get("sales_rep"), once_as="accepted")
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
