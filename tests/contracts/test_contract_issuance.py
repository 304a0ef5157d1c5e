"""Contract issuance: a contract reaching 発報処理中 → exactly one GMO Sign envelope, or none and
a comment for the sales rep. Fake kintone, fake GMO Sign, real Redis, real RQ worker."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from connectors.gmosign import EnvelopeState, GmoSignConfigError, GmoSignDataError
from flows import contract_issuance
from flows.contract_issuance import IssuanceInProgress, IssuanceNeedsOperator, claim_key, release_claim
from tests.contracts.conftest import CLIENTS, CONTRACTS, NOW, Killed, post_kintone


def reference(record_id: str) -> str:
    return f"kintone-contracts-{record_id}"


def values(kintone, record_id: str) -> dict:
    return kintone.record_values(CONTRACTS, record_id)


# -- a complete contract ------------------------------------------------------------------------


def test_complete_contract_reaching_issue_ends_with_exactly_one_envelope_and_its_id_on_the_record(
        client, kintone, gmosign, contract, drain):
    rid = contract()

    response = post_kintone(client, kintone, rid)
    assert response.status_code == 200 and response.get_json()["jobs"] == 1
    drain()

    [envelope] = gmosign.envelopes.values()
    record = values(kintone, rid)
    assert envelope.document_code == reference(rid)
    assert record["ステータス"] == "署名依頼中"
    assert record["GMOサイン文書ID"] == envelope.envelope_id
    assert record["GMOサイン書類番号"] == ",".join(envelope.documents)
    assert record["発報日時"] == "2026-11-24T01:00:00Z"
    assert record["署名期限"] == "2026-12-24"
    assert record["GMOサイン状態"] == "社内承認待ち"
    assert [u["code"] for u in record["作業者"]] == ["sato"]  # the rep approves next


def test_the_envelope_goes_to_the_clients_signer_with_the_rep_as_approver_and_the_records_items(
        cctx, kintone, gmosign, contract):
    rid = contract()

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_for_signature"

    [envelope] = gmosign.envelopes.values()
    assert envelope.template_id == "TPL-INDIVIDUAL"
    assert "株式会社サンプル物流" in envelope.name
    [signer] = envelope.signers
    assert (signer.name, signer.email, signer.organization, signer.in_house) == (
        "山田 花子", "yamada@example.com", "株式会社サンプル物流", False)
    [approver] = envelope.approvers
    assert (approver.name, approver.email) == ("佐藤 一郎", "sato@example.co.jp")
    assert envelope.state is EnvelopeState.APPROVAL_PENDING
    assert envelope.merge_fields["就業場所"] == "東京物流センター（東京都江東区）"
    assert envelope.merge_fields["派遣終了日"] == "2027年3月31日"
    assert envelope.merge_fields["派遣人数"] == "2"
    assert envelope.merge_fields["管理番号"] == reference(rid)
    [comment] = kintone.apps[CONTRACTS].comments[rid]
    assert comment.mentions[0].code == "sato"
    assert envelope.envelope_id in comment.text and "承認" in comment.text


def test_notifications_after_sending_send_nothing_more(client, kintone, gmosign, contract, drain):
    rid = contract()
    post_kintone(client, kintone, rid)
    drain()
    # kintone tells us about our own write-back and action, and marketing saves the record again.
    post_kintone(client, kintone, rid, event_type="UPDATE_RECORD")
    post_kintone(client, kintone, rid, event_type="UPDATE_STATUS")
    drain()

    assert len(gmosign.envelopes) == 1
    assert gmosign.calls["send_from_template"] == 1
    assert values(kintone, rid)["ステータス"] == "署名依頼中"


def test_two_jobs_for_different_revisions_queued_together_send_one_envelope(client, kintone, gmosign, contract,
                                                                           drain):
    rid = contract()
    post_kintone(client, kintone, rid)
    kintone.update_record(CONTRACTS, rid, {"遅延理由": {"value": "派遣先の確認待ち"}})  # a new revision
    post_kintone(client, kintone, rid, event_type="UPDATE_RECORD")
    drain()

    assert len(gmosign.envelopes) == 1
    assert values(kintone, rid)["ステータス"] == "署名依頼中"


def test_a_second_job_arriving_while_the_first_is_sending_waits_instead_of_sending(cctx, kintone, gmosign,
                                                                                   contract):
    rid = contract()
    raced = []

    def second_job():
        with pytest.raises(IssuanceInProgress):
            contract_issuance.run(cctx, "contracts", rid)
        raced.append(True)

    gmosign.during("send_from_template", second_job)

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_for_signature"
    assert raced == [True]
    assert len(gmosign.envelopes) == 1
    assert contract_issuance.run(cctx, "contracts", rid) == "nothing_to_do"  # the retry of the second


def test_basic_contract_uses_its_own_template_and_needs_no_dispatch_items(cctx, kintone, gmosign, contract):
    client = kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "与信状態": "承認", "取引状態": "取引可"})
    rid = contract(契約種別="基本契約", 顧客レコード番号=client, 就業場所=None, 派遣開始日=None, 派遣終了日=None, 抵触日=None,
                   抵触日通知受領日=None, 抵触日通知ファイル=None, 待遇情報受領日=None, 待遇情報ファイル=None)

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_for_signature"

    [envelope] = gmosign.envelopes.values()
    assert envelope.template_id == "TPL-MASTER"
    assert envelope.merge_fields == {"派遣先": "株式会社サンプル物流", "管理番号": reference(rid)}


def test_kintone_calls_are_the_fewest_the_api_allows(cctx, kintone, contract):
    rid = contract()
    kintone.calls.clear()
    contract_issuance.run(cctx, "contracts", rid)
    assert sum(kintone.calls.values()) == 4  # read, write-back, 署名依頼, comment to the rep

    incomplete = contract(就業場所=None)
    kintone.calls.clear()
    contract_issuance.run(cctx, "contracts", incomplete)
    assert sum(kintone.calls.values()) == 3  # read, comment, 不備差戻し

    kintone.calls.clear()
    contract_issuance.run(cctx, "contracts", rid)
    assert sum(kintone.calls.values()) == 1  # read only


# -- a contract that may not be sent -------------------------------------------------------------


def test_contract_missing_legal_items_is_never_sent_and_goes_back_with_one_comment(cctx, kintone, gmosign,
                                                                                   contract, redis_conn):
    rid = contract(就業場所="", 指揮命令者=None, 安全衛生=" ")

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"

    assert gmosign.envelopes == {} and gmosign.calls["send_from_template"] == 0
    assert values(kintone, rid)["ステータス"] == "作成中"
    assert [u["code"] for u in values(kintone, rid)["作業者"]] == ["sato"]
    [comment] = kintone.apps[CONTRACTS].comments[rid]
    assert comment.mentions[0].code == "sato"
    for label in ("就業場所", "指揮命令者", "安全及び衛生"):
        assert f"・{label}" in comment.text
    assert "業務内容" not in comment.text
    assert "マーケ発報依頼" in comment.text
    assert cctx.ledger.get(claim_key(cctx.mappings["contracts"], rid)) is None


def test_contract_ending_on_or_after_the_conflict_date_is_never_sent(cctx, kintone, gmosign, contract):
    rid = contract(派遣終了日="2027-04-01", 抵触日="2027-04-01")

    contract_issuance.run(cctx, "contracts", rid)

    assert gmosign.envelopes == {}
    [text] = kintone.comment_texts(CONTRACTS, rid)
    assert "【労働者派遣法の期間制限】" in text
    assert "抵触日（2027年4月1日（木）、" in text and "2027年3月31日（水）までにしてください" in text
    assert values(kintone, rid)["ステータス"] == "作成中"


def test_contract_without_the_conflict_notice_or_treatment_information_is_never_sent(cctx, kintone, gmosign,
                                                                                     contract):
    rid = contract(抵触日通知受領日=None, 待遇情報ファイル=None)

    contract_issuance.run(cctx, "contracts", rid)

    assert gmosign.envelopes == {}
    [text] = kintone.comment_texts(CONTRACTS, rid)
    assert "【受領が確認できない書類】" in text
    assert "・抵触日通知（抵触日通知の受領日）" in text and "・待遇情報（待遇情報）" in text


def test_exempt_contract_may_pass_the_conflict_date_but_still_needs_both_documents(cctx, kintone, gmosign,
                                                                                  contract):
    from connectors.gstaff import EmploymentType, StaffMember

    cctx.gstaff.add_staff(StaffMember("S-3001", EmploymentType.INDEFINITE, None))
    indefinite = dict(期間制限の例外="無期雇用", 無期60歳以上限定="限定する", 派遣スタッフID="S-3001", 抵触日=None)
    proven = contract(**indefinite, 派遣終了日="2030-03-31")
    no_notice = contract(**indefinite, 抵触日通知ファイル=None)

    assert contract_issuance.run(cctx, "contracts", proven) == "sent_for_signature"
    assert contract_issuance.run(cctx, "contracts", no_notice) == "sent_back_not_sent"
    assert [e.document_code for e in gmosign.envelopes.values()] == [reference(proven)]


def test_an_unknown_exemption_value_does_not_lift_the_conflict_date_check(cctx, kintone, gmosign, contract):
    rid = contract(期間制限の例外="その他", 派遣終了日="2027-05-01")

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    assert gmosign.envelopes == {}


def test_introduction_dispatch_needs_its_terms(cctx, kintone, gmosign, contract):
    rid = contract(紹介予定派遣="該当")

    contract_issuance.run(cctx, "contracts", rid)

    assert "・紹介予定派遣に関する事項" in kintone.comment_texts(CONTRACTS, rid)[0]
    assert gmosign.envelopes == {}


def test_period_ending_before_it_starts_and_a_malformed_email_are_reported(cctx, kintone, contract):
    rid = contract(派遣開始日="2027-04-01", 派遣終了日="2027-03-01", 署名者メール="yamada.example.com")

    contract_issuance.run(cctx, "contracts", rid)

    [text] = kintone.comment_texts(CONTRACTS, rid)
    assert "「派遣終了日」（2027年3月1日（月））が「派遣開始日」（2027年4月1日（木））より前" in text
    assert "「署名者メール」の形式が正しくありません" in text


def test_gmo_sign_refusing_the_data_sends_the_contract_back_and_frees_it_for_a_corrected_send(
        cctx, kintone, gmosign, contract):
    rid = contract()
    gmosign.fail_next("send_from_template", GmoSignDataError("承認者のメールアドレスが見つかりません", status=400))

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"
    assert values(kintone, rid)["ステータス"] == "作成中"
    assert "承認者のメールアドレスが見つかりません" in kintone.comment_texts(CONTRACTS, rid)[0]

    kintone.update_status(CONTRACTS, rid, "マーケ発報依頼")
    kintone.update_status(CONTRACTS, rid, "発報")
    assert contract_issuance.run(cctx, "contracts", rid) == "sent_for_signature"
    assert len(gmosign.envelopes) == 1


def test_a_configuration_error_waits_for_an_operator_and_the_replay_sends(cctx, kintone, gmosign, contract):
    rid = contract()
    gmosign.fail_next("send_from_template", GmoSignConfigError("[401] token refused", status=401))

    with pytest.raises(GmoSignConfigError):
        contract_issuance.run(cctx, "contracts", rid)
    assert values(kintone, rid)["ステータス"] == "発報処理中"
    assert "システム運用担当者" in kintone.comment_texts(CONTRACTS, rid)[0]

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_for_signature"  # the replay
    assert len(gmosign.envelopes) == 1


def test_a_record_already_carrying_an_envelope_id_is_not_sent_again(cctx, kintone, gmosign, contract):
    rid = contract(GMOサイン文書ID="ENV-FROM-A-COPIED-RECORD")

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_back_not_sent"

    assert gmosign.envelopes == {}
    assert "二重送信を防ぐため" in kintone.comment_texts(CONTRACTS, rid)[0]


# -- exactly once under failures -------------------------------------------------------------------


def test_send_timed_out_after_gmo_sign_accepted_is_found_and_not_sent_again(client, kintone, gmosign, contract,
                                                                             drain):
    rid = contract()
    gmosign.lose_answer_of("send_from_template")

    post_kintone(client, kintone, rid)
    drain()  # the first run times out; RQ retries it, and the retry asks GMO Sign

    [envelope] = gmosign.envelopes.values()
    assert gmosign.calls["send_from_template"] == 1
    assert gmosign.calls["find_envelope"] == 1
    assert values(kintone, rid)["GMOサイン文書ID"] == envelope.envelope_id
    assert values(kintone, rid)["ステータス"] == "署名依頼中"


def test_send_timed_out_where_gmo_sign_cannot_be_asked_stops_for_an_operator_and_never_resends(
        client, kintone, contract, drain, redis_conn, settings, cctx):
    from connectors.gmosign.fake import FakeGmoSign

    cctx.gmosign = gmosign = FakeGmoSign(supports_lookup=False)
    rid = contract()
    gmosign.lose_answer_of("send_from_template")

    post_kintone(client, kintone, rid)
    drain()

    assert len(gmosign.envelopes) == 1 and gmosign.calls["send_from_template"] == 1
    failed = FailedJobRegistry(settings.queue_name, connection=redis_conn, serializer=JSONSerializer)
    [job_id] = failed.get_job_ids()
    reason = failed.get_queue().fetch_job(job_id).meta["reason"]
    assert "IssuanceNeedsOperator" in reason and reference(rid) in reason
    # marketing is told which id to enter, exactly as GMO Sign's screens name it (issue 15)
    [told] = [t for t in kintone.comment_texts(CONTRACTS, rid) if "結果を確認できませんでした" in t]
    assert "「トランザクションID」を、GMOサインの画面に表示されているとおり" in told
    assert "書類ごとの「文書ID」ではありません" in told and "「GMOサイン文書ID」に入力" in told
    assert values(kintone, rid)["ステータス"] == "発報処理中"
    [text] = kintone.comment_texts(CONTRACTS, rid)
    assert reference(rid) in text and "自動での再送信は行いません" in text

    # Marketing finds the envelope in GMO Sign and enters its id; kintone's UPDATE_RECORD finishes it.
    [envelope_id] = gmosign.envelopes
    kintone.update_record(CONTRACTS, rid, {"GMOサイン文書ID": {"value": envelope_id}})
    post_kintone(client, kintone, rid, event_type="UPDATE_RECORD")
    drain()

    assert values(kintone, rid)["ステータス"] == "署名依頼中"
    assert len(gmosign.envelopes) == 1
    assert len(kintone.comment_texts(CONTRACTS, rid)) == 2  # the stop notice once, then "sent"


def test_job_killed_between_the_send_and_the_write_back_finishes_without_sending_again(cctx, kintone, gmosign,
                                                                                       contract):
    rid = contract()
    kintone.fail_next("update_record", Killed())

    with pytest.raises(Killed):
        contract_issuance.run(cctx, "contracts", rid)
    assert values(kintone, rid)["GMOサイン文書ID"] == ""

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_for_signature"  # RQ's abandoned-job retry
    [envelope] = gmosign.envelopes.values()
    assert values(kintone, rid)["GMOサイン文書ID"] == envelope.envelope_id


def test_job_killed_between_the_write_back_and_the_action_only_runs_the_action(cctx, kintone, gmosign, contract):
    rid = contract()
    kintone.fail_next("update_status", Killed())

    with pytest.raises(Killed):
        contract_issuance.run(cctx, "contracts", rid)

    assert contract_issuance.run(cctx, "contracts", rid) == "sent_for_signature"
    assert len(gmosign.envelopes) == 1
    assert values(kintone, rid)["ステータス"] == "署名依頼中"
    assert kintone.calls[("update_record", CONTRACTS)] == 1


def test_job_killed_inside_the_send_waits_out_the_claim_then_finds_the_envelope(cctx, kintone, gmosign,
                                                                                 contract):
    rid = contract()
    gmosign.crash_after("send_from_template", Killed())

    with pytest.raises(Killed):
        contract_issuance.run(cctx, "contracts", rid)
    with pytest.raises(IssuanceInProgress):  # the claim is fresh: the sender might still be working
        contract_issuance.run(cctx, "contracts", rid)

    cctx.clock = lambda: NOW + timedelta(minutes=16)
    assert contract_issuance.run(cctx, "contracts", rid) == "sent_for_signature"
    assert gmosign.calls["send_from_template"] == 1 and len(gmosign.envelopes) == 1


def test_the_rerun_of_a_job_killed_inside_the_send_looks_for_the_envelope_at_once(cctx, kintone, gmosign, contract):
    rid = contract()
    cctx.job_id = "contract_issuance-contracts-1-r1"
    gmosign.crash_after("send_from_template", Killed())
    with pytest.raises(Killed):
        contract_issuance.run(cctx, "contracts", rid)

    # RQ reruns a job only after its run ended: the claim's sender is dead, no need to wait it out.
    assert contract_issuance.run(cctx, "contracts", rid) == "sent_for_signature"
    assert gmosign.calls["send_from_template"] == 1 and gmosign.calls["find_envelope"] == 1
    [envelope] = gmosign.envelopes.values()
    assert values(kintone, rid)["GMOサイン文書ID"] == envelope.envelope_id


def test_another_job_finding_a_fresh_send_claim_still_waits(cctx, kintone, gmosign, contract):
    rid = contract()
    cctx.job_id = "contract_issuance-contracts-1-r1"
    gmosign.crash_after("send_from_template", Killed())
    with pytest.raises(Killed):
        contract_issuance.run(cctx, "contracts", rid)

    cctx.job_id = "contract_issuance-contracts-1-r2"
    with pytest.raises(IssuanceInProgress):
        contract_issuance.run(cctx, "contracts", rid)
    assert gmosign.calls["find_envelope"] == 0 and gmosign.calls["send_from_template"] == 1


def test_operator_can_release_an_unclear_claim_but_never_one_that_names_an_envelope(cctx, kintone, gmosign,
                                                                                    contract):
    contracts = cctx.mappings["contracts"]
    unclear = contract()
    gmosign.fail_next("send_from_template", Killed())  # killed before anything reached GMO Sign
    with pytest.raises(Killed):
        contract_issuance.run(cctx, "contracts", unclear)
    sent = contract()
    contract_issuance.run(cctx, "contracts", sent)

    with pytest.raises(ValueError, match="was sent as envelope"):
        release_claim(cctx.ledger, contracts, sent)
    assert release_claim(cctx.ledger, contracts, unclear).state == "sending"
    assert contract_issuance.run(cctx, "contracts", unclear) == "sent_for_signature"
    assert len(gmosign.envelopes) == 2


def test_stopped_issuance_is_not_sent_even_after_the_claim_went_stale(cctx, kintone, contract):
    from connectors.gmosign.fake import FakeGmoSign

    cctx.gmosign = gmosign = FakeGmoSign(supports_lookup=False)
    rid = contract()
    gmosign.crash_after("send_from_template", Killed())
    with pytest.raises(Killed):
        contract_issuance.run(cctx, "contracts", rid)

    cctx.clock = lambda: NOW + timedelta(days=3)
    with pytest.raises(IssuanceNeedsOperator):
        contract_issuance.run(cctx, "contracts", rid)
    with pytest.raises(IssuanceNeedsOperator):
        contract_issuance.run(cctx, "contracts", rid)
    assert gmosign.calls["send_from_template"] == 1
    assert len(kintone.comment_texts(CONTRACTS, rid)) == 1


# -- 取消 in kintone -----------------------------------------------------------------------------


def test_cancelling_in_kintone_withdraws_the_envelope_where_gmo_sign_allows_it(cctx, kintone, gmosign, contract):
    rid = contract()
    contract_issuance.run(cctx, "contracts", rid)
    kintone.update_status(CONTRACTS, rid, "取消")

    assert contract_issuance.run(cctx, "contracts", rid) == "envelope_withdrawn"
    [envelope] = gmosign.envelopes.values()
    assert envelope.state is EnvelopeState.WITHDRAWN
    assert values(kintone, rid)["GMOサイン状態"] == "取り下げ"
    assert contract_issuance.run(cctx, "contracts", rid) == "nothing_to_do"


def test_cancelling_without_a_cancel_api_asks_marketing_to_withdraw_it_by_hand(cctx, kintone, contract):
    from connectors.gmosign.fake import FakeGmoSign

    cctx.gmosign = FakeGmoSign(supports_lookup=False)
    rid = contract()
    contract_issuance.run(cctx, "contracts", rid)
    kintone.update_status(CONTRACTS, rid, "取消")

    assert contract_issuance.run(cctx, "contracts", rid) == "told_to_withdraw"
    assert contract_issuance.run(cctx, "contracts", rid) == "told_to_withdraw"
    withdraw_notes = [t for t in kintone.comment_texts(CONTRACTS, rid) if "取り下げてください" in t]
    assert len(withdraw_notes) == 1


def test_basic_contract_for_a_client_without_trade_start_approval_is_never_sent(cctx, kintone, gmosign, contract):
    client = kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "与信状態": "承認"})
    rid = contract(契約種別="基本契約", 顧客レコード番号=client)

    assert contract_issuance.run(cctx, "contracts", rid) != "sent_for_signature"

    assert gmosign.envelopes == {}
    assert kintone.record_values(CONTRACTS, rid)["ステータス"] == "作成中"
    [text] = kintone.comment_texts(CONTRACTS, rid)
    assert "取引開始の稟議「06_2_【取引開始】株式会社サンプル物流契約書類締結申請書」がまだ承認されていません" in text
    assert "取引状態：未設定" in text
