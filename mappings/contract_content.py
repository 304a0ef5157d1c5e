"""Contract content the law asks for beyond single fields (issue 11), judged without I/O:

- structured contacts (部署・役職・氏名・電話) for 苦情の申出先 on both sides (労働者派遣法第26条
  第1項第7号) and for 派遣元責任者 / 派遣先責任者 (施行規則第22条), one row each in a kintone table;
- the client's two documents as dated attachments, needed again before every contract and
  renewal: 抵触日通知 (法第26条第4項; no contract without it, 同条第5項) and 待遇情報 (同条第7項;
  同条第9項). The receipt must be dated on or after the day this contract record was created, so a
  record copied in kintone (再利用) does not carry an earlier contract's receipt over.

The rules are data in the kind's section of the Contracts mapping (``contacts``, ``dated_documents``).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from mappings.fields import is_blank
from mappings.japanese_dates import full_date
from mappings.normalize import nfkc

TOKYO = ZoneInfo("Asia/Tokyo")
Part = Literal["department", "title", "name", "phone"]
PART_LABELS = {"department": "部署", "title": "役職", "name": "氏名", "phone": "電話番号"}


class ContactRole(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parts: list[Part] = Field(min_length=1)
    article: str = Field(min_length=1)
    item: str = ""  # GMO Sign merge field printing this contact ("" = not printed)


class ContactRules(BaseModel):
    """Which rows the contacts table must hold: role (区分 drop-down value) -> its parts."""

    model_config = ConfigDict(extra="forbid")
    table: str  # SUBTABLE domain field; columns role, department, title, name, phone
    roles: dict[str, ContactRole] = Field(min_length=1)


class DatedDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)  # 抵触日通知 / 待遇情報
    received_on: str  # DATE domain field: the day it was received for this contract
    file: str  # FILE domain field: the document itself
    article: str = Field(min_length=1)


def field_names(contacts: ContactRules | None, documents: list[DatedDocument]) -> list[str]:
    names = [contacts.table] if contacts else []
    return names + [n for d in documents for n in (d.received_on, d.file)]


# -- contacts ----------------------------------------------------------------------------------


def is_phone_number(text: str | None) -> bool:
    """A Japanese phone number: 10 or 11 digits from 0, separators allowed, a 内線 note after it."""
    number = re.split(r"内線|ext\.?|#", nfkc(text or ""), maxsplit=1, flags=re.IGNORECASE)[0]
    if re.search(r"[^0-9\-() ]", number.strip()):
        return False
    digits = re.sub(r"\D", "", number)
    return digits.startswith("0") and len(digits) in (10, 11)


def contact_problems(rules: ContactRules, table_label: str, rows: list[dict] | None) -> list[str]:
    """One line per role whose row is missing, incomplete or has no usable phone number."""
    out = []
    for role, rule in rules.roles.items():
        found = [row for row in rows or [] if (row.get("role") or "") == role]
        if not found:
            out.append(f"「{table_label}」に「{role}」の行がありません（{rule.article}）。"
                       f"{'・'.join(PART_LABELS[p] for p in rule.parts)}を入力してください。")
            continue
        row = found[0]
        empty = [PART_LABELS[p] for p in rule.parts if is_blank(row.get(p))]
        if empty:
            out.append(f"「{table_label}」の「{role}」の{'・'.join(empty)}が未入力です（{rule.article}）。")
        elif "phone" in rule.parts and not is_phone_number(row.get("phone")):
            out.append(f"「{table_label}」の「{role}」の電話番号の形式が正しくありません"
                       "（市外局番からの10桁か11桁。内線は番号の後に「内線」と書いてください）。")
    return out


def contact_text(row: dict, parts: list[str]) -> str:
    """How a contact prints: 部署 役職 氏名（電話：…）."""
    text = " ".join(str(row.get(p)).strip() for p in parts if p != "phone" and not is_blank(row.get(p)))
    if "phone" in parts and not is_blank(row.get("phone")):
        text += f"（電話：{str(row['phone']).strip()}）"
    return text


def contact_merge_fields(rules: ContactRules | None, rows: list[dict] | None) -> dict[str, str]:
    if rules is None:
        return {}
    out = {}
    for role, rule in rules.roles.items():
        if rule.item:
            row = next((r for r in rows or [] if (r.get("role") or "") == role), {})
            out[rule.item] = contact_text(row, rule.parts)
    return out


# -- dated documents ---------------------------------------------------------------------------


def created_on(contract: dict) -> date | None:
    created = contract.get("created_at")
    return created.astimezone(TOKYO).date() if isinstance(created, datetime) else None


def document_problems(documents: list[DatedDocument], label, contract: dict,
                      waived: set[str]) -> tuple[list[str], list[str]]:
    """(documents not received, receipts that do not belong to this contract)."""
    missing, stale = [], []
    created = created_on(contract)
    for doc in documents:
        if doc.received_on in waived:
            continue
        received, files = contract.get(doc.received_on), contract.get(doc.file)
        lacking = [label(n) for n, v in ((doc.received_on, received), (doc.file, files)) if is_blank(v)]
        if lacking:
            missing.append(f"{doc.name}（{'・'.join(lacking)}）")
        elif created is not None and received < created:
            stale.append(f"{doc.name}の「{label(doc.received_on)}」（{full_date(received)}）が、この契約レコードの作成日"
                         f"（{full_date(created)}）より前です（{doc.article}）。{doc.name}は契約・更新のたびに受け取る必要があり、"
                         "コピーしたレコードの受領は引き継げません。この契約のために受け取った書類を添付し、受領日を入力してください。")
    return missing, stale
