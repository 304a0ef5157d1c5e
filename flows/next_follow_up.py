"""A follow-up saved as done: check it, and open the next one on the staff member's timeline (seed 001).

When a follow-up gets its 実施日, in this order:

1. **Does it count as done?** Every 相談・課題 row needs its 対応期限, 対応方針 and 報告方法 (and a
   thank-you call who called and when, a renewal-intent check its answer): flows/follow_up_gate.py.
   Otherwise one comment says what is missing and nothing else happens until the record is fixed.
   A thank-you call's 先方の要望 first becomes a 相談・課題 row with its 対応期限 (N business days
   after the call), so the client's request is chased like the staff's.
2. **The next follow-up** of a staff follow-up, on the same timeline (flows/timeline.py):
   - a 次回フォロー日 within ``milestone_window_days`` of a planned follow-up *moves* that one to the
     agreed day (one visit, not two in a week);
   - else a new follow-up on that day (the next business day when it is a day off), unless it is
     after the contract's 派遣終了日: then it is not created, and the comment says so;
   - without a 次回フォロー日, the next planned follow-up.
   Whichever it is opens linked to this one: 前回フォロー, 前回の確認事項, the open rows carried in.
3. This record is marked 完了判定 完了 with its 引継ぎ先, and the 担当者 is told once.

Once: the next follow-up is found by its 前回フォロー (also after an add whose answer was lost), a
Redis claim keeps two jobs from adding at once, and a record already 完了 is left alone.
kintone calls: 5 when it opens a next follow-up (read, timeline, add or move, mark, comment), 1 when
already done or not done yet, 2 when something is missing (read, comment); a renewal-intent check
done: 3 (read, mark, its answer told on the contract, where the rep records the 更新結果).

Found in bulk (``run_page``: a reconcile page of follow-ups whose webhooks were lost), a page of n
costs ⌈n / 500⌉ reads, one timeline query per 100 staff members (and per 500 of their follow-ups),
⌈next follow-ups added / 100⌉ adds, ⌈writes / 2,000⌉ bulk calls (the milestones moved or linked and the
records marked, together) and the comments (one call each); a follow-up sent to its ordinary job costs
that job's calls on top.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date

from connectors.errors import RetryLater
from connectors.kintone import KintoneDataError
from connectors.kintone.interface import MAX_RECORDS_PER_BULK_WRITE, RecordUpdate
from flows import bulk, follow_up_gate
from flows.context import FlowContext
from flows.notify import REMEMBER_SECONDS, bullet_list, tell
from flows.timeline import TIMELINE_FIELDS, carry_in, fetch_timeline, is_open
from mappings import AppMapping
from mappings.fields import is_blank
from mappings.japanese_dates import full_date

FLOW = "next_follow_up"
CLAIM_SECONDS = 120
TIMELINES_PER_QUERY = 100  # staff ids (or contracts) in one timeline query of a page
OUTCOMES = {"moved": "milestone_moved", "created": "next_follow_up_created", "planned": "linked_to_planned",
            "after_end": "after_dispatch_end", "none": "no_next_follow_up"}


class FollowUpBeingPlanned(RetryLater):
    """Another job is creating this next follow-up; the retry finds the record it created."""


def run(ctx: FlowContext, app_key: str, record_id: str, **_params) -> str:
    follow_ups = ctx.mappings[app_key]
    settings = follow_ups.settings("follow_up")
    current = follow_ups.read(ctx.kintone.get_record(follow_ups.id, record_id))
    decision = decide(ctx, follow_ups, settings, current, lambda: fetch_timeline(ctx, follow_ups, current))
    if decision.rows is not None:  # the thank-you call's request becomes a 相談・課題 row first
        ctx.kintone.update_record(follow_ups.id, record_id, follow_ups.write({"issues": decision.rows}))
        current = follow_ups.read(ctx.kintone.get_record(follow_ups.id, record_id))
        decision = decide(ctx, follow_ups, settings, current, lambda: fetch_timeline(ctx, follow_ups, current))
    if decision.plan is None:
        mark = mark_values(current, settings, None) if decision.outcome == "done" else None
        if mark:
            ctx.kintone.update_record(follow_ups.id, record_id, follow_ups.write(mark))
        return say(ctx, follow_ups, current, decision)
    target_id = carry_out_plan(ctx, follow_ups, current, decision.plan)
    mark = mark_values(current, settings, target_id)
    if mark:
        ctx.kintone.update_record(follow_ups.id, record_id, follow_ups.write(mark))
    return say(ctx, follow_ups, current, decision, target_id)


# -- the decision: one follow-up as read and its staff member's timeline, no kintone call ----------
#
# The per-record job above and the page job below (``run_page``) both decide with ``decide`` and
# ``plan_next``: a 相談・課題 row to add first, the comment on what is missing, or this record marked
# 完了 (``mark_values``) with the next follow-up moved, linked or added (a Plan). kintone has no bulk
# comment: one call each, said once.


@dataclass(frozen=True)
class Plan:
    """The next follow-up: which it is (``how``), its day, and what is written to get there."""

    how: str  # moved, created, planned, after_end, none
    due: object = None  # date
    target_id: str | None = None  # an existing follow-up (None: none yet, or the one ``new`` adds)
    changes: dict | None = None  # what the existing follow-up gets (move, link); None: nothing
    new: dict | None = None  # the follow-up to add (how == "created")
    key: str = ""  # its 管理キー (the claim that keeps two jobs from adding it at once)


@dataclass(frozen=True)
class Decision:
    outcome: str
    rows: list | None = None  # 相談・課題 to write before deciding again (a thank-you call's request)
    missing: list[str] = field(default_factory=list)  # why it is not done yet
    plan: Plan | None = None  # a staff follow-up done: its next one
    contract_intent: bool = False  # a renewal-intent check done: its answer goes on the contract


def handled_key(follow_ups: AppMapping, current: dict) -> str:
    agreed = current.get("next_follow_up")
    return f"{FLOW}:{follow_ups.key}:{current['record_id']}:{agreed.isoformat() if agreed else '-'}"


def decide(ctx: FlowContext, follow_ups: AppMapping, settings: dict, current: dict,
           timeline: Callable[[], list[dict]]) -> Decision:
    """What this follow-up calls for (``timeline``: its staff member's follow-ups, asked for only when a
    staff follow-up is done)."""
    if is_blank(current.get("done_on")):
        return Decision("nothing_to_do")
    if ctx.ledger.done(handled_key(follow_ups, current)):
        return Decision("already_done")  # this record with this 次回フォロー日 (our own write-back's webhook, a replay)
    if current.get("completion") == settings.get("stopped", "中止"):
        return Decision("stopped")
    rows = request_rows(ctx.calendar, current, settings)
    if rows is not None:
        return Decision("incomplete", rows=rows)
    missing = follow_up_gate.problems(follow_ups, current, settings)
    if missing:
        return Decision("incomplete", missing=missing)
    if current.get("category") != settings.get("staff_follow_up", "スタッフフォロー"):
        return Decision("done", contract_intent=current.get("category") == settings.get("renewal_check", "更新意向確認"))
    plan = plan_next(ctx.calendar, follow_ups, current, settings, timeline())
    return Decision(OUTCOMES[plan.how], plan=plan)


def plan_next(calendar, follow_ups: AppMapping, current: dict, settings: dict, timeline: list[dict]) -> Plan:
    """The follow-up after ``current`` on its timeline (open ones, and those linked to it, by 予定日)."""
    rid = current["record_id"]
    linked = [r for r in timeline if r.get("previous") is not None and int(r["previous"]) == int(rid)]
    agreed = current.get("next_follow_up")
    if linked:  # opened already: by an earlier run, or the 次回フォロー日 was changed since
        target = linked[0]
        if agreed is None or not is_open(target, settings):
            return Plan("planned", target.get("due_on"), target["record_id"])
        due = calendar.on_or_after(agreed)
        if target.get("due_on") == due:
            return Plan("planned", due, target["record_id"])
        return Plan("moved", due, target["record_id"], {"due_on": due})
    staff_follow_up = settings.get("staff_follow_up", "スタッフフォロー")
    since = current["done_on"]  # a planned follow-up left in the past is not the next one
    planned = [r for r in timeline if r["record_id"] != rid and is_open(r, settings)
               and r.get("category") == staff_follow_up and r.get("due_on") is not None and r["due_on"] >= since]
    if agreed is None:
        if not planned:
            return Plan("none")
        nearest = planned[0]
        return Plan("planned", nearest["due_on"], nearest["record_id"], carry_in(current, nearest))
    due = calendar.on_or_after(agreed)
    window = int(settings.get("milestone_window_days", 7))
    close = [r for r in planned if abs((r["due_on"] - due).days) <= window]
    if close:
        milestone = min(close, key=lambda r: abs((r["due_on"] - due).days))
        return Plan("moved", due, milestone["record_id"], {**carry_in(current, milestone), "due_on": due})
    end = current.get("dispatch_end")
    if end is not None and due > end:
        later = [r for r in planned if r["due_on"] > end]  # e.g. the renewal's first follow-up
        if later:
            return Plan("after_end", due, later[0]["record_id"], carry_in(current, later[0]))
        return Plan("after_end", due)
    owner_of = current.get("staff_id") or current.get("contract_record_id") or f"f{current['record_id']}"
    key = f"{owner_of}:next_{due.isoformat()}"
    return Plan("created", due, new={
        "schedule_key": key,
        "title": f"次回フォロー {full_date(due)}",
        "category": staff_follow_up,
        **{name: current[name] for name in ("contract_record_id", "client", "staff_name", "commander",
                                            "staff_id", "dispatch_end") if not is_blank(current.get(name))},
        "due_on": due,
        "owner": current.get("owner") or [],
        "supervisor": current.get("supervisor") or [],
        **carry_in(current, None),
    }, key=key)


def mark_values(current: dict, settings: dict, target_id) -> dict | None:
    """完了判定 完了 and the 引継ぎ先 this record gets; None when it has them already."""
    values = {"completion": settings.get("done", "完了")}
    if target_id is not None:
        values["carried_to"] = int(target_id)
    if current.get("completion") == values["completion"] and current.get("carried_to") == values.get("carried_to"):
        return None
    return values


def request_rows(calendar, current: dict, settings: dict) -> list | None:
    """A thank-you call's 先方の要望 as a 相談・課題 row with its 対応期限: the table with it added, or None
    (not a thank-you call, no request, or the row is there already)."""
    request = (current.get("client_request") or "").strip()
    if current.get("category") != settings.get("thank_you_call", "お礼電話") or not request:
        return None
    rows = [r for r in current.get("issues") or [] if not all(is_blank(v) for k, v in r.items() if k != "_row_id")]
    if any((r.get("issue") or "").strip() == request for r in rows):
        return None
    due = follow_up_gate.request_due(calendar, current.get("called_at"), current.get("done_on"), settings)
    return [*rows, {"issue": request, "issue_due": due, "report_how": settings.get("request_report_how", "")}]


# -- carrying a decision out ------------------------------------------------------------------------


def claim_key(follow_ups: AppMapping, plan: Plan) -> str:
    return f"{FLOW}:{follow_ups.key}:{plan.key}"


def _claim(ctx: FlowContext, key: str) -> bool:
    """Take the claim for this job; one left by an earlier run of this very job (killed before it could
    release it: RQ runs a job id once at a time) is taken over, not waited out."""
    if ctx.ledger.claim(key, CLAIM_SECONDS, ctx.job_id or "1"):
        return True
    if ctx.job_id and ctx.ledger.get(key) == ctx.job_id:
        ctx.ledger.mark(key, CLAIM_SECONDS, ctx.job_id)
        return True
    return False


def carry_out_plan(ctx: FlowContext, follow_ups: AppMapping, current: dict, plan: Plan) -> str | None:
    """The per-record job: move or link the next follow-up, or add it (under a claim); its id."""
    if plan.changes:
        ctx.kintone.update_record(follow_ups.id, plan.target_id, follow_ups.write(plan.changes))
    if plan.new is None:
        return plan.target_id
    claim = claim_key(follow_ups, plan)
    if not _claim(ctx, claim):
        raise FollowUpBeingPlanned(f"{FLOW}: another job is creating {plan.key}; will retry")
    try:
        new_id, _ = ctx.kintone.add_record(follow_ups.id, follow_ups.write(plan.new))
    finally:
        ctx.ledger.release(claim)
    return new_id


def say(ctx: FlowContext, follow_ups: AppMapping, current: dict, decision: Decision, target_id=None) -> str:
    """The comments a decision posts (each once) and the record remembered as handled; the outcome word.
    Called once this record's writes landed."""
    rid = current["record_id"]
    if decision.outcome == "incomplete":
        tell(ctx, follow_ups, rid, incomplete_text(follow_ups, decision.missing), current.get("owner"),
             once_as="follow_up_incomplete", same_as="\n".join(decision.missing))
        return decision.outcome
    if decision.outcome == "done":
        if decision.contract_intent:
            _tell_contract_intent(ctx, follow_ups, current)
        ctx.ledger.mark(handled_key(follow_ups, current), REMEMBER_SECONDS)
        return decision.outcome
    plan = decision.plan
    if plan is None:
        return decision.outcome
    tell(ctx, follow_ups, rid, done_text(follow_ups, current, target_id, plan.how, plan.due, ctx.now().date()),
         current.get("owner"), once_as=f"next_{plan.how}_{target_id}_{plan.due}")
    ctx.ledger.mark(handled_key(follow_ups, current), REMEMBER_SECONDS)
    return decision.outcome


# -- found in bulk: a page of follow-ups --------------------------------------------------------------


def timeline_key(current: dict) -> str | None:
    """Whose timeline the follow-up is on (``flows.timeline.timeline_query``): its staff id, else its contract."""
    if not is_blank(current.get("staff_id")):
        return f"staff:{current['staff_id']}"
    if current.get("contract_record_id") is not None:
        return f"contract:{int(current['contract_record_id'])}"
    return None


def _on_timeline(current: dict, other: dict) -> bool:
    """Whether ``other`` is one of the follow-ups ``fetch_timeline`` returns for ``current``."""
    if not is_blank(current.get("staff_id")):
        if other.get("staff_id") != current["staff_id"]:
            return False
    elif current.get("contract_record_id") is None or other.get("contract_record_id") is None \
            or int(other["contract_record_id"]) != int(current["contract_record_id"]):
        return False
    linked = other.get("previous") is not None and int(other["previous"]) == int(current["record_id"])
    return is_blank(other.get("done_on")) or linked


def read_timelines(ctx: FlowContext, follow_ups: AppMapping, page: list[dict]) -> list[dict]:
    """Every follow-up on the timelines of ``page`` that is open or linked to one of them: one query per
    100 timelines (and per 500 follow-ups), with each follow-up's revision."""
    done_code, previous_code = follow_ups.field("done_on").code, follow_ups.field("previous").code
    staff_code, contract_code = follow_ups.field("staff_id").code, follow_ups.field("contract_record_id").code
    keyed = [(timeline_key(r), r) for r in page]
    keyed = [(k, r) for k, r in keyed if k is not None]
    found: dict[str, dict] = {}
    for part in bulk.chunks(keyed, TIMELINES_PER_QUERY):
        staff = sorted({k.split(":", 1)[1] for k, _ in part if k.startswith("staff:")})
        contracts = sorted({int(k.split(":", 1)[1]) for k, _ in part if k.startswith("contract:")})
        whose = [f"{staff_code} in ({', '.join(_quoted(s) for s in staff)})"] if staff else []
        whose += [f"{contract_code} in ({', '.join(map(str, contracts))})"] if contracts else []
        ids = ", ".join(str(int(r["record_id"])) for _, r in part)
        condition = f"({' or '.join(whose)}) and ({done_code} = \"\" or {previous_code} in ({ids}))"
        last = 0
        while True:
            rows = ctx.kintone.get_records(follow_ups.id, f"{condition} and $id > {last} order by $id asc",
                                           fields=["$id", "$revision", *follow_ups.codes(*TIMELINE_FIELDS)],
                                           limit=bulk.READ_PAGE)
            found.update((str(row["$id"]["value"]), follow_ups.read(row)) for row in rows)
            if len(rows) < bulk.READ_PAGE:
                break
            last = int(rows[-1]["$id"]["value"])
    # by 予定日 as the per-record query orders them (empty first, then by record number)
    return sorted(found.values(), key=lambda r: (r.get("due_on") is not None, r.get("due_on") or date.min,
                                                 int(r["record_id"])))


def _quoted(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def run_page(ctx: FlowContext, app_key: str, record_ids: list[str]) -> bulk.PageResult:
    """Follow-ups saved as done found in bulk (a reconcile page: a day of lost webhooks), per page.

    One read of the page (≤ 500 per call), the staff members' timelines once (one query per 100
    timelines), ``decide`` for each follow-up as its own job would, then the next follow-ups to add in
    bulk (POST records.json, 100 per call, under the same claims and 管理キー as the ordinary job) and
    every write in one bulk call (``flows.bulk``: the milestone moved or linked and this record marked
    完了 with its 引継ぎ先, each with the revision it was decided on, a follow-up's writes all or none),
    then the comments (one call each, said once as the ordinary job says them). A follow-up whose
    timeline an earlier follow-up of the page changes (two of one staff member, a milestone another
    one moves), one another job is adding a next follow-up for, and one a bulk call refused, go to
    their ordinary job (after the page: it sees what the page wrote). A crash after the add leaves the
    new follow-up linked by its 前回フォロー: the retry finds it instead of adding it again.
    """
    follow_ups = ctx.mappings[app_key]
    settings = follow_ups.settings("follow_up")
    result = bulk.PageResult()
    rows = bulk.read_records(ctx, follow_ups, record_ids)
    page = [follow_ups.read(row) for row in rows.values()]
    loaded: list[list[dict]] = []
    staff = settings.get("staff_follow_up", "スタッフフォロー")

    def timeline_of(current: dict) -> list[dict]:  # every staff follow-up's timeline of the page, read once
        if not loaded:
            loaded.append(read_timelines(ctx, follow_ups, [r for r in page if r.get("category") == staff
                                                           and not is_blank(r.get("done_on"))]))
        return [r for r in loaded[0] if _on_timeline(current, r)]

    decided: list[tuple[dict, Decision]] = []
    used: set[str] = set()  # timelines an earlier follow-up of the page plans on
    touched: set[str] = set()  # follow-ups an earlier one of the page writes
    for current in page:
        rid = current["record_id"]
        decision = decide(ctx, follow_ups, settings, current, lambda c=current: timeline_of(c))
        if decision.rows is not None:  # written with the rest; decided on as its job decides after writing them
            again = decide(ctx, follow_ups, settings, {**current, "issues": decision.rows}, lambda: [])
            decision = replace(again, rows=decision.rows)
        plan = decision.plan
        writes_self = decision.rows is not None or decision.outcome == "done" or plan is not None
        if plan is not None:
            key = timeline_key(current)
            if rid in touched or (key is not None and key in used) or {r["record_id"] for r in timeline_of(current)} & touched:
                result.fallback.append(rid)  # after the page: its job sees what the page wrote
                continue
            used.update(k for k in (key, _contract_key(current)) if k)
            if plan.changes:
                touched.add(plan.target_id)
        elif writes_self and rid in touched:
            result.fallback.append(rid)
            continue
        if writes_self:
            touched.add(rid)
        decided.append((current, decision))
    targets = {r["record_id"]: r for r in (loaded[0] if loaded else [])}
    return _carry_out_page(ctx, follow_ups, settings, record_ids, rows, result, decided, targets)


def _contract_key(current: dict) -> str | None:
    contract = current.get("contract_record_id")
    return f"contract:{int(contract)}" if contract is not None else None


def _carry_out_page(ctx: FlowContext, follow_ups: AppMapping, settings: dict, record_ids: list[str],
                    rows: dict[str, dict], result: bulk.PageResult, decided: list[tuple[dict, Decision]],
                    targets: dict[str, dict]) -> bulk.PageResult:
    new_ids = _add_next_follow_ups(ctx, follow_ups, [(c, d) for c, d in decided if d.plan and d.plan.new], result)
    updates: list[RecordUpdate] = []
    owners: dict[str, str] = {}  # record written -> the follow-up of the page it is written for
    sent: dict[str, tuple[dict, Decision, str | None]] = {}
    left = set(result.fallback)
    for current, decision in decided:
        rid = current["record_id"]
        if rid in left:
            continue
        plan, target_id = decision.plan, None
        values: dict = {}
        if decision.rows is not None:
            values["issues"] = decision.rows
        if plan is not None:
            target_id = new_ids[rid] if plan.new is not None else plan.target_id
            if plan.changes:
                updates.append(RecordUpdate(plan.target_id, follow_ups.write(plan.changes),
                                            str(targets[plan.target_id]["revision"])))
                owners[plan.target_id] = rid
        if decision.outcome == "done" or plan is not None:
            values.update(mark_values(current, settings, target_id) or {})
        if values:
            updates.append(RecordUpdate(rid, follow_ups.write(values), str(current["revision"])))
            owners[rid] = rid
        sent[rid] = (current, decision, target_id)
    done, refused = bulk.write_records(ctx, follow_ups, updates, owners=owners)
    back = {owners[i] for i in refused}
    for rid, (current, decision, target_id) in sent.items():
        if rid in back:
            continue
        outcome = say(ctx, follow_ups, current, decision, target_id)
        result.handled(rid, outcome, done.get(rid, current["revision"]))
    return bulk.finish_page(ctx, FLOW, follow_ups, record_ids, rows, result, sent={}, landed=({}, sorted(back, key=int)),
                            detail="")


def _add_next_follow_ups(ctx: FlowContext, follow_ups: AppMapping, adding: list[tuple[dict, Decision]],
                         result: bulk.PageResult) -> dict[str, str]:
    """Add the page's next follow-ups, 100 per call, each under its claim; {follow-up id: the new one's id}.
    One another job is adding (its claim is taken), or in a call kintone refused (a 管理キー taken), goes
    to its ordinary job."""
    new_ids: dict[str, str] = {}
    claimed: list[tuple[dict, Decision]] = []
    try:
        for current, decision in adding:
            if _claim(ctx, claim_key(follow_ups, decision.plan)):
                claimed.append((current, decision))
            else:
                result.fallback.append(current["record_id"])
        for part in bulk.chunks(claimed, MAX_RECORDS_PER_BULK_WRITE):
            try:
                ids = ctx.kintone.add_records(follow_ups.id, [follow_ups.write(d.plan.new) for _, d in part])
            except KintoneDataError as exc:
                ctx.log.info("bulk add refused; follow-ups to their ordinary job", step="bulk", code=exc.code,
                             fallback=len(part))
                result.fallback += [c["record_id"] for c, _ in part]
                continue
            new_ids.update((c["record_id"], str(i)) for (c, _), i in zip(part, ids, strict=True))
    finally:
        for _current, decision in claimed:
            ctx.ledger.release(claim_key(follow_ups, decision.plan))
    return new_ids


def _tell_contract_intent(ctx: FlowContext, follow_ups: AppMapping, current: dict) -> None:
    """A renewal-intent answer is put on the contract, where the rep records its 更新結果."""
    contract_id = current.get("contract_record_id")
    if contract_id is None or "contracts" not in ctx.mappings:
        return
    contracts = ctx.mappings["contracts"]
    reason = (current.get("renewal_intent_reason") or "").strip()
    why = f"（{follow_ups.field('renewal_intent_reason').display}：{reason}）" if reason else ""
    tell(ctx, contracts, str(int(contract_id)),
         f"{current.get('title') or '更新意向確認'}（レコード #{current['record_id']}）の結果："
         f"「{follow_ups.field('renewal_intent').display}」{current.get('renewal_intent')}{why}\n"
         f"スタッフさんと指揮命令者の意向がそろったら、「{contracts.field('renewal_outcome').display}」"
         f"（延長・終了）を入力してください。終了の場合は「{contracts.field('end_reason').display}」も選んでください。",
         current.get("owner"), once_as=f"renewal_intent_{current['record_id']}",
         same_as=f"{current.get('renewal_intent')}|{reason}")


# -- what the 担当者 reads ------------------------------------------------------------------------

def incomplete_text(follow_ups: AppMapping, missing: list[str]) -> str:
    table = follow_ups.field("issues")
    parts = [table.fields[n].display for n in ("issue_due", "direction", "report_how")]
    return (f"「{follow_ups.field('done_on').display}」が入力されましたが、次の記入が足りないため、"
            "このフォローはまだ完了になっていません（次回フォローも登録していません）。\n"
            f"{bullet_list(missing)}\n"
            f"「{table.display}」は、スタッフさんと決めた「{parts[0]}」「{parts[1]}」「{parts[2]}」"
            "（いつ・どのように報告するか）まで入力して、保存し直してください。")


def done_text(follow_ups: AppMapping, current: dict, target_id, how: str, due, today) -> str:
    issues = follow_ups.field("issues").display
    facts = follow_ups.field("previous_facts").display
    carry = f"この記録の「{follow_ups.field('facts').display}」は「{facts}」に、未対応の「{issues}」も引き継ぎました。"
    if how == "moved":
        return (f"予定していたフォロー（レコード #{target_id}）を、スタッフさんと決めた{full_date(due)}に"
                f"移しました（同じ時期に二重の予定は作りません）。{carry}")
    if how == "created":
        moved = "" if due == current.get("next_follow_up") else \
            f"（{full_date(current['next_follow_up'])}は休業日のため翌営業日）"
        return (f"次回フォローを{full_date(due)}{moved}で登録しました（レコード #{target_id}）。{carry}"
                f"当日は、前回の記録を見ながら「{issues}」の対応状況から確認してください。")
    if how == "planned":
        return f"次のフォロー（レコード #{target_id}）に記録を引き継ぎました。{carry}"
    end = follow_ups.field("dispatch_end").display
    if how == "after_end":
        text = (f"「{follow_ups.field('next_follow_up').display}」（{full_date(due)}）が"
                f"「{end}」（{full_date(current['dispatch_end'])}）より後のため、次回フォローは登録していません。")
        if target_id:
            return text + f"更新後のフォロー（レコード #{target_id}）に記録を引き継ぎました。{carry}"
        return text + "更新が決まった場合は、更新後の契約のフォロー予定に引き継がれます。"
    return "フォローを完了として記録しました。"
