"""The Japanese comments of the deadline sweep: reminders, escalations and delay-reason reports.

Read by sales and contract staff: fields by their labels, dates with the weekday, and what to
do next. The rule supplies the subject, the task and its own "what to do" sentences.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flows.notify import bullet_list
from mappings import AppMapping
from mappings.deadlines import Rule
from mappings.japanese_dates import full_date, full_moment

MAX_QUOTED_CHARS = 200


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
