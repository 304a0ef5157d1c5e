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
"""

from __future__ import annotations

from connectors.errors import RetryLater
from flows import follow_up_gate
from flows.context import FlowContext
from flows.notify import REMEMBER_SECONDS, bullet_list, tell
from flows.timeline import carry_in, fetch_timeline, is_open
from mappings import AppMapping
from mappings.fields import is_blank
from mappings.japanese_dates import full_date

FLOW = "next_follow_up"
CLAIM_SECONDS = 120


class FollowUpBeingPlanned(RetryLater):
    """Another job is creating this next follow-up; the retry finds the record it created."""


def run(ctx: FlowContext, app_key: str, record_id: str, **_params) -> str:
    follow_ups = ctx.mappings[app_key]
    settings = follow_ups.settings("follow_up")
    current = follow_ups.read(ctx.kintone.get_record(follow_ups.id, record_id))
    if is_blank(current.get("done_on")):
        return "nothing_to_do"
    agreed = current.get("next_follow_up")
    handled = f"{FLOW}:{follow_ups.key}:{record_id}:{agreed.isoformat() if agreed else '-'}"
    if ctx.ledger.done(handled):
        return "already_done"  # this record with this 次回フォロー日 (our own write-back's webhook, a replay)
    if current.get("completion") == settings.get("stopped", "中止"):
        return "stopped"
    if _request_to_issue_row(ctx, follow_ups, current, settings):
        current = follow_ups.read(ctx.kintone.get_record(follow_ups.id, record_id))
    missing = follow_up_gate.problems(follow_ups, current, settings)
    if missing:
        tell(ctx, follow_ups, record_id, incomplete_text(follow_ups, missing), current.get("owner"),
             once_as="follow_up_incomplete", same_as="\n".join(missing))
        return "incomplete"
    if current.get("category") != settings.get("staff_follow_up", "スタッフフォロー"):
        _mark_done(ctx, follow_ups, current, settings, None)
        if current.get("category") == settings.get("renewal_check", "更新意向確認"):
            _tell_contract_intent(ctx, follow_ups, current)
        ctx.ledger.mark(handled, REMEMBER_SECONDS)
        return "done"
    target_id, how, due = open_next(ctx, follow_ups, current, settings)
    _mark_done(ctx, follow_ups, current, settings, target_id)
    tell(ctx, follow_ups, record_id, done_text(follow_ups, current, target_id, how, due, ctx.now().date()),
         current.get("owner"), once_as=f"next_{how}_{target_id}_{due}")
    ctx.ledger.mark(handled, REMEMBER_SECONDS)
    return {"moved": "milestone_moved", "created": "next_follow_up_created", "planned": "linked_to_planned",
            "after_end": "after_dispatch_end", "none": "no_next_follow_up"}[how]


def open_next(ctx: FlowContext, follow_ups: AppMapping, current: dict, settings: dict):
    """Open the follow-up after ``current``; return (its id or None, how, its day)."""
    rid = current["record_id"]
    timeline = fetch_timeline(ctx, follow_ups, current)
    linked = [r for r in timeline if r.get("previous") is not None and int(r["previous"]) == int(rid)]
    agreed = current.get("next_follow_up")
    if linked:  # opened already: by an earlier run, or the 次回フォロー日 was changed since
        target = linked[0]
        if agreed is None or not is_open(target, settings):
            return target["record_id"], "planned", target.get("due_on")
        due = ctx.calendar.on_or_after(agreed)
        if target.get("due_on") == due:
            return target["record_id"], "planned", due
        ctx.kintone.update_record(follow_ups.id, target["record_id"], follow_ups.write({"due_on": due}))
        return target["record_id"], "moved", due
    staff_follow_up = settings.get("staff_follow_up", "スタッフフォロー")
    since = current["done_on"]  # a planned follow-up left in the past is not the next one
    planned = [r for r in timeline if r["record_id"] != rid and is_open(r, settings)
               and r.get("category") == staff_follow_up and r.get("due_on") is not None and r["due_on"] >= since]
    if agreed is None:
        if not planned:
            return None, "none", None
        nearest = planned[0]
        ctx.kintone.update_record(follow_ups.id, nearest["record_id"], follow_ups.write(carry_in(current, nearest)))
        return nearest["record_id"], "planned", nearest["due_on"]
    due = ctx.calendar.on_or_after(agreed)
    window = int(settings.get("milestone_window_days", 7))
    close = [r for r in planned if abs((r["due_on"] - due).days) <= window]
    if close:
        milestone = min(close, key=lambda r: abs((r["due_on"] - due).days))
        ctx.kintone.update_record(follow_ups.id, milestone["record_id"],
                                  follow_ups.write({**carry_in(current, milestone), "due_on": due}))
        return milestone["record_id"], "moved", due
    end = current.get("dispatch_end")
    if end is not None and due > end:
        later = [r for r in planned if r["due_on"] > end]  # e.g. the renewal's first follow-up
        if later:
            ctx.kintone.update_record(follow_ups.id, later[0]["record_id"],
                                      follow_ups.write(carry_in(current, later[0])))
            return later[0]["record_id"], "after_end", due
        return None, "after_end", due
    return _add_next(ctx, follow_ups, current, settings, due), "created", due


def _add_next(ctx: FlowContext, follow_ups: AppMapping, current: dict, settings: dict, due) -> str:
    owner_of = current.get("staff_id") or current.get("contract_record_id") or f"f{current['record_id']}"
    key = f"{owner_of}:next_{due.isoformat()}"
    claim = f"{FLOW}:{follow_ups.key}:{key}"
    if not ctx.ledger.claim(claim, CLAIM_SECONDS):
        raise FollowUpBeingPlanned(f"{FLOW}: another job is creating {key}; will retry")
    try:
        new_id, _ = ctx.kintone.add_record(follow_ups.id, follow_ups.write({
            "schedule_key": key,
            "title": f"次回フォロー {full_date(due)}",
            "category": settings.get("staff_follow_up", "スタッフフォロー"),
            **{name: current[name] for name in ("contract_record_id", "client", "staff_name", "commander",
                                                "staff_id", "dispatch_end") if not is_blank(current.get(name))},
            "due_on": due,
            "owner": current.get("owner") or [],
            "supervisor": current.get("supervisor") or [],
            **carry_in(current, None),
        }))
    finally:
        ctx.ledger.release(claim)
    return new_id


def _mark_done(ctx: FlowContext, follow_ups: AppMapping, current: dict, settings: dict, target_id) -> None:
    values = {"completion": settings.get("done", "完了")}
    if target_id is not None:
        values["carried_to"] = int(target_id)
    if current.get("completion") == values["completion"] and current.get("carried_to") == values.get("carried_to"):
        return
    ctx.kintone.update_record(follow_ups.id, current["record_id"], follow_ups.write(values))


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


def _request_to_issue_row(ctx: FlowContext, follow_ups: AppMapping, current: dict, settings: dict) -> bool:
    """A thank-you call's 先方の要望 becomes a 相談・課題 row with its 対応期限 (once); True when added."""
    request = (current.get("client_request") or "").strip()
    if current.get("category") != settings.get("thank_you_call", "お礼電話") or not request:
        return False
    rows = [r for r in current.get("issues") or [] if not all(is_blank(v) for k, v in r.items() if k != "_row_id")]
    if any((r.get("issue") or "").strip() == request for r in rows):
        return False
    due = follow_up_gate.request_due(ctx.calendar, current.get("called_at"), current.get("done_on"), settings)
    row = {"issue": request, "issue_due": due, "report_how": settings.get("request_report_how", "")}
    ctx.kintone.update_record(follow_ups.id, current["record_id"], follow_ups.write({"issues": [*rows, row]}))
    return True


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
