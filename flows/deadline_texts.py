"""The Japanese comments of the deadline sweep: reminders, escalations and delay-reason reports.

Read by sales and contract staff: fields by their labels, dates with the weekday, and what to
do next. The rule supplies the subject, the task and its own "what to do" sentences.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from flows.notify import bullet_list
from mappings import AppMapping, User
from mappings.deadlines import Condition, Rule, choice_values
from mappings.japanese_dates import full_date, full_moment

if TYPE_CHECKING:
    from flows.deadlines import Notice

MAX_QUOTED_CHARS = 200
LISTED = 10  # records a digest names


def due_phrase(due_at: datetime, whole_days: bool, today: date) -> str:
    """How the due time reads: ``本日2026年10月13日（火）`` or ``2026年10月14日（水）14:00``."""
    if not whole_days:
        return full_moment(due_at)
    day = (due_at - timedelta(days=1)).date()  # due_at is the first moment after the due day
    return ("本日" if day == today else "") + full_date(day)


def fill(template: str, mapping: AppMapping) -> str:
    """Replace {field} with the field's Japanese label."""
    return template.format_map({name: spec.display for name, spec in mapping.fields.items()})


def _record_name(rule: Rule, mapping: AppMapping, values: dict) -> str:
    title = values.get(rule.title) if rule.title else None
    name = str(title).strip() if title else ""
    return name or f"レコード番号{values['record_id']}"


def _head(rule: Rule, mapping: AppMapping, values: dict, today: date) -> tuple[str, str]:
    start_spec = mapping.field(rule.start)
    started = f"（{start_spec.display}：{full_moment(values[rule.start])}）"
    return f"{rule.subject}「{_record_name(rule, mapping, values)}」", started


def _missing_block(missing: list[str]) -> list[str]:
    return ["【未入力の項目】\n" + bullet_list(missing)] if missing else []


def _unassigned_note(rule: Rule, mapping: AppMapping) -> str:
    label = mapping.field(rule.responsible).display
    return f"※「{label}」が未設定のため、上長にお知らせしています。\n上長：担当者を決めて「{label}」を設定してください。"


def reminder_text(rule: Rule, mapping: AppMapping, values: dict, due: str, today: date, *,
                  missing: list[str], unassigned: bool) -> str:
    what, started = _head(rule, mapping, values, today)
    parts = [f"【{rule.task}のお願い】\n{what}の{rule.task}は、{due}が期限です。{started}"]
    parts += _missing_block(missing)
    parts.append(fill(rule.remind_text, mapping))
    if unassigned:
        parts.append(_unassigned_note(rule, mapping))
    return "\n\n".join(parts)


def overdue_text(rule: Rule, mapping: AppMapping, values: dict, due: str, today: date, *,
                 missing: list[str], unassigned: bool, supervisor_told: bool) -> str:
    what, started = _head(rule, mapping, values, today)
    parts = [f"【{rule.task}の期限超過】\n{what}の{rule.task}が、期限（{due}）を過ぎています。{started}"]
    parts += _missing_block(missing)
    parts.append(fill(rule.overdue_text, mapping))
    if rule.reason_field:
        label = mapping.field(rule.reason_field).display
        reason = values.get(rule.reason_field)
        if reason and str(reason).strip():
            parts.append(f"「{label}」：{quote(reason)}")
        else:
            parts.append(f"遅れている理由を「{label}」に記入してください。記入されると、上長に自動でお知らせします。")
    if supervisor_told:
        parts.append("上長：状況をご確認のうえ、必要に応じて担当者にご指示ください。")
    if unassigned:
        parts.append(_unassigned_note(rule, mapping))
    return "\n\n".join(parts)


def reason_report_text(rule: Rule, mapping: AppMapping, values: dict, due: str, today: date) -> str:
    what, _ = _head(rule, mapping, values, today)
    label = mapping.field(rule.reason_field).display
    return "\n\n".join([
        f"【{rule.task}の遅延理由のご報告】\n{what}（期限：{due}）の「{label}」が記入されました。",
        f"「{label}」：{quote(values.get(rule.reason_field))}",
        "上長：内容をご確認のうえ、必要に応じて担当者にご指示ください。",
    ])


def quote(value) -> str:
    text = " ".join(str(value or "").split())
    return text if len(text) <= MAX_QUOTED_CHARS else text[:MAX_QUOTED_CHARS] + "…"


# -- digests: many records of one rule, due at one level for the same people (flows/deadline_digests.py) --

def digest_text(rule: Rule, mapping: AppMapping, notices: list[Notice], today: date) -> str:
    """One reminder or escalation for ``notices`` (in record-number order): the rule's task and
    wording, how many, where to find them all, the first ``LISTED``."""
    first, n = notices[0], len(notices)
    by_due = sorted(notices, key=lambda x: x.deadline.due_at)
    span = _span(by_due[0].due, by_due[-1].due)
    if first.level == "reminder":
        parts = [f"【{rule.task}のお願い（{n}件）】\n{rule.subject}{n}件の{rule.task}は、{span}が期限です。",
                 fill(rule.remind_text, mapping)]
    else:
        parts = [f"【{rule.task}の期限超過（{n}件）】\n{rule.subject}{n}件の{rule.task}が、期限（{span}）を過ぎています。",
                 fill(rule.overdue_text, mapping)]
        if rule.reason_field:
            label = mapping.field(rule.reason_field).display
            parts.append(f"遅れている理由を、それぞれの{rule.subject}の「{label}」に記入してください。"
                         "記入されると、上長に自動でお知らせします。")
        if first.supervisor_told:
            parts.append("上長：状況をご確認のうえ、必要に応じて担当者にご指示ください。")
    if not first.responsible:
        parts.append(_unassigned_note(rule, mapping))
    parts.append(f"レコード一覧の絞り込みで{list_filter(rule, mapping, notices)}のものを表示すると、対象の{n}件を"
                 "確認できます（このコメントは、そのうち最初の1件に書いています）。")
    lines = [f"【対象の{rule.subject}】（レコード番号順{f'、最初の{LISTED}件' if n > LISTED else ''}）"]
    one_due = by_due[0].due == by_due[-1].due  # said once above; else each line says its own
    for notice in notices[:LISTED]:
        title = _title(rule, notice.values)
        due = "" if one_due else f"（期限：{notice.due}）"
        lines.append(f"・レコード番号{notice.record_id}{f'：{title}' if title else ''}{due}")
    if n > LISTED:
        lines.append(f"ほか{n - LISTED}件")
    parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _span(earliest: str, latest: str) -> str:
    return earliest if earliest == latest else f"{earliest}〜{latest}"


def _title(rule: Rule, values: dict) -> str:
    title = values.get(rule.title) if rule.title else None
    return quote(title) if title else ""


def list_filter(rule: Rule, mapping: AppMapping, notices: list[Notice]) -> str:
    """The kintone list filter that shows the records of a digest, in words: the rule's conditions,
    not done, the responsible people, the range of starts."""
    parts = [condition_words(mapping, c) for c in rule.where]
    parts.append("か".join(condition_words(mapping, c, negate=True) for c in rule.done_when))
    label = mapping.field(rule.responsible).display
    people = notices[0].responsible
    parts.append(f"「{label}」が{'・'.join(_person(u) for u in people)}" if people else f"「{label}」が空欄")
    starts = sorted(n.values[rule.start] for n in notices)
    start_label = mapping.field(rule.start).display
    parts.append(f"「{start_label}」が{full_moment(starts[0])}" if starts[0] == starts[-1]
                 else f"「{start_label}」が{full_moment(starts[0])}から{full_moment(starts[-1])}まで")
    return "、".join(parts)


def _person(user: User) -> str:
    return f"{user.name or user.code}さん"


def condition_words(mapping: AppMapping, cond: Condition, negate: bool = False) -> str:
    """One condition of a rule (or its opposite) as a list filter reads: 「割当日時」が空欄."""
    label = mapping.field(cond.field).display
    if cond.filled is not None:
        return f"「{label}」が{'入力済み' if cond.filled != negate else '空欄'}"
    values = "".join(f"「{v}」" for v in choice_values(mapping, cond))
    if (cond.in_ is not None) != negate:
        return f"「{label}」が{values}{'のいずれか' if len(choice_values(mapping, cond)) > 1 else ''}"
    return f"「{label}」が{values}以外"
