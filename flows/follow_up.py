"""Staff follow-up schedule from a concluded individual contract (seed 001, issue 13).

When an individual contract (個別契約) reaches 締結済, the Follow-up app gets one record per
follow-up of the staff's first three months (初日, 1週目, 1ヶ月, 2ヶ月, 3ヶ月; the list is
``[follow_up] schedule`` in the Follow-up mapping), or for a renewal (更新回数 ≥ 1) one record
for the renewal, and before the 派遣終了日 the renewal-intent checks with the staff and the
指揮命令者 (``[[follow_up.renewal_checks]]``, 45 and 30 days). Each is due on a business day, with
the sales rep as 担当者 and the rep's 上長 (supervisor directory) as 上長; nothing is planned after
the 派遣終了日. At the milestones (the first day, the configured renewals) a second record, 区分
お礼電話, is the manager's thank-you call to the client's 指揮命令者.

One timeline per staff member: every record names the person's G-Staff id (スタッフID), and a new
contract's first follow-up opens linked to the person's last follow-up of an earlier contract
(flows/timeline.py). Edits of a concluded contract run the flow again: a 中途終了日 stops the open
follow-ups after it and a 取消 stops all of them (完了判定 中止, 中止理由); an ended contract must
name a listed 終了理由 (counted by the 終了率, flows/retention.py).

Exactly once: every record carries a 管理キー (contract id and follow-up); the flow first reads
which keys exist and creates only the missing ones, all in one call (kintone adds them all or
none). The bulk add sends no webhook, which is right: no flow starts from a new follow-up.

kintone calls: 4 for a new schedule (contract, existing follow-ups, one bulk add, one comment), one
more query with a staff id (the earlier timeline) and one update when it links to it; 2 when run
again or on an edit; 1 for a contract that is not a concluded individual one.
"""

from __future__ import annotations

import calendar as months_calendar
from dataclasses import dataclass
from datetime import date, timedelta

from flows.context import FlowContext
from flows.notify import bullet_list, tell
from flows.timeline import carry_in
from mappings import AppMapping, MappingError, User
from mappings.dispatch_law import staff_ids
from mappings.fields import is_blank
from mappings.japanese_dates import full_date

FLOW = "follow_up"
FOLLOW_UP_APP = "follow_ups"


@dataclass(frozen=True)
class Planned:
    key: str  # unique within the contract: first_day, thanks_first_day, renewal_2, ...
    title: str
    category: str  # スタッフフォロー / お礼電話
    due_on: date
    owner: list[User]
    supervisor: list[User]
    thank_you_call: bool = False  # the manager's call to the 指揮命令者, not a staff follow-up


def run(ctx: FlowContext, app_key: str, record_id: str, **_params) -> str:
    contracts = ctx.mappings[app_key]
    follow_ups = ctx.mappings[FOLLOW_UP_APP]
    settings = follow_ups.settings(FLOW)
    log = ctx.log.bind(flow=FLOW, app=app_key, record_id=record_id)
    contract = contracts.read(ctx.kintone.get_record(contracts.id, record_id))
    status = contracts.status_key(contract.get("status"))
    if status == "cancelled":
        outcome = stop_schedule(ctx, contracts, follow_ups, contract, None, settings)
    elif status != "concluded":
        outcome = "not_concluded"
    elif contract.get("contract_kind") != settings.get("individual_contract", "個別契約"):
        outcome = "not_individual_contract"
    elif contract.get("dispatch_start") is None:
        tell(ctx, contracts, record_id,
             f"締結済になりましたが「{contracts.field('dispatch_start').display}」が未入力のため、"
             "スタッフフォローの予定を作成できません。入力後、担当者がスタッフフォローアプリに予定を登録してください。",
             contract.get("sales_rep"), once_as="follow_up_no_start")
        outcome = "no_dispatch_start"
    else:
        outcome = create_schedule(ctx, contracts, follow_ups, contract, plan(ctx, settings, contract))
        check_renewal_outcome(ctx, contracts, contract)
        if contract.get("ended_early_on") is not None:
            outcome = stop_schedule(ctx, contracts, follow_ups, contract, contract["ended_early_on"], settings)
    log.info("follow-up schedule checked", step="schedule", outcome=outcome)
    return outcome


def plan(ctx: FlowContext, settings: dict, contract: dict) -> list[Planned]:
    """The follow-ups this contract calls for, each due on a business day."""
    cal = ctx.calendar
    start = contract["dispatch_start"]
    reps = [u for u in contract.get("sales_rep") or [] if u.code]
    manager_code = ctx.mappings.deadlines.supervisors.for_user(reps[0].code if reps else None)
    manager = [User(code=manager_code)] if manager_code else []
    follow, thanks = settings.get("staff_follow_up", "スタッフフォロー"), settings.get("thank_you_call", "お礼電話")
    first_day = cal.on_or_after(start)
    renewal = int(contract.get("renewal_count") or 0)
    planned: list[Planned] = []
    if renewal == 0:
        for item in settings.get("schedule", []):
            due = _due(cal, start, item, not_before=first_day)
            planned.append(Planned(item["key"], item["title"], follow, due, reps, manager))
            if item.get("thank_you_call"):
                planned.append(Planned(f"thanks_{item['key']}", item["thank_you_call"], thanks, due,
                                       manager or reps, manager, thank_you_call=True))
    else:
        title = settings.get("renewal_title", "更新{n}回目フォロー").format(n=renewal)
        planned.append(Planned(f"renewal_{renewal}", title, follow, first_day, reps, manager))
        if renewal in settings.get("thank_you_call_renewals", []):
            call = settings.get("renewal_thank_you_title", "お礼電話（更新{n}回目）").format(n=renewal)
            planned.append(Planned(f"thanks_renewal_{renewal}", call, thanks, first_day, manager or reps, manager,
                                   thank_you_call=True))
    planned += renewal_checks(ctx, settings, contract, first_day, reps, manager)
    last = last_day(contract)
    kept = [p for p in planned if last is None or p.due_on <= last or p.due_on == first_day]
    return sorted(kept, key=lambda p: p.due_on)  # stable: a day's thank-you call stays after its follow-up


def renewal_checks(ctx: FlowContext, settings: dict, contract: dict, first_day: date, reps: list[User],
                   manager: list[User]) -> list[Planned]:
    """Before the 派遣終了日: the renewal-intent checks with the staff and the 指揮命令者 (lead times in the mapping).

    A contract shorter than a lead time gets that check on its first day. None after a 中途終了日.
    """
    end = contract.get("dispatch_end")
    if end is None or contract.get("ended_early_on") is not None:
        return []
    category = settings.get("renewal_check", "更新意向確認")
    out = []
    for item in settings.get("renewal_checks", []):
        due = max(ctx.calendar.on_or_before(end - timedelta(days=int(item["days_before_end"]))), first_day)
        out.append(Planned(f"{item['key']}_{end.isoformat()}", item["title"], category, due, reps, manager))
    return out


def last_day(contract: dict) -> date | None:
    """The contract's last day of dispatch: its 中途終了日 when it ended early, else its 派遣終了日."""
    ends = [d for d in (contract.get("dispatch_end"), contract.get("ended_early_on")) if d is not None]
    return min(ends) if ends else None


def _due(cal, start: date, item: dict, not_before: date) -> date:
    if "months" in item:
        day = _add_months(start, int(item["months"]))
    elif "days" in item:
        day = start + timedelta(days=int(item["days"]))
    else:
        raise MappingError(f"follow-up {item.get('key')!r}: give days or months")
    due = cal.on_or_before(day) if item.get("roll") == "backward" else cal.on_or_after(day)
    return max(due, not_before)


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, months_calendar.monthrange(year, month)[1]))


def create_schedule(ctx: FlowContext, contracts: AppMapping, follow_ups: AppMapping, contract: dict,
                    planned: list[Planned]) -> str:
    """Create the planned follow-ups that do not exist yet, then tell the rep once."""
    contract_id = contract["record_id"]
    have = {r.get("schedule_key") for r in contract_follow_ups(ctx, follow_ups, contract_id)}
    missing = [p for p in planned if f"{contract_id}:{p.key}" not in have]
    if missing:
        staff_id = timeline_staff_id(contract)
        follow = ctx.mappings[FOLLOW_UP_APP].settings(FLOW).get("staff_follow_up", "スタッフフォロー")
        first = next((p for p in missing if p.category == follow), None)
        previous = last_unlinked(ctx, follow_ups, staff_id, contract_id, follow) if staff_id and first else None
        ids = ctx.kintone.add_records(follow_ups.id, [
            follow_ups.write({
                "schedule_key": f"{contract_id}:{p.key}", "title": p.title, "category": p.category,
                "contract_record_id": int(contract_id), "client": contract.get("client") or "",
                "staff_name": contract.get("staff_name") or "", "commander": contract.get("commander") or "",
                "staff_id": staff_id, "dispatch_end": contract.get("dispatch_end"),
                "due_on": p.due_on, "owner": p.owner, "supervisor": p.supervisor,
                **(carry_in(previous, None) if previous is not None and p is first else {}),
            })
            for p in missing
        ])
        if previous is not None:  # the earlier contract's last follow-up now points forward
            ctx.kintone.update_record(follow_ups.id, previous["record_id"], follow_ups.write(
                {"carried_to": int(ids[missing.index(first)])}))
    told = tell(ctx, contracts, contract_id, schedule_text(ctx, follow_ups, contract, planned),
                [*(contract.get("sales_rep") or []), *_managers(planned)], once_as="follow_up_schedule",
                same_as="schedule")  # told once per contract; later stops are told on their own
    if missing:
        return "schedule_created"
    return "schedule_told" if told else "already_scheduled"


def last_unlinked(ctx: FlowContext, follow_ups: AppMapping, staff_id: str, contract_id: str,
                  category: str) -> dict | None:
    """The staff member's latest done follow-up of another contract that opened no next one (one call).

    A renewal (or a new contract with the same person) continues that timeline: its first follow-up
    opens linked to it, with its facts and open 相談・課題 carried in.
    """
    f = follow_ups.field
    quoted = staff_id.replace("\\", "\\\\").replace('"', '\\"')
    query = (f'{f("staff_id").code} = "{quoted}" and {f("category").code} in ("{category}")'
             f' and {f("done_on").code} != "" and {f("carried_to").code} = ""'
             f' and {f("contract_record_id").code} != {int(contract_id)} order by {f("done_on").code} desc')
    rows = ctx.kintone.get_records(follow_ups.id, query, fields=["$id", *follow_ups.codes(
        "title", "done_on", "facts", "issues", "completion")], limit=1)
    return follow_ups.read(rows[0]) if rows else None


def check_renewal_outcome(ctx: FlowContext, contracts: AppMapping, contract: dict) -> bool:
    """An ended contract (更新結果 終了, or a 中途終了日) names its 終了理由 from the list; else one comment."""
    renewals = contracts.settings("renewals")
    ended = contract.get("renewal_outcome") == renewals.get("ended", "終了") or contract.get("ended_early_on")
    reasons = contracts.field("end_reason").options
    reason = contract.get("end_reason")
    if not ended or (not is_blank(reason) and (not reasons or reason in reasons)):
        return False
    label, outcome = contracts.field("end_reason").display, contracts.field("renewal_outcome").display
    said = f"「{label}」が「{reason}」ですが、選択肢にありません。" if not is_blank(reason) else f"「{label}」が未選択です。"
    return tell(ctx, contracts, contract["record_id"],
                f"この契約は終了（「{outcome}」{renewals.get('ended', '終了')}または中途終了）となっていますが、{said}"
                f"終了率の集計で理由ごとに数えるため、次から選んでください。\n{bullet_list(reasons)}",
                contract.get("sales_rep"), once_as="end_reason_missing", same_as=str(reason))


def timeline_staff_id(contract: dict) -> str:
    """The G-Staff staff id whose timeline this contract continues ("" for several: one per contract)."""
    ids = staff_ids(contract.get("staff_ids"))
    return ids[0] if len(ids) == 1 else ""


def contract_follow_ups(ctx: FlowContext, follow_ups: AppMapping, contract_id: str) -> list[dict]:
    """The follow-ups of one contract (one call, only the fields the schedule needs)."""
    rows = ctx.kintone.get_records(
        follow_ups.id, f'{follow_ups.field("contract_record_id").code} = {int(contract_id)}',
        fields=["$id", *follow_ups.codes("schedule_key", "title", "due_on", "done_on", "completion")], limit=500)
    return [follow_ups.read(r) for r in rows]


def stop_schedule(ctx: FlowContext, contracts: AppMapping, follow_ups: AppMapping, contract: dict,
                  after: date | None, settings: dict) -> str:
    """Stop the contract's open follow-ups planned after ``after`` (all when None: cancelled), tell the rep."""
    stopped_value = settings.get("stopped", "中止")
    today = ctx.now().date()
    if after is None:
        reason = settings.get("stop_reason_cancelled", "契約取消")
    else:
        reason = settings.get("stop_reason_ended_early", "中途終了（{date}）").format(date=full_date(after))
    stop = [r for r in contract_follow_ups(ctx, follow_ups, contract["record_id"])
            if is_blank(r.get("done_on")) and r.get("completion") != stopped_value
            and (after is None or (r.get("due_on") is not None and r["due_on"] > after))]
    for r in stop:
        ctx.kintone.update_record(follow_ups.id, r["record_id"], follow_ups.write(
            {"completion": stopped_value, "stop_reason": reason}))
    if stop:
        lines = [f"{r.get('title') or '#' + r['record_id']}（{full_date(r['due_on'])}）"
                 for r in sorted(stop, key=lambda r: r.get("due_on") or today) if r.get("due_on")]
        tell(ctx, contracts, contract["record_id"],
             f"【スタッフフォロー予定の中止】\n{reason}のため、次のフォロー予定を「{follow_ups.field('completion').display}」"
             f"{stopped_value}にしました。\n{bullet_list(lines)}\n"
             "スタッフさんへの最終フォローが必要な場合は、担当者がフォローを登録してください。",
             contract.get("sales_rep"), once_as="follow_up_stopped", same_as=",".join(r["record_id"] for r in stop))
        return "schedule_stopped"
    return "nothing_to_stop"


def _managers(planned: list[Planned]) -> list[User]:
    return [u for p in planned if p.thank_you_call for u in p.owner]


def schedule_text(ctx: FlowContext, follow_ups: AppMapping, contract: dict, planned: list[Planned]) -> str:
    app = follow_ups.app.label or "スタッフフォロー"
    facts, issues, next_date = (follow_ups.field(n).display for n in ("facts", "issues", "next_follow_up"))
    staff = contract.get("staff_name")
    who = f"{staff}さん" if not is_blank(staff) else "スタッフさん"
    client = contract.get("client") or "（派遣先未入力）"
    lines = [f"{p.title}：{full_date(p.due_on)}" + ("（上長から）" if p.thank_you_call else "")
             for p in planned]
    parts = [f"【スタッフフォロー予定の作成】\n{who}（派遣先：{client}）のフォロー予定を、{app}アプリに登録しました。",
             bullet_list(lines),
             f"フォローのたびに「{facts}」と「{issues}」（対応期限・報告方法つき）を分けて記録し、"
             f"「{next_date}」はその場でスタッフさんと決めて入力してください。前回の記録を見ながら話を聞くと、"
             "誰が担当しても続きからフォローできます。"]
    if any(p.thank_you_call for p in planned):
        commander = contract.get("commander")
        whom = f"指揮命令者（{commander}）" if commander else "指揮命令者"
        parts.append(f"上長：お礼電話は、派遣先の{whom}へ職場にお電話をお願いします。")
    return "\n\n".join(parts)
