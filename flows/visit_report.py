"""The visit report: to the 上長 when saved, its summary to the 顧客管理台帳 (seed A-3, A-6, A-7).

記録：訪問記録をkintoneに24時間以内に入力し、上長へ報告する. When a Visits record is saved with its
訪問記録 written:

- the 上長 (the record's 上長, else the rep's in the supervisor directory) is told once per report
  content, with the pre-visit checklist answers (安全衛生体制, 教育実施, 作業環境, 雇用管理体制,
  個人情報取り扱い), whether 派遣の仕組み was explained, and the report itself;
- the rep is told once what the visit still lacks (an unanswered checklist item, 派遣の仕組みの説明);
- the client's 顧客管理台帳 record gets 最終訪問日, 訪問記録要約 and, when 派遣の仕組み was explained,
  派遣の仕組み説明日 (情報収集：顧客管理台帳に記録する);
- a complete visit sends the client's orders held in 未処理 through order registration again
  (they were waiting for it, flows/visit_gate.py), once per visit.

A late report is escalated by the deadline rule ``visit_record`` (deadlines.toml), as before.
kintone calls: 5 for a new complete report (visit, comment, client read and write, held-order
query), 1 when nothing changed (our own client write does not touch the visit).
"""

from __future__ import annotations

from connectors.kintone import KintoneNotFound
from flows import applications as apps
from flows.business_calendar import TOKYO
from flows.context import FlowContext
from flows.credit_check import held_orders
from flows.decide import on_fresh_record
from flows.notify import bullet_list, tell
from flows.visit_gate import VisitCheck, blocking_items, gaps
from mappings import AppMapping, User
from mappings.fields import is_blank
from mappings.japanese_dates import full_date, full_moment

FLOW = "visit_report"
ORDER_FLOW = "order_registration"


def run(ctx: FlowContext, app_key: str, record_id: str, **_params) -> str:
    visits = ctx.mappings[app_key]
    check = VisitCheck.of(visits)
    return on_fresh_record(ctx, visits, record_id, FLOW, lambda visit, _status: decide(ctx, visits, check, visit))


def decide(ctx: FlowContext, visits: AppMapping, check: VisitCheck, visit: dict) -> str:
    if is_blank(visit.get("report")):
        return "no_report_yet"
    rid = visit["record_id"]
    missing = gaps(visits, check, visit, ctx.now())
    same = "|".join([visit["report"].strip(), *(str(visit.get(n)) for n in check.checklist),
                     str(visit.get("dispatch_explained"))])
    told = tell(ctx, visits, rid, supervisor_text(ctx, visits, check, visit, missing), supervisors(ctx, visit),
                once_as="report", same_as=same)
    if missing:
        tell(ctx, visits, rid, gaps_text(visits, missing), visit.get("sales_rep"), once_as="gaps",
             same_as="|".join(missing))
    write_to_client(ctx, visits, check, visit)
    if not missing and not blocking_items(visits, check, visit):
        release_orders(ctx, visit)
    return "reported" if told else "already_reported"


def supervisors(ctx: FlowContext, visit: dict) -> list[User]:
    on_record = [u for u in visit.get("supervisor") or [] if u.code]
    if on_record:
        return on_record
    rep = next((u.code for u in visit.get("sales_rep") or [] if u.code), None)
    code = ctx.mappings.deadlines.supervisors.for_user(rep)
    return [User(code=code)] if code else []


def write_to_client(ctx: FlowContext, visits: AppMapping, check: VisitCheck, visit: dict) -> None:
    """最終訪問日, 訪問記録要約 and 派遣の仕組み説明日 on the 顧客管理台帳 (only what changes)."""
    if visit.get("client_record_id") is None or visit.get("visited_at") is None or "clients" not in ctx.mappings:
        return
    clients = ctx.mappings["clients"]
    try:
        client = clients.read(ctx.kintone.get_record(clients.id, str(int(visit["client_record_id"]))))
    except KintoneNotFound:
        return  # the visit names a client that is gone: the 上長 has the report anyway
    day = visit["visited_at"].astimezone(TOKYO).date()
    latest = client.get("last_visit_on")
    wanted: dict = {}
    if latest is None or day >= latest:
        wanted["last_visit_on"] = day
        wanted["visit_summary"] = summary(visits, check, visit, day)
    if visit.get("dispatch_explained") == check.explained and client.get("dispatch_explained_on") is None:
        wanted["dispatch_explained_on"] = day
    changes = {k: v for k, v in wanted.items() if k in clients.fields and client.get(k) != v}
    if changes:
        ctx.kintone.update_record(clients.id, client["record_id"], clients.write(changes), revision=client["revision"])


def release_orders(ctx: FlowContext, visit: dict) -> None:
    """The client's orders in 未処理 go through order registration again, once per visit (many of them:
    decided per page with bulk actions, ``flows.order_registration.run_page``)."""
    if visit.get("client_record_id") is None or "orders" not in ctx.mappings:
        return
    key = f"{FLOW}:{visit['record_id']}:released"
    if ctx.ledger.done(key):
        return
    marker = f"visit-{visit['record_id']}"
    held = [(row["$id"]["value"], marker) for row in held_orders(ctx, str(int(visit["client_record_id"])), ["title"])]
    apps.start_flows(ctx, ORDER_FLOW, "orders", held, key=marker)  # many of them: one page job per 500
    ctx.ledger.mark(key, apps.REMEMBER_SECONDS)


# -- texts ----------------------------------------------------------------------------------------

def _answers(visits: AppMapping, check: VisitCheck, visit: dict) -> list[str]:
    names = [*check.checklist, "dispatch_explained"]
    return [f"{visits.field(n).display}：{visit.get(n) or '未入力'}" for n in names]


def supervisor_text(ctx: FlowContext, visits: AppMapping, check: VisitCheck, visit: dict, missing: list[str]) -> str:
    when = full_moment(visit["visited_at"]) if visit.get("visited_at") else "訪問日時未入力"
    title = visit.get("title") or f"レコード番号{visit['record_id']}"
    rep = "、".join(u.name or u.code for u in visit.get("sales_rep") or []) or "担当営業"
    parts = [f"{rep}さんから訪問記録の報告です。内容をご確認ください。\n"
             f"{visits.app.label or '営業訪問'}「{title}」（{visit.get('client') or '顧客未入力'}、{when}）",
             "【訪問前チェック】\n" + bullet_list(_answers(visits, check, visit))]
    blocked = blocking_items(visits, check, visit)
    if blocked:
        parts.append("「問題あり」の項目があるため、このお客様のオーダーは受付に進みません。"
                     "受付してよいかご判断のうえ、担当営業に指示してください。")
    if missing:
        parts.append("未入力の項目：" + "、".join(missing) + "（担当営業に入力を依頼しています）")
    report = visit["report"].strip()
    cut = report if len(report) <= check.summary_chars else report[:check.summary_chars] + "…"
    parts.append("【訪問記録】\n" + cut)
    return "\n\n".join(parts)


def gaps_text(visits: AppMapping, missing: list[str]) -> str:
    return ("訪問記録ありがとうございます。次の項目が入力されていないため、このお客様のオーダーはまだ受付に進めません。\n"
            + bullet_list(missing)
            + "\n入力して保存すると、保留中のオーダーは自動で再チェックされます。")


def summary(visits: AppMapping, check: VisitCheck, visit: dict, day) -> str:
    rep = "、".join(u.name or u.code for u in visit.get("sales_rep") or [])
    report = visit["report"].strip()
    cut = report if len(report) <= check.summary_chars else report[:check.summary_chars] + "…"
    return (f"{full_date(day)} {rep}（{visits.app.label or '営業訪問'} #{visit['record_id']}）\n{cut}\n"
            + " ／ ".join(_answers(visits, check, visit)))
