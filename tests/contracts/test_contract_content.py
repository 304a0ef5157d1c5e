"""Contract content beyond single fields: structured contacts for 苦情処理 and both 責任者, the
派遣料金 printed (the worker's 賃金 only by the mapping's choice), 紛争防止措置, and 抵触日通知 /
待遇情報 as dated attachments that a copied record or a renewal does not carry over."""

from __future__ import annotations

import pytest

from flows import contract_issuance
from kgbridge.samples import COMPLETE_CONTRACT
from mappings.contract_content import is_phone_number
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

    assert contract_issuance.run(cctx, "contracts", no_title) == "sent_back_not_sent"
    assert "「連絡先」の「派遣先責任者」の役職が未入力です（労働者派遣法施行規則第22条）" in only_comment(kintone, no_title)
    assert contract_issuance.run(cctx, "contracts", bad_phone) == "sent_back_not_sent"
    assert "「派遣元責任者」の電話番号の形式が正しくありません" in only_comment(kintone, bad_phone)


@pytest.mark.parametrize(("phone", "valid"), [
    ("03-1234-5678", True), ("090-1234-5678", True), ("０３（１２３４）５６７８", True),
    ("03-1234-5678 内線123", True), ("1234-5678", False), ("03-1234-56789-0", False), ("総務課まで", False),
])
def test_phone_numbers_are_ten_or_eleven_digits_from_zero(phone, valid):
    assert is_phone_number(phone) is valid


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
