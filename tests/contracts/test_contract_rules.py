"""The Contracts mapping's settings and the contract rules: legal items, 保管期限."""

from __future__ import annotations

from datetime import date

import pytest

from mappings import MappingError
from mappings.contracts import (
    IssuanceSettings,
    RetentionSettings,
    StatusSettings,
    contract_problems,
    merge_text,
    retention_until,
    tax_retention_until,
)
from mappings.fields import User


def test_the_default_mapping_settings_are_valid_and_name_only_existing_fields(mappings):
    contracts = mappings["contracts"]
    issuance = IssuanceSettings.of(contracts)
    StatusSettings.of(contracts)
    assert set(issuance.kinds) == {"個別契約", "基本契約"}


def test_the_individual_contract_requires_every_item_of_article_26_and_the_seed(mappings):
    contracts = mappings["contracts"]
    required = IssuanceSettings.of(contracts).kinds["個別契約"].required_items
    labels = {contracts.field(name).display for name in required}
    seed = {"就業場所", "業務内容", "賃金", "休憩", "派遣開始日", "派遣終了日", "指揮命令者", "苦情窓口"}
    article_26 = {"業務に伴う責任の程度", "組織単位", "就業日", "始業・終業時刻", "安全及び衛生",
                  "契約解除に当たって講ずる措置", "時間外・休日労働",
                  "福利厚生施設の利用", "派遣人数", "協定対象派遣労働者に限定するか否か",
                  "無期雇用派遣労働者又は60歳以上の者に限定するか否か", "紹介予定派遣",
                  "派遣先が派遣労働者を雇用する場合の紛争防止措置", "派遣料金", "派遣先事業所"}
    assert seed | article_26 <= labels
    # 苦情の申出先 on both sides and both 責任者 are structured rows with a phone number
    contacts = IssuanceSettings.of(contracts).kinds["個別契約"].contacts
    # (rows of the 連絡先 table), and the 指揮命令者 and the 派遣先の事業所 in the same shape (fields)
    rows = {name for name, role in contacts.roles.items() if not role.fields}
    assert rows == {"苦情処理（派遣先）", "苦情処理（派遣元）", "派遣先責任者", "派遣元責任者"}
    assert all(contacts.roles[name].parts == ["department", "title", "name", "phone"] for name in rows)
    commander, site = contacts.roles["指揮命令者"], contacts.roles["派遣先の事業所"]
    assert commander.fields == {"department": "commander_department", "title": "commander_title",
                                "name": "commander", "phone": "commander_phone"}
    assert (commander.article, site.article) == ("労働者派遣法第26条第1項第3号", "労働者派遣法第26条第1項第2号")
    assert site.fields == {"name": "work_site", "address": "work_site_address", "unit": "organization_unit",
                           "phone": "work_site_phone"}


def test_a_mapping_naming_an_unknown_field_fails_with_the_field_named(mappings):
    contracts = mappings["contracts"]
    data = contracts.model_dump(by_alias=True)
    data["contract_issuance"]["kinds"]["個別契約"]["required_items"].append("work_place_typo")
    broken = type(contracts).model_validate(data)
    with pytest.raises(MappingError, match="work_place_typo"):
        IssuanceSettings.of(broken)


def test_a_contract_kind_without_a_template_is_reported_for_the_operator(mappings):
    contracts = mappings["contracts"]
    problems = contract_problems(contracts, IssuanceSettings.of(contracts), {"contract_kind": "業務委託"})
    assert "テンプレートが設定されていません" in problems.other[0]


@pytest.mark.parametrize(("concluded", "expected"), [
    (date(2026, 11, 24), date(2034, 5, 31)),  # FY ends 2027-03-31, filing deadline 2027-05-31
    (date(2027, 3, 31), date(2034, 5, 31)),   # last day of the same fiscal year
    (date(2027, 4, 1), date(2035, 5, 31)),    # first day of the next one
])
def test_tax_retention_runs_seven_years_from_the_day_after_the_filing_deadline(concluded, expected):
    assert tax_retention_until(RetentionSettings(), concluded) == expected


def test_retention_takes_the_later_of_the_ledger_and_tax_rules_by_default():
    rule = RetentionSettings()
    assert retention_until(rule, date(2026, 11, 24), date(2027, 3, 31)) == date(2034, 5, 31)  # tax is later
    assert retention_until(rule, date(2026, 11, 24), date(2033, 3, 31)) == date(2036, 3, 31)  # ledger is later
    assert retention_until(rule, date(2026, 11, 24), None) == date(2034, 5, 31)  # a basic contract


def test_retention_can_follow_one_rule_only():
    ledger_only = RetentionSettings(rule="dispatch_ledger")
    assert retention_until(ledger_only, date(2026, 11, 24), date(2028, 2, 29)) == date(2031, 2, 28)
    assert retention_until(RetentionSettings(rule="tax", tax_years=10), date(2026, 11, 24), date(2040, 1, 1)) == \
        date(2037, 5, 31)


def test_a_december_fiscal_year_end_is_honoured():
    rule = RetentionSettings(fiscal_year_end="12-31", filing_months_after_year_end=2)
    assert tax_retention_until(rule, date(2026, 11, 24)) == date(2034, 2, 28)


def test_merge_fields_print_dates_numbers_and_users_as_a_contract_shows_them():
    from decimal import Decimal

    assert merge_text(date(2027, 3, 31)) == "2027年3月31日"
    assert merge_text(Decimal("2")) == "2"
    assert merge_text(Decimal("1500.50")) == "1500.50"
    assert merge_text([User("sato", "佐藤 一郎"), User("suzuki", "")]) == "佐藤 一郎、suzuki"
    assert merge_text(None) == ""
