"""Open issues of a staff follow-up past their 対応期限 (seed 001).

A follow-up record keeps what the staff asked to have solved (相談・課題) in a table, each row with
its 対応期限 and how the answer is reported back (報告方法). A row past its 対応期限 and not ticked
対応済 is an answer the staff is still waiting for: the follow-up's 担当者 is told, with the 上長,
on a business day in business hours; the same set of overdue rows is said once.

kintone calls: one query per 500 follow-ups with an overdue row (only the fields needed), plus one
comment per follow-up whose overdue rows changed; an idle sweep costs one call. Rows carried into
the next follow-up of the staff's timeline (flows/timeline.py) are chased on that one only.
"""

from __future__ import annotations

from flows.context import FlowContext
from flows.deadlines import fetch_all
from flows.notify import bullet_list, tell
from mappings.fields import is_blank
from mappings.japanese_dates import full_date

FLOW = "follow_up_issues"
APP = "follow_ups"


def remind_overdue_issues(ctx: FlowContext) -> str:
    """Tell each follow-up's 担当者 (and 上長) about its overdue, unresolved 相談・課題 rows."""
    if APP not in ctx.mappings:
        return "no_follow_up_app"
    now = ctx.now()
    if not ctx.calendar.is_working_time(now):
        return "outside_working_time"
    follow_ups = ctx.mappings[APP]
    table = follow_ups.field("issues")
    due_code = table.fields["issue_due"].code
    today = now.date()
    told = 0
    fields = follow_ups.codes("issues", "title", "staff_name", "owner", "supervisor")
    # A follow-up whose rows were carried into the next one (引継ぎ先) is chased there, not twice.
    carried = follow_ups.field("carried_to").code
    for record in fetch_all(ctx, follow_ups, f'{due_code} < "{today.isoformat()}" and {carried} = ""', fields):
        values = follow_ups.read(record)
        overdue = [row for row in values.get("issues") or []
                   if row.get("issue_due") and row["issue_due"] < today and is_blank(row.get("resolved"))]
        if not overdue:
            continue
        lines = [f"{(row.get('issue') or '（相談内容未入力）').strip()}（{table.fields['issue_due'].display}："
                 f"{full_date(row['issue_due'])}"
                 + (f"、{table.fields['report_how'].display}：{row['report_how']}" if row.get("report_how") else "")
                 + "）" for row in overdue]
        staff = f"（{values['staff_name']}さん）" if values.get("staff_name") else ""
        text = (f"フォロー「{values.get('title') or values['record_id']}」{staff}の「{table.display}」に、"
                f"{table.fields['issue_due'].display}を過ぎても「{table.fields['resolved'].display}」になっていない"
                f"ものがあります。\n{bullet_list(lines)}\n"
                "スタッフさんは回答を待っています。対応状況を確認して報告方法どおりに伝え、済んだら"
                f"「{table.fields['resolved'].display}」にチェックを入れてください。")
        people = list(values.get("owner") or []) + list(values.get("supervisor") or [])
        same = ",".join(sorted(str(row.get("_row_id")) for row in overdue))
        told += tell(ctx, follow_ups, values["record_id"], text, people, once_as="issues_overdue", same_as=same)
    ctx.log.info("overdue follow-up issues checked", flow=FLOW, step="sweep", count=told, outcome="swept")
    return "swept"
