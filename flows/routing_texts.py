"""What inquiry routing says on the record (seed A-2), in business Japanese with the fields' labels:
the manager's notice of a new inquiry (one per inquiry, or one per page of a bulk import), the rep's
notice of an assignment, the manager's of an inquiry that arrived assigned."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mappings import AppMapping, User
from mappings.japanese_dates import full_moment

if TYPE_CHECKING:
    from flows.context import FlowContext
    from flows.inquiry_routing import ClientRisk, Department, Ranked, RoutingRules

LISTED = 10  # inquiries named in a page's notice


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


def page_notice_text(mapping: AppMapping, department: Department, records: list[dict], ranked: list[Ranked],
                     risky: int, business_type: str | None) -> str:
    """One notice for a department's unassigned inquiries that arrived together (a bulk import)."""
    rep_label = mapping.field("sales_rep").display
    dept_label = mapping.field("department").display if "department" in mapping.fields else "担当部署"
    n = len(records)
    lines = [f"{department.name}に、{rep_label}が決まっていない新しいお問い合わせが{n}件まとめて登録されました。"
             f"それぞれ担当者を決めて「{rep_label}」に入力してください。",
             f"レコード一覧の絞り込みで「{dept_label}」が「{department.name}」、「{rep_label}」が空欄のものを表示すると、"
             "対象のお問い合わせを確認できます（このコメントは、そのうち最初の1件に書いています）。"]
    hp = sum(1 for r in records if r.get("channel") == "HP")
    if hp:
        lines.append(f"うちHPからのお問い合わせが{hp}件です。HPからのお問い合わせは、1営業日以内に営業から一度ご連絡するルールです。")
    if risky:
        lines.append(f"※うち{risky}件は、過去トラブルの記録があるか顧客評価の低いお客様です。"
                     "難しいお客様の担当経験がある担当者に割り振ってください。")
    if ranked:
        lines.append("")
        basis = f"・{business_type}の経験" if business_type else ""
        lines.append(f"【担当候補】（担当クライアント数・担当スタッフさん数{basis}から順に並べています）")
        for i, r in enumerate(ranked, 1):
            fit = f"・{business_type}の経験あり" if r.fits else ""
            senior = "・難しいお客様の担当経験あり" if risky and r.rep.experienced else ""
            lines.append(f"{i}. {r.rep.name}：担当クライアント{r.clients}社・担当スタッフさん{r.staff}名{fit}{senior}")
    lines.append("")
    lines.append(f"【対象のお問い合わせ】（レコード番号順{f'、最初の{LISTED}件' if n > LISTED else ''}）")
    for r in records[:LISTED]:
        lines.append(f"・レコード番号{r['record_id']}：{r.get('company_name') or '（会社名未入力）'}")
    if n > LISTED:
        lines.append(f"ほか{n - LISTED}件")
    return "\n".join(lines)


def page_arrived_text(mapping: AppMapping, department: Department, records: list[dict]) -> str:
    """One notice for a department's inquiries that arrived together, each with its 担当営業 entered."""
    rep_label = mapping.field("sales_rep").display
    dept_label = mapping.field("department").display if "department" in mapping.fields else "担当部署"
    per_rep: dict[str, int] = {}
    for record in records:
        for user in _reps(record):
            per_rep[user.name or user.code] = per_rep.get(user.name or user.code, 0) + 1
    who = "、".join(f"{name}さん {n}件" for name, n in per_rep.items())
    n = len(records)
    lines = [f"{department.name}に、受付時に「{rep_label}」が入力された新しいお問い合わせが{n}件まとめて登録されました"
             f"（{who}）。担当に問題がないかご確認ください。",
             f"レコード一覧の絞り込みで「{dept_label}」が「{department.name}」のものを表示すると確認できます"
             "（このコメントは、そのうち最初の1件に書いています）。",
             "",
             f"【対象のお問い合わせ】（レコード番号順{f'、最初の{LISTED}件' if n > LISTED else ''}）"]
    for r in records[:LISTED]:
        names = "、".join(u.name or u.code for u in _reps(r))
        lines.append(f"・レコード番号{r['record_id']}：{r.get('company_name') or '（会社名未入力）'}（担当：{names}）")
    if n > LISTED:
        lines.append(f"ほか{n - LISTED}件")
    return "\n".join(lines)


def _reps(record: dict) -> list[User]:
    value = record.get("sales_rep")
    users = [value] if isinstance(value, User) else list(value or [])
    return [u for u in users if isinstance(u, User) and u.code]
