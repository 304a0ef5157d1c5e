"""Staff proposed for an accepted order: anyone who left the client less than a year ago?
(労働者派遣法第40条の9, seed A-5 人材供給; issue 11)

When the sales rep enters the G-Staff ids of the staff they propose (提案スタッフID) on an order
in 受付済 (order_registration hands the saved order here once its acceptance is recorded), each
worker's former employments are read from G-Staff. A worker who left this client
(as its own employee) less than a year before the order's 開始時期 may not be dispatched there;
a worker of 60 or over who left at the mandatory retirement age is the exception (施行規則第33条の10).
Such a proposal is one comment mentioning the rep and the 上長, said once per set of findings.
The rule (one year, the article, the exception) is data in the Contracts mapping's
``[dispatch_law.former_employee]``; the contract check applies it again before sending.

kintone calls: 1 read of the order, 1 of its client, 1 comment when there is a finding.
G-Staff calls: one per proposed worker.
"""

from __future__ import annotations

from connectors.gstaff.errors import GStaffNotFound
from connectors.kintone import KintoneNotFound
from flows.context import FlowContext
from flows.notify import bullet_list, tell
from mappings import AppMapping
from mappings.dispatch_law import DispatchLawSettings, former_employee_problems, staff_ids


def check_proposal(ctx: FlowContext, orders: AppMapping, order: dict) -> str:
    """For an accepted order: flag proposed staff who left the client within the rule's year."""
    if not staff_ids(order.get("proposed_staff_ids")):
        return "nothing_to_do"
    if ctx.gstaff is None or "contracts" not in ctx.mappings or order.get("client_record_id") is None:
        return "nothing_to_do"
    rules = DispatchLawSettings.of(ctx.mappings["contracts"])
    clients = ctx.mappings["clients"]
    try:
        client = clients.read(ctx.kintone.get_record(clients.id, str(int(order["client_record_id"]))))
    except KintoneNotFound:
        return "nothing_to_do"  # the order's own check reports an unknown client
    client_id = client.get("gstaff_client_id") or ""
    start = order.get("start_period")
    if not client_id or start is None:
        return "nothing_to_do"
    staff = {}
    for staff_id in staff_ids(order.get("proposed_staff_ids")):
        try:
            staff[staff_id] = ctx.gstaff.get_staff(staff_id)
        except GStaffNotFound:
            staff[staff_id] = None
    findings = former_employee_problems(rules, staff, client_id, start)
    unknown = [i for i, member in staff.items() if member is None]
    if unknown:
        findings.append(f"「{orders.field('proposed_staff_ids').display}」の {'、'.join(unknown)} がGスタッフに"
                        "見つかりません。スタッフIDを確認してください。")
    if not findings:
        return "proposal_ok"
    title = order.get("title") or f"レコード番号 {order['record_id']}"
    text = (f"オーダー「{title}」の提案スタッフについて、労働者派遣法上確認が必要な点があります。\n\n"
            + bullet_list(findings) + "\n\n別のスタッフさんを提案するか、上長と対応を相談してください。")
    told = tell(ctx, orders, order["record_id"], text,
                [*(order.get("sales_rep") or []), *(order.get("supervisor") or [])],
                once_as="staff_proposal", same_as="|".join(findings))
    return "flagged_former_employee" if told else "already_told"
