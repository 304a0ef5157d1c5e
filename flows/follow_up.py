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
(flows/timeline.py), a renewal or a new contract with another client alike. A contract listing
several スタッフID plans one series per worker: each worker's follow-ups and renewal-intent checks
carry that worker's スタッフID and name (``several_staff_title``: 「山田 花子さんの初日フォロー」), and
each worker's first follow-up continues that worker's timeline. The thank-you call stays one per
contract: it thanks the 指揮命令者 for the contract, one call for everyone it dispatches. A contract
with one worker (or none named) is planned as it always was. Edits of a concluded contract run the
flow again: a 中途終了日 stops the open follow-ups after it and a 取消 stops all of them, every
worker's (完了判定 中止, 中止理由); an ended contract must name a listed 終了理由 (counted by the
終了率, flows/retention.py).

Exactly once: every record carries a 管理キー (contract id, with several workers the worker's staff id,
and the follow-up); the flow first reads which keys exist and creates only the missing ones (one call
per 100 records; kintone adds each call's all or none). When a contract's workers change, a worker's
follow-up under the other form of the key counts as theirs, and a series made for several workers
before each had their own (no スタッフID) is left as it is: nothing is planned twice. The earlier
follow-ups are pointed forward (引継ぎ先) right after the add; the ledger notes that before the add,
so a run after a failure in between (the job's retry, a re-delivered webhook) writes the missing
引継ぎ先 from the new records' 前回フォロー. The bulk add sends no webhook, which is right: no flow
starts from a new follow-up.

kintone calls, the same for one worker as for twelve: 4 for a new schedule (contract, existing
follow-ups, one bulk add, one comment), one more query when a worker has a staff id (every worker's
earlier timeline at once) and one bulk update when any of them continues one; 2 when run again or on
an edit (one more to finish a link a failure interrupted); 1 for a contract that is not a concluded
individual one. Beyond 100 new records (13 workers and more) one add per 100; beyond 500 unlinked
earlier follow-ups of the workers, one query for each worker not found among them.
"""

from __future__ import annotations

import calendar as months_calendar
from dataclasses import dataclass, replace
from datetime import date, timedelta

from connectors.kintone import KintoneDataError
from connectors.kintone.interface import (
    MAX_RECORDS_PER_BULK_WRITE,
    MAX_REQUESTS_PER_BULK,
    BulkWrite,
    NewRecord,
    RecordUpdate,
)
from flows import bulk
from flows.context import FlowContext
from flows.notify import REMEMBER_SECONDS, SENDING_SECONDS, bullet_list, tell
from flows.timeline import carry_in
from mappings import AppMapping, MappingError, User
from mappings.dispatch_law import staff_by_id, staff_ids, staff_names
from mappings.fields import is_blank
from mappings.japanese_dates import full_date

FLOW = "follow_up"
FOLLOW_UP_APP = "follow_ups"


@dataclass(frozen=True)
class Worker:
    """One worker the contract dispatches."""

    staff_id: str  # G-Staff's スタッフID; "" when the contract names none
    name: str  # their 派遣スタッフ
    label: str  # how titles and lists name them: 山田 花子さん, or スタッフさん（スタッフID：S-1001）


@dataclass(frozen=True)
class Planned:
    key: str  # unique within the contract's series: first_day, thanks_first_day, renewal_2, ...
    title: str
    category: str  # スタッフフォロー / お礼電話
    due_on: date
    owner: list[User]
    supervisor: list[User]
    thank_you_call: bool = False  # the manager's call to the 指揮命令者, not a staff follow-up
    worker: Worker | None = None  # whose follow-up; None: the contract's (a thank-you call for several)
    series: str = ""  # the worker's staff id in the 管理キー when the contract has several workers


def run(ctx: FlowContext, app_key: str, record_id: str, **_params) -> str:
    contracts = ctx.mappings[app_key]
    follow_ups = ctx.mappings[FOLLOW_UP_APP]
    settings = follow_ups.settings(FLOW)
    log = ctx.log.bind(flow=FLOW, app=app_key, record_id=record_id)
    contract = contracts.read(ctx.kintone.get_record(contracts.id, record_id))
    decision = decide(ctx, contracts, follow_ups, contract)
    outcome = decision.outcome
    if outcome == CANCELLED:
        outcome = stop_schedule(ctx, contracts, follow_ups, contract, None, settings)
    elif outcome == "no_dispatch_start":
        tell_no_dispatch_start(ctx, contracts, contract)
    elif outcome == SCHEDULE:
        outcome = create_schedule(ctx, contracts, follow_ups, contract, list(decision.planned))
        check_renewal_outcome(ctx, contracts, contract)
        if decision.stop:
            outcome = stop_schedule(ctx, contracts, follow_ups, contract, decision.stop_after, settings)
    log.info("follow-up schedule checked", step="schedule", outcome=outcome)
    return outcome


# -- the decision: one contract as read, then its follow-ups as read; no kintone call ------------
#
# The per-record job above and the page job (``run_page``) both decide with ``decide`` (what the
# contract calls for), ``missing_schedule`` (which of its planned follow-ups do not exist yet),
# ``schedule_records`` (the records to add, each worker's first linked to their earlier timeline) and
# ``to_stop`` (which open follow-ups a 取消 or a 中途終了日 stops); each carries them out its own way.

SCHEDULE, CANCELLED = "schedule", "cancelled"


@dataclass(frozen=True)
class Decision:
    """What one contract calls for: its outcome word when nothing is to be written (not_concluded,
    not_individual_contract, no_dispatch_start: the rep is told), else ``schedule`` (``planned``,
    stopped after ``stop_after`` when ``stop``: a 中途終了日) or ``cancelled`` (every open one stops)."""

    outcome: str
    planned: tuple[Planned, ...] = ()
    stop: bool = False
    stop_after: date | None = None

    @property
    def reads_follow_ups(self) -> bool:
        return self.outcome in (SCHEDULE, CANCELLED)


def decide(ctx: FlowContext, contracts: AppMapping, follow_ups: AppMapping, contract: dict) -> Decision:
    """What the contract as read calls for (the plan uses the calendar and the supervisor directory)."""
    settings = follow_ups.settings(FLOW)
    status = contracts.status_key(contract.get("status"))
    if status == "cancelled":
        return Decision(CANCELLED, stop=True)
    if status != "concluded":
        return Decision("not_concluded")
    if contract.get("contract_kind") != settings.get("individual_contract", "個別契約"):
        return Decision("not_individual_contract")
    if contract.get("dispatch_start") is None:
        return Decision("no_dispatch_start")
    planned = for_each_worker(settings, plan(ctx, settings, contract), workers(contract))
    ended = contract.get("ended_early_on")
    return Decision(SCHEDULE, tuple(planned), stop=ended is not None, stop_after=ended)


@dataclass(frozen=True)
class Schedule:
    """The planned follow-ups of one contract that do not exist yet, and each worker's first new staff
    follow-up by staff id (it continues that worker's earlier timeline, when they have one)."""

    missing: tuple[Planned, ...]
    firsts: dict[str, Planned]


def missing_schedule(follow_ups: AppMapping, contract_id: str, planned: list[Planned] | tuple[Planned, ...],
                     existing: list[dict]) -> Schedule:
    """Which of ``planned`` the contract's follow-ups as read (``existing``) do not hold yet."""
    have = {r.get("schedule_key"): r.get("staff_id") or "" for r in existing}
    missing = tuple(p for p in planned if not already_planned(contract_id, p, have))
    follow = follow_ups.settings(FLOW).get("staff_follow_up", "スタッフフォロー")
    firsts: dict[str, Planned] = {}
    for p in missing:
        if p.category == follow and p.worker is not None and p.worker.staff_id:
            firsts.setdefault(p.worker.staff_id, p)
    return Schedule(missing, firsts)


def schedule_records(follow_ups: AppMapping, contract: dict, schedule: Schedule,
                     earlier: dict[str, dict]) -> list[tuple[Planned, dict | None, dict]]:
    """(planned, the earlier follow-up it continues or None, the kintone record to add) per missing follow-up;
    ``earlier``: each worker's last unlinked follow-up of another contract, by staff id."""
    contract_id = contract["record_id"]
    out = []
    for p in schedule.missing:
        first = p.worker is not None and schedule.firsts.get(p.worker.staff_id) is p
        before = earlier.get(p.worker.staff_id) if first else None
        out.append((p, before, follow_ups.write({
            "schedule_key": schedule_key(contract_id, p), "title": p.title, "category": p.category,
            "contract_record_id": int(contract_id), "client": contract.get("client") or "",
            "staff_name": p.worker.name if p.worker else contract.get("staff_name") or "",
            "commander": contract.get("commander") or "",
            "staff_id": p.worker.staff_id if p.worker else "", "dispatch_end": contract.get("dispatch_end"),
            "due_on": p.due_on, "owner": p.owner, "supervisor": p.supervisor,
            **(carry_in(before, None) if before is not None else {}),
        })))
    return out


def to_stop(settings: dict, rows: list[dict], after: date | None) -> list[dict]:
    """The open follow-ups among ``rows`` a stop ends: due after ``after``, or all of them (None: cancelled)."""
    stopped_value = settings.get("stopped", "中止")
    return [r for r in rows if is_blank(r.get("done_on")) and r.get("completion") != stopped_value
            and (after is None or (r.get("due_on") is not None and r["due_on"] > after))]


def stop_reason(settings: dict, after: date | None) -> str:
    if after is None:
        return settings.get("stop_reason_cancelled", "契約取消")
    return settings.get("stop_reason_ended_early", "中途終了（{date}）").format(date=full_date(after))


def stop_values(follow_ups: AppMapping, settings: dict, after: date | None) -> dict:
    """The fields a stopped follow-up is written with (完了判定 中止, 中止理由)."""
    return follow_ups.write({"completion": settings.get("stopped", "中止"), "stop_reason": stop_reason(settings, after)})


def tell_no_dispatch_start(ctx: FlowContext, contracts: AppMapping, contract: dict) -> bool:
    return tell(ctx, contracts, contract["record_id"],
                f"締結済になりましたが「{contracts.field('dispatch_start').display}」が未入力のため、"
                "スタッフフォローの予定を作成できません。入力後、担当者がスタッフフォローアプリに予定を登録してください。",
                contract.get("sales_rep"), once_as="follow_up_no_start")


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


def workers(contract: dict) -> list[Worker]:
    """The contract's workers: one per スタッフID in the order listed, or one without an id when it lists none.

    With several, the 派遣スタッフ names are paired with the ids in order when there are as many; else
    each worker keeps the whole field and is named by their id.
    """
    ids = staff_ids(contract.get("staff_ids"))
    whole = (contract.get("staff_name") or "").strip()
    if len(ids) <= 1:
        return [Worker(ids[0] if ids else "", contract.get("staff_name") or "", f"{whole}さん" if whole else "スタッフさん")]
    names = staff_names(whole)
    if len(names) == len(ids):
        return [Worker(staff_id, name, f"{name}さん") for staff_id, name in zip(ids, names, strict=True)]
    return [Worker(staff_id, whole, staff_by_id(staff_id)) for staff_id in ids]


def for_each_worker(settings: dict, planned: list[Planned], staff: list[Worker]) -> list[Planned]:
    """One series per worker. With one worker the plan is kept as it is, their id on every record; with
    several, each follow-up and renewal-intent check is planned for each worker, named after them, and
    the thank-you call once for the contract."""
    if len(staff) == 1:
        return [replace(p, worker=staff[0]) for p in planned]
    title = settings.get("several_staff_title", "{staff}の{title}")
    out: list[Planned] = []
    for p in planned:  # by day, then the workers in the contract's order
        if p.thank_you_call:
            out.append(p)
        else:
            out += [replace(p, title=title.format(staff=w.label, title=p.title), worker=w, series=w.staff_id)
                    for w in staff]
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
    """Create the planned follow-ups that do not exist yet, each worker's first one linked to that
    worker's earlier timeline, then tell the rep once."""
    contract_id = contract["record_id"]
    existing = contract_follow_ups(ctx, follow_ups, contract_id)
    link = link_key(follow_ups, contract_id)
    if ctx.ledger.done(link + ":sending") and not ctx.ledger.done(link):
        finish_links(ctx, follow_ups, existing, link)  # a run that failed between its add and its links
    schedule = missing_schedule(follow_ups, contract_id, planned, existing)
    if schedule.missing:
        follow = follow_ups.settings(FLOW).get("staff_follow_up", "スタッフフォロー")
        earlier = (last_unlinked(ctx, follow_ups, list(schedule.firsts), contract_id, follow)
                   if schedule.firsts else {})
        opens = schedule_records(follow_ups, contract, schedule, earlier)
        if earlier:
            ctx.ledger.release(link)
            ctx.ledger.mark(link + ":sending", SENDING_SECONDS)
        records = [record for _p, _before, record in opens]
        ids = [new_id for start in range(0, len(records), MAX_RECORDS_PER_BULK_WRITE)
               for new_id in ctx.kintone.add_records(follow_ups.id, records[start:start + MAX_RECORDS_PER_BULK_WRITE])]
        if earlier:  # the earlier contracts' last follow-ups now point forward
            point_forward(ctx, follow_ups, {before["record_id"]: new_id
                                            for (_p, before, _r), new_id in zip(opens, ids, strict=True)
                                            if before is not None})
            ctx.ledger.mark(link, REMEMBER_SECONDS)
    told = tell_schedule(ctx, contracts, follow_ups, contract, planned)
    if schedule.missing:
        return "schedule_created"
    return "schedule_told" if told else "already_scheduled"


def tell_schedule(ctx: FlowContext, contracts: AppMapping, follow_ups: AppMapping, contract: dict,
                  planned: list[Planned] | tuple[Planned, ...]) -> bool:
    """Tell the rep (and the managers who call) the schedule, once per contract (again when a worker is added)."""
    several = sorted({p.series for p in planned if p.series})
    return tell(ctx, contracts, contract["record_id"], schedule_text(ctx, follow_ups, contract, list(planned)),
                [*(contract.get("sales_rep") or []), *_managers(list(planned))], once_as="follow_up_schedule",
                # told once per contract (again when a worker is added); later stops are told on their own
                same_as="schedule:" + ",".join(several) if several else "schedule")


def link_key(follow_ups: AppMapping, contract_id: str) -> str:
    """The ledger key that says the contract's new follow-ups were linked to the earlier timelines."""
    return f"{FLOW}:{follow_ups.key}:{contract_id}:link"


def schedule_key(contract_id: str, p: Planned) -> str:
    """The 管理キー: 12:first_day, or with several workers 12:S-2001:first_day."""
    return f"{contract_id}:{p.series}:{p.key}" if p.series else f"{contract_id}:{p.key}"


def already_planned(contract_id: str, p: Planned, have: dict[str, str]) -> bool:
    """Whether the contract's follow-ups (管理キー → スタッフID) hold ``p``.

    Also under the key's other form, for a contract whose workers changed: the follow-up a
    one-worker contract made counts for that worker once a second one is added (and back again), and
    one of a series made for several workers before each had their own (no スタッフID) for them all.
    """
    if schedule_key(contract_id, p) in have:
        return True
    staff_id = p.worker.staff_id if p.worker is not None else ""
    if not staff_id:
        return False
    shared = f"{contract_id}:{p.key}"
    if p.series:
        return shared in have and have[shared] in ("", staff_id)
    return f"{contract_id}:{staff_id}:{p.key}" in have


def point_forward(ctx: FlowContext, follow_ups: AppMapping, links: dict[str, str]) -> None:
    """Write 引継ぎ先 on each earlier follow-up (record id -> the new one's), one call per 100."""
    updates = [RecordUpdate(str(before), follow_ups.write({"carried_to": int(after)}))
               for before, after in links.items()]
    for start in range(0, len(updates), MAX_RECORDS_PER_BULK_WRITE):
        ctx.kintone.update_records(follow_ups.id, updates[start:start + MAX_RECORDS_PER_BULK_WRITE])


def finish_links(ctx: FlowContext, follow_ups: AppMapping, existing: list[dict], link: str) -> None:
    """After a run that added its follow-ups but failed before pointing the earlier ones forward:
    every follow-up of the contract opened linked to another contract's tells which (its 前回フォロー)."""
    own = {int(r["record_id"]) for r in existing}
    links = {str(int(r["previous"])): r["record_id"] for r in existing
             if r.get("previous") is not None and int(r["previous"]) not in own}
    if links:
        point_forward(ctx, follow_ups, links)
    ctx.ledger.mark(link, REMEMBER_SECONDS)


def last_unlinked(ctx: FlowContext, follow_ups: AppMapping, staff: list[str], contract_id: str,
                  category: str) -> dict[str, dict]:
    """Each staff member's latest done follow-up of another contract that opened no next one, by staff id
    (one call for all of them).

    A renewal (or a new contract with the same person) continues that timeline: its first follow-up
    opens linked to it, with its facts and open 相談・課題 carried in.
    """
    f = follow_ups.field
    fields = ["$id", *follow_ups.codes("title", "done_on", "facts", "issues", "completion", "staff_id")]

    def latest(ids: list[str], limit: int) -> list[dict]:
        quoted = ", ".join('"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in ids)
        query = (f'{f("staff_id").code} in ({quoted}) and {f("category").code} in ("{category}")'
                 f' and {f("done_on").code} != "" and {f("carried_to").code} = ""'
                 f' and {f("contract_record_id").code} != {int(contract_id)} order by {f("done_on").code} desc')
        return [follow_ups.read(r) for r in ctx.kintone.get_records(follow_ups.id, query, fields=fields, limit=limit)]

    limit = 1 if len(staff) == 1 else 500
    rows = latest(staff, limit)
    found: dict[str, dict] = {}
    for row in rows:  # newest first: each worker's first row is their latest
        found.setdefault(row.get("staff_id") or "", row)
    if len(staff) > 1 and len(rows) == limit:  # a full page may have left someone out
        for staff_id in staff:
            if staff_id not in found:
                found.update((staff_id, row) for row in latest([staff_id], 1))
    return {staff_id: found[staff_id] for staff_id in staff if staff_id in found}


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


def contract_follow_ups(ctx: FlowContext, follow_ups: AppMapping, contract_id: str) -> list[dict]:
    """The follow-ups of one contract (one call, only the fields the schedule needs)."""
    rows = ctx.kintone.get_records(
        follow_ups.id, f'{follow_ups.field("contract_record_id").code} = {int(contract_id)}',
        fields=["$id", *follow_ups.codes("schedule_key", "title", "due_on", "done_on", "completion", "staff_id",
                                          "previous")], limit=500)
    return [follow_ups.read(r) for r in rows]


def stop_schedule(ctx: FlowContext, contracts: AppMapping, follow_ups: AppMapping, contract: dict,
                  after: date | None, settings: dict) -> str:
    """Stop the contract's open follow-ups planned after ``after`` (all when None: cancelled), tell the rep."""
    rows = contract_follow_ups(ctx, follow_ups, contract["record_id"])
    stop = to_stop(settings, rows, after)
    told = stops_to_tell(ctx, follow_ups, contract["record_id"], rows, stop)
    values = stop_values(follow_ups, settings, after)
    for r in stop:
        ctx.kintone.update_record(follow_ups.id, r["record_id"], values)
    if told:
        tell_stopped(ctx, contracts, follow_ups, contract, told, after, settings)
        ctx.ledger.release(stopping_key(follow_ups, contract["record_id"]))
        return "schedule_stopped"
    return "nothing_to_stop"


def stopping_key(follow_ups: AppMapping, contract_id: str) -> str:
    """The ledger key naming the follow-ups a run is stopping, until the rep is told of them."""
    return f"{FLOW}:{follow_ups.key}:{contract_id}:stopping"


def stops_to_tell(ctx: FlowContext, follow_ups: AppMapping, contract_id: str, rows: list[dict],
                  stop: list[dict]) -> list[dict]:
    """The follow-ups the stop comment names: ``stop``, and those a run that died between its stops and
    its comment stopped (the ledger names them); noted before the stops are written."""
    pending = set((ctx.ledger.get(stopping_key(follow_ups, contract_id)) or "").split(",")) - {""}
    named = pending | {r["record_id"] for r in stop}
    told = [r for r in rows if r["record_id"] in named]
    if stop:
        ctx.ledger.mark(stopping_key(follow_ups, contract_id), SENDING_SECONDS,
                        value=",".join(r["record_id"] for r in told))
    return told


def tell_stopped(ctx: FlowContext, contracts: AppMapping, follow_ups: AppMapping, contract: dict, stop: list[dict],
                 after: date | None, settings: dict) -> bool:
    """Tell the rep which follow-ups were stopped and why (once per set of follow-ups)."""
    today = ctx.now().date()
    reason, stopped_value = stop_reason(settings, after), settings.get("stopped", "中止")
    lines = [f"{r.get('title') or '#' + r['record_id']}（{full_date(r['due_on'])}）"
             for r in sorted(stop, key=lambda r: r.get("due_on") or today) if r.get("due_on")]
    return tell(ctx, contracts, contract["record_id"],
                f"【スタッフフォロー予定の中止】\n{reason}のため、次のフォロー予定を「{follow_ups.field('completion').display}」"
                f"{stopped_value}にしました。\n{bullet_list(lines)}\n"
                "スタッフさんへの最終フォローが必要な場合は、担当者がフォローを登録してください。",
                contract.get("sales_rep"), once_as="follow_up_stopped", same_as=",".join(r["record_id"] for r in stop))


def _managers(planned: list[Planned]) -> list[User]:
    return [u for p in planned if p.thank_you_call for u in p.owner]


def schedule_text(ctx: FlowContext, follow_ups: AppMapping, contract: dict, planned: list[Planned]) -> str:
    app = follow_ups.app.label or "スタッフフォロー"
    facts, issues, next_date = (follow_ups.field(n).display for n in ("facts", "issues", "next_follow_up"))
    staff = contract.get("staff_name")
    who = f"{staff}さん" if not is_blank(staff) else "スタッフさん"
    several = list({p.worker.staff_id: p.worker for p in planned if p.series}.values())
    if several:
        who = "、".join(w.label for w in several)
    client = contract.get("client") or "（派遣先未入力）"
    lines = [f"{p.title}：{full_date(p.due_on)}" + ("（上長から）" if p.thank_you_call else "")
             for p in planned]
    parts = [f"【スタッフフォロー予定の作成】\n{who}（派遣先：{client}）のフォロー予定を、{app}アプリに登録しました。",
             bullet_list(lines),
             f"フォローのたびに「{facts}」と「{issues}」（対応期限・報告方法つき）を分けて記録し、"
             f"「{next_date}」はその場でスタッフさんと決めて入力してください。前回の記録を見ながら話を聞くと、"
             "誰が担当しても続きからフォローできます。"]
    if several:
        parts.insert(2, "フォロー予定はスタッフさんごとに登録しています。記録は、お一人ずつその方のフォローに入力してください。")
    if any(p.thank_you_call for p in planned):
        commander = contract.get("commander")
        whom = f"指揮命令者（{commander}）" if commander else "指揮命令者"
        parts.append(f"上長：お礼電話は、派遣先の{whom}へ職場にお電話をお願いします。")
    return "\n\n".join(parts)


# -- the page path: contracts found in bulk (a reconcile page), decided per page ------------------

def run_page(ctx: FlowContext, app_key: str, record_ids: list[str]) -> bulk.PageResult:
    """Contracts found in bulk (a reconcile page: a day of 締結済 and 取消 whose webhooks were lost), per page.

    One read of the contracts (≤ 500 per call), one query of the follow-ups of all of them (per 500
    follow-ups), one of the workers' earlier timelines when some worker has a スタッフID, ``decide``,
    ``missing_schedule``, ``schedule_records`` and ``to_stop`` for each contract as its own job would,
    then the page's new follow-ups in bulk (POST records.json of ≤ 100, whole contracts per request,
    20 requests in one bulkRequest.json: 2,000 a call, all or none), the earlier follow-ups pointed forward (PUT
    records.json per 100) and the stops in bulk with the revision each follow-up was read at
    (flows.bulk: 2,000 per call, a contract's stops all or none). The comments are one call each,
    said once as the ordinary job says them. A contract whose add or stop kintone refused (a 管理キー
    added meanwhile; a follow-up someone changed since the page read it: every follow-up of that
    contract is withdrawn from the call, the rest sent again), or whose worker's earlier follow-up an
    earlier contract of the page continues, goes to that contract's ordinary job.

    Exactly once, as the ordinary job: the 管理キー of every follow-up read before the add (a retried
    page adds only what is missing), the ledger's link note before the add (a retry finishes the
    引継ぎ先 a failure interrupted), the comments' own notes.
    """
    contracts, follow_ups = ctx.mappings[app_key], ctx.mappings[FOLLOW_UP_APP]
    settings = follow_ups.settings(FLOW)
    follow = settings.get("staff_follow_up", "スタッフフォロー")
    result = bulk.PageResult()
    rows = bulk.read_records(ctx, contracts, record_ids)
    decided = {}
    for row in rows.values():
        contract = contracts.read(row)
        decided[contract["record_id"]] = (contract, decide(ctx, contracts, follow_ups, contract))
    existing = page_follow_ups(ctx, follow_ups, [cid for cid, (_c, d) in decided.items() if d.reads_follow_ups])
    fallback: set[str] = set()
    schedules: dict[str, Schedule] = {}
    for cid, (_contract, decision) in decided.items():
        if decision.outcome != SCHEDULE:
            continue
        link = link_key(follow_ups, cid)
        if ctx.ledger.done(link + ":sending") and not ctx.ledger.done(link):
            finish_links(ctx, follow_ups, existing.get(cid, []), link)  # a run that failed between add and links
        schedules[cid] = missing_schedule(follow_ups, cid, decision.planned, existing.get(cid, []))
    earlier, busy = page_last_unlinked(ctx, follow_ups, {cid: list(s.firsts) for cid, s in schedules.items()
                                                         if s.firsts}, follow)
    fallback |= busy
    opens = {cid: schedule_records(follow_ups, decided[cid][0], s, earlier.get(cid, {}))
             for cid, s in schedules.items() if s.missing and cid not in fallback}
    for cid in opens:
        if earlier.get(cid):  # noted before the add, as the ordinary job does
            ctx.ledger.release(link_key(follow_ups, cid))
            ctx.ledger.mark(link_key(follow_ups, cid) + ":sending", SENDING_SECONDS)
    added, refused = add_in_bulk(ctx, follow_ups, {cid: [r for _p, _b, r in o] for cid, o in opens.items()})
    fallback |= refused
    linked = [cid for cid in added if earlier.get(cid)]
    point_forward(ctx, follow_ups, {before["record_id"]: new_id for cid in linked
                                    for (_p, before, _r), new_id in zip(opens[cid], added[cid], strict=True)
                                    if before is not None})
    for cid in linked:
        ctx.ledger.mark(link_key(follow_ups, cid), REMEMBER_SECONDS)

    stops: dict[str, list[dict]] = {}
    named: dict[str, list[dict]] = {}  # contract id -> the follow-ups its stop comment names
    for cid, (_contract, decision) in decided.items():
        if decision.stop and cid not in fallback:
            new = [{"record_id": new_id, "revision": "1", "title": p.title, "due_on": p.due_on}
                   for (p, _b, _r), new_id in zip(opens.get(cid, []), added.get(cid, []), strict=True)]
            rows_now = sorted(existing.get(cid, []) + new, key=lambda r: int(r["record_id"]), reverse=True)
            stops[cid] = to_stop(settings, rows_now, decision.stop_after)  # newest first, as its own job reads them
            named[cid] = stops_to_tell(ctx, follow_ups, cid, rows_now, stops[cid])
    fallback |= stop_in_bulk(ctx, follow_ups, settings, {cid: (s, decided[cid][1].stop_after)
                                                         for cid, s in stops.items() if s})

    for cid, (contract, decision) in decided.items():
        if cid in fallback:
            continue
        outcome, detail = decision.outcome, ""
        if outcome == "no_dispatch_start":
            tell_no_dispatch_start(ctx, contracts, contract)
        elif outcome == SCHEDULE:
            told = tell_schedule(ctx, contracts, follow_ups, contract, decision.planned)
            made = len(added.get(cid, []))
            outcome = "schedule_created" if made else ("schedule_told" if told else "already_scheduled")
            detail = f"{made} follow-ups added in bulk" if made else ""
            check_renewal_outcome(ctx, contracts, contract)
        if decision.stop:
            stopped = named.get(cid, [])
            if stopped:
                tell_stopped(ctx, contracts, follow_ups, contract, stopped, decision.stop_after, settings)
                ctx.ledger.release(stopping_key(follow_ups, cid))
                detail = ", ".join(filter(None, [detail, f"{len(stops[cid])} follow-ups stopped in bulk"]))
            outcome = "schedule_stopped" if stopped else "nothing_to_stop"
        result.handled(cid, outcome, contract["revision"], detail)
    result.fallback += sorted(fallback, key=int)
    return bulk.finish_page(ctx, FLOW, contracts, record_ids, rows, result, sent={}, landed=({}, []), detail="")


def page_follow_ups(ctx: FlowContext, follow_ups: AppMapping, contract_ids: list[str]) -> dict[str, list[dict]]:
    """The follow-ups of many contracts, by contract id: one query per 500 follow-ups (seeking by $id),
    with the fields ``contract_follow_ups`` reads and each one's revision (the stops carry it)."""
    out: dict[str, list[dict]] = {cid: [] for cid in contract_ids}
    if not contract_ids:
        return out
    f = follow_ups.field
    fields = ["$id", "$revision", *follow_ups.codes("schedule_key", "title", "due_on", "done_on", "completion",
                                                   "staff_id", "previous", "contract_record_id")]
    for part in bulk.chunks(contract_ids, bulk.READ_PAGE):
        wanted = f'{f("contract_record_id").code} in ({", ".join(str(int(c)) for c in part)})'
        last = 0
        while True:
            got = ctx.kintone.get_records(follow_ups.id, f"{wanted} and $id > {last} order by $id asc",
                                          fields=fields, limit=bulk.READ_PAGE)
            for row in got:
                record = follow_ups.read(row)
                owner = record.get("contract_record_id")
                if owner is not None and str(int(owner)) in out:
                    out[str(int(owner))].append(record)
            if len(got) < bulk.READ_PAGE:
                break
            last = int(got[-1]["$id"]["value"])
    for rows in out.values():
        rows.reverse()  # newest first, as ``contract_follow_ups`` reads them (kintone's default order)
    return out


def page_last_unlinked(ctx: FlowContext, follow_ups: AppMapping, wanted: dict[str, list[str]],
                       category: str) -> tuple[dict[str, dict[str, dict]], set[str]]:
    """``last_unlinked`` for a page: {contract id: {staff id: the worker's latest done, unlinked follow-up
    of another contract}} for ``wanted`` (contract id -> its workers' staff ids), one query for all of
    them (one more per worker missing from a full answer); and the contracts left to their ordinary job
    because an earlier contract of the page continues the same follow-up (it can point forward to one:
    that job, after the page, finds what the person's timeline ends with then)."""
    if not wanted:
        return {}, set()
    f = follow_ups.field
    staff = sorted({s for ids in wanted.values() for s in ids})
    fields = ["$id", *follow_ups.codes("title", "done_on", "facts", "issues", "completion", "staff_id",
                                      "contract_record_id")]
    quoted = ", ".join('"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in staff)
    query = (f'{f("staff_id").code} in ({quoted}) and {f("category").code} in ("{category}")'
             f' and {f("done_on").code} != "" and {f("carried_to").code} = "" order by {f("done_on").code} desc')
    rows = [follow_ups.read(r) for r in ctx.kintone.get_records(follow_ups.id, query, fields=fields,
                                                                limit=bulk.READ_PAGE)]
    full = len(rows) == bulk.READ_PAGE
    found: dict[str, dict[str, dict]] = {}
    claimed: set[str] = set()
    busy: set[str] = set()
    for cid in sorted(wanted, key=int):  # in the page's order, as one job after the other
        own: dict[str, dict] = {}
        for staff_id in wanted[cid]:
            row = next((r for r in rows if (r.get("staff_id") or "") == staff_id
                        and str(int(r.get("contract_record_id") or 0)) != cid), None)
            if row is None and full:  # a full answer may have left them out
                row = last_unlinked(ctx, follow_ups, [staff_id], cid, category).get(staff_id)
            if row is not None:
                own[staff_id] = row
        if any(r["record_id"] in claimed for r in own.values()):
            busy.add(cid)
            continue
        claimed |= {r["record_id"] for r in own.values()}
        if own:
            found[cid] = own
    return found, busy


def add_in_bulk(ctx: FlowContext, follow_ups: AppMapping, records: dict[str, list[dict]]
                ) -> tuple[dict[str, list[str]], set[str]]:
    """Add each contract's new follow-ups, whole contracts in POST records.json of ≤ 100 records, up to 20
    of those in one bulkRequest.json (2,000 records a call, all or none); ({contract id: the new record ids
    in order}, the contracts of a request kintone refused). The rest of a refused call is sent again."""
    calls: list[list[tuple[str, dict]]] = [[]]
    for cid, recs in records.items():
        if calls[-1] and len(calls[-1]) + len(recs) > MAX_RECORDS_PER_BULK_WRITE:
            calls.append([])
        for record in recs:  # more than 100 for one contract (13 workers and more): several requests
            if len(calls[-1]) == MAX_RECORDS_PER_BULK_WRITE:
                calls.append([])
            calls[-1].append((cid, record))
    added: dict[str, list[str]] = {}
    refused: set[str] = set()
    for group in bulk.chunks([c for c in calls if c], MAX_REQUESTS_PER_BULK):
        while True:
            group = [left for left in ([(cid, r) for cid, r in call if cid not in refused] for call in group) if left]
            if not group:
                break
            try:
                if len(group) == 1:
                    results = [ctx.kintone.add_records(follow_ups.id, [r for _cid, r in group[0]])]
                else:
                    results = ctx.kintone.bulk_request([BulkWrite(follow_ups.id, tuple(NewRecord(r) for _cid, r in call))
                                                        for call in group])
            except KintoneDataError as exc:  # e.g. a 管理キー another job added meanwhile (prohibit duplicates)
                gone = [group[exc.request_index]] if exc.request_index is not None and len(group) > 1 else group
                ctx.log.info("bulk add refused; contracts to their ordinary job", step="bulk", code=exc.code,
                             refused=sum(len(call) for call in gone))
                refused |= {cid for call in gone for cid, _r in call}
                continue
            for call, ids in zip(group, results, strict=True):
                for (cid, _r), new_id in zip(call, ids, strict=True):
                    added.setdefault(cid, []).append(str(new_id))
            break
    return {cid: ids for cid, ids in added.items() if cid not in refused}, refused


def stop_in_bulk(ctx: FlowContext, follow_ups: AppMapping, settings: dict,
                 stops: dict[str, tuple[list[dict], date | None]]) -> set[str]:
    """Stop the page's follow-ups in bulk, each with the revision it was read at, each contract's together;
    the contracts whose stops kintone refused (a follow-up changed since the page read it)."""
    refused: set[str] = set()
    batch: list[RecordUpdate] = []
    owners: dict[str, str] = {}

    def send() -> None:
        if batch:
            _done, left = bulk.write_records(ctx, follow_ups, batch, owners)
            refused.update(owners[i] for i in left)
            batch.clear()

    for cid, (rows, after) in stops.items():
        if batch and len(batch) + len(rows) > bulk.PER_CALL:
            send()
        values = stop_values(follow_ups, settings, after)
        for r in rows:
            batch.append(RecordUpdate(r["record_id"], values, str(r["revision"])))
            owners[r["record_id"]] = cid
    send()
    return refused
