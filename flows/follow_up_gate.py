"""When a staff follow-up counts as done (seed 001 ❶ B).

Each 相談・課題 row is settled on the spot: by when (対応期限), in which direction (対応方針) and how
and when the answer is reported back (報告方法). A follow-up saved with a 実施日 counts as done only
when every row has all three, and they are answers, not placeholders: the 対応期限 is not before
the follow-up and not further out than ``issue_due_max_days``, and 対応方針 / 報告方法 are not words
such as 未定 (``undecided_words`` in the Follow-up mapping). A thank-you call also says who called
and when; a renewal-intent check says what the staff or 指揮命令者 answered (and why, for 終了).

``problems()`` returns what is missing, one Japanese line per row or field; empty means done.
A row left completely blank (kintone shows one empty row on every new form) is no issue at all.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flows.business_calendar import TOKYO
from mappings import AppMapping
from mappings.fields import is_blank

ISSUE_PARTS = ("issue_due", "direction", "report_how")


def problems(follow_ups: AppMapping, values: dict, settings: dict) -> list[str]:
    """What keeps this done follow-up from counting as done, in Japanese (empty: nothing)."""
    out = issue_problems(follow_ups, values, settings)
    category = values.get("category")
    if category == settings.get("thank_you_call", "お礼電話"):
        out += [f"「{follow_ups.field(name).display}」が未入力です"
                for name in ("caller", "called_at") if is_blank(values.get(name))]
    if category == settings.get("renewal_check", "更新意向確認"):
        intent = values.get("renewal_intent")
        if is_blank(intent):
            out.append(f"「{follow_ups.field('renewal_intent').display}」が未入力です")
        elif intent in settings.get("intents_needing_reason", []) and _undecided(
                values.get("renewal_intent_reason"), settings):
            out.append(f"「{follow_ups.field('renewal_intent').display}」が{intent}のため、"
                       f"「{follow_ups.field('renewal_intent_reason').display}」を入力してください")
    return out


def issue_problems(follow_ups: AppMapping, values: dict, settings: dict) -> list[str]:
    table = follow_ups.field("issues")
    label = {name: table.fields[name].display for name in ("issue", *ISSUE_PARTS)}
    done_on = values.get("done_on")
    longest = int(settings.get("issue_due_max_days", 60))
    out: list[str] = []
    for number, row in enumerate(values.get("issues") or [], start=1):
        if all(_blank_cell(row.get(name)) for name in ("issue", *ISSUE_PARTS)):
            continue
        what = (row.get("issue") or "").strip()
        name = f"「{_short(what)}」" if what else f"{number}行目"
        missing = [] if what else [f"{label['issue']}が未入力"]
        due = row.get("issue_due")
        if due is None:
            missing.append(f"{label['issue_due']}が未入力")
        elif isinstance(done_on, date) and due < done_on:
            missing.append(f"{label['issue_due']}がフォロー実施日より前")
        elif isinstance(done_on, date) and due > done_on + timedelta(days=longest):
            missing.append(f"{label['issue_due']}が実施日から{longest}日より先")
        for part in ("direction", "report_how"):
            if _undecided(row.get(part), settings):
                missing.append(f"{label[part]}が未入力" if _blank_cell(row.get(part))
                               else f"{label[part]}が「{row[part].strip()}」のまま")
        if missing:
            out.append(f"{table.display} {name}：{'、'.join(missing)}")
    return out


def _undecided(value, settings: dict) -> bool:
    if _blank_cell(value):
        return True
    return str(value).strip() in set(settings.get("undecided_words", []))


def _blank_cell(value) -> bool:
    if isinstance(value, str):
        return value.strip() == ""
    return is_blank(value)


def _short(text: str, limit: int = 30) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit] + "…"


def request_due(calendar, called_at: datetime | date | None, done_on: date | None, settings: dict) -> date | None:
    """The 対応期限 of a client's request made on a thank-you call: N business days after the call."""
    start = called_at.astimezone(TOKYO).date() if isinstance(called_at, datetime) else called_at or done_on
    if start is None:
        return None
    return calendar.add_business_days(start, int(settings.get("request_due_business_days", 5)))
