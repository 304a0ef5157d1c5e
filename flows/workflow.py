"""稟議 (Workflow): moving a 06_1 / 06_2 application through its approvals (seed A-4, A-6).

Triggered when an application's status changes (and when it is edited while it waits on us).
The webhook is only a trigger: the flow re-reads the application and acts on its current status.

- 申請中 (the rep submitted): an answer the mapping says ends it (a 06_1 whose 反社会的勢力 is
  「該当する」; ``mappings.credit``) is 否認 at once, the applicant and the 上長 told why. Anything
  missing, or a problem such as a 定形外契約書 without legal's check, sends it back (差戻し) to
  the applicant with one comment listing what to do. A complete 06_1 that will need the
  director (an unclear 取引可否 answer, a 労務リスク over its threshold, a low rating) names the
  reasons to the 上長 before they approve.
- 上長承認済 (the manager approved): checked again, then 「決裁」 (承認) — or, when the kind needs
  the director (any reason above), 「取締役承認依頼」 to the 取締役 with the reasons, or 否認
  for an answer that ends it. kintone's condition on 「決裁」 refuses every answer that is not
  clear too, so neither we nor a person can approve it without the director; 「取締役承認」's
  refuses an answer that ends it.
- 承認 / 否認: the kind's effects (``flows.credit_check``, ``flows.trade_start``); after our own
  「決裁」 they run in the same job, so they do not depend on the next notification arriving.

What an application needs is decided by ``decide`` (no kintone write: a ``Decision`` naming the
comment, the process action and the kind's effects that follow); the per-record job carries it out
(``carry_out``) and so does the page path (``run_page``, work found in bulk), with the same rules.

``sweep_delays`` (run by the workers every KGBRIDGE_WORKFLOW_DELAY_SWEEP_SECONDS) chases an
application still undecided N business days after 申請日 by its status: whoever it waits for
([delays.waiting_for]) is asked to act — the 上長 to approve, send back or reject a 申請中 one,
the 取締役 a 取締役承認待ち one, 法務 a 法務確認中 one — and the 申請者 of one back in 作成中 to
re-submit or record a 遅延理由; a recorded reason is reported to the 上長. Once per status and
once per reason.

kintone calls: 申請中 complete 1 (a 06_2: +1, its client; a 06_1 that will need the director
+1 comment); incomplete 3 (read, comment, 差戻し; a 06_2 +1); an answer that ends it 6 (read,
comment, 否認, client read and update, held-order query) + one comment per held order, the same
from 上長承認済; 上長承認済 to the director 3 (read, comment, action); 決裁 2 (a 06_2 +1)
+ the kind's approval effects (06_1: 6, so 8 in all; 06_2: 3, so 6); 承認/否認 by a person 1
+ the kind's effects; a repeated notification 1. A delay sweep: 1 query per 500 candidate
applications (1 when idle) + one comment per message due.

Found in bulk (``run_page``), a page of n applications costs ⌈n / 500⌉ reads, one query per 500
clients of the 06_2s waiting on us (none without), ⌈actions / 2,000⌉ bulk calls and one call per
comment; each 決裁 or 否認 that landed costs its own job's calls on top (the application's read, then
the kind's effects: 06_2 approved 3, the client read again, so 4 in all; 06_1 approved 6, so 7); a
record a bulk call refused costs its ordinary job's calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from connectors.kintone.interface import StatusAction
from flows import applications as apps
from flows import bulk, credit_check, trade_start
from flows.context import FlowContext
from flows.decide import on_fresh_record
from flows.notify import bullet_list, tell
from mappings import AppMapping, MappingError, User
from mappings.japanese_dates import full_date

FLOW = "workflow"
KINDS = {credit_check.KIND: credit_check, trade_start.KIND: trade_start}


def run(ctx: FlowContext, app_key: str, record_id: str, **_params) -> str:
    wf = ctx.mappings[app_key]

    def decide_application(application: dict, status: str | None) -> str:
        return carry_out(ctx, wf, application, decide(ctx, wf, application, status))

    return on_fresh_record(ctx, wf, record_id, FLOW, decide_application)


# -- the decision: one application as read, no kintone write ------------------------------------
#
# The per-record job above and the page job (``run_page``) both decide with ``decide``. A Decision
# names what the application needs: one comment (said once, before anything else, so a retry finds
# it posted and only runs the action), a process action (bulk-able: PUT records/status.json), and
# the kind's effects of 承認 / 否認 that follow it (the client's 与信状態, held orders, the 06_2: per
# record, ``kind.on_approved`` / ``kind.on_rejected``).


@dataclass(frozen=True)
class Decision:
    outcome: str  # the outcome word when carried out (with ``effects``: the effects' own word)
    action: str | None = None  # process action key of the mapping to run on the application
    assignee: str | None = None
    comment: str | None = None  # said once (``once_as``, ``same_as``) to ``users`` before the action
    users: tuple[User, ...] = ()
    once_as: str | None = None
    same_as: str | None = None
    effects: str | None = None  # "approved" / "rejected": the kind's effects, after the action if any
    kind: str | None = None  # the kind key (KINDS) the effects belong to

    @property
    def per_record(self) -> bool:
        """Only the ordinary job carries it out: the kind's effects of a decision a person made."""
        return self.effects is not None and self.action is None


def decide(ctx: FlowContext, wf: AppMapping, application: dict, status: str | None) -> Decision:
    """What the application needs now, by its status and kind (no kintone write).

    The kinds' checks read the client where they need it (a 06_2 its 与信状態: once per decision,
    kept on the application as ``_client``; a page reads its clients at once and passes them in so).
    """
    kind = KINDS.get(apps.kind_of(wf, application))
    if kind is None:
        return Decision("not_our_kind")
    if status == "applied":
        return check_submission(ctx, wf, kind, application)
    if status == "manager_approved":
        return check_approval(ctx, wf, kind, application)
    if status in ("approved", "rejected"):
        return Decision(f"{status}_effects", effects=status, kind=kind.KIND)
    return Decision("nothing_to_do")


def check_submission(ctx: FlowContext, wf: AppMapping, kind, application: dict) -> Decision:
    """A submitted application that lacks something goes straight back to the applicant.

    An answer that ends it (e.g. 反社会的勢力「該当する」) is 否認 at once; one that needs the
    director is named to the 上長 now, so the manager approves knowing the director follows.
    """
    found = kind.screening(ctx, wf, application)
    if found.reject:
        return reject(wf, kind, application, found.reject, action="reject")
    missing, problems = gaps(ctx, wf, kind, application)
    if missing or problems:
        return send_back(wf, application, missing, problems, action="send_back")
    if found.director:
        return Decision(
            "waiting_for_manager",
            comment=f"稟議「{apps.title_of(application)}」は、次の理由で上長承認のあと取締役の承認が必要です。\n"
            + bullet_list(found.director)
            + f"\n上長：内容をご確認のうえ「{wf.action('approve_as_manager').name}」を実行してください。"
            "承認後、kgbridge が取締役承認待ちに回します。",
            users=tuple((application.get("supervisor") or []) + (application.get("applicant") or [])),
            once_as="director_ahead", same_as="|".join(found.director))
    return Decision("waiting_for_manager")


def check_approval(ctx: FlowContext, wf: AppMapping, kind, application: dict) -> Decision:
    """After the manager's approval: approve (決裁), or route to the director when the kind needs it."""
    found = kind.screening(ctx, wf, application)
    if found.reject:
        return reject(wf, kind, application, found.reject, action="reject_on_criteria")
    missing, problems = gaps(ctx, wf, kind, application)
    if missing or problems:
        return send_back(wf, application, missing, problems, action="return_to_applicant")
    if found.director:
        director = application["director"]  # checked by the kind's problems() when needed
        return Decision(
            "sent_to_director", action="request_director_approval", assignee=director[0].code,
            comment=f"稟議「{apps.title_of(application)}」は、次の理由で取締役の承認が必要なため、取締役承認待ちに回しました。\n"
            + bullet_list(found.director)
            + f"\n内容をご確認のうえ「{wf.action('approve_as_director').name}」"
            f"または「{wf.action('reject_as_director').name}」を実行してください。",
            users=tuple(director), once_as="to_director")
    return Decision("decided", action="decide", effects="approved", kind=kind.KIND)


def reject(wf: AppMapping, kind, application: dict, reasons: list[str], *, action: str) -> Decision:
    """An answer that ends the application: tell the applicant and the 上長 why, then 否認.

    The comment goes first (a retry finds it posted and only runs the action); the kind's
    rejection effects follow.
    """
    return Decision(
        "rejected_on_criteria", action=action, effects="rejected", kind=kind.KIND,
        comment=f"稟議「{apps.title_of(application)}」は、次の理由で否認しました。\n" + bullet_list(reasons)
        + "\n顧客管理台帳の与信状態を「否認」にし、この顧客のオーダーは受付できません。"
        "回答に誤りがある場合は、上長に相談のうえ、顧客管理台帳の与信状態を「未申請」に戻して新しい稟議で申請し直してください。",
        users=tuple((application.get("applicant") or []) + (application.get("supervisor") or [])),
        once_as="rejected_on_criteria", same_as="|".join(reasons))


def gaps(ctx: FlowContext, wf: AppMapping, kind, application: dict) -> tuple[list[str], list[str]]:
    """(labels of empty required items, other problems in Japanese)."""
    return (apps.missing_items(wf, application, kind.required_items(wf, application)),
            kind.problems(ctx, wf, application))


def send_back(wf: AppMapping, application: dict, missing: list[str], problems: list[str], *,
              action: str) -> Decision:
    """Tell the applicant what to fix, then return the application to them (差戻し).

    The comment goes first: if the action then fails, the retry finds the comment already
    posted for this revision and only runs the action.
    """
    parts = [f"稟議「{apps.title_of(application)}」は、次の点が揃っていないため申請者に差し戻します。"]
    if missing:
        parts.append("【未入力の項目】\n" + bullet_list(missing))
    if problems:
        parts.append("【確認事項】\n" + bullet_list(problems))
    parts.append(f"対応のうえ、もう一度「{wf.action('submit').name}」を実行してください。")
    users = application.get("applicant") or application.get("supervisor") or []
    told = dict(comment="\n\n".join(parts), users=tuple(users), once_as=f"sent_back:r{application['revision']}")
    if not users:
        return Decision("told_missing_items", **told)  # nobody to hand it back to: kintone needs an assignee
    return Decision("sent_back", action=action, assignee=users[0].code, **told)


def say(ctx: FlowContext, wf: AppMapping, application: dict, decision: Decision) -> None:
    """Post the decision's comment, once (the ordinary job and the page say it alike)."""
    if decision.comment is not None:
        tell(ctx, wf, application["record_id"], decision.comment, list(decision.users),
             once_as=decision.once_as, same_as=decision.same_as)


def carry_out(ctx: FlowContext, wf: AppMapping, application: dict, decision: Decision) -> str:
    """Do what ``decide`` said for one application: the comment, the action, then the kind's effects
    in the same job (after our own 「決裁」 they do not wait for the next notification)."""
    say(ctx, wf, application, decision)
    if decision.action is not None:
        revision = ctx.kintone.update_status(wf.id, application["record_id"], wf.action(decision.action).name,
                                             assignee=decision.assignee, revision=application["revision"])
        if decision.effects is not None:
            application = dict(application, status=wf.status_name(decision.effects), revision=revision)
    if decision.effects is None:
        return decision.outcome
    return run_effects(ctx, wf, application, decision)


def run_effects(ctx: FlowContext, wf: AppMapping, application: dict, decision: Decision) -> str:
    """The kind's effects of an approved or rejected application (each remembered as done)."""
    kind = KINDS[decision.kind]
    if decision.effects == "approved":
        return kind.on_approved(ctx, wf, application)
    return kind.on_rejected(ctx, wf, application)


# -- work found in bulk: a page of applications (flows/bulk.py) ----------------------------------

def run_page(ctx: FlowContext, app_key: str, record_ids: list[str]) -> bulk.PageResult:
    """Applications found in bulk (a reconcile page: a day of notifications lost), per page.

    One read of the page (≤ 500 per call) and one of the clients the kinds' checks read (a 06_2's
    与信状態: one query per 500 clients, none when no such application waits), ``decide`` for each
    application as its own job would, its comment where the decision has one (one call each, said
    once as the ordinary job says it), then every process action of the page in bulk (``flows.bulk``:
    2,000 per call, each with the revision it was decided on). After a 「決裁」 or 否認 that landed,
    the kind's effects (the client's 与信状態 or 取引状態, held orders, the 06_2) run in the page job
    as the ordinary job runs them after its own action (``effects_after_bulk``: no second read of the
    application; a bulk call sends no webhook, so nothing else would run them); one whose effects fail
    goes to its ordinary job, which runs what is left once. An application a person approved or rejected, one whose client
    is gone, and one a bulk call refused (changed since the page was read) go to its ordinary job.
    """
    wf = ctx.mappings[app_key]
    result = bulk.PageResult()
    rows = bulk.read_records(ctx, wf, record_ids)
    page = [(a, wf.status_key(a.get("status"))) for a in (wf.read(row) for row in rows.values())]
    clients = read_clients(ctx, [client_read_by(wf, a, s) for a, s in page])
    actions: list[StatusAction] = []
    sent: dict[str, str] = {}  # record id -> outcome, once its action lands
    effects: dict[str, tuple[dict, Decision]] = {}  # ... whose action the kind's effects follow
    for application, status in page:
        rid = application["record_id"]
        client_id = client_read_by(wf, application, status)
        if client_id is not None:
            if client_id not in clients:
                result.fallback.append(rid)  # gone from the 顧客管理台帳: its own job says so
                continue
            application["_client"] = clients[client_id]  # what apps.read_client keeps for one decision
        decision = decide(ctx, wf, application, status)
        if decision.per_record:
            result.fallback.append(rid)
            continue
        say(ctx, wf, application, decision)
        if decision.action is None:
            result.handled(rid, decision.outcome, application["revision"])
            continue
        actions.append(StatusAction(rid, wf.action(decision.action).name, decision.assignee,
                                    str(application["revision"])))
        sent[rid] = decision.outcome
        if decision.effects is not None:
            effects[rid] = (application, decision)
    done, refused = bulk.run_actions(ctx, wf, actions)
    for rid, revision in done.items():
        if rid in effects:
            sent[rid] = effects_after_bulk(ctx, wf, *effects[rid], revision)
    return bulk.finish_page(ctx, FLOW, wf, record_ids, rows, result, sent=sent, landed=(done, refused),
                            detail="process action in bulk")


def effects_after_bulk(ctx: FlowContext, wf: AppMapping, application: dict, decision: Decision,
                       revision: int) -> str:
    """The kind's effects of a 「決裁」 or 否認 the page's bulk call landed, in the page job, as
    ``carry_out`` runs them after its own action: on the application as decided, now 承認 or 否認 at
    the revision the bulk call returned (no second read of it). Each effect is remembered as done, so
    if one fails (kintone or G-Staff refusing, a timeout) the application's ordinary job, started with
    the job id its webhook would have had, reads it fresh, finds it 承認 or 否認 and runs what is left;
    the rest of the page is not held back by it. A worker killed here leaves the page job to retry: it
    reads the application 承認 or 否認 and sends it to its ordinary job (``Decision.per_record``)."""
    decided = dict(application, status=wf.status_name(decision.effects), revision=revision)
    try:
        return run_effects(ctx, wf, decided, decision)
    except Exception as exc:  # any failure of one application's effects: its own job retries
        ctx.log.warning("effects after a bulk action failed; to the application's ordinary job", step="effects",
                        error=type(exc).__name__)
        apps.start_flow(ctx, FLOW, wf.key, application["record_id"], marker=f"r{revision}")
        return f"{decision.effects}_effects_to_ordinary_job"


def client_read_by(wf: AppMapping, application: dict, status: str | None) -> str | None:
    """The client record id the kind's checks read to decide this application (None: they read none)."""
    kind = KINDS.get(apps.kind_of(wf, application))
    if (kind is None or not kind.DECIDES_ON_CLIENT or status not in ("applied", "manager_approved")
            or application.get("client_record_id") is None):
        return None
    return str(int(application["client_record_id"]))


def read_clients(ctx: FlowContext, client_ids: list[str | None]) -> dict[str, dict]:
    """{client record id: client as the mapping reads it} (one query per 500 clients; none for none)."""
    clients = ctx.mappings["clients"]
    wanted = sorted({c for c in client_ids if c is not None}, key=int)
    if not wanted:
        return {}
    return {rid: clients.read(row) for rid, row in bulk.read_records(ctx, clients, wanted).items()}


# -- delays (scheduled) -----------------------------------------------------------------------

def sweep_delays(ctx: FlowContext, app_key: str = "workflow") -> str:
    """Chase every overdue application by its status and report recorded reasons to the 上長, once each.

    Overdue: not yet 承認/否認 on a business day after 申請日 + N business days (N is
    [delays] decision_business_days). Nobody is pinged on a weekend or holiday.
    """
    wf = ctx.mappings[app_key]
    days = int(wf.settings("delays").get("decision_business_days", 5))
    now = ctx.now()
    today = now.date()
    if not ctx.calendar.is_business_day(today) or ctx.calendar.next_business_morning(now) > now:
        return "outside_business_hours"
    # N business days span at least N calendar days, so this finds every overdue application.
    latest = today - timedelta(days=days)
    closed = ", ".join(apps.kintone_string(wf.status_name(s)) for s in ("approved", "rejected"))
    base = (f"{wf.field('status').code} not in ({closed})"
            f" and {wf.field('applied_on').code} < {apps.kintone_string(latest.isoformat())}")
    waits = waiting_for(wf)
    people = list(dict.fromkeys(["applicant", "supervisor", *(w.who for w in waits.values())]))
    fields = ["$id", *wf.codes("title", "applied_on", *people, "delay_reason", "status")]
    asked = reported = 0
    last_id = 0
    while True:
        rows = ctx.kintone.get_records(wf.id, f"{base} and $id > {last_id} order by $id asc", fields=fields,
                                       limit=500)
        for row in rows:
            application = wf.read(row)
            deadline = ctx.calendar.add_business_days(application["applied_on"], days)
            if today <= deadline:
                continue
            said = remind_delay(ctx, wf, application, days, waits)
            asked += said.count("asked")
            reported += said.count("reported")
        if len(rows) < 500:
            break
        last_id = int(rows[-1]["$id"]["value"])
    ctx.log.info("delays swept", flow=FLOW, step="sweep_delays", asked=asked, reported=reported)
    return "swept"


@dataclass(frozen=True)
class Waiting:
    """Whom an application in one status waits for ([delays.waiting_for] in the mapping)."""

    who: str                 # the USER_SELECT field of that person (申請者, 上長, 法務担当, 取締役)
    actions: tuple[str, ...]  # what they run there (action keys, each from that status)
    reason: bool = False     # they record the 遅延理由 (the 申請者, seed A-4)


def waiting_for(wf: AppMapping) -> dict[str, Waiting]:
    """[delays.waiting_for] by status key, checked against the mapping's statuses, fields and actions."""
    out = {}
    for status, spec in (wf.settings("delays").get("waiting_for") or {}).items():
        wf.status_name(status)
        wf.field(spec["who"])
        actions = tuple(spec.get("actions", ()))
        for key in actions:
            if wf.action(key).from_status != status:
                raise MappingError(f"[delays.waiting_for] {status}: action {key!r} does not start from {status!r}")
        out[status] = Waiting(spec["who"], actions, bool(spec.get("reason", False)))
    return out


def remind_delay(ctx: FlowContext, wf: AppMapping, application: dict, days: int,
                 waits: dict[str, Waiting]) -> list[str]:
    """Chase whoever the late application waits for (once per status) and report a recorded
    遅延理由 to the 上長 (once per reason); returns what was said ("asked", "reported")."""
    title, applied = apps.title_of(application), application["applied_on"]
    late = f"稟議「{title}」は申請日（{full_date(applied)}）から{days}営業日を過ぎても決裁されていません"
    status = wf.status_key(application.get("status"))
    reason = (application.get("delay_reason") or "").strip()
    waiting = waits.get(status)
    said = []
    if waiting is None:
        told = tell(ctx, wf, application["record_id"],
                    f"{late}（ステータス：{application.get('status') or '不明'}）。\n"
                    "上長：処理が止まっている可能性があります。システム運用担当者に状況の確認を依頼してください。",
                    application.get("supervisor"), once_as=f"delay_stuck:{status}")
        said.append("asked" if told else "already_told")
    elif not (waiting.reason and reason):
        users = application.get(waiting.who) or application.get("supervisor")
        told = tell(ctx, wf, application["record_id"], chase_text(wf, application, waiting, late), users,
                    once_as=f"delay_chased:{status}")
        said.append("asked" if told else "already_told")
    if reason:
        told = tell(ctx, wf, application["record_id"],
                    f"{late}。申請者が記録した遅延理由を報告します。\n\n{reason}\n\n"
                    "上長：状況をご確認のうえ、必要に応じて申請者にご指示ください。",
                    application.get("supervisor"), once_as="delay_reported")
        said.append("reported" if told else "already_told")
    return said


def chase_text(wf: AppMapping, application: dict, waiting: Waiting, late: str) -> str:
    """``上長：内容をご確認のうえ、「上長承認」「差戻し」「否認」のいずれかを実行してください。``"""
    who = wf.field(waiting.who).display
    names = list(dict.fromkeys(f"「{wf.action(key).name}」" for key in waiting.actions))
    run = names[0] if len(names) == 1 else ("または".join(names) if len(names) == 2 else "".join(names) + "のいずれか")
    nobody = ("" if application.get(waiting.who)
              else f"\n※「{who}」が未入力のため、上長にお知らせしています。「{who}」を入力してください。")
    if waiting.reason:
        return (f"{late}。現在「{application['status']}」で、{who}の対応を待っています。\n"
                f"{who}：内容を見直して{run}を実行してください。すぐに申請できない場合は、"
                f"「{wf.field('delay_reason').display}」に遅れている理由を入力してください。入力された理由は上長に報告します。"
                + nobody)
    return (f"{late}。現在「{application['status']}」で、{who}の確認を待っています。\n"
            f"{who}：内容をご確認のうえ、{run}を実行してください。" + nobody)
