"""The period limits (事業所単位, 個人単位) and the exemptions proven from G-Staff, at the level the
sales rep sees: a contract in 発報処理中 is sent with the exemption printed, or it stays 作成中 with
one comment naming the rule and what to do. Dated edge cases for every rule."""

from __future__ import annotations

from datetime import date

import pytest

from connectors.gstaff import (
    Assignment,
    ClientHistory,
    ClientSummary,
    EmploymentType,
    FormerEmployment,
    GStaffTransientError,
    StaffMember,
    WorkSite,
)
from flows import contract_issuance
from mappings import MappingError
from mappings.dispatch_law import (
    DispatchLawSettings,
    PeriodLimit,
    add_years,
    age_on,
    conflict_date,
    run_start,
    staff_ids,
)
from tests.contracts.conftest import CONTRACTS

INDEFINITE, FIXED = EmploymentType.INDEFINITE, EmploymentType.FIXED_TERM


def issue(cctx, contract, **changes) -> str:
    return contract_issuance.run(cctx, "contracts", contract(**changes))


def only_comment(kintone, rid: str) -> str:
    [text] = kintone.comment_texts(CONTRACTS, rid)
    return text


def envelope_fields(gmosign) -> dict:
    [envelope] = gmosign.envelopes.values()
    return envelope.merge_fields


@pytest.fixture
def osaka(gstaff):
    """A client whose work site has no 抵触日 in G-Staff: the limit is counted from its history."""
    gstaff.add_client(ClientSummary("G-2001", "株式会社大阪製作所"),
                      ClientHistory("G-2001", work_sites=[WorkSite("大阪工場", None)]))
    # The client's 抵触日通知 names the site; its 抵触日 is the count from this contract's own start
    # (2026-12-01) unless a test gives the history's earlier one (the notice may not be later).
    return dict(Gスタッフ顧客ID="G-2001", 派遣先事業所="大阪工場", 組織単位="製造一課", 抵触日="2029-12-01",
                抵触日通知の事業所="大阪工場", 派遣スタッフID="S-2002")


# -- the mapping -------------------------------------------------------------------------------


def test_every_exemption_the_record_offers_has_a_proof_and_an_article(mappings):
    contracts = mappings["contracts"]
    rules = DispatchLawSettings.of(contracts)
    offered = contracts.settings("contract_issuance")["exemption_values"]
    assert set(offered) == set(rules.exemptions)
    assert all(rule.article.startswith("労働者派遣法第40条の2第1項") for rule in rules.exemptions.values())
    assert (rules.period_limit.years, rules.period_limit.cooling_off_months) == (3, 3)


def test_an_offered_exemption_without_a_rule_or_a_misspelt_printed_field_fails_the_mapping(mappings):
    contracts = mappings["contracts"]
    data = contracts.model_dump(by_alias=True)
    data["contract_issuance"]["exemption_values"].append("派遣先の希望")
    with pytest.raises(MappingError, match="派遣先の希望"):
        DispatchLawSettings.of(type(contracts).model_validate(data))
    data = contracts.model_dump(by_alias=True)
    data["dispatch_law"]["exemptions"]["有期プロジェクト"]["printed"] = "{project_ending}"
    with pytest.raises(MappingError, match="project_ending"):
        DispatchLawSettings.of(type(contracts).model_validate(data))


# -- pure date rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(("day", "age"), [
    (date(2026, 12, 1), 59),  # the day before the 60th birthday
    (date(2026, 12, 2), 60),  # the birthday
])
def test_age_rises_on_the_birthday(day, age):
    assert age_on(date(1966, 12, 2), day) == age


def test_a_29_february_birthday_counts_from_1_march_in_other_years():
    assert age_on(date(1968, 2, 29), date(2028, 2, 28)) == 59
    assert age_on(date(1968, 2, 29), date(2028, 2, 29)) == 60  # 2028 is a leap year
    assert age_on(date(1964, 2, 29), date(2024, 2, 29)) == 60
    assert age_on(date(1965, 2, 28), date(2025, 2, 28)) == 60
    assert add_years(date(2024, 2, 29), 3) == date(2027, 3, 1)  # 抵触日 after a start on 29 February


def test_a_gap_of_exactly_three_months_does_not_restart_the_count_and_one_day_more_does():
    limit = PeriodLimit()
    before = (date(2024, 1, 1), date(2025, 3, 31))
    assert run_start([before, (date(2025, 7, 1), date(2025, 12, 31))], date(2025, 7, 1), 3) == date(2024, 1, 1)
    assert run_start([before, (date(2025, 7, 2), date(2025, 12, 31))], date(2025, 7, 2), 3) == date(2025, 7, 2)
    assert conflict_date([before, (date(2025, 7, 1), date(2025, 12, 31))], date(2025, 7, 1), limit) == \
        date(2027, 1, 1)


def test_staff_ids_are_split_on_japanese_commas_commas_and_spaces():
    assert staff_ids("S-2001、S-2002, S-2003　S-2001") == ["S-2001", "S-2002", "S-2003"]
    assert staff_ids(None) == []


# -- the headline defect: an exemption claimed, not proven ---------------------------------------


@pytest.mark.parametrize(("exemption", "worker", "article"), [
    ("60歳以上", StaffMember("S-3001", FIXED, date(1950, 1, 1)), "労働者派遣法第40条の2第1項第1号、同法施行規則第32条の5"),
    ("無期雇用", StaffMember("S-3001", INDEFINITE, date(1990, 1, 1)), "労働者派遣法第40条の2第1項第1号"),
])
def test_an_exemption_claimed_on_a_contract_that_limits_nothing_is_never_sent(cctx, kintone, gmosign, contract,
                                                                              gstaff, exemption, worker, article):
    gstaff.add_staff(worker)  # the worker qualifies: the contract itself must limit the dispatch to such workers
    rid = contract(期間制限の例外=exemption, 無期60歳以上限定="限定しない", 派遣スタッフID="S-3001", 派遣終了日="2030-03-31")

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"

    assert gmosign.envelopes == {}
    text = only_comment(kintone, rid)
    assert f"「{exemption}」（{article}）" in text
    assert "「無期雇用派遣労働者又は60歳以上の者に限定するか否か」を「限定する」にしてください" in text
    assert "事業所単位の期間制限" in text  # not exempt, so the 抵触日 still applies
    assert kintone.record_values(CONTRACTS, rid)["ステータス"] == "作成中"


@pytest.mark.parametrize(("birth", "outcome"), [
    (date(1966, 12, 1), "sent_for_signature"),   # 60 on 派遣開始日 2026-12-01 (the birthday)
    (date(1966, 12, 2), "sent_back_not_sent"),   # turns 60 the day after 派遣開始日
])
def test_sixty_or_over_is_judged_on_the_first_day_of_dispatch(cctx, kintone, gmosign, contract, gstaff, birth,
                                                              outcome):
    gstaff.add_staff(StaffMember("S-3001", FIXED, birth))
    rid = contract(期間制限の例外="60歳以上", 無期60歳以上限定="限定する", 派遣スタッフID="S-3001", 抵触日=None,
                   派遣終了日="2030-03-31")

    assert contract_issuance.run(cctx, "contracts", rid) == outcome

    if outcome == "sent_for_signature":
        fields = envelope_fields(gmosign)
        assert fields["期間制限の例外"] == "60歳以上"
        assert fields["期間制限の例外の内容"] == \
            "60歳以上の者に限定（労働者派遣法第40条の2第1項第1号、同法施行規則第32条の5）"
    else:
        text = only_comment(kintone, rid)
        assert "スタッフさん（スタッフID：S-3001）には当たりません" in text and "60歳未満" in text
        assert "1966" not in text  # the birth date is not written on the record


def test_sixty_or_over_needs_a_birth_date_in_g_staff(cctx, kintone, gmosign, contract, gstaff):
    gstaff.add_staff(StaffMember("S-3001", FIXED, None))
    rid = contract(期間制限の例外="60歳以上", 無期60歳以上限定="限定する", 派遣スタッフID="S-3001")

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    assert "生年月日がGスタッフにないため確認できません" in only_comment(kintone, rid)


def test_indefinite_employment_comes_from_g_staff_for_every_worker(cctx, kintone, gmosign, contract, gstaff):
    gstaff.add_staff(StaffMember("S-3001", INDEFINITE, date(1990, 1, 1)))
    claim = dict(期間制限の例外="無期雇用", 無期60歳以上限定="限定する", 派遣終了日="2031-03-31")

    mixed = contract(**claim, 派遣スタッフID="S-3001、S-2001")  # S-2001 is 有期 in the samples
    assert contract_issuance.run(cctx, "contracts", mixed) == "sent_back_not_sent"
    text = only_comment(kintone, mixed)
    assert "スタッフさん（スタッフID：S-2001）には当たりません（Gスタッフの雇用形態が無期雇用ではありません）" in text
    assert "S-3001）には" not in text

    alone = contract(**claim, 派遣スタッフID="S-3001")
    assert contract_issuance.run(cctx, "contracts", alone) == "sent_for_signature"
    assert envelope_fields(gmosign)["期間制限の例外の内容"] == "無期雇用派遣労働者に限定（労働者派遣法第40条の2第1項第1号）"


def test_a_contract_limited_to_such_workers_may_not_send_a_young_fixed_term_worker(cctx, kintone, gmosign,
                                                                                   contract):
    rid = contract(無期60歳以上限定="限定する", 派遣スタッフID="S-2001")

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    assert "スタッフさん（スタッフID：S-2001）はGスタッフで無期雇用でも60歳以上でもありません" in only_comment(kintone, rid)


def test_a_worker_unknown_to_g_staff_is_named(cctx, kintone, contract):
    rid = contract(期間制限の例外="無期雇用", 無期60歳以上限定="限定する", 派遣スタッフID="S-9999")

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    assert "「派遣スタッフID」の S-9999 がGスタッフに見つかりません" in only_comment(kintone, rid)


# -- 有期プロジェクト, 日数限定業務, 休業代替 ---------------------------------------------------------


def test_a_fixed_term_project_needs_its_end_and_the_dispatch_within_it(cctx, kintone, gmosign, contract):
    project = dict(期間制限の例外="有期プロジェクト", プロジェクト内容="新物流システム導入", 派遣終了日="2030-03-31")

    undated = contract(**project)
    late = contract(**project, プロジェクト終了予定日="2030-03-30")
    on_the_day = contract(**project, プロジェクト終了予定日="2030-03-31")

    assert contract_issuance.run(cctx, "contracts", undated) == "sent_back_not_sent"
    assert "「プロジェクト内容」と「プロジェクト終了予定日」を入力してください" in only_comment(kintone, undated)
    assert contract_issuance.run(cctx, "contracts", late) == "sent_back_not_sent"
    assert "プロジェクトの終了予定日（2030年3月30日（土））より後" in only_comment(kintone, late)
    assert contract_issuance.run(cctx, "contracts", on_the_day) == "sent_for_signature"
    assert envelope_fields(gmosign)["期間制限の例外の内容"] == \
        "有期プロジェクト業務：新物流システム導入（終了予定日：2030年3月31日）（労働者派遣法第40条の2第1項第2号イ）"


@pytest.mark.parametrize(("days", "ordinary", "outcome"), [
    ("10", "20", "sent_for_signature"),   # exactly half and exactly 10
    ("11", "22", "sent_back_not_sent"),   # half, but more than 10
    ("9", "17", "sent_back_not_sent"),    # 10 or fewer, but more than half (8.5)
    ("8", "17", "sent_for_signature"),
])
def test_limited_days_are_at_most_half_the_clients_ordinary_days_and_at_most_ten(cctx, kintone, gmosign, contract,
                                                                                  days, ordinary, outcome):
    rid = contract(期間制限の例外="日数限定業務", 月間就業日数=days, 通常労働者月間所定労働日数=ordinary,
                   派遣終了日="2030-03-31")

    assert contract_issuance.run(cctx, "contracts", rid) == outcome
    if outcome == "sent_back_not_sent":
        text = only_comment(kintone, rid)
        assert f"所定労働日数（{ordinary}日）の半分以下、かつ10日以下の場合に限り" in text and f"（この契約は{days}日）" in text
    else:
        assert envelope_fields(gmosign)["期間制限の例外の内容"].startswith(
            f"日数限定業務：1か月の就業日数{days}日（派遣先の通常の労働者の所定労働日数{ordinary}日）")


def test_limited_days_without_the_days_are_not_exempt(cctx, kintone, contract):
    rid = contract(期間制限の例外="日数限定業務", 派遣終了日="2030-03-31")
    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    assert "「1か月の就業日数」と「派遣先の通常の労働者の1か月の所定労働日数」を入力してください" in only_comment(kintone, rid)


def test_leave_cover_lies_within_the_leave_period(cctx, kintone, gmosign, contract):
    leave = dict(期間制限の例外="産休・育休・介護休業の代替", 代替する休業="育児休業", 休業終了日="2030-03-31",
                 派遣開始日="2026-12-01", 派遣終了日="2030-03-31")

    early = contract(**leave, 休業開始日="2026-12-02")
    inside = contract(**leave, 休業開始日="2026-12-01")

    assert contract_issuance.run(cctx, "contracts", early) == "sent_back_not_sent"
    assert "休業期間（2026年12月2日（水）〜2030年3月31日（日））の中にない" in only_comment(kintone, early)
    assert contract_issuance.run(cctx, "contracts", inside) == "sent_for_signature"
    assert envelope_fields(gmosign)["期間制限の例外の内容"] == \
        "育児休業の代替（休業期間：2026年12月1日〜2030年3月31日）（労働者派遣法第40条の2第1項第3号・第4号）"


def test_a_contract_without_an_exemption_prints_none(cctx, gmosign, contract):
    assert issue(cctx, contract) == "sent_for_signature"
    fields = envelope_fields(gmosign)
    assert (fields["期間制限の例外"], fields["期間制限の例外の内容"]) == ("該当なし", "")


# -- 事業所単位 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("end", "outcome"), [
    ("2027-01-04", "sent_for_signature"),   # the day before the site's 抵触日
    ("2027-01-05", "sent_back_not_sent"),   # the 抵触日 itself
])
def test_the_site_limit_is_counted_from_the_first_dispatch_in_g_staffs_history(cctx, kintone, gstaff, contract,
                                                                               osaka, end, outcome):
    gstaff.add_assignment("G-2001", Assignment("S-4001", "大阪 工場", "品質課", date(2024, 1, 5), date(2026, 6, 30)))
    gstaff.add_assignment("G-2001", Assignment("S-4002", "大阪工場", "製造二課", date(2026, 8, 1), date(2026, 11, 30)))

    rid = contract(**dict(osaka, 抵触日="2027-01-05"), 派遣終了日=end)
    assert contract_issuance.run(cctx, "contracts", rid) == outcome

    if outcome == "sent_back_not_sent":
        text = only_comment(kintone, rid)
        assert "事業所単位の期間制限（労働者派遣法第40条の2第2項）" in text
        assert "派遣先事業所「大阪工場」の抵触日（2027年1月5日（火）、Gスタッフの派遣実績から数えた事業所の抵触日）以降" in text
        assert "2027年1月4日（月）までにしてください" in text


def test_a_site_gap_of_more_than_three_months_and_exempt_dispatches_do_not_count(cctx, gstaff, contract, osaka):
    gstaff.add_assignment("G-2001", Assignment("S-4001", "大阪工場", "品質課", date(2022, 1, 1), date(2026, 7, 31),
                                               period_limited=False))  # a 60+ worker
    gstaff.add_assignment("G-2001", Assignment("S-4002", "大阪工場", "製造二課", date(2023, 1, 1), date(2026, 7, 31)))
    # 2026-08-01 .. 2026-11-30 without any limited dispatch: more than three months

    assert issue(cctx, contract, **osaka, 派遣終了日="2029-11-30") == "sent_for_signature"


def test_g_staffs_registered_site_date_applies_when_earlier_than_the_notice(cctx, kintone, gstaff, contract):
    rid = contract(抵触日="2027-06-01", 派遣終了日="2027-04-30")  # G-Staff holds 2027-04-01 for the site

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    assert "抵触日（2027年4月1日（木）、Gスタッフに登録された事業所の抵触日）以降" in only_comment(kintone, rid)


def test_the_clients_notice_applies_when_earlier_than_our_history(cctx, kintone, gstaff, contract, osaka):
    # No date registered in G-Staff; our history counts 2029-12-01. Other agencies' workers may have
    # started the site's count earlier: the notice's earlier date is the client's to give, and it applies.
    rid = contract(**dict(osaka, 抵触日="2029-06-01"), 派遣終了日="2029-11-30")

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    text = only_comment(kintone, rid)
    assert "抵触日（2029年6月1日（金）、派遣先の抵触日通知の抵触日）以降" in text
    assert "抵触日通知（労働者派遣法第26条第4項" not in text


def test_the_notices_date_is_read_from_the_field_the_mapping_names(cctx, kintone, contract, osaka, mappings):
    # A deployment keeping the notice's 抵触日 in a field of its own ([dispatch_law.conflict_notice]
    # conflict_date; the app's 派遣先へ抵触日到来を通知した日 stands in for it here): its earlier date
    # applies to the site limit, as it is the one the notice is judged on.
    mappings["contracts"].model_extra["dispatch_law"]["conflict_notice"]["conflict_date"] = "conflict_notice_client_on"
    rid = contract(**osaka, 抵触日到来通知日派遣先="2029-06-01", 派遣終了日="2029-11-30")

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    assert "抵触日（2029年6月1日（金）、派遣先の抵触日通知の抵触日）以降" in only_comment(kintone, rid)


# -- 抵触日通知 judged: it names this contract's 事業所 and the site's 抵触日 (法第26条第4項) ------------


@pytest.mark.parametrize(("notified", "outcome"), [
    ("2027-04-01", "sent_for_signature"),   # the date G-Staff holds for 東京物流センター
    ("2027-04-02", "sent_back_not_sent"),   # one day later
    ("2027-03-31", "sent_back_not_sent"),   # one day earlier
])
def test_the_notices_date_must_be_the_sites_date_in_g_staff(cctx, kintone, gmosign, contract, notified, outcome):
    rid = contract(抵触日=notified, 派遣終了日="2027-03-30")

    assert contract_issuance.run(cctx, "contracts", rid) == outcome
    if outcome == "sent_for_signature":
        assert envelope_fields(gmosign)["抵触日"] == "2027年4月1日"
        return
    assert gmosign.envelopes == {}
    assert kintone.record_values(CONTRACTS, rid)["GMOサイン文書ID"] == ""
    text = only_comment(kintone, rid)
    shown = f"{int(notified[5:7])}月{int(notified[8:])}日"
    assert (f"抵触日通知（労働者派遣法第26条第4項、同法施行規則第24条の2）：抵触日通知に記載された「抵触日」（2027年{shown}"
            in text)
    assert "Gスタッフに登録された派遣先事業所「東京物流センター」の抵触日（2027年4月1日（木））と違います" in text
    assert "正しい内容の抵触日通知を受け取り直して" in text


@pytest.mark.parametrize(("notified", "outcome"), [
    ("2029-12-01", "sent_for_signature"),   # what our history counts (no date in G-Staff)
    ("2029-12-02", "sent_back_not_sent"),   # a day later than our history allows
])
def test_without_a_date_in_g_staff_the_notice_may_not_be_later_than_our_history(cctx, kintone, contract, osaka,
                                                                                notified, outcome):
    rid = contract(**dict(osaka, 抵触日=notified), 派遣終了日="2029-11-30")

    assert contract_issuance.run(cctx, "contracts", rid) == outcome
    if outcome == "sent_back_not_sent":
        assert ("当社の派遣実績から数えた派遣先事業所「大阪工場」の抵触日（2029年12月1日（土））より後です"
                in only_comment(kintone, rid))


def test_a_notice_for_another_site_holds_the_contract(cctx, kintone, gmosign, contract):
    rid = contract(抵触日通知の事業所="大阪工場")

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    assert gmosign.envelopes == {}
    text = only_comment(kintone, rid)
    assert "「抵触日通知の事業所」「大阪工場」が、この契約の「派遣先事業所」「東京物流センター」と違います" in text
    assert "抵触日通知は派遣先の事業所ごとに受け取るものです" in text


def test_the_notices_site_is_compared_as_g_staff_names_it_and_is_required(cctx, kintone, contract):
    assert issue(cctx, contract, 抵触日通知の事業所="東京 物流センター") == "sent_for_signature"

    rid = contract(抵触日通知の事業所=None)
    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    assert "抵触日通知に記載された事業所名を「抵触日通知の事業所」に入力してください" in only_comment(kintone, rid)


def test_a_renewal_after_an_extension_needs_the_new_notice_not_the_copied_one(cctx, kintone, gmosign, gstaff,
                                                                           contract):
    # The client heard its workers (意見聴取) and extended the site; G-Staff holds the new date. The
    # renewal record was copied from the first contract with a fresh receipt but the old notice's date.
    gstaff.add_client(ClientSummary("G-1001", "株式会社サンプル物流"),
                      ClientHistory("G-1001", work_sites=[WorkSite("東京物流センター", date(2030, 4, 1))]))
    renewal = dict(作成日時="2027-02-15T00:00:00Z", 更新回数="1", 派遣開始日="2027-04-01", 派遣終了日="2027-06-30",
                   抵触日通知受領日="2027-02-20", 待遇情報受領日="2027-02-20")
    rid = contract(**renewal)

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    text = only_comment(kintone, rid)
    assert "「抵触日」（2027年4月1日（木））が、Gスタッフに登録された派遣先事業所「東京物流センター」の抵触日（2030年4月1日（月））と違います" in text
    assert issue(cctx, contract, **renewal, 抵触日="2030-04-01") == "sent_for_signature"


def test_a_proven_exemption_does_not_judge_the_notice(cctx, gstaff, contract):
    gstaff.add_staff(StaffMember("S-3002", INDEFINITE, date(1990, 1, 1)))

    assert issue(cctx, contract, 派遣スタッフID="S-3002", 期間制限の例外="無期雇用", 無期60歳以上限定="限定する",
                 抵触日="2027-05-01", 抵触日通知の事業所="大阪工場") == "sent_for_signature"


# -- 個人単位 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("end", "outcome"), [
    ("2027-11-30", "sent_for_signature"),   # a renewal ending the day before the worker's 抵触日
    ("2027-12-01", "sent_back_not_sent"),
])
def test_a_renewal_counts_the_workers_earlier_contracts_in_the_same_unit(cctx, kintone, gstaff, contract, osaka,
                                                                         end, outcome):
    gstaff.add_assignment("G-2001", Assignment("S-2002", "大阪工場", "製造一課", date(2024, 12, 1), date(2025, 11, 30),
                                               reference="kintone-contracts-77"))
    gstaff.add_assignment("G-2001", Assignment("S-2002", "大阪工場", "製造一課", date(2025, 12, 1), date(2026, 11, 30)))

    rid = contract(**dict(osaka, 抵触日="2027-12-01"), 派遣開始日="2026-12-01", 派遣終了日=end, 更新回数="2")
    assert contract_issuance.run(cctx, "contracts", rid) == outcome

    if outcome == "sent_back_not_sent":
        text = only_comment(kintone, rid)
        assert "個人単位の期間制限（労働者派遣法第40条の3）：スタッフさん（スタッフID：S-2002）" in text
        assert "組織単位「製造一課」で2024年12月1日（日）から派遣されており、抵触日は2027年12月1日（水）です" in text
        assert "事業所単位" in text  # the site's count started with the same first dispatch


def test_another_unit_or_a_long_gap_starts_the_workers_count_again(cctx, gstaff, contract, osaka):
    gstaff.add_client(ClientSummary("G-2002", "株式会社京都製作所"),
                      ClientHistory("G-2002", work_sites=[WorkSite("大阪工場", date(2031, 1, 1))]))
    gstaff.add_assignment("G-2002", Assignment("S-2002", "大阪工場", "製造二課", date(2023, 1, 1), date(2026, 11, 30)))
    gstaff.add_assignment("G-2002", Assignment("S-2002", "大阪工場", "製造一課", date(2022, 1, 1), date(2023, 6, 30)))

    assert issue(cctx, contract, **dict(osaka, Gスタッフ顧客ID="G-2002", 抵触日="2031-01-01"),
                 派遣終了日="2029-11-30") == "sent_for_signature"


def test_the_contracts_own_assignment_in_g_staff_is_not_counted_twice(cctx, gstaff, contract, osaka, kintone):
    rid = contract(**osaka, 派遣終了日="2029-11-30")
    # G-Staff holds this very contract under our reference, with an earlier draft's start: were it
    # counted, the run would start 2024-06-01 and both 抵触日 would be 2027-06-01.
    gstaff.add_assignment("G-2001", Assignment("S-2002", "大阪工場", "製造一課", date(2024, 6, 1), date(2029, 11, 30),
                                               reference=f"kintone-contracts-{rid}"))

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_for_signature"


# -- G-Staff unavailable or missing --------------------------------------------------------------


def test_g_staff_down_sends_nothing_and_retries(cctx, kintone, gmosign, gstaff, contract):
    rid = contract()
    gstaff.fail_next("get_assignments", GStaffTransientError("[503] maintenance", status=503))

    with pytest.raises(GStaffTransientError):
        contract_issuance.run(cctx, "contracts", rid)
    assert gmosign.envelopes == {} and kintone.comment_texts(CONTRACTS, rid) == []

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_for_signature"


def test_a_client_unknown_to_g_staff_is_reported(cctx, kintone, contract):
    rid = contract(Gスタッフ顧客ID="G-9999")

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    assert "Gスタッフ顧客ID「G-9999」の顧客がGスタッフに見つかりません" in only_comment(kintone, rid)


def test_g_staff_calls_are_two_plus_one_per_worker(cctx, gstaff, contract):
    gstaff.calls.clear()
    issue(cctx, contract)
    assert (gstaff.calls["get_history"], gstaff.calls["get_assignments"], gstaff.calls["get_staff"]) == (1, 1, 2)


@pytest.mark.parametrize(("left_on", "outcome"), [
    (date(2025, 12, 2), "sent_back_not_sent"),   # a year has not passed on 派遣開始日 2026-12-01
    (date(2025, 12, 1), "sent_for_signature"),   # 2026-12-01 is a year after
])
def test_a_worker_who_left_the_client_within_a_year_is_never_sent_there(cctx, kintone, gmosign, gstaff, contract,
                                                                        left_on, outcome):
    gstaff.add_staff(StaffMember("S-5001", FIXED, date(1990, 1, 1), [FormerEmployment("G-1001", left_on)]))

    rid = contract(派遣スタッフID="S-5001")
    assert contract_issuance.run(cctx, "contracts", rid) == outcome
    if outcome == "sent_back_not_sent":
        text = only_comment(kintone, rid)
        assert "離職後1年以内の受入れ禁止（労働者派遣法第40条の9）：スタッフさん（スタッフID：S-5001）" in text
        assert "派遣開始は2026年12月2日（水）以降にしてください" in text
