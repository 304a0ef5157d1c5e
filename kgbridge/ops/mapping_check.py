"""Check our mappings against the live kintone apps before a flow trips over a renamed field.

For each app: every mapped field code exists in the form with the mapped type (fields inside a
table too), every option the mapping names is an option of the live field, a mapped lookup looks
up the mapped app, the field the reconcile sweep orders by (更新日時) exists when the app has
record triggers, process management is on when we map statuses, every mapped status exists,
every mapped action exists between the mapped statuses with the mapped execution condition
(アクションの実行条件), and every trigger names a known flow and known statuses.

kintone calls: 1 per app (form fields), plus 1 when the mapping has process management.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.kintone.errors import KintoneError
from connectors.kintone.interface import KintoneClient
from flows import FLOWS
from kgbridge.ops.output import table
from mappings import AppMapping, Mappings

UPDATED_TIME_CODE = "更新日時"
RECORD_EVENTS = {"ADD_RECORD", "UPDATE_RECORD", "UPDATE_STATUS"}


@dataclass
class Problem:
    app: str
    what: str  # field | status | action | process | trigger | app
    name: str  # our name for it (domain field name, status key, action key, flow)
    code: str  # kintone's name for it (field code, status name, action name)
    problem: str

    def as_json(self) -> dict[str, str]:
        return dict(self.__dict__)


@dataclass
class AppReport:
    app: str
    app_id: str
    label: str
    fields: int = 0
    statuses: int = 0
    actions: int = 0
    triggers: int = 0
    problems: list[Problem] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"app": self.app, "app_id": self.app_id, "label": self.label,
                "checked": {"fields": self.fields, "statuses": self.statuses, "actions": self.actions,
                            "triggers": self.triggers},
                "problems": [p.as_json() for p in self.problems]}


def check_all(kintone: KintoneClient, mappings: Mappings, app_key: str | None = None) -> list[AppReport]:
    apps = [mappings[app_key]] if app_key else list(mappings)
    return [check_app(kintone, m, mappings) for m in apps]


def check_app(kintone: KintoneClient, mapping: AppMapping, mappings: Mappings | None = None) -> AppReport:
    report = AppReport(app=mapping.key, app_id=mapping.id, label=mapping.app.label)
    _check_triggers(mapping, report)
    try:
        form = kintone.get_form_fields(mapping.id)
    except KintoneError as exc:
        report.problems.append(Problem(mapping.key, "app", mapping.key, mapping.id, f"cannot read the form: {exc}"))
        return report
    _check_fields(mapping, form, report, mappings)
    if mapping.process:
        try:
            process = kintone.get_process_settings(mapping.id)
        except KintoneError as exc:
            report.problems.append(Problem(mapping.key, "process", "", "",
                                           f"cannot read process management: {exc}"))
            return report
        _check_process(mapping, process, report)
    return report


def _check_fields(mapping: AppMapping, form: dict[str, dict[str, Any]], report: AppReport,
                  mappings: Mappings | None) -> None:
    for name, spec in mapping.fields.items():
        report.fields += 1
        _compare_field(mapping.key, name, spec, form, report)
        _compare_lookup(mapping.key, name, spec, form, report, mappings)
        for inner_name, inner in spec.fields.items():
            report.fields += 1
            table = (form.get(spec.code) or {}).get("fields") or {}
            if spec.code in form:
                _compare_field(mapping.key, f"{name}.{inner_name}", inner, table, report, where=f" in table {spec.code}")
    if any(RECORD_EVENTS & set(t.events) for t in mapping.triggers):
        updated = form.get(UPDATED_TIME_CODE)
        if not updated or updated.get("type") != "UPDATED_TIME":
            report.problems.append(Problem(mapping.key, "field", "(reconcile)", UPDATED_TIME_CODE,
                                           "the reconcile sweep needs the 更新日時 (UPDATED_TIME) field"))


def _compare_field(app: str, name: str, spec, form: dict, report: AppReport, where: str = "") -> None:
    props = form.get(spec.code)
    if props is None:
        report.problems.append(Problem(app, "field", name, spec.code, f"no field with this code{where}"))
    elif props.get("type") != spec.type:
        report.problems.append(Problem(app, "field", name, spec.code,
                                       f"type is {props.get('type')} in the app, {spec.type} in the mapping"))
    elif spec.type == "STATUS" and props.get("enabled") is False:
        report.problems.append(Problem(app, "field", name, spec.code, "process management is turned off"))
    elif spec.options:
        live = set((props.get("options") or {}).keys())
        missing = [o for o in spec.options if o not in live]
        if missing:
            report.problems.append(Problem(app, "field", name, spec.code,
                                           f"no option {', '.join(missing)}{where} (the app has: "
                                           f"{', '.join(sorted(live)) or 'none'})"))


def _compare_lookup(app: str, name: str, spec, form: dict, report: AppReport, mappings: Mappings | None) -> None:
    if not spec.lookup or spec.code not in form:
        return
    lookup = form[spec.code].get("lookup") or {}
    related = str(((lookup.get("relatedApp") or {}).get("app")) or "")
    want = spec.lookup
    if not lookup:
        report.problems.append(Problem(app, "field", name, spec.code,
                                       f"not a lookup in the app; the mapping looks up {want.app} by {want.key}"))
    elif mappings is not None and want.app in mappings and related != mappings[want.app].id:
        report.problems.append(Problem(app, "field", name, spec.code,
                                       f"looks up app {related or '?'} in the app; the mapping says "
                                       f"{want.app} (app {mappings[want.app].id})"))
    elif lookup.get("relatedKeyField") != want.key:
        report.problems.append(Problem(app, "field", name, spec.code,
                                       f"looks up by {lookup.get('relatedKeyField') or '?'} in the app; the "
                                       f"mapping says by {want.key}"))


def _check_process(mapping: AppMapping, process: dict[str, Any], report: AppReport) -> None:
    assert mapping.process is not None
    if not process.get("enable"):
        report.problems.append(Problem(mapping.key, "process", "", "",
                                       "process management is turned off in the app"))
    states = process.get("states") or {}
    names = {s.get("name", key) for key, s in states.items()} if isinstance(states, dict) else set()
    for key, status in mapping.process.statuses.items():
        report.statuses += 1
        if status not in names:
            report.problems.append(Problem(mapping.key, "status", key, status, "no such status"))
    live = [(a.get("name"), a.get("from"), a.get("to")) for a in process.get("actions") or []]
    conditions = {(a.get("name"), a.get("from"), a.get("to")): a.get("filterCond") or ""
                  for a in process.get("actions") or []}
    for key, action in mapping.process.actions.items():
        report.actions += 1
        want_from = mapping.process.statuses[action.from_status]
        want_to = mapping.process.statuses[action.to_status]
        if (action.name, want_from, want_to) in live:
            have = conditions[(action.name, want_from, want_to)]
            if _condition(have) != _condition(action.condition or ""):
                report.problems.append(Problem(
                    mapping.key, "action", key, action.name,
                    f"execution condition is {have or '(none)'!r} in the app; the mapping says "
                    f"{action.condition or '(none)'!r}"))
            continue
        same_name = [f"{f} → {t}" for n, f, t in live if n == action.name]
        if same_name:
            problem = f"goes {', '.join(same_name)} in the app; the mapping says {want_from} → {want_to}"
        else:
            problem = "no such action"
        report.problems.append(Problem(mapping.key, "action", key, action.name, problem))


def _condition(text: str) -> str:
    """A condition compared as kintone keeps it: spaces around words do not matter."""
    return " ".join(text.split())


def _check_triggers(mapping: AppMapping, report: AppReport) -> None:
    statuses = mapping.process.statuses if mapping.process else {}
    has_status_field = any(spec.type == "STATUS" for spec in mapping.fields.values())
    for trigger in mapping.triggers:
        report.triggers += 1
        if trigger.statuses and not has_status_field:
            report.problems.append(Problem(mapping.key, "trigger", trigger.flow, "",
                                           "the trigger names statuses but the mapping has no STATUS field"))
        if trigger.flow not in FLOWS:
            report.problems.append(Problem(mapping.key, "trigger", trigger.flow, "", "no flow of this name"))
        for key in trigger.statuses:
            if key not in statuses:
                report.problems.append(Problem(mapping.key, "trigger", trigger.flow, key,
                                               "the trigger names a status the mapping does not define"))


def render(reports: list[AppReport]) -> str:
    lines = []
    for r in reports:
        head = (f"{r.app} (app {r.app_id}{' ' + r.label if r.label else ''}): {r.fields} fields, "
                f"{r.statuses} statuses, {r.actions} actions, {r.triggers} triggers checked")
        lines.append(head + (": all match." if not r.problems else f": {len(r.problems)} problem(s)."))
    problems = [p for r in reports for p in r.problems]
    if problems:
        lines += ["", table(["APP", "WHAT", "NAME", "CODE", "PROBLEM"],
                            [[p.app, p.what, p.name, p.code, p.problem] for p in problems])]
    return "\n".join(lines)
