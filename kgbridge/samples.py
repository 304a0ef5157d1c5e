"""Sample apps for the embedded default and the tests: a few clients and orders.

The names, phone numbers and e-mail addresses are invented.
"""

from __future__ import annotations

COMPLETE_ORDER = {
    "案件名": "物流センター 入出荷スタッフ",
    "顧客": "株式会社サンプル物流",
    "担当営業": [{"code": "sato", "name": "佐藤 一郎"}],
    "上長": [{"code": "tanaka", "name": "田中 部長"}],
    "募集背景": "繁忙期に向けた増員",
    "業務内容": "入出荷検品、ピッキング",
    "必須スキル": "フォークリフト免許（あれば尚可）",
    "部門体制・フォロー体制": "物流課 8名、リーダーが初日に同行",
    "開始時期": "2026-12-01",
    "勤務時間": "9:00〜18:00",
    "休憩時間": "12:00〜13:00（60分）",
    "残業の有無": "有",
    "残業時間": "月10時間程度",
    "勤務曜日": ["月", "火", "水", "木", "金"],
    "請求単価": "1900",
    "就業先環境・ルール": "休憩室あり、制服貸与",
    "安全配慮・教育実施": "有",
    "危険度": "低",
    "機密情報取扱": "無",
}


def seed_embedded(kintone, mappings) -> dict[str, str]:
    """Fill the fake kintone with sample clients and orders; return their ids by name."""
    clients, orders = mappings["clients"], mappings["orders"]
    ids = {}
    ids["client_approved"] = kintone.seed(clients.id, {
        "会社名": "株式会社サンプル物流", "法人番号": "9234567890123", "電話番号": "03-0000-0000",
        "与信状態": "承認", "反社チェック": "問題なし", "担当営業": [{"code": "sato", "name": "佐藤 一郎"}]})
    ids["client_new"] = kintone.seed(clients.id, {
        "会社名": "有限会社はじめて製作所", "電話番号": "06-0000-0000", "与信状態": "未申請",
        "担当営業": [{"code": "sato", "name": "佐藤 一郎"}]})
    complete = dict(COMPLETE_ORDER, 顧客レコード番号=ids["client_approved"])
    ids["order_complete"] = kintone.seed(orders.id, complete)
    incomplete = {k: v for k, v in complete.items() if k not in ("募集背景", "請求単価", "残業時間")}
    incomplete.update(案件名="製造ライン 軽作業", 顧客="有限会社はじめて製作所", 顧客レコード番号=ids["client_new"])
    ids["order_incomplete"] = kintone.seed(orders.id, incomplete)
    if "inquiries" in mappings:  # seed A-1: one inquiry from a client G-Staff knows, one from a new one
        inquiries = mappings["inquiries"]
        ids["inquiry_known"] = kintone.seed(inquiries.id, {
            "受付経路": "電話", "受付日時": "2026-11-24T00:30:00Z", "会社名": "㈱サンプル物流",
            "法人番号": "9234567890123", "電話番号": "03-0000-0000", "担当者名": "山田 花子",
            "問い合わせ内容": "年末の繁忙期に倉庫の軽作業スタッフを3名お願いしたい", "担当営業": [{"code": "sato", "name": "佐藤 一郎"}]})
        ids["inquiry_new"] = kintone.seed(inquiries.id, {
            "受付経路": "HP", "受付日時": "2026-11-24T01:00:00Z", "会社名": "株式会社あおぞら食品",
            "電話番号": "０４８－０００－００００", "担当者名": "鈴木 次郎",
            "問い合わせ内容": "食品工場のライン作業で派遣を検討しています"})
    return ids


def notification(kintone, app_id: str, record_id: str, event_type: str = "ADD_RECORD",
                 event_id: str | None = None) -> dict:
    """A kintone webhook body for a stored record, as kintone would send it."""
    import uuid

    record = kintone.get_record(app_id, record_id)
    return {
        "id": event_id or str(uuid.uuid4()),
        "type": event_type,
        "app": {"id": str(app_id), "name": ""},
        "record": record,
        "recordTitle": "",
        "url": f"https://example.cybozu.com/k/{app_id}/show#record={record_id}",
    }
