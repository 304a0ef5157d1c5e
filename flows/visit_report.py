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

Found in bulk (``run_page``: a reconcile page of visits whose webhooks were lost), a page of n visits
costs ⌈n / 500⌉ reads, one query per 500 of their clients, the comments (one call each, as their own
jobs post them), ⌈clients written / 2,000⌉ bulk calls and, when some visit is complete, one held-order
query per 500 held orders; a visit whose client was changed meanwhile costs its ordinary job's calls on
top (what it said is not said again).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from connectors.kintone import KintoneNotFound
from connectors.kintone.interface import RecordUpdate
from flows import applications as apps
from flows import bulk
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
    return on_fresh_record(ctx, visits, record_id, FLOW,
                           lambda visit, _status: carry_out(ctx, visits, check, visit, decide(ctx, visits, check, visit)))


# -- the decision: one visit as read, no kintone call ------------------------------------------------
#
# The per-record job above and the page job below (``run_page``) both decide with ``decide`` and
# ``client_changes``: the comments (kintone has no bulk comment: one call each, said once), what the
# 顧客管理台帳 record gets (bulk-able: PUT records.json with the client's revision), and whether the
# client's held orders go on.


@dataclass(frozen=True)
class Decision:
    outcome: str  # no_report_yet, or reported (already_reported when the 上長 was told before)
    report: str | None = None  # for the 上長, said once per report content ...
    supervisors: tuple[User, ...] = ()
    same: str = ""  # ... and what makes two reports the same
    gaps: str | None = None  # for the rep: what the visit still lacks, said once per list
    gaps_same: str = ""
    releases: bool = False  # complete, nothing 問題あり: the client's orders held in 未処理 go on


def decide(ctx: FlowContext, visits: AppMapping, check: VisitCheck, visit: dict) -> Decision:
    """What saving this visit calls for (no kintone call)."""
    if is_blank(visit.get("report")):
        return Decision("no_report_yet")
    missing = gaps(visits, check, visit, ctx.now())
    same = "|".join([visit["report"].strip(), *(str(visit.get(n)) for n in check.checklist),
                     str(visit.get("dispatch_explained"))])
    return Decision("reported", report=supervisor_text(ctx, visits, check, visit, missing),
                    supervisors=tuple(supervisors(ctx, visit)), same=same,
                    gaps=gaps_text(visits, missing) if missing else None, gaps_same="|".join(missing),
                    releases=not missing and not blocking_items(visits, check, visit))


def client_changes(clients: AppMapping, visits: AppMapping, check: VisitCheck, visit: dict, client: dict) -> dict:
    """最終訪問日, 訪問記録要約 and 派遣の仕組み説明日 the visit gives the 顧客管理台帳 record (only what changes)."""
    day = visit["visited_at"].astimezone(TOKYO).date()
    latest = client.get("last_visit_on")
    wanted: dict = {}
    if latest is None or day >= latest:
        wanted["last_visit_on"] = day
        wanted["visit_summary"] = summary(visits, check, visit, day)
    if visit.get("dispatch_explained") == check.explained and client.get("dispatch_explained_on") is None:
        wanted["dispatch_explained_on"] = day
    return {k: v for k, v in wanted.items() if k in clients.fields and client.get(k) != v}


def client_of(ctx: FlowContext, visit: dict) -> str | None:
    """The 顧客管理台帳 record the visit writes to (None: no client, no 訪問日時, or no Clients app)."""
    if visit.get("client_record_id") is None or visit.get("visited_at") is None or "clients" not in ctx.mappings:
        return None
    return str(int(visit["client_record_id"]))


# -- carrying a decision out ---------------------------------------------------------------------


def say(ctx: FlowContext, visits: AppMapping, visit: dict, decision: Decision) -> str:
    """Tell the 上長 and the rep (each once); the outcome word."""
    rid = visit["record_id"]
    told = tell(ctx, visits, rid, decision.report, list(decision.supervisors), once_as="report",
                same_as=decision.same)
    if decision.gaps:
        tell(ctx, visits, rid, decision.gaps, visit.get("sales_rep"), once_as="gaps", same_as=decision.gaps_same)
    return "reported" if told else "already_reported"


def carry_out(ctx: FlowContext, visits: AppMapping, check: VisitCheck, visit: dict, decision: Decision) -> str:
    """The per-record job: the comments, the 顧客管理台帳 write (with its revision), the held orders."""
    if decision.report is None:
        return decision.outcome
    outcome = say(ctx, visits, visit, decision)
    write_to_client(ctx, visits, check, visit)
    if decision.releases:
        release_orders(ctx, visit)
    return outcome


def supervisors(ctx: FlowContext, visit: dict) -> list[User]:
    on_record = [u for u in visit.get("supervisor") or [] if u.code]
    if on_record:
        return on_record
    rep = next((u.code for u in visit.get("sales_rep") or [] if u.code), None)
    code = ctx.mappings.deadlines.supervisors.for_user(rep)
    return [User(code=code)] if code else []


def write_to_client(ctx: FlowContext, visits: AppMapping, check: VisitCheck, visit: dict) -> None:
    """最終訪問日, 訪問記録要約 and 派遣の仕組み説明日 on the 顧客管理台帳 (only what changes)."""
    client_id = client_of(ctx, visit)
    if client_id is None:
        return
    clients = ctx.mappings["clients"]
    try:
        client = clients.read(ctx.kintone.get_record(clients.id, client_id))
    except KintoneNotFound:
        return  # the visit names a client that is gone: the 上長 has the report anyway
    changes = client_changes(clients, visits, check, visit, client)
    if changes:
        ctx.kintone.update_record(clients.id, client["record_id"], clients.write(changes), revision=client["revision"])


def released_key(visit: dict) -> str:
    return f"{FLOW}:{visit['record_id']}:released"


def release_orders(ctx: FlowContext, visit: dict) -> None:
    """The client's orders in 未処理 go through order registration again, once per visit (many of them:
    decided per page with bulk actions, ``flows.order_registration.run_page``)."""
    if visit.get("client_record_id") is None or "orders" not in ctx.mappings:
        return
    key = released_key(visit)
    if ctx.ledger.done(key):
        return
    marker = f"visit-{visit['record_id']}"
    held = [(row["$id"]["value"], marker) for row in held_orders(ctx, str(int(visit["client_record_id"])), ["title"])]
    apps.start_flows(ctx, ORDER_FLOW, "orders", held, key=marker)  # many of them: one page job per 500
    ctx.ledger.mark(key, apps.REMEMBER_SECONDS)


# -- found in bulk: a page of visits ---------------------------------------------------------------


def run_page(ctx: FlowContext, app_key: str, record_ids: list[str]) -> bulk.PageResult:
    """Visits found in bulk (a reconcile page: visits entered or imported whose webhooks were lost).

    One read of the page (≤ 500 per call), one of the clients the visits name (one query per 500),
    ``decide`` for each visit as its own job would, the comments it posts (one call each, said once
    as the ordinary job says them), then every 顧客管理台帳 write of the page in bulk (``flows.bulk``:
    one PUT records.json per client, 2,000 per call, each with the client's revision as read; several
    visits of one client are folded in the order their own jobs would have run), and the held orders
    of the clients whose visit is complete in one query per 500 orders, started once per client
    (under the marker of its first complete visit of the page). A visit whose client's write was
    refused (someone changed the client since the page read it) goes to its ordinary job.
    """
    visits = ctx.mappings[app_key]
    check = VisitCheck.of(visits)
    result = bulk.PageResult()
    rows = bulk.read_records(ctx, visits, record_ids)
    decided = [(visit, decide(ctx, visits, check, visit)) for visit in (visits.read(row) for row in rows.values())]
    clients = ctx.mappings["clients"] if "clients" in ctx.mappings else None
    wanted = sorted({c for v, d in decided if d.report is not None and (c := client_of(ctx, v))}, key=int)
    state = {} if clients is None else {cid: clients.read(row) for cid, row in bulk.read_records(ctx, clients, wanted).items()}
    sent: dict[str, str] = {}  # visit id -> outcome word
    changes: dict[str, dict] = {}  # client id -> what its visits of the page give it, folded in page order
    of_client: dict[str, list[str]] = {}  # client id -> the visits of the page writing to it
    for visit, decision in decided:
        rid = visit["record_id"]
        if decision.report is None:
            result.handled(rid, decision.outcome, visit["revision"])
            continue
        sent[rid] = say(ctx, visits, visit, decision)
        client_id = client_of(ctx, visit)
        if client_id in state:
            change = client_changes(clients, visits, check, visit, state[client_id])
            state[client_id].update(change)  # the next visit of the client sees it written, as its job would
            changes.setdefault(client_id, {}).update(change)
            of_client.setdefault(client_id, []).append(rid)
    updates = [RecordUpdate(cid, clients.write(change), str(state[cid]["revision"]))
               for cid, change in changes.items() if change]
    written, refused = bulk.write_records(ctx, clients, updates) if updates else ({}, [])
    fallback = [rid for cid in refused for rid in of_client[cid]]
    landed = {rid: int(v["revision"]) for v, d in decided if (rid := v["record_id"]) in sent and rid not in fallback}
    release_page(ctx, [v for v, d in decided if d.releases and v["record_id"] in landed])
    return bulk.finish_page(ctx, FLOW, visits, record_ids, rows, result, sent=sent, landed=(landed, fallback),
                            detail=f"reported; 顧客管理台帳 written in bulk ({len(written)} clients)")


def release_page(ctx: FlowContext, complete: list[dict]) -> None:
    """``release_orders`` for a page of complete visits: the held orders of all their clients in one query
    per 500 orders, each client's started once (its first visit's marker), every visit remembered."""
    if "orders" not in ctx.mappings:
        return
    todo = [v for v in complete if v.get("client_record_id") is not None and not ctx.ledger.done(released_key(v))]
    if not todo:
        return
    first: dict[str, str] = {}  # client id -> marker of its first complete visit on the page
    for visit in todo:
        first.setdefault(str(int(visit["client_record_id"])), f"visit-{visit['record_id']}")
    orders = ctx.mappings["orders"]
    client_code = orders.field("client_record_id").code
    held, last = [], 0
    while True:
        query = (f"{client_code} in ({', '.join(sorted(first, key=int))})"
                 f" and {orders.field('status').code} in ({apps.kintone_string(orders.status_name('unprocessed'))})"
                 f" and $id > {last} order by $id asc")
        rows = ctx.kintone.get_records(orders.id, query, fields=["$id", client_code], limit=bulk.READ_PAGE)
        held += [(row["$id"]["value"], first[str(int(orders.read(row)["client_record_id"]))]) for row in rows]
        if len(rows) < bulk.READ_PAGE:
            break
        last = int(rows[-1]["$id"]["value"])
    digest = hashlib.sha256("|".join(v["record_id"] for v in todo).encode()).hexdigest()[:12]
    apps.start_flows(ctx, ORDER_FLOW, orders.key, held, key=f"visits-{todo[0]['record_id']}-{digest}")
    for visit in todo:
        ctx.ledger.mark(released_key(visit), apps.REMEMBER_SECONDS)


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
