"""Contract content the law asks for beyond single fields (issue 11), judged without I/O:

- structured contacts (部署・役職・氏名・電話) for 苦情の申出先 on both sides (労働者派遣法第26条
  第1項第7号) and for 派遣元責任者 / 派遣先責任者 (施行規則第22条), one row each in a kintone table, and,
  in the same shape but as fields of the record, the 指揮命令者 (同項第3号) and the 派遣先の事業所
  (名称・所在地・組織単位・電話, 同項第2号); each checked as filled and well-formed and printed;
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

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mappings.fields import is_blank
from mappings.japanese_dates import TOKYO, full_date
from mappings.normalize import name_key, nfkc

Part = Literal["department", "title", "name", "phone", "address", "unit"]
PART_LABELS = {"department": "部署", "title": "役職", "name": "氏名", "phone": "電話番号", "address": "所在地",
               "unit": "組織単位"}
TABLE_PARTS = {"department", "title", "name", "phone"}  # the contacts table's columns
PREFECTURES = (  # an address starts with one (住所は都道府県から)
    "北海道", "青森県", "岩手県", "宮城県", "秋田県", "山形県", "福島県", "茨城県", "栃木県", "群馬県", "埼玉県", "千葉県",
    "東京都", "神奈川県", "新潟県", "富山県", "石川県", "福井県", "山梨県", "長野県", "岐阜県", "静岡県", "愛知県", "三重県",
    "滋賀県", "京都府", "大阪府", "兵庫県", "奈良県", "和歌山県", "鳥取県", "島根県", "岡山県", "広島県", "山口県", "徳島県",
    "香川県", "愛媛県", "高知県", "福岡県", "佐賀県", "長崎県", "熊本県", "大分県", "宮崎県", "鹿児島県", "沖縄県")


class ContactRole(BaseModel):
    """One person or place the contract names, in parts. Its parts are a row of the contacts table
    (区分 = the role), or, with ``fields``, fields of the record itself (指揮命令者, 派遣先の事業所)."""

    model_config = ConfigDict(extra="forbid")
    parts: list[Part] = Field(min_length=1)
    article: str = Field(min_length=1)
    item: str = ""  # GMO Sign merge field printing this contact ("" = not printed)
    fields: dict[Part, str] = Field(default_factory=dict)  # part -> domain field of the record

    @model_validator(mode="after")
    def _parts_have_a_place(self) -> "ContactRole":
        if self.fields and set(self.fields) != set(self.parts):
            raise ValueError("fields must name one field per part")
        if not self.fields and not set(self.parts) <= TABLE_PARTS:
            raise ValueError(f"a row of the contacts table has only the parts {sorted(TABLE_PARTS)}")
        return self


class ContactRules(BaseModel):
    """Which rows the contacts table must hold: role (区分 drop-down value) -> its parts; and the
    contacts kept in fields of the record."""

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
    names += [name for role in (contacts.roles.values() if contacts else ()) for name in role.fields.values()]
    return names + [n for d in documents for n in (d.received_on, d.file)]


# -- contacts ----------------------------------------------------------------------------------


def is_phone_number(text: str | None) -> bool:
    """A Japanese phone number: 10 or 11 digits from 0, separators allowed, a 内線 note after it."""
    number = re.split(r"内線|ext\.?|#", nfkc(text or ""), maxsplit=1, flags=re.IGNORECASE)[0]
    if re.search(r"[^0-9\-() ]", number.strip()):
        return False
    digits = re.sub(r"\D", "", number)
    return digits.startswith("0") and len(digits) in (10, 11)


def is_address(text: str | None) -> bool:
    """An address from its prefecture on, with something after it (not 「本社」 or 「同上」)."""
    address = re.sub(r"^〒?\s*\d{3}-?\d{4}\s*", "", nfkc(text or "").strip())  # a postcode may lead
    return any(address.startswith(p) and len(address) > len(p) + 1 for p in PREFECTURES)


def contact_rows(rules: ContactRules, contract: dict) -> dict[str, dict]:
    """Each role's parts as a row (empty when the table has no row for it)."""
    table = contract.get(rules.table) or []
    out = {}
    for role, rule in rules.roles.items():
        if rule.fields:
            out[role] = {part: contract.get(name) for part, name in rule.fields.items()}
        else:
            out[role] = next((row for row in table if (row.get("role") or "") == role), {})
    return out


def contact_problems(rules: ContactRules, label, contract: dict, reported: set[str] = frozenset()) -> list[str]:
    """One line per contact whose row is missing, incomplete or not well-formed (a phone that is no
    phone number, an address without its prefecture, a name holding the department or title).
    ``label`` gives a field's Japanese label; fields in ``reported`` were already listed as missing."""
    out = []
    table_label = label(rules.table)
    for role, row in contact_rows(rules, contract).items():
        rule = rules.roles[role]
        where = f"「{role}」" if rule.fields else f"「{table_label}」の「{role}」"
        if not rule.fields and not row:
            out.append(f"「{table_label}」に「{role}」の行がありません（{rule.article}）。"
                       f"{'・'.join(PART_LABELS[p] for p in rule.parts)}を入力してください。")
            continue
        empty = [p for p in rule.parts if is_blank(row.get(p)) and rule.fields.get(p) not in reported]
        if empty:
            text = f"{where}の{'・'.join(PART_LABELS[p] for p in empty)}が未入力です（{rule.article}）。"
            if rule.fields:
                text += f"{'・'.join('「' + label(rule.fields[p]) + '」' for p in empty)}に入力してください。"
            out.append(text)
        if any(is_blank(row.get(p)) for p in rule.parts):
            continue
        if "phone" in rule.parts and not is_phone_number(row.get("phone")):
            out.append(f"{where}の電話番号の形式が正しくありません"
                       "（市外局番からの10桁か11桁。内線は番号の後に「内線」と書いてください）。")
        if "address" in rule.parts and not is_address(row.get("address")):
            out.append(f"{where}の所在地は、都道府県から番地まで入力してください（{rule.article}）。")
        if "name" in rule.parts and _name_holds_other_parts(row, rule.parts):
            if rule.fields:
                others = "・".join(f"「{label(rule.fields[p])}」" for p in ("department", "title") if p in rule.fields)
                out.append(f"「{label(rule.fields['name'])}」には氏名だけを入力してください。部署・役職は{others}に入力します。")
            else:
                out.append(f"{where}の氏名には氏名だけを入力してください。部署・役職はそれぞれの欄に入力します。")
    return out


def _name_holds_other_parts(row: dict, parts: list[str]) -> bool:
    """The old one-line form (「物流課 課長 鈴木 次郎」) left in the name after the parts were split."""
    name = name_key(str(row.get("name") or ""))
    others = [name_key(str(row.get(p) or "")) for p in ("department", "title") if p in parts]
    return any(len(other) >= 2 and other in name for other in others)


def contact_text(row: dict, parts: list[str]) -> str:
    """How a contact prints: 部署 役職 氏名（電話：…）, the parts in the mapping's order."""
    text = " ".join(str(row.get(p)).strip() for p in parts if p != "phone" and not is_blank(row.get(p)))
    if "phone" in parts and not is_blank(row.get("phone")):
        text += f"（電話：{str(row['phone']).strip()}）"
    return text


def contact_merge_fields(rules: ContactRules | None, contract: dict) -> dict[str, str]:
    if rules is None:
        return {}
    rows = contact_rows(rules, contract)
    return {rule.item: contact_text(rows[role], rule.parts) for role, rule in rules.roles.items() if rule.item}


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
