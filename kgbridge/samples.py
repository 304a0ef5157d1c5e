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
    "業務区分": "軽作業",
    "就業場所": "東京物流センター（東京都江東区）",
    "派遣終了予定日": "2027-03-31",
    "必要資格": "なし",
}


def _contact(role: str, department: str, title: str, name: str, phone: str) -> dict:
    """One row of the contract's 連絡先 table, as kintone holds it."""
    cells = {"連絡先区分": ("DROP_DOWN", role), "連絡先部署": ("SINGLE_LINE_TEXT", department),
             "連絡先役職": ("SINGLE_LINE_TEXT", title), "連絡先氏名": ("SINGLE_LINE_TEXT", name),
             "連絡先電話": ("SINGLE_LINE_TEXT", phone)}
    return {"value": {code: {"type": t, "value": v} for code, (t, v) in cells.items()}}


def _file(file_key: str, name: str) -> dict:
    return {"fileKey": file_key, "name": name, "contentType": "application/pdf", "size": "1024"}


# An individual contract with every 法第26条 item, as sales hands it to marketing.
COMPLETE_CONTRACT = {
    "契約種別": "個別契約",
    "顧客": "株式会社サンプル物流",
    "顧客レコード番号": "1",
    "Gスタッフ顧客ID": "G-1001",
    "担当営業": [{"code": "sato", "name": "佐藤 一郎"}],
    "担当営業メール": "sato@example.co.jp",
    "署名者氏名": "山田 花子",
    "署名者メール": "yamada@example.com",
    "就業場所": "東京物流センター（東京都江東区）",
    "組織単位": "物流課",
    "業務内容": "入出荷検品、ピッキング",
    "責任の程度": "役職なし（リーダー補佐）",
    "賃金": "時給1,500円",
    "就業日": "月〜金（祝日を除く）",
    "始業終業時刻": "9:00〜18:00",
    "休憩": "12:00〜13:00（60分）",
    "時間外休日労働": "1日2時間・月20時間まで、休日労働なし",
    "派遣開始日": "2026-12-01",
    "派遣終了日": "2027-03-31",
    "派遣人数": "2",
    "派遣スタッフ": "派遣 太郎",
    "指揮命令者": "鈴木 次郎",
    "指揮命令者部署": "物流課",
    "指揮命令者役職": "課長",
    "指揮命令者電話": "03-0000-0004",
    "苦情窓口": "派遣先：総務課 高橋／派遣元：営業部 佐藤",
    "安全衛生": "安全靴貸与、入場時に安全教育",
    "契約解除の措置": "新たな就業機会の確保、休業手当相当額の支払い",
    "派遣先責任者": "総務課長 高橋 三郎",
    "派遣元責任者": "営業部長 田中 四郎",
    "福利厚生施設": "休憩室・更衣室・食堂",
    "協定対象限定": "限定しない",
    "無期60歳以上限定": "限定しない",
    "紹介予定派遣": "非該当",
    "抵触日": "2027-04-01",
    "派遣料金": "時間額2,400円（時間外は25%増）",
    "派遣先雇用時の紛争防止措置": "派遣終了後に派遣先が派遣労働者を雇用する場合は、事前に派遣元へ通知し、紹介手数料を支払う",
    "連絡先": [
        _contact("苦情処理（派遣先）", "総務課", "課長", "高橋 三郎", "03-0000-0001"),
        _contact("苦情処理（派遣元）", "営業部", "主任", "佐藤 一郎", "03-0000-0002"),
        _contact("派遣先責任者", "総務課", "課長", "高橋 三郎", "03-0000-0001"),
        _contact("派遣元責任者", "営業部", "部長", "田中 四郎", "03-0000-0003 内線12"),
    ],
    # 作成日時 is given when a record is added (kintone allows it), so the receipts below, dated
    # after it, belong to this contract (mappings/contract_content.py).
    "作成日時": "2026-11-20T01:00:00Z",
    "抵触日通知受領日": "2026-11-21",
    "抵触日通知ファイル": [_file("F-CONFLICT-NOTICE", "抵触日通知.pdf")],
    "抵触日通知の事業所": "東京物流センター",   # as the notice names it; its 抵触日 is 抵触日 above
    "待遇情報受領日": "2026-11-21",
    "待遇情報ファイル": [_file("F-TREATMENT-INFO", "待遇情報.pdf")],
    "派遣スタッフID": "S-2001、S-2002",   # in G-Staff's samples (connectors/gstaff/fake.py)
    "派遣先事業所": "東京物流センター",
    "派遣先事業所所在地": "東京都江東区新砂1-2-3",
    "派遣先事業所電話": "03-0000-0000",
}

# A completed visit (seed A-3 「必ず訪問すること」, the A-2 checklist, A-6 派遣の仕組み説明): orders of a
# client are accepted only after one (flows/visit_gate.py).
COMPLETED_VISIT = {
    "訪問件名": "初回訪問・オーダーヒアリング",
    "担当営業": [{"code": "sato", "name": "佐藤 一郎"}],
    "上長": [{"code": "tanaka", "name": "田中 部長"}],
    "訪問日時": "2026-11-20T01:00:00Z",
    "訪問記録": "物流センターの入出荷現場を見学。繁忙期の増員ニーズをヒアリング（オーダーヒアリングシート記入済）。",
    "安全衛生体制": "問題なし",
    "教育実施": "問題なし",
    "作業環境": "要改善（対応合意済）",
    "雇用管理体制": "問題なし",
    "個人情報取り扱い": "問題なし",
    "派遣の仕組み説明": "説明済",
}


def seed_visit(kintone, mappings, client_record_id: str, **changes) -> str | None:
    """A completed visit to the client (None when no Visits app is mapped)."""
    if "visits" not in mappings:
        return None
    return kintone.seed(mappings["visits"].id, {**COMPLETED_VISIT, "顧客レコード番号": client_record_id, **changes})


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
    for client in ("client_approved", "client_new"):  # both were visited (seed A-3)
        seed_visit(kintone, mappings, ids[client], 顧客=kintone.record_values(clients.id, ids[client])["会社名"])
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
    if "contracts" in mappings:
        contracts = mappings["contracts"]
        # Marketing has just run 発報: the contract waits in 発報処理中 for kgbridge to send it.
        ids["contract"] = kintone.seed(contracts.id, dict(COMPLETE_CONTRACT, 顧客レコード番号=ids["client_approved"]),
                                       status=contracts.status_name("issuing"))
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
