"""Contract content beyond single fields: structured contacts for 苦情処理 and both 責任者, the
派遣料金 printed (the worker's 賃金 only by the mapping's choice), 紛争防止措置, and 抵触日通知 /
待遇情報 as dated attachments that a copied record or a renewal does not carry over."""

from __future__ import annotations

import pytest

from flows import contract_issuance
from kgbridge.samples import COMPLETE_CONTRACT
from mappings.contract_content import is_address, is_phone_number
from mappings.contracts import IssuanceSettings, merge_fields
from tests.contracts.conftest import CONTRACTS


def only_comment(kintone, rid: str) -> str:
    [text] = kintone.comment_texts(CONTRACTS, rid)
    return text


def sent_fields(gmosign) -> dict:
    [envelope] = gmosign.envelopes.values()
    return envelope.merge_fields


def contacts_without(role: str) -> list:
    return [row for row in COMPLETE_CONTRACT["連絡先"] if row["value"]["連絡先区分"]["value"] != role]


def contacts_with(role: str, **cells) -> list:
    rows = []
    for row in COMPLETE_CONTRACT["連絡先"]:
        values = {code: dict(cell) for code, cell in row["value"].items()}
        if values["連絡先区分"]["value"] == role:
            for code, value in cells.items():
                values[code]["value"] = value
        rows.append({"value": values})
    return rows


# -- contacts --------------------------------------------------------------------------------


def test_both_sides_complaint_contacts_and_both_managers_are_printed_with_their_phone(cctx, gmosign, contract):
    assert contract_issuance.run(cctx, "contracts", contract()) == "sent_for_signature"

    fields = sent_fields(gmosign)
    assert fields["苦情申出先（派遣先）"] == "総務課 課長 高橋 三郎（電話：03-0000-0001）"
    assert fields["苦情申出先（派遣元）"] == "営業部 主任 佐藤 一郎（電話：03-0000-0002）"
    assert fields["派遣先責任者"] == "総務課 課長 高橋 三郎（電話：03-0000-0001）"
    assert fields["派遣元責任者"] == "営業部 部長 田中 四郎（電話：03-0000-0003 内線12）"


def test_a_missing_contact_row_is_named_with_its_article(cctx, kintone, gmosign, contract):
    rid = contract(連絡先=contacts_without("苦情処理（派遣元）"))

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    assert gmosign.envelopes == {}
    text = only_comment(kintone, rid)
    assert "「連絡先」に「苦情処理（派遣元）」の行がありません（労働者派遣法第26条第1項第7号）" in text
    assert "部署・役職・氏名・電話番号を入力してください" in text


def test_an_incomplete_contact_and_a_wrong_phone_are_reported(cctx, kintone, contract):
    no_title = contract(連絡先=contacts_with("派遣先責任者", 連絡先役職=""))
    bad_phone = contract(連絡先=contacts_with("派遣元責任者", 連絡先電話="takahashi@example.com"))
    title_in_name = contract(連絡先=contacts_with("派遣先責任者", 連絡先氏名="総務課長 高橋 三郎"))

    assert contract_issuance.run(cctx, "contracts", no_title) == "sent_back_not_sent"
    assert "「連絡先」の「派遣先責任者」の役職が未入力です（労働者派遣法施行規則第22条）" in only_comment(kintone, no_title)
    assert contract_issuance.run(cctx, "contracts", bad_phone) == "sent_back_not_sent"
    assert "「派遣元責任者」の電話番号の形式が正しくありません" in only_comment(kintone, bad_phone)
    assert contract_issuance.run(cctx, "contracts", title_in_name) == "sent_back_not_sent"
    assert "「連絡先」の「派遣先責任者」の氏名には氏名だけを入力してください" in only_comment(kintone, title_in_name)


@pytest.mark.parametrize(("phone", "valid"), [
    ("03-1234-5678", True), ("090-1234-5678", True), ("０３（１２３４）５６７８", True),
    ("03-1234-5678 内線123", True), ("1234-5678", False), ("03-1234-56789-0", False), ("総務課まで", False),
])
def test_phone_numbers_are_ten_or_eleven_digits_from_zero(phone, valid):
    assert is_phone_number(phone) is valid


# -- 指揮命令者 and 派遣先の事業所: the same shape, as fields of the record (法第26条第1項第2号・第3号) -------------


def test_the_commander_and_the_work_site_are_printed_from_their_parts(cctx, gmosign, contract):
    assert contract_issuance.run(cctx, "contracts", contract()) == "sent_for_signature"

    fields = sent_fields(gmosign)
    assert fields["指揮命令者"] == "物流課 課長 鈴木 次郎（電話：03-0000-0004）"
    assert fields["派遣先の事業所"] == "東京物流センター 東京都江東区新砂1-2-3 物流課（電話：03-0000-0000）"


def test_an_empty_part_is_named_with_its_article_and_the_field_to_fill(cctx, kintone, gmosign, contract):
    rid = contract(指揮命令者部署="", 指揮命令者電話=None, 派遣先事業所所在地=None)

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    assert gmosign.envelopes == {}
    text = only_comment(kintone, rid)
    assert ("「指揮命令者」の部署・電話番号が未入力です（労働者派遣法第26条第1項第3号）。"
            "「指揮命令者の部署」・「指揮命令者の電話番号」に入力してください。") in text
    assert "「派遣先の事業所」の所在地が未入力です（労働者派遣法第26条第1項第2号）。「派遣先事業所の所在地」に入力してください。" in text


def test_a_part_already_listed_as_missing_is_not_named_twice(cctx, kintone, contract):
    rid = contract(指揮命令者=None)

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    text = only_comment(kintone, rid)
    assert "・指揮命令者\n" in text and "「指揮命令者」の" not in text


def test_a_phone_that_is_no_phone_number_and_an_address_without_its_prefecture_hold_the_contract(cctx, kintone,
                                                                                                contract):
    rid = contract(指揮命令者電話="内線のみ", 派遣先事業所所在地="本社と同じ", 派遣先事業所電話="03-0000")

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    text = only_comment(kintone, rid)
    assert "「指揮命令者」の電話番号の形式が正しくありません" in text
    assert "「派遣先の事業所」の電話番号の形式が正しくありません" in text
    assert "「派遣先の事業所」の所在地は、都道府県から番地まで入力してください（労働者派遣法第26条第1項第2号）" in text


def test_a_record_with_the_old_one_line_commander_is_held_until_it_is_split(cctx, kintone, gmosign, contract):
    # A record made before the parts existed: 指揮命令者 holds 部署 役職 氏名 in one line.
    old = contract(指揮命令者="物流課 課長 鈴木 次郎", 指揮命令者部署=None, 指揮命令者役職=None, 指揮命令者電話=None)
    assert contract_issuance.run(cctx, "contracts", old) == "sent_back_not_sent"
    assert "「指揮命令者」の部署・役職・電話番号が未入力です" in only_comment(kintone, old)

    half_split = contract(指揮命令者="物流課 課長 鈴木 次郎")  # parts entered, the old line left in the name
    assert contract_issuance.run(cctx, "contracts", half_split) == "sent_back_not_sent"
    assert ("「指揮命令者」には氏名だけを入力してください。部署・役職は「指揮命令者の部署」・「指揮命令者の役職」に入力します。"
            in only_comment(kintone, half_split))
    assert gmosign.envelopes == {}


@pytest.mark.parametrize(("address", "valid"), [
    ("東京都江東区新砂1-2-3", True), ("〒135-0075 東京都江東区新砂1-2-3", True), ("北海道札幌市中央区北1条", True),
    ("大阪府大阪市北区梅田1-1", True), ("京都府", False), ("本社", False), ("江東区新砂1-2-3", False), ("", False),
])
def test_an_address_starts_with_its_prefecture(address, valid):
    assert is_address(address) is valid


# -- 派遣料金, 賃金, 紛争防止措置 -------------------------------------------------------------------


def test_the_dispatch_fee_is_printed_and_the_wage_is_not_by_default(cctx, gmosign, contract):
    contract_issuance.run(cctx, "contracts", contract())

    fields = sent_fields(gmosign)
    assert fields["派遣料金"] == "時間額2,400円（時間外は25%増）"
    assert "賃金" not in fields and "時給1,500円" not in fields.values()
    assert fields["派遣先雇用時の紛争防止措置"].startswith("派遣終了後に派遣先が派遣労働者を雇用する場合")


def test_a_mapping_may_choose_to_print_the_wage(mappings):
    kind = IssuanceSettings.of(mappings["contracts"]).kinds["個別契約"]
    printing = kind.model_copy(update={"inset_items": {**kind.inset_items, "賃金": "wage"}})
    assert merge_fields(printing, {"wage": "時給1,500円"})["賃金"] == "時給1,500円"


def test_the_fee_and_the_dispute_measures_are_required(cctx, kintone, contract):
    rid = contract(派遣料金=None, 派遣先雇用時の紛争防止措置=None)

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    text = only_comment(kintone, rid)
    assert "・派遣料金" in text and "・派遣先が派遣労働者を雇用する場合の紛争防止措置" in text


# -- dated attachments: 抵触日通知 and 待遇情報 ------------------------------------------------------


@pytest.mark.parametrize(("received", "outcome"), [
    ("2026-11-20", "sent_back_not_sent"),   # the day before the record was created (Japan time)
    ("2026-11-21", "sent_for_signature"),   # the day it was created: 2026-11-20T15:30Z is 11-21 00:30 JST
])
def test_a_receipt_must_be_dated_on_or_after_the_contract_record_was_created(cctx, kintone, gmosign, contract,
                                                                              received, outcome):
    rid = contract(作成日時="2026-11-20T15:30:00Z", 抵触日通知受領日=received, 待遇情報受領日="2026-11-22")

    assert contract_issuance.run(cctx, "contracts", rid) == outcome
    if outcome == "sent_back_not_sent":
        text = only_comment(kintone, rid)
        assert "抵触日通知の「抵触日通知の受領日」（2026年11月20日（金））が、この契約レコードの作成日（2026年11月21日（土））より前です" in text
        assert "（労働者派遣法第26条第4項・第5項）" in text and "コピーしたレコードの受領は引き継げません" in text
        assert "待遇情報の" not in text


def test_a_renewal_copied_from_the_last_contract_needs_both_documents_again(cctx, kintone, gmosign, contract):
    first = contract()
    assert contract_issuance.run(cctx, "contracts", first) == "sent_for_signature"
    # kintone's 再利用: every value of the first contract, a new record created months later
    renewal = contract(作成日時="2027-02-15T00:00:00Z", 更新回数="1", 派遣開始日="2027-04-01",
                       派遣終了日="2027-06-30", 抵触日="2029-12-01")

    assert contract_issuance.run(cctx, "contracts", renewal) == "sent_back_not_sent"
    text = only_comment(kintone, renewal)
    assert "抵触日通知の「抵触日通知の受領日」（2026年11月21日（土））" in text
    assert "待遇情報の「待遇情報の受領日」（2026年11月21日（土））" in text
    assert len(gmosign.envelopes) == 1


def test_a_receipt_without_its_file_is_not_a_receipt(cctx, kintone, contract):
    rid = contract(待遇情報ファイル=None)

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    text = only_comment(kintone, rid)
    assert "【受領が確認できない書類】" in text and "・待遇情報（待遇情報）" in text
