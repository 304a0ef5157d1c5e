"""What a sales rep should know about a client before the first call (seed A-1 ◇): the
G-Staff history turned into record values and a short risk summary in business Japanese."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from connectors.gstaff.interface import ClientHistory, ClientSummary, MatchKind
from flows.notify import bullet_list
from mappings import AppMapping
from mappings.japanese_dates import full_date
from mappings.normalize import company_core_name

NO_TROUBLE = "なし"
MAX_LISTED = 10  # candidates and sites named in one comment

_MATCHED_BY = {
    MatchKind.CORPORATE_NUMBER: "法人番号",
    MatchKind.NAME_AND_PHONE: "会社名と電話番号",
    MatchKind.NAME: "会社名",
}
_INVALID_NUMBER = {
    "not_13_digits": "13桁の数字ではありません",
    "check_digit": "先頭のチェックデジットが残り12桁と合いません",
}


@dataclass(frozen=True)
class RiskRules:
    """From the mapping's [client_lookup] section."""

    turnover_threshold_percent: Decimal = Decimal(15)
    conflict_horizon_months: int = 6

    @classmethod
    def of(cls, settings: dict) -> "RiskRules":
        return cls(Decimal(str(settings.get("turnover_threshold_percent", 15))),
                   int(settings.get("conflict_horizon_months", 6)))


def add_months(day: date, months: int) -> date:
    years, month0 = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month0 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def turnover_percent(history: ClientHistory) -> Decimal | None:
    """離職率 in percent with one decimal (0.183 → 18.3), as the kintone field holds it."""
    if history.turnover_rate is None:
        return None
    return (Decimal(history.turnover_rate) * 100).quantize(Decimal("0.1"))


def _percent_text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def record_conflict_date(history: ClientHistory, today: date) -> date | None:
    """The 抵触日 to show in the record's one date field: the next one to come, else the latest past one."""
    dates = sorted(s.conflict_date for s in history.work_sites if s.conflict_date)
    upcoming = [d for d in dates if d >= today]
    if upcoming:
        return upcoming[0]
    return dates[-1] if dates else None


def trouble_text(history: ClientHistory) -> str:
    """過去トラブル for the record, newest first."""
    if not history.troubles:
        return NO_TROUBLE
    entries = sorted(history.troubles, key=lambda t: t.occurred_on, reverse=True)
    return "\n".join(f"{full_date(t.occurred_on)} {t.category}：{t.summary}".rstrip("：") for t in entries)


def history_values(history: ClientHistory, today: date) -> dict:
    """{domain name: value} of the write-back fields."""
    return {
        "past_trouble": trouble_text(history),
        "conflict_date": record_conflict_date(history, today),
        "turnover_rate": turnover_percent(history),
    }


def risk_lines(history: ClientHistory, today: date, rules: RiskRules) -> list[str]:
    """One line per risk: past trouble, a 抵触日 soon (or passed), turnover above the threshold."""
    lines = []
    if history.troubles:
        latest = max(history.troubles, key=lambda t: t.occurred_on)
        lines.append(f"過去トラブルあり：{len(history.troubles)}件（直近 {full_date(latest.occurred_on)} {latest.category}）")
    horizon = add_months(today, rules.conflict_horizon_months)
    sites = sorted((s for s in history.work_sites if s.conflict_date), key=lambda s: s.conflict_date)
    passed = [s for s in sites if s.conflict_date < today]
    soon = [s for s in sites if today <= s.conflict_date <= horizon]
    if soon:
        named = "、".join(f"{s.name} {full_date(s.conflict_date)}" for s in soon[:MAX_LISTED])
        lines.append(f"抵触日が{rules.conflict_horizon_months}か月以内：{named}")
    if passed:
        named = "、".join(f"{s.name} {full_date(s.conflict_date)}" for s in passed[-MAX_LISTED:])
        lines.append(f"抵触日を過ぎた就業場所あり：{named}")
    percent = turnover_percent(history)
    if percent is not None and percent > rules.turnover_threshold_percent:
        lines.append(f"離職率 {_percent_text(percent)}%（基準の{_percent_text(rules.turnover_threshold_percent)}%を上回っています）")
    return lines


def _label(mapping: AppMapping, name: str) -> str:
    return mapping.field(name).display if name in mapping.fields else name


def history_text(mapping: AppMapping, history: ClientHistory, today: date, rules: RiskRules) -> str:
    risks = risk_lines(history, today, rules)
    parts = ["【リスク】\n" + bullet_list(risks) if risks else "【リスク】特記事項はありません。",
             f"派遣実績：現在 {history.current_staff}名、過去 {history.past_staff}名。"]
    written = "".join(f"「{_label(mapping, n)}」" for n in ("past_trouble", "conflict_date", "turnover_rate")
                       if n in mapping.fields)
    advice = "連絡の前に確認し、気になる点があれば上長に相談してください。"
    parts.append(f"{written}に記入しました。{advice}" if written else advice)
    return "\n".join(parts)


def found_text(mapping: AppMapping, client: ClientSummary, history: ClientHistory, today: date,
               rules: RiskRules) -> str:
    how = _MATCHED_BY.get(client.matched_by, "")
    matched = f"、{how}で照合" if how else ""
    return (f"Gスタッフの登録顧客と一致しました：{client.name}（顧客ID {client.client_id}{matched}）。\n"
            + history_text(mapping, history, today, rules))


def entered_id_text(mapping: AppMapping, client_id: str, history: ClientHistory, today: date,
                    rules: RiskRules) -> str:
    return (f"「{_label(mapping, 'gstaff_client_id')}」の {client_id} の情報をGスタッフから取り込みました。\n"
            + history_text(mapping, history, today, rules))


def registered_text(client: ClientSummary) -> str:
    return (f"Gスタッフに該当する顧客がいなかったため、新規顧客として登録しました（顧客ID {client.client_id}）。"
            "過去の取引・トラブルの記録はありません。")


def candidates_text(mapping: AppMapping, name: str, candidates: list[ClientSummary]) -> str:
    id_label = _label(mapping, "gstaff_client_id")
    lines = []
    for c in candidates[:MAX_LISTED]:
        details = "／".join(x for x in (f"電話 {c.phone}" if c.phone else "", c.address) if x)
        lines.append(f"{c.client_id} {c.name}" + (f"（{details}）" if details else ""))
    if len(candidates) > MAX_LISTED:
        lines.append(f"ほか {len(candidates) - MAX_LISTED}件")
    return (f"Gスタッフに「{company_core_name(name)}」という会社名の顧客が{len(candidates)}件あり、"
            "同じ会社かどうか自動では判断できませんでした。\n"
            + bullet_list(lines) + "\n"
            f"該当する顧客があれば、その顧客IDを「{id_label}」に入力して保存してください。"
            "過去トラブル・抵触日・離職率を自動で取り込みます。"
            f"該当がなければ、Gスタッフにクライアント登録してから顧客IDを「{id_label}」に入力してください。")


def invalid_number_text(mapping: AppMapping, raw: str, reason: str) -> str:
    label = _label(mapping, "corporate_number")
    return (f"「{label}」の「{raw}」は正しい法人番号ではありません（{_INVALID_NUMBER.get(reason, reason)}）。"
            "国税庁の法人番号公表サイトで確認して正しい13桁の番号に直し、保存してください。"
            "保存すると、Gスタッフでの顧客確認をやり直します。"
            f"法人番号が分からない場合は「{label}」を空にして保存すれば、会社名と電話番号で確認します。")


def missing_name_text(mapping: AppMapping) -> str:
    return (f"「{_label(mapping, 'company_name')}」が入力されていないため、Gスタッフでの顧客確認ができません。"
            f"「{_label(mapping, 'company_name')}」（分かれば「{_label(mapping, 'corporate_number')}」も）を入力して保存してください。")


def unknown_id_text(mapping: AppMapping, client_id: str) -> str:
    label = _label(mapping, "gstaff_client_id")
    return (f"「{label}」の「{client_id}」はGスタッフに見つかりません。顧客IDを確かめて入力し直してください。"
            f"「{label}」を空にして保存すると、会社名・電話番号でGスタッフを確認し直します。")


def rejected_text(mapping: AppMapping, code: str | None) -> str:
    return ("Gスタッフへのクライアント登録がGスタッフ側で受け付けられませんでした"
            + (f"（理由コード：{code}）" if code else "") + "。"
            f"「{_label(mapping, 'company_name')}」「{_label(mapping, 'phone')}」の内容を確認して保存し直すか、"
            "Gスタッフに直接登録してから顧客IDを入力してください。")
