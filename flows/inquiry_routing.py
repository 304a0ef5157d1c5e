"""Routing a new inquiry to its department and recording who assigned whom (seed A-2).

担当部門のマネージャー以上が担当を割り振る: when an inquiry arrives (HP or 電話) nobody has to
notice it first. For an Inquiries record:

- **nobody assigned** (担当営業 empty): the department comes from the record's 担当部署, else from
  the client's 業態 (``[[routing.departments]]`` of the Inquiries mapping, the ``default`` one
  otherwise); 担当部署 and 部署責任者 are written on the record, and the department's manager is
  told at once (quiet hours apply) with the reps ranked by ``[routing]``: the clients each rep
  is 担当営業 of in the 顧客管理台帳 (kintone), the staff each looks after now (G-Staff), whether
  the rep knows the client's 業態, and, for a client with past trouble or a low 顧客評価, whether
  the rep is marked experienced. The deadline rule ``inquiry_assignment`` escalates the same
  business day when nobody is assigned.
- **someone assigned**: 割当者 (who saved the record with that 担当営業: kintone's 更新者) and
  割当日時 are written once per assignment, the rep is told, and the manager is told of an
  inquiry that arrived already assigned (a phone inquiry taken by the rep).

Our own write-back arrives as an UPDATE_RECORD notification and changes nothing. kintone calls:
new and unassigned 4 (record, clients query, comment, update) plus 1 when the client is in the
顧客管理台帳 lookup; an assignment 3 (record, comment, update); an unassigned inquiry whose manager
was told already 1 (record). G-Staff: 1 (rep workload).

Found in bulk (``run_page``: a reconcile sweep finding a bulk import whose webhooks were lost), a page
of n inquiries costs ⌈n / 500⌉ reads, the reps' workload once (one 顧客管理台帳 query per 500 of their
clients, one G-Staff call), the clients' risk once (one 顧客管理台帳 query per 100 法人番号 or 会社名),
⌈writes / 2,000⌉ bulk calls, and the comments: with ``[routing] bulk_notice = "per_page"`` the
manager's are one per department on the page for the inquiries that arrived unassigned and one for
those that arrived assigned (not one per inquiry); the rep's of an assignment stay one per inquiry;
an inquiry changed meanwhile costs its ordinary job's calls on top (what it was told is not repeated).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from connectors.kintone.interface import RecordUpdate
from flows import bulk, notify
from flows.context import FlowContext, gstaff_of
from flows.decide import on_fresh_record
from flows.notify import tell
from flows.routing_texts import (
    assigned_on_arrival_text,
    manager_text,
    page_arrived_text,
    page_notice_text,
    rep_text,
)
from mappings import AppMapping, MappingError, User
from mappings.fields import is_blank

FLOW = "inquiry_routing"
ASSIGNED_REMEMBER_SECONDS = 400 * 24 * 3600
RISK_VALUES_PER_QUERY = 100  # 法人番号 or 会社名 in one 顧客管理台帳 query of a page


# -- the rules (mapping data, seed A-2) -----------------------------------------------------------

class Rep(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str  # kintone login name
    name: str
    business_types: list[str] = Field(default_factory=list)  # 業態 the rep knows
    experienced: bool = False  # may take a client with past trouble or a low evaluation


class Department(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str  # a 担当部署 choice
    manager: str  # kintone login name of the マネージャー who assigns
    business_types: list[str] = Field(default_factory=list)
    default: bool = False
    reps: list[Rep]


class RoutingRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    suggest: int = Field(default=3, ge=1, le=10)
    per_client: float = 1.0
    per_staff: float = 0.25
    business_type_fit: float = -3.0
    risk_without_experience: float = 5.0
    risky_evaluations: list[str] = Field(default_factory=list)
    # Work found in bulk (a page of a bulk import): "per_page" tells each manager once per page of the
    # department's unassigned inquiries, "per_record" once per inquiry, as the ordinary job does.
    bulk_notice: Literal["per_page", "per_record"] = "per_page"
    departments: list[Department]

    @model_validator(mode="after")
    def _one_default(self) -> "RoutingRules":
        if sum(d.default for d in self.departments) != 1:
            raise ValueError("exactly one department needs default = true")
        return self

    @classmethod
    def of(cls, mapping: AppMapping) -> "RoutingRules":
        try:
            return cls(**mapping.settings("routing"))
        except (ValidationError, TypeError) as exc:
            raise MappingError(f"{mapping.key} [routing]: {exc}") from None

    def department_for(self, named: str | None, business_type: str | None) -> Department:
        by_name = next((d for d in self.departments if named and d.name == named), None)
        if by_name:
            return by_name
        by_type = next((d for d in self.departments if business_type and business_type in d.business_types), None)
        return by_type or next(d for d in self.departments if d.default)


@dataclass(frozen=True)
class Ranked:
    rep: Rep
    clients: int
    staff: int
    fits: bool
    score: float


@dataclass(frozen=True)
class ClientRisk:
    past_trouble: bool
    evaluation: str

    def risky(self, rules: RoutingRules) -> bool:
        return self.past_trouble or self.evaluation in rules.risky_evaluations


def rank(rules: RoutingRules, department: Department, clients: Counter, staff: dict[str, int],
         business_type: str | None, risk: ClientRisk) -> list[Ranked]:
    """The department's reps, best first: the lowest score (ties by login name)."""
    out = []
    for rep in department.reps:
        fits = bool(business_type) and business_type in rep.business_types
        score = clients[rep.code] * rules.per_client + staff.get(rep.code, 0) * rules.per_staff
        score += rules.business_type_fit if fits else 0.0
        if risk.risky(rules) and not rep.experienced:
            score += rules.risk_without_experience
        out.append(Ranked(rep, clients[rep.code], staff.get(rep.code, 0), fits, score))
    return sorted(out, key=lambda r: (r.score, r.rep.code))


# -- the decision: one inquiry as read, the reps' workload and the client's risk given --------------
#
# The per-record job (``run``) and the page job (``run_page``) both decide with ``decide``; what each
# outcome needs is in the Decision: the comments (kintone has no bulk comment: one call each, said
# once), the fields to write (bulk-able: PUT records.json with the revision the decision was made
# on) and the assignment to remember once written. The reps' workload (a 顧客管理台帳 query and
# G-Staff's counts) and the client's risk (a 顧客管理台帳 query) are what ``decide`` is handed: read
# for each inquiry by its own job, once per page by the page job.


@dataclass(frozen=True)
class Workload:
    clients: Counter  # rep code -> 顧客管理台帳 records the rep is 担当営業 of
    staff: dict[str, int]  # rep code -> staff the rep looks after now (G-Staff)


UNASSIGNED, ARRIVED_ASSIGNED = "unassigned", "arrived_assigned"  # the manager's notices a page tells in one


@dataclass(frozen=True)
class Notice:
    text: str
    users: tuple[User, ...]
    once_as: str
    same_as: str | None = None
    kind: str = ""  # UNASSIGNED or ARRIVED_ASSIGNED: the manager's, told once per page in bulk


@dataclass(frozen=True)
class Decision:
    outcome: str  # the outcome word when carried out ("told_manager" becomes "already_told" when said before)
    department: Department
    notices: tuple[Notice, ...] = ()
    changes: dict = field(default_factory=dict)  # domain field -> value, to write on the record
    remember: str | None = None  # the assigned reps' codes, remembered once the write is done
    risk: ClientRisk | None = None  # the client's, for an unassigned inquiry


def decide(ctx: FlowContext, mapping: AppMapping, rules: RoutingRules, record: dict, *,
           workload: Callable[[Department], Workload], risk: Callable[[dict], ClientRisk]) -> Decision:
    """What the inquiry needs now; ``workload`` and ``risk`` are asked only for an unassigned one."""
    reps = _users(record.get("sales_rep"))
    department = rules.department_for(record.get("department"), record.get("business_type"))
    if reps:
        return record_assignment(ctx, mapping, department, record, reps)
    if notify.told_before(ctx, mapping, record["record_id"], "routing", same_as=department.name):
        # Told already (our own write-back's notification, a retried page): no workload to read again.
        return Decision("already_told", department, changes=_manager_fields(mapping, record, department))
    return tell_manager(ctx, mapping, rules, department, record, workload(department), risk(record))


def tell_manager(ctx: FlowContext, mapping: AppMapping, rules: RoutingRules, department: Department,
                 record: dict, workload: Workload, risk: ClientRisk) -> Decision:
    """Nobody assigned: the manager is told once per department, with the reps ranked."""
    ranked = rank(rules, department, workload.clients, workload.staff, record.get("business_type"),
                  risk)[:rules.suggest]
    text = manager_text(ctx, mapping, rules, department, record, ranked, risk)
    notice = Notice(text, (User(code=department.manager),), once_as="routing", same_as=department.name,
                    kind=UNASSIGNED)
    return Decision("told_manager", department, (notice,), _manager_fields(mapping, record, department),
                    risk=risk)


def _manager_fields(mapping: AppMapping, record: dict, department: Department) -> dict:
    return _changes(mapping, record, {"department": department.name,
                                      "department_manager": [User(code=department.manager)]})


def record_assignment(ctx: FlowContext, mapping: AppMapping, department: Department, record: dict,
                      reps: list[User]) -> Decision:
    """割当者 and 割当日時, once per assignment; the rep (and for a new inquiry the manager) is told."""
    rid = record["record_id"]
    codes = ",".join(sorted(u.code for u in reps))
    remembered = ctx.ledger.get(_assigned_key(mapping, rid))
    if not is_blank(record.get("assigned_at")) and remembered in (None, codes):
        return Decision("nothing_to_do", department, remember=codes)  # recorded (by us or by hand)
    by = record.get("modifier") if isinstance(record.get("modifier"), User) else None
    at = record.get("updated_at") or ctx.now()
    notices = [Notice(rep_text(mapping, record, by, at, ctx.now().date()), tuple(reps), once_as=f"assigned:{codes}")]
    if remembered is None and is_blank(record.get("department_manager")):
        # It arrived assigned (a phone inquiry the rep took): the manager hears of it.
        notices.append(Notice(assigned_on_arrival_text(mapping, record, reps), (User(code=department.manager),),
                              once_as="routing", same_as=department.name, kind=ARRIVED_ASSIGNED))
    wanted = {"assigned_by": [by] if by and by.code else [], "assigned_at": at}
    if is_blank(record.get("department")):
        wanted["department"] = department.name
    if is_blank(record.get("department_manager")):
        wanted["department_manager"] = [User(code=department.manager)]
    return Decision("assignment_recorded", department, tuple(notices), _changes(mapping, record, wanted),
                    remember=codes)


def _assigned_key(mapping: AppMapping, record_id: str) -> str:
    return f"{FLOW}:assigned:{mapping.key}:{record_id}"


# -- carrying a decision out -----------------------------------------------------------------------


def run(ctx: FlowContext, app_key: str, record_id: str, **_params) -> str:
    mapping = ctx.mappings[app_key]
    rules = RoutingRules.of(mapping)
    return on_fresh_record(ctx, mapping, record_id, FLOW, lambda record, _status: carry_out(
        ctx, mapping, record, decide(ctx, mapping, rules, record, workload=lambda d: read_workload(ctx, d.reps),
                                     risk=lambda r: client_risk(ctx, r))))


def say(ctx: FlowContext, mapping: AppMapping, record: dict, decision: Decision, *, managers_in_bulk: bool = False) -> str:
    """Post the decision's comments (each said once; ``managers_in_bulk``: not the manager's, which the
    page tells in one); the outcome word as carried out. Before the write, so a crash before it
    repeats no comment (``tell`` is once per text) and loses nothing."""
    told = False
    for notice in decision.notices:
        if managers_in_bulk and notice.kind:
            continue
        told = tell(ctx, mapping, record["record_id"], notice.text, list(notice.users), once_as=notice.once_as,
                    same_as=notice.same_as) or told
    return "already_told" if decision.outcome == "told_manager" and not told else decision.outcome


def remember(ctx: FlowContext, mapping: AppMapping, record_id: str, decision: Decision) -> None:
    """After the write: the assignment recorded, so our own write-back's notification changes nothing."""
    if decision.remember is not None:
        ctx.ledger.mark(_assigned_key(mapping, record_id), ASSIGNED_REMEMBER_SECONDS, decision.remember)


def carry_out(ctx: FlowContext, mapping: AppMapping, record: dict, decision: Decision) -> str:
    """The per-record job: the comments, the write with the record's revision, the assignment remembered."""
    outcome = say(ctx, mapping, record, decision)
    if decision.changes:
        ctx.kintone.update_record(mapping.id, record["record_id"], mapping.write(decision.changes),
                                  revision=record["revision"])
    remember(ctx, mapping, record["record_id"], decision)
    return outcome


def read_workload(ctx: FlowContext, reps: Iterable[Rep]) -> Workload:
    """The reps' 顧客管理台帳 clients (one query per 500) and their staff now (one G-Staff call)."""
    gstaff = gstaff_of(ctx)  # G-Staff must be configured
    codes = list(dict.fromkeys(r.code for r in reps))
    clients = _clients_per_rep(ctx, codes)
    staff = {code: load.current_staff for code, load in gstaff.rep_workloads(codes).items()}
    return Workload(clients, staff)


def client_risk(ctx: FlowContext, record: dict) -> ClientRisk:
    """Past trouble and 顧客評価 from the 顧客管理台帳 (by 法人番号, else 会社名) and the inquiry itself."""
    trouble = not is_blank(record.get("past_trouble"))
    evaluation = ""
    clients = ctx.mappings["clients"] if "clients" in ctx.mappings else None
    number, name = (record.get("corporate_number") or "").strip(), (record.get("company_name") or "").strip()
    if clients is not None and (number or name):
        by, value = ("corporate_number", number) if number else ("company_name", name)
        names = [n for n in ("past_trouble", "evaluation") if n in clients.fields]
        if names:
            query = f'{clients.field(by).code} = "{_escape(value)}" order by $id desc'
            found = ctx.kintone.get_records(clients.id, query, fields=clients.codes(*names), limit=1)
            if found:
                known = clients.read(found[0])
                trouble = trouble or not is_blank(known.get("past_trouble"))
                evaluation = known.get("evaluation") or ""
    return ClientRisk(trouble, evaluation)


def run_page(ctx: FlowContext, app_key: str, record_ids: list[str]) -> bulk.PageResult:
    """Inquiries found in bulk (a reconcile page: a bulk import whose webhooks were lost), per page.

    One read of the page (≤ 500 per call), the reps' workload once (one 顧客管理台帳 query per 500 of
    their clients, one G-Staff call) and the clients' risk once (one 顧客管理台帳 query per 100 法人番号
    or 会社名), ``decide`` for each inquiry as its own job would, the comments where that decision posts
    them (said once as the ordinary job says them; with ``bulk_notice = "per_page"`` one notice per
    department instead of one per unassigned inquiry: ``announce``), then every write of the page in
    bulk (``flows.bulk``: 2,000 per call, each with the revision it was decided on). An inquiry a bulk
    call refused (changed since the page was read) goes to its ordinary job, which says nothing twice.
    """
    mapping = ctx.mappings[app_key]
    rules = RoutingRules.of(mapping)
    result = bulk.PageResult()
    rows = bulk.read_records(ctx, mapping, record_ids)
    page = [mapping.read(row) for row in rows.values()]
    loads: list[Workload] = []
    risks: dict[str, ClientRisk] = {}

    def workload(_department: Department) -> Workload:  # every department's reps, read once for the page
        if not loads:
            loads.append(read_workload(ctx, [rep for d in rules.departments for rep in d.reps]))
        return loads[0]

    def risk(record: dict) -> ClientRisk:  # the page's unassigned inquiries' clients, read once
        if not risks:
            risks.update(client_risks(ctx, [r for r in page if not _users(r.get("sales_rep"))]))
        return risks[record["record_id"]]

    decided = [(r, decide(ctx, mapping, rules, r, workload=workload, risk=risk)) for r in page]
    per_page = rules.bulk_notice == "per_page"
    announced = announce(ctx, mapping, rules, decided, workload) if per_page else {}
    sent: dict[str, str] = {}  # record id -> outcome, once its write lands
    updates: list[RecordUpdate] = []
    for record, decision in decided:
        rid = record["record_id"]
        outcome = say(ctx, mapping, record, decision, managers_in_bulk=per_page)
        outcome = announced.get(rid, outcome)
        if decision.changes:
            sent[rid] = outcome
            updates.append(RecordUpdate(rid, mapping.write(decision.changes), str(record["revision"])))
        else:
            remember(ctx, mapping, rid, decision)
            result.handled(rid, outcome, record["revision"])
    landed = bulk.write_records(ctx, mapping, updates)
    decisions = {r["record_id"]: d for r, d in decided}
    for rid in landed[0]:
        remember(ctx, mapping, rid, decisions[rid])
    return bulk.finish_page(ctx, FLOW, mapping, record_ids, rows, result, sent=sent, landed=landed,
                            detail="written in bulk")


def announce(ctx: FlowContext, mapping: AppMapping, rules: RoutingRules, decided: list[tuple[dict, Decision]],
             workload: Callable[[Department], Workload]) -> dict[str, str]:
    """Tell each manager in one comment of the page's inquiries of the department that arrived without
    担当営業, and in one more of those that arrived with one, each on the first of them not told yet;
    {record id: outcome word} of the unassigned ones.

    Each inquiry told is then remembered as its own job's notice (``once_as="routing"``), so neither
    its ordinary job nor a later page tells it again. A crash between the notice and those marks
    finds the same inquiries on the retry, hence the same notice (said once), and marks them then.
    """
    groups: dict[tuple[str, str], list[tuple[dict, Decision, Notice]]] = {}
    for record, decision in decided:
        for notice in decision.notices:
            if notice.kind:
                groups.setdefault((notice.kind, decision.department.name), []).append((record, decision, notice))
    out: dict[str, str] = {}
    for (kind, name), members in groups.items():
        department = members[0][1].department
        fresh = [(r, d, n) for r, d, n in members
                 if not notify.told_before(ctx, mapping, r["record_id"], n.once_as, same_as=n.same_as)]
        if kind == UNASSIGNED:
            out.update({r["record_id"]: "already_told" for r, _, _ in members})
        if not fresh:
            continue
        records = [r for r, _, _ in fresh]
        if kind == UNASSIGNED:
            text = _unassigned_notice(rules, mapping, department, fresh, workload(department))
        else:
            text = page_arrived_text(mapping, department, records)
        ids = ",".join(r["record_id"] for r in records)
        posted = notify.tell(ctx, mapping, records[0]["record_id"], text, [User(code=department.manager)],
                             once_as=f"routing_page:{kind}", same_as=f"{name}:{ids}")
        for record, _, notice in fresh:
            notify.mark_told(ctx, mapping, record["record_id"], notice.once_as, same_as=notice.same_as)
            if kind == UNASSIGNED:
                out[record["record_id"]] = "told_manager" if posted else "already_told"
    return out


def _unassigned_notice(rules: RoutingRules, mapping: AppMapping, department: Department,
                       fresh: list[tuple[dict, Decision, Notice]], load: Workload) -> str:
    records = [r for r, _, _ in fresh]
    types = {r.get("business_type") for r in records}
    business_type = types.pop() if len(types) == 1 else None
    ranked = rank(rules, department, load.clients, load.staff, business_type, ClientRisk(False, ""))[:rules.suggest]
    risky = sum(1 for _, d, _ in fresh if d.risk is not None and d.risk.risky(rules))
    return page_notice_text(mapping, department, records, ranked, risky, business_type)


def client_risks(ctx: FlowContext, records: list[dict]) -> dict[str, ClientRisk]:
    """``client_risk`` of many inquiries at once: one 顧客管理台帳 query per 100 法人番号 or 会社名 asked
    (the newest client record of each, as ``client_risk`` takes), not one per inquiry."""
    out = {r["record_id"]: ClientRisk(not is_blank(r.get("past_trouble")), "") for r in records}
    clients = ctx.mappings["clients"] if "clients" in ctx.mappings else None
    names = [n for n in ("past_trouble", "evaluation") if clients is not None and n in clients.fields]
    if not names:
        return out
    keys = {r["record_id"]: _risk_key(r) for r in records}
    newest: dict[tuple[str, str], dict] = {}  # (field, value) -> the newest client record's values
    for by in ("corporate_number", "company_name"):
        values = sorted({v for b, v in keys.values() if b == by and v})
        for part in bulk.chunks(values, RISK_VALUES_PER_QUERY):
            code = clients.field(by).code
            wanted = ", ".join(f'"{_escape(v)}"' for v in part)
            last = None
            while True:
                below = f" and $id < {last}" if last else ""
                rows = ctx.kintone.get_records(clients.id, f"{code} in ({wanted}){below} order by $id desc",
                                               fields=["$id", code, *clients.codes(*names)], limit=500)
                for row in rows:
                    known = clients.read(row)
                    newest.setdefault((by, (known.get(by) or "").strip()), known)
                if len(rows) < 500:
                    break
                last = int(rows[-1]["$id"]["value"])
    for rid, key in keys.items():
        known = newest.get(key)
        if known is not None:
            out[rid] = ClientRisk(out[rid].past_trouble or not is_blank(known.get("past_trouble")),
                                  known.get("evaluation") or "")
    return out


def _risk_key(record: dict) -> tuple[str, str]:
    number, name = (record.get("corporate_number") or "").strip(), (record.get("company_name") or "").strip()
    return ("corporate_number", number) if number else ("company_name", name)


def _clients_per_rep(ctx: FlowContext, codes: list[str]) -> Counter:
    """How many 顧客管理台帳 records each rep is 担当営業 of (500 per call, seeking by $id)."""
    counts: Counter = Counter()
    if "clients" not in ctx.mappings or not codes:
        return counts
    clients = ctx.mappings["clients"]
    rep_field = clients.field("sales_rep")
    wanted = ", ".join(f'"{_escape(c)}"' for c in codes)
    last = 0
    while True:
        page = ctx.kintone.get_records(
            clients.id, f"{rep_field.code} in ({wanted}) and $id > {last} order by $id asc",
            fields=["$id", rep_field.code], limit=500)
        for row in page:
            for user in row.get(rep_field.code, {}).get("value") or []:
                if user.get("code") in codes:
                    counts[user["code"]] += 1
        if len(page) < 500:
            return counts
        last = int(page[-1]["$id"]["value"])


def _changes(mapping: AppMapping, record: dict, wanted: dict) -> dict:
    return {name: value for name, value in wanted.items()
            if name in mapping.fields and not _same(record.get(name), value)}


def _same(current, wanted) -> bool:
    if isinstance(wanted, list):
        return [u.code for u in _users(current)] == [u.code for u in wanted]
    return current == wanted


def _users(value) -> list[User]:
    if isinstance(value, User):
        return [value] if value.code else []
    return [u for u in (value or []) if isinstance(u, User) and u.code]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
