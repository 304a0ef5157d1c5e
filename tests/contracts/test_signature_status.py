"""Signature status: GMO Sign callbacks in, the contract record (status, PDF, 保管期限) and the
G-Staff archive out. Fake kintone, GMO Sign and G-Staff, real Redis, real RQ worker."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from connectors.gmosign import EnvelopeState
from connectors.gmosign.fake import FakeGmoSign, signed_pdf
from connectors.gstaff import GStaffTransientError
from flows import contract_issuance, signature_status
from flows.signature_status import ArchiveNeedsFix, ContractNotYetKnown, check_open_envelopes
from tests.contracts.conftest import CONTRACTS, NOW, Killed, post_gmosign

RETENTION = "2034-05-31"  # tax rule: FY ending 2027-03-31, filed by 2027-05-31, kept 7 years after


def values(kintone, record_id: str) -> dict:
    return kintone.record_values(CONTRACTS, record_id)


@pytest.fixture
def issued(cctx, contract, gmosign):
    """A contract sent through GMO Sign and now 署名依頼中; returns (record id, envelope id)."""

    def issue(**changes) -> tuple[str, str]:
        rid = contract(**changes)
        assert contract_issuance.run(cctx, "contracts", rid) == "sent_for_signature"
        envelope_id = values(cctx.kintone, rid)["GMOサイン文書ID"]
        return rid, envelope_id

    return issue


def completion(gmosign, envelope_id: str) -> dict:
    """GMO Sign's documented completion payload (no event field)."""
    body = gmosign.complete(envelope_id)

    return body


def test_completion_callback_ends_concluded_with_the_pdf_attached_archived_and_retention_written(
        client, kintone, gmosign, gstaff, issued, drain):
    rid, envelope_id = issued()

    response = post_gmosign(client, completion(gmosign, envelope_id))
    assert response.status_code == 200 and response.get_json()["jobs"] == 1
    drain()

    record = values(kintone, rid)
    assert record["ステータス"] == "締結済"
    assert record["GMOサイン状態"] == "締結完了"
    assert record["締結日"] == "2026-11-24"
    assert record["保管期限"] == RETENTION
    [attached] = record["締結済PDF"]
    assert kintone.files[attached["fileKey"]][1] == signed_pdf(envelope_id, f"{envelope_id}-D1")
    archive_id, archived = gstaff.archives[f"kintone:contracts:{rid}"]
    assert archived.client_id == "G-1001"
    assert archived.content == signed_pdf(envelope_id, f"{envelope_id}-D1")
    assert archived.retention_until == date(2034, 5, 31)
    assert archived.contract_kind == "個別契約"
    assert record["Gスタッフ保管ID"] == archive_id
    # 電子帳簿保存法: searchable by 取引年月日, 取引金額, 取引先 (no 契約金額 on this contract)
    assert (archived.transaction_date, archived.amount, archived.counterparty) == (
        date(2026, 11, 24), None, "株式会社サンプル物流")


def test_the_archive_carries_the_contract_amount_as_its_search_key(cctx, gmosign, gstaff, issued):
    from decimal import Decimal

    _rid, envelope_id = issued(契約金額="1200000")
    gmosign.complete(envelope_id)

    signature_status.run(cctx, "contracts", envelope_id=envelope_id)

    [(_archive_id, archived)] = gstaff.archives.values()
    assert (archived.transaction_date, archived.amount) == (date(2026, 11, 24), Decimal("1200000"))


def test_duplicate_completion_callbacks_have_one_effect(client, kintone, gmosign, gstaff, issued, drain):
    rid, envelope_id = issued()
    body = completion(gmosign, envelope_id)

    post_gmosign(client, body)
    assert post_gmosign(client, body).get_json()["duplicate"] is True
    drain()
    post_gmosign(client, dict(body, envelope_name="renamed"))  # after the job ran: same envelope and event
    drain()

    assert len(gstaff.archives) == 1 and gstaff.calls["archive_contract"] == 1
    assert kintone.calls[("upload_file", None)] == 1
    assert len(values(kintone, rid)["締結済PDF"]) == 1


def test_out_of_order_callbacks_never_move_a_concluded_contract_back(cctx, client, kintone, gmosign, issued, drain):
    rid, envelope_id = issued()
    done = completion(gmosign, envelope_id)
    post_gmosign(client, done)
    drain()
    # Late hints for earlier states arrive after the completion.
    for event in ("Sent", "Declined", "Withdrawn"):
        post_gmosign(client, dict(done, event=event))
    drain()

    assert values(kintone, rid)["ステータス"] == "締結済"
    assert signature_status.run(cctx, "contracts", envelope_id=envelope_id, event="Expired") == "already_concluded"


def test_a_final_status_is_kept_whatever_the_envelope_says_later(cctx, kintone, gmosign, issued):
    rid, envelope_id = issued()
    gmosign.move(envelope_id, EnvelopeState.SENT)
    gmosign.move(envelope_id, EnvelopeState.DECLINED)
    assert signature_status.run(cctx, "contracts", envelope_id=envelope_id, event="Declined") == "moved_to_sent_back"

    # A stale completion hint for the same envelope: the re-read says declined, and 差戻し is final anyway.
    assert signature_status.run(cctx, "contracts", envelope_id=envelope_id) == "already_final"
    assert values(kintone, rid)["ステータス"] == "差戻し"
    assert values(kintone, rid)["GMOサイン状態"] == "辞退"


def test_completion_of_a_contract_a_person_already_cancelled_keeps_the_status_and_tells_the_rep(
        cctx, kintone, gmosign, gstaff, issued):
    rid, envelope_id = issued()
    kintone.update_status(CONTRACTS, rid, "取消")
    gmosign.complete(envelope_id)

    assert signature_status.run(cctx, "contracts", envelope_id=envelope_id) == "kept_final_status"
    assert signature_status.run(cctx, "contracts", envelope_id=envelope_id) == "kept_final_status"

    assert values(kintone, rid)["ステータス"] == "取消"
    assert gstaff.archives == {}
    notes = [t for t in kintone.comment_texts(CONTRACTS, rid) if "締結が完了しました" in t]
    assert len(notes) == 1


@pytest.mark.parametrize(("state", "status", "label"), [
    (EnvelopeState.DECLINED, "差戻し", "辞退"),
    (EnvelopeState.EXPIRED, "期限切れ", "期限切れ"),
    (EnvelopeState.WITHDRAWN, "取消", "取り下げ"),
])
def test_other_final_envelope_states_move_the_contract_where_gmo_sign_can_be_asked(
        client, kintone, gmosign, issued, drain, state, status, label):
    rid, envelope_id = issued()
    gmosign.move(envelope_id, EnvelopeState.SENT)

    post_gmosign(client, gmosign.move(envelope_id, state))
    drain()

    assert values(kintone, rid)["ステータス"] == status
    assert values(kintone, rid)["GMOサイン状態"] == label
    assert values(kintone, rid)["締結済PDF"] == []


def test_an_approved_envelope_only_updates_the_gmo_sign_state(cctx, kintone, gmosign, issued):
    rid, envelope_id = issued()
    gmosign.move(envelope_id, EnvelopeState.SENT)

    assert signature_status.run(cctx, "contracts", envelope_id=envelope_id, event="Sent") == "state_noted"
    assert signature_status.run(cctx, "contracts", envelope_id=envelope_id, event="Sent") == "unchanged"
    assert values(kintone, rid)["GMOサイン状態"] == "署名待ち"
    assert values(kintone, rid)["ステータス"] == "署名依頼中"


def issued_record(kintone, envelope_id: str) -> str:
    return next(rid for rid, r in kintone.apps[CONTRACTS].records.items()
                if r["GMOサイン文書ID"]["value"] == envelope_id)


def test_a_completion_arriving_before_the_write_back_waits_for_it(cctx, kintone, gmosign, contract):
    rid = contract()
    kintone.fail_next("update_record", Killed())
    with pytest.raises(Killed):
        contract_issuance.run(cctx, "contracts", rid)
    [envelope_id] = gmosign.envelopes
    gmosign.complete(envelope_id)

    with pytest.raises(ContractNotYetKnown):
        signature_status.run(cctx, "contracts", envelope_id=envelope_id)

    contract_issuance.run(cctx, "contracts", rid)  # the issuance job's retry
    assert signature_status.run(cctx, "contracts", envelope_id=envelope_id) == "concluded"  # the callback's
    assert values(kintone, rid)["ステータス"] == "締結済"


def test_g_staff_down_still_tells_kintone_at_once_and_the_retry_archives(cctx, kintone, gmosign, gstaff, issued):
    rid, envelope_id = issued()
    gmosign.complete(envelope_id)
    gstaff.fail_next("archive_contract", GStaffTransientError("[503] maintenance", status=503))

    with pytest.raises(GStaffTransientError):
        signature_status.run(cctx, "contracts", envelope_id=envelope_id)
    record = values(kintone, rid)
    assert record["ステータス"] == "締結済" and record["保管期限"] == RETENTION
    assert record["Gスタッフ保管ID"] == ""

    assert signature_status.run(cctx, "contracts", envelope_id=envelope_id) == "concluded"
    assert values(kintone, rid)["Gスタッフ保管ID"] == gstaff.archives[f"kintone:contracts:{rid}"][0]
    assert kintone.calls[("upload_file", None)] == 1


def test_archive_takes_the_g_staff_id_from_the_client_record_when_the_contract_lacks_it(cctx, kintone, gmosign,
                                                                                       gstaff, issued):
    kintone.seed("1", {"会社名": "株式会社サンプル物流", "Gスタッフ顧客ID": "G-1002"})
    rid, envelope_id = issued(Gスタッフ顧客ID=None)
    gmosign.complete(envelope_id)

    signature_status.run(cctx, "contracts", envelope_id=envelope_id)

    assert gstaff.archives[f"kintone:contracts:{rid}"][1].client_id == "G-1002"


def test_client_unknown_to_g_staff_is_concluded_and_left_for_an_operator_with_a_comment(cctx, kintone, gmosign,
                                                                                       gstaff, issued):
    kintone.seed("1", {"会社名": "株式会社サンプル物流"})
    rid, envelope_id = issued()  # the dispatch-law check needed the id; someone cleared it since
    kintone.update_record(CONTRACTS, rid, {"Gスタッフ顧客ID": {"value": ""}})
    gmosign.complete(envelope_id)

    with pytest.raises(ArchiveNeedsFix):
        signature_status.run(cctx, "contracts", envelope_id=envelope_id)

    assert values(kintone, rid)["ステータス"] == "締結済"
    assert gstaff.archives == {}
    [note] = [t for t in kintone.comment_texts(CONTRACTS, rid) if "Gスタッフに保管できませんでした" in t]
    assert "「Gスタッフ顧客ID」が登録されていません" in note


def test_kintone_calls_for_a_completion_are_the_fewest_the_api_allows(cctx, kintone, gmosign, issued):
    _rid, envelope_id = issued()
    gmosign.complete(envelope_id)
    kintone.calls.clear()

    signature_status.run(cctx, "contracts", envelope_id=envelope_id)
    assert sum(kintone.calls.values()) == 4  # find, upload, write-back, 締結

    kintone.calls.clear()
    signature_status.run(cctx, "contracts", envelope_id=envelope_id)
    assert sum(kintone.calls.values()) == 1  # find


# -- the scheduled check of open envelopes ----------------------------------------------------------


def test_contracts_past_their_signing_deadline_are_flagged_to_the_rep_once(cctx, kintone, issued):
    cctx.gmosign = FakeGmoSign(supports_lookup=False)
    overdue, _ = issued()
    fresh, _ = issued()
    kintone.update_record(CONTRACTS, overdue, {"署名期限": {"value": "2026-11-20"}})

    assert check_open_envelopes(cctx) == "open=2 moved=0 overdue=1 failed=0"
    assert check_open_envelopes(cctx) == "open=2 moved=0 overdue=0 failed=0"

    [note] = [t for t in kintone.comment_texts(CONTRACTS, overdue) if "署名期限（2026年11月20日（金））を過ぎました" in t]
    assert "GMOサインの文書管理" in note
    assert not any("過ぎました" in t for t in kintone.comment_texts(CONTRACTS, fresh))


def test_nobody_is_flagged_on_a_weekend_or_holiday(cctx, kintone, issued):
    cctx.gmosign = FakeGmoSign(supports_lookup=False)
    rid, _ = issued()
    kintone.update_record(CONTRACTS, rid, {"署名期限": {"value": "2026-11-20"}})

    for day in ("2026-11-28T10:00:00+09:00", "2026-11-23T10:00:00+09:00"):  # Saturday; 勤労感謝の日
        cctx.clock = lambda d=day: datetime.fromisoformat(d)
        assert check_open_envelopes(cctx).endswith("overdue=0 failed=0")

    cctx.clock = lambda: datetime.fromisoformat("2026-11-30T10:00:00+09:00")  # Monday
    assert "overdue=1" in check_open_envelopes(cctx)


def test_the_check_applies_states_gmo_sign_did_not_announce_where_it_can_be_asked(cctx, kintone, gmosign, issued):
    expired, expired_id = issued()
    signed, signed_id = issued()
    waiting, _ = issued()
    gmosign.move(expired_id, EnvelopeState.SENT)
    gmosign.move(expired_id, EnvelopeState.EXPIRED)
    gmosign.complete(signed_id)
    cctx.clock = lambda: NOW + timedelta(days=1)

    assert check_open_envelopes(cctx) == "open=3 moved=2 overdue=0 failed=0"
    assert values(kintone, expired)["ステータス"] == "期限切れ"
    assert values(kintone, signed)["ステータス"] == "締結済"
    assert values(kintone, waiting)["ステータス"] == "署名依頼中"


def test_only_one_worker_runs_the_check_at_a_time(cctx, kintone, issued, redis_conn):
    cctx.gmosign = gmosign = FakeGmoSign(supports_lookup=True)
    issued()
    outcomes = []
    gmosign.during("get_envelope", lambda: outcomes.append(check_open_envelopes(cctx)))

    first = check_open_envelopes(cctx)

    assert outcomes == ["already_running"]
    assert first.startswith("open=1")
    assert check_open_envelopes(cctx).startswith("open=1")  # the lock was released


def test_a_failure_on_one_contract_does_not_stop_the_check(cctx, kintone, gmosign, issued):
    from connectors.gmosign import GmoSignTransientError

    issued()
    issued()
    gmosign.fail_next("get_envelope", GmoSignTransientError("[503] busy", status=503))

    assert check_open_envelopes(cctx) == "open=2 moved=0 overdue=0 failed=1"
