"""The next follow-up is always planned (seed 001): when a follow-up is done and its 次回フォロー日 is
set, the next follow-up record is created for that day (on a business day), with the same 担当者,
so whoever picks it up continues from this record. A done follow-up without a 次回フォロー日 gets a
reminder from the deadline sweep (mappings/default/deadlines.toml).

Created once: the new record's 管理キー names the contract and the date, and is looked for before
adding (also after an add whose answer was lost); a Redis claim keeps two jobs from adding at once.
kintone calls: 4 when it creates the next follow-up (read, look, add, comment), 2 when it exists,
1 when the follow-up is not done or has no next date.
"""

from __future__ import annotations

from connectors.errors import RetryLater
from flows.context import FlowContext
from flows.deadline_texts import japanese_date
from flows.notify import tell
from mappings.fields import is_blank

FLOW = "next_follow_up"
CLAIM_SECONDS = 120


class FollowUpBeingPlanned(RetryLater):
    """Another job is creating this next follow-up; the retry finds the record it created."""


def run(ctx: FlowContext, app_key: str, record_id: str, **_params) -> str:
    follow_ups = ctx.mappings[app_key]
    settings = follow_ups.settings("follow_up")
    current = follow_ups.read(ctx.kintone.get_record(follow_ups.id, record_id))
    next_day = current.get("next_follow_up")
    if is_blank(current.get("done_on")) or next_day is None:
        return "nothing_to_do"
    due = ctx.calendar.on_or_after(next_day)
    owner_of = current.get("contract_record_id")
    key = f"{int(owner_of) if owner_of is not None else 'f' + record_id}:next_{due.isoformat()}"
    key_code = follow_ups.field("schedule_key").code
    if ctx.kintone.get_records(follow_ups.id, f'{key_code} = "{key}"', fields=[key_code], limit=1):
        return "already_planned"
    claim = f"{FLOW}:{follow_ups.key}:{key}"
    if not ctx.ledger.claim(claim, CLAIM_SECONDS):
        raise FollowUpBeingPlanned(f"{FLOW}: another job is creating {key}; will retry")
    try:
        new_id, _ = ctx.kintone.add_record(follow_ups.id, follow_ups.write({
            "schedule_key": key,
            "title": f"次回フォロー（{due.month}月{due.day}日）",
            "category": settings.get("staff_follow_up", "スタッフフォロー"),
            **{name: current[name] for name in ("contract_record_id", "client", "staff_name", "commander")
               if current.get(name) is not None},
            "due_on": due,
            "owner": current.get("owner") or [],
            "supervisor": current.get("supervisor") or [],
        }))
    finally:
        ctx.ledger.release(claim)
    moved = "" if due == next_day else f"（{japanese_date(next_day)}は休業日のため翌営業日）"
    tell(ctx, follow_ups, record_id,
         f"次回フォローを{japanese_date(due)}{moved}で登録しました（レコード #{new_id}）。"
         f"当日は、この記録の「{follow_ups.field('issues').display}」の対応状況から確認してください。",
         current.get("owner"), once_as=f"next_{key}")
    return "next_follow_up_created"
