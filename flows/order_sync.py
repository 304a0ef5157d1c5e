"""An accepted order's later life in G-Staff (seed A-7 オーダー内容更新・終了).

Once an order is 受付済 and shared (Gスタッフオーダー番号 on the record), an edit of what G-Staff
holds (案件名, 業務内容, 開始時期, 請求単価) is shared again, once per change: the change is named by a
digest of that content, remembered in Redis and sent as G-Staff's ``change_key`` (the same key
twice changes nothing there either). The first look after acceptance only remembers what was
shared then. When the order reaches 終了 it is closed in G-Staff, once. The rep is told on the
record, without a mention (nobody needs pinging for a copy kept in step).

kintone calls: an edit 2 (order, comment), an unchanged order 1 (the read), 終了 2.
"""

from __future__ import annotations

import hashlib
from datetime import date

from connectors.gstaff import SharedOrder
from flows.context import FlowContext
from flows.notify import tell
from mappings import AppMapping
from mappings.japanese_dates import full_date

FLOW = "order_sync"
REMEMBER_SECONDS = 800 * 24 * 3600  # an order lives for months; remember longer


def shared_order(orders: AppMapping, order: dict) -> SharedOrder:
    """What G-Staff holds of the order (the client id is G-Staff's own, kept there)."""
    return SharedOrder(reference=f"kintone:{orders.key}:{order['record_id']}", client_id="",
                       title=order.get("title") or f"レコード番号 {order['record_id']}",
                       job_description=order.get("job_description") or "", start_on=order.get("start_period"),
                       billing_rate=order.get("billing_rate"))


def change_key(shared: SharedOrder) -> str:
    text = "|".join([shared.title, shared.job_description, str(shared.start_on or ""), str(shared.billing_rate or "")])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def share_changes(ctx: FlowContext, orders: AppMapping, order: dict) -> str:
    """An accepted, shared order was edited: share the new content once per change."""
    order_id = (order.get("gstaff_order_id") or "").strip()
    if ctx.gstaff is None or not order_id:
        return "nothing_to_do"
    shared = shared_order(orders, order)
    key, memory = change_key(shared), f"{FLOW}:shared:{orders.key}:{order['record_id']}"
    remembered = ctx.ledger.get(memory)
    if remembered is None:
        ctx.ledger.mark(memory, REMEMBER_SECONDS, key)  # the content shared at acceptance
        return "nothing_to_do"
    if remembered == key:
        return "nothing_to_do"
    ctx.gstaff.update_order(order_id, shared, key)
    ctx.ledger.mark(memory, REMEMBER_SECONDS, key)
    tell(ctx, orders, order["record_id"],
         f"オーダー「{shared.title}」の変更をGスタッフに反映しました（Gスタッフオーダー番号：{order_id}、"
         f"{full_date(ctx.now().date())}）。", [], once_as="gstaff_updated", same_as=key)
    return "shared_changes"


def close(ctx: FlowContext, orders: AppMapping, order: dict) -> str:
    """終了 in kintone: the order is closed in G-Staff, once."""
    order_id = (order.get("gstaff_order_id") or "").strip()
    if ctx.gstaff is None or not order_id:
        return "nothing_to_do"
    memory = f"{FLOW}:closed:{orders.key}:{order['record_id']}"
    if ctx.ledger.done(memory):
        return "nothing_to_do"
    today: date = ctx.now().date()
    ctx.gstaff.close_order(order_id, f"kintone:{orders.key}:{order['record_id']}", today)
    ctx.ledger.mark(memory, REMEMBER_SECONDS)
    title = order.get("title") or f"レコード番号 {order['record_id']}"
    tell(ctx, orders, order["record_id"],
         f"オーダー「{title}」を終了したため、Gスタッフのオーダー（{order_id}）も終了にしました"
         f"（{full_date(today)}）。", [], once_as="gstaff_closed")
    return "closed_in_gstaff"

