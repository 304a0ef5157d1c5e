"""What the sales rep, the manager, the director and legal do by hand in kintone (the fake),
for the 稟議 tests. Each function changes the record the way the kintone screen would."""

from __future__ import annotations

from datetime import datetime

from kgbridge.samples import COMPLETE_ORDER
from tests.records import visited

CLIENTS, ORDERS, WORKFLOW = "1", "3", "4"
TUESDAY_MORNING = datetime.fromisoformat("2026-11-24T10:00:00+09:00")

# The check items of A-4 as a rep fills them in after the credit agency and the visit.
CHECKED = {
    "信用調査機関の評価": "72",
    "反社会的勢力": "該当しない",
    "経営状況": "増収増益、債務超過なし",
    "職場環境": "休憩室・更衣室あり、清潔",
    "遵法性": "行政処分歴なし",
    "過去の未払い": "なし",
    "労務トラブル": "なし",
    "離職率": "12",
    "経営状況判定": "問題なし",
    "職場環境判定": "問題なし",
    "遵法性判定": "問題なし",
    "未払い記録": "なし",
}


def new_client(kintone, name="有限会社はじめて製作所", credit="未申請", **values) -> str:
    client = kintone.seed(CLIENTS, {"会社名": name, "与信状態": credit, "電話番号": "06-0000-0000", **values})
    visited(kintone, client)  # the first visit came before the order (seed A-3)
    return client


def held_order(kintone, client_id: str, **changes) -> str:
    """A complete order for the client (nothing missing but the credit approval)."""
    values = dict(COMPLETE_ORDER, 顧客レコード番号=client_id, 顧客="有限会社はじめて製作所")
    for key, value in changes.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return kintone.seed(ORDERS, values)


def applications(kintone, kind: str | None = None) -> list[dict]:
    """Every 稟議 record's values, optionally of one 申請種別 prefix ("06_1", "06_2")."""
    rows = [kintone.record_values(WORKFLOW, rid) for rid in kintone.apps[WORKFLOW].records]
    return [r for r in rows if kind is None or (r["申請種別"] or "").startswith(kind)]


def fill_in(kintone, application_id: str, **values) -> None:
    """The rep completes the application (A-4 check items; overrides as field code=value)."""
    body = {code: {"value": value} for code, value in {**CHECKED, **values}.items()}
    kintone.update_record(WORKFLOW, application_id, body)


def submit(kintone, application_id: str, supervisor: str = "tanaka") -> None:
    kintone.update_status(WORKFLOW, application_id, "申請", assignee=supervisor)


def approve_as_manager(kintone, application_id: str) -> None:
    kintone.update_status(WORKFLOW, application_id, "上長承認")


def status_of(kintone, app: str, record_id: str) -> str:
    return kintone.record_values(app, record_id)["ステータス"]
