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
顧客管理台帳 lookup; an assignment 3 (record, comment, update). G-Staff: 1 (rep workload).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flows.context import FlowContext, gstaff_of
from flows.decide import on_fresh_record
from flows.notify import tell
from mappings import AppMapping, MappingError, User
from mappings.fields import is_blank
from mappings.japanese_dates import full_moment

FLOW = "inquiry_routing"
ASSIGNED_REMEMBER_SECONDS = 400 * 24 * 3600


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


# -- the flow -------------------------------------------------------------------------------------

def run(ctx: FlowContext, app_key: str, record_id: str, **_params) -> str:
    mapping = ctx.mappings[app_key]
    rules = RoutingRules.of(mapping)
    return on_fresh_record(ctx, mapping, record_id, FLOW, lambda record, _status: decide(ctx, mapping, rules, record))


def decide(ctx: FlowContext, mapping: AppMapping, rules: RoutingRules, record: dict) -> str:
    reps = _users(record.get("sales_rep"))
    department = rules.department_for(record.get("department"), record.get("business_type"))
    if reps:
        return record_assignment(ctx, mapping, department, record, reps)
    return tell_manager(ctx, mapping, rules, department, record)


def tell_manager(ctx: FlowContext, mapping: AppMapping, rules: RoutingRules, department: Department,
                 record: dict) -> str:
    """Nobody assigned: the manager is told once per department, with the reps ranked."""
    gstaff_of(ctx)  # G-Staff must be configured
    codes = [r.code for r in department.reps]
    clients = _clients_per_rep(ctx, codes)
    staff = {code: load.current_staff for code, load in ctx.gstaff.rep_workloads(codes).items()}
    risk = client_risk(ctx, record)
    ranked = rank(rules, department, clients, staff, record.get("business_type"), risk)[:rules.suggest]
    text = manager_text(ctx, mapping, rules, department, record, ranked, risk)
    told = tell(ctx, mapping, record["record_id"], text, [User(code=department.manager)],
                once_as="routing", same_as=department.name)
    _write(ctx, mapping, record, {"department": department.name, "department_manager": [User(code=department.manager)]})
    return "told_manager" if told else "already_told"


def record_assignment(ctx: FlowContext, mapping: AppMapping, department: Department, record: dict,
                      reps: list[User]) -> str:
    """割当者 and 割当日時, once per assignment; the rep (and for a new inquiry the manager) is told."""
    rid = record["record_id"]
    memory = f"{FLOW}:assigned:{mapping.key}:{rid}"
    codes = ",".join(sorted(u.code for u in reps))
    remembered = ctx.ledger.get(memory)
    if not is_blank(record.get("assigned_at")) and remembered in (None, codes):
        ctx.ledger.mark(memory, ASSIGNED_REMEMBER_SECONDS, codes)  # recorded (by us or by hand)
        return "nothing_to_do"
    by = record.get("modifier") if isinstance(record.get("modifier"), User) else None
    at = record.get("updated_at") or ctx.now()
    tell(ctx, mapping, rid, rep_text(mapping, record, by, at, ctx.now().date()), reps, once_as=f"assigned:{codes}")
    if remembered is None and is_blank(record.get("department_manager")):
        # It arrived assigned (a phone inquiry the rep took): the manager hears of it.
        tell(ctx, mapping, rid, assigned_on_arrival_text(mapping, record, reps), [User(code=department.manager)],
             once_as="routing", same_as=department.name)
    changes = {"assigned_by": [by] if by and by.code else [], "assigned_at": at}
    if is_blank(record.get("department")):
        changes["department"] = department.name
    if is_blank(record.get("department_manager")):
        changes["department_manager"] = [User(code=department.manager)]
    _write(ctx, mapping, record, changes)
    ctx.ledger.mark(memory, ASSIGNED_REMEMBER_SECONDS, codes)
    return "assignment_recorded"


def client_risk(ctx: FlowContext, record: dict) -> ClientRisk:
    """Past trouble and 顧客評価 from the 顧客管理台帳 (by 法人番号, else 会社名) and the inquiry itself."""
    trouble = not is_blank(record.get("past_trouble"))
    evaluation = ""
    clients = ctx.mappings["clients"] if "clients" in ctx.mappings else None
    number, name = (record.get("corporate_number") or "").strip(), (record.get("company_name") or "").strip()
    if clients is not None and (number or name):
        field, value = ("corporate_number", number) if number else ("company_name", name)
        names = [n for n in ("past_trouble", "evaluation") if n in clients.fields]
        if names:
            query = f'{clients.field(field).code} = "{_escape(value)}" order by $id desc'
            found = ctx.kintone.get_records(clients.id, query, fields=clients.codes(*names), limit=1)
            if found:
                known = clients.read(found[0])
                trouble = trouble or not is_blank(known.get("past_trouble"))
                evaluation = known.get("evaluation") or ""
    return ClientRisk(trouble, evaluation)


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


def _write(ctx: FlowContext, mapping: AppMapping, record: dict, wanted: dict) -> None:
    changes = {name: value for name, value in wanted.items()
               if name in mapping.fields and not _same(record.get(name), value)}
    if changes:
        ctx.kintone.update_record(mapping.id, record["record_id"], mapping.write(changes), revision=record["revision"])


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


# -- texts ----------------------------------------------------------------------------------------

def _about(mapping: AppMapping, record: dict, today) -> str:
    parts = [f"{mapping.field('company_name').display}：{record.get('company_name') or '（未入力）'}"]
    if record.get("business_type"):
        parts.append(f"{mapping.field('business_type').display}：{record['business_type']}")
    if record.get("received_at"):
        parts.append(f"{mapping.field('received_at').display}：{full_moment(record['received_at'])}")
    return "／".join(parts)


def manager_text(ctx: FlowContext, mapping: AppMapping, rules: RoutingRules, department: Department, record: dict,
                 ranked: list[Ranked], risk: ClientRisk) -> str:
    today = ctx.now().date()
    channel = record.get("channel") or "新規"
    rep_label = mapping.field("sales_rep").display
    lines = [f"{department.name}に新しいお問い合わせ（{channel}）が入りました。担当者を決めて「{rep_label}」に入力してください。",
             _about(mapping, record, today)]
    if channel == "HP":
        lines.append("HPからのお問い合わせは、1営業日以内に営業から一度ご連絡するルールです。")
    if ranked:
        lines.append("")
        lines.append("【担当候補】（担当クライアント数・担当スタッフさん数・業態の経験から順に並べています）")
        for i, r in enumerate(ranked, 1):
            fit = f"・{record.get('business_type')}の経験あり" if r.fits else ""
            senior = "・難しいお客様の担当経験あり" if risk.risky(rules) and r.rep.experienced else ""
            lines.append(f"{i}. {r.rep.name}：担当クライアント{r.clients}社・担当スタッフさん{r.staff}名{fit}{senior}")
    if risk.risky(rules):
        why = []
        if risk.past_trouble:
            why.append("過去トラブルの記録があります")
        if risk.evaluation in rules.risky_evaluations:
            why.append(f"顧客評価が「{risk.evaluation}」です")
        lines.append("")
        lines.append(f"※このお客様は{'、'.join(why)}。経験のある担当者を優先して並べています。")
    return "\n".join(lines)


def rep_text(mapping: AppMapping, record: dict, by: User | None, at, today) -> str:
    who = f"（割当：{by.name or by.code}、{full_moment(at)}）" if by and by.code else ""
    text = f"このお問い合わせの{mapping.field('sales_rep').display}になりました{who}。"
    if record.get("channel") == "HP":
        text += (f"HPからのお問い合わせは、1営業日以内に一度ご連絡するルールです。"
                 f"ご連絡したら「{mapping.field('first_contact_at').display}」を入力してください。")
    else:
        text += f"お客様にご連絡したら「{mapping.field('first_contact_at').display}」を入力してください。"
    return text


def assigned_on_arrival_text(mapping: AppMapping, record: dict, reps: list[User]) -> str:
    names = "、".join(u.name or u.code for u in reps)
    channel = record.get("channel") or "新規"
    return (f"新しいお問い合わせ（{channel}）を{names}さんが担当しています（受付時に"
            f"「{mapping.field('sales_rep').display}」入力済み）。ご確認ください。")
