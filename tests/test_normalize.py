"""Normalisation used to match clients: company names, phone numbers, the 法人番号."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings.normalize import (
    InvalidCorporateNumber,
    check_corporate_number,
    company_core_name,
    company_key,
    corporate_number_check_digit,
    is_valid_corporate_number,
    normalize_company_name,
    normalize_phone,
    phone_key,
)

# -- company names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "株式会社サンプル物流",
        "(株)サンプル物流",
        "（株）サンプル物流",
        "㈱サンプル物流",
        "( 株 ) サンプル物流",
        "株式会社　サンプル物流",  # ideographic space
        " 株式会社 サンプル物流 ",
        "株式会社ｻﾝﾌﾟﾙ物流",  # half-width katakana
    ],
)
def test_every_way_of_writing_a_kabushiki_kaisha_gives_the_same_name(written):
    assert normalize_company_name(written) == "株式会社サンプル物流"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("(有)はじめて製作所", "有限会社はじめて製作所"),
        ("㈲はじめて製作所", "有限会社はじめて製作所"),
        ("はじめて製作所（有）", "はじめて製作所有限会社"),
        ("(同)みらい企画", "合同会社みらい企画"),
        ("㈾山田商店", "合資会社山田商店"),
        ("ＡＢＣ　Ｊａｐａｎ　株式会社", "ABC Japan株式会社"),
        ("ABC  Japan   Holdings", "ABC Japan Holdings"),
    ],
)
def test_other_legal_forms_and_spaces_are_written_out_and_tidied(written, expected):
    assert normalize_company_name(written) == expected


def test_the_position_of_the_legal_form_is_kept_in_the_registered_name():
    # 前株 and 後株 are different 商号: we register what was written.
    assert normalize_company_name("サンプル物流(株)") == "サンプル物流株式会社"


@pytest.mark.parametrize(
    "written",
    ["株式会社サンプル物流", "サンプル物流株式会社", "㈲サンプル物流", "サンプル 物流", "ｻﾝﾌﾟﾙ物流"],
)
def test_the_comparison_key_ignores_the_legal_form_spaces_and_width(written):
    assert company_key(written) == "サンプル物流"


def test_the_comparison_key_ignores_latin_case():
    assert company_key("ABC Japan株式会社") == company_key("(株)abc JAPAN") == "abcjapan"


def test_the_core_name_keeps_inner_spaces_for_searching():
    assert company_core_name("株式会社 ABC Japan") == "ABC Japan"


def test_different_names_keep_different_keys():
    assert company_key("株式会社サンプル物流") != company_key("株式会社サンプル運輸")


@pytest.mark.parametrize("empty", [None, "", "   ", "株式会社"])
def test_an_empty_name_has_an_empty_key(empty):
    assert company_key(empty) == ""


# -- phone numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written",
    [
        "03-1234-5678",
        "０３－１２３４－５６７８",  # full-width digits and hyphen
        "03‐1234‐5678",  # U+2010 hyphen
        "03−1234−5678",  # U+2212 minus
        "03ー1234ー5678",  # katakana long vowel, a common slip
        "03 1234 5678",
        "(03)1234-5678",
        "0312345678",
        "+81 3-1234-5678",
        "+81-3-1234-5678",
        "+81 (0)3 1234 5678",
    ],
)
def test_every_way_of_writing_a_phone_number_gives_the_same_digits(written):
    assert phone_key(written) == "0312345678"


@pytest.mark.parametrize("written", ["sato@example.com", "03-1234-5678 内線12", "", None])
def test_a_phone_field_holding_something_else_matches_nothing(written):
    assert phone_key(written) == ""


@pytest.mark.parametrize(
    ("written", "expected"),
    [("０４８－０００－００００", "048-000-0000"), ("03ー1234ー5678", "03-1234-5678"), ("(03) 1234-5678", "(03) 1234-5678"),
     ("sato@example.com", "")],
)
def test_a_phone_number_is_registered_with_ascii_digits_and_plain_hyphens(written, expected):
    assert normalize_phone(written) == expected


# -- 法人番号 -------------------------------------------------------------------------------


def test_the_national_tax_agencys_own_number_is_valid():
    # 国税庁's 法人番号 as published by 国税庁 itself.
    assert check_corporate_number("7000012050002") == "7000012050002"


def test_the_check_digit_follows_the_official_rule():
    # base 000012050002 from the lowest digit: 2·1 + 5·1 + 2·1 + 1·2 = 11; 9 − 11 mod 9 = 7.
    assert corporate_number_check_digit("000012050002") == 7


@pytest.mark.parametrize("written", ["７０００ ０１２０ ５０００２", "7000-01-2050002", " 7000012050002 "])
def test_a_valid_number_is_accepted_with_full_width_digits_spaces_and_hyphens(written):
    assert check_corporate_number(written) == "7000012050002"


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("7000012050003", "check_digit"),
        ("1000012050002", "check_digit"),
        ("700001205000", "not_13_digits"),
        ("70000120500021", "not_13_digits"),
        ("70000120500O2", "not_13_digits"),  # letter O
        ("", "not_13_digits"),
        (None, "not_13_digits"),
    ],
)
def test_an_invalid_number_says_why(written, reason):
    with pytest.raises(InvalidCorporateNumber) as caught:
        check_corporate_number(written)
    assert caught.value.reason == reason
    assert not is_valid_corporate_number(written)


def _with_check_digit(base: str) -> str:
    return f"{corporate_number_check_digit(base)}{base}"


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_every_base_has_exactly_one_valid_check_digit(base):
    valid = [d for d in "0123456789" if is_valid_corporate_number(d + base)]
    assert valid == [str(corporate_number_check_digit(base))]
    assert 1 <= int(valid[0]) <= 9


@given(st.text(alphabet="0123456789", min_size=12, max_size=12), st.integers(0, 11), st.integers(1, 9))
def test_changing_one_base_digit_is_caught(base, position, shift):
    changed = base[:position] + str((int(base[position]) + shift) % 10) + base[position + 1:]
    # The weights 1 and 2 are prime to 9, so one changed digit always changes the sum mod 9
    # unless the change is a multiple of 9 (0 ↔ 9).
    if abs(int(changed[position]) - int(base[position])) == 9:
        return
    assert not is_valid_corporate_number(_with_check_digit(base)[0] + changed)
