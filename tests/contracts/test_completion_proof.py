"""Completion only on proof (issue 15): with GMO Sign's published API (no status query), a callback
is a trigger and the downloaded documents decide. Webhook in, contract record and archive out; real
signed PDFs (pyHanko, a throwaway certificate), fake kintone / GMO Sign / G-Staff, real RQ worker."""

from __future__ import annotations

import json

import pytest

from connectors.gmosign.fake import FakeGmoSign
from flows import contract_issuance, signature_status
from flows.contract_issuance import Claim, claim_key
from flows.signature_proof import prove_signed
from flows.signature_status import check_open_envelopes
from tests.contracts.conftest import CONTRACTS, post_gmosign
from tests.signed_pdfs import PdfSigner, blank_pdf

UNPROVEN = "署名者全員分の有効な電子署名を確認できません"


@pytest.fixture
def signer() -> PdfSigner:
    return PdfSigner.throwaway("GMO Sign test signer")


@pytest.fixture
def gmosign(signer) -> FakeGmoSign:
    """GMO Sign as published: no status query; completed documents carry real signatures."""
    return FakeGmoSign(supports_lookup=False, sign_documents=signer.for_fake())


@pytest.fixture
def issued(cctx, contract, kintone):
    def issue(**changes) -> tuple[str, str]:
        rid = contract(**changes)
        assert contract_issuance.run(cctx, "contracts", rid) == "sent_for_signature"
        return rid, kintone.record_values(CONTRACTS, rid)["GMOサイン文書ID"]

    return issue


def values(kintone, rid):
    return kintone.record_values(CONTRACTS, rid)


def unproven_notes(kintone, rid):
    return [t for t in kintone.comment_texts(CONTRACTS, rid) if "締結完了の通知を受け取りましたが" in t]


def test_a_completed_envelope_whose_pdf_proves_every_signature_is_concluded(client, kintone, gmosign, gstaff,
                                                                            issued, drain):
    rid, envelope_id = issued()
    body = gmosign.complete(envelope_id)

    assert post_gmosign(client, body).get_json()["jobs"] == 1
    drain()

    record = values(kintone, rid)
    assert record["ステータス"] == "締結済" and record["GMOサイン状態"] == "締結完了"
    [attached] = record["締結済PDF"]
    pdf = kintone.files[attached["fileKey"]][1]
    assert prove_signed(pdf, 1).proven
    assert gstaff.archives[f"kintone:contracts:{rid}"][1].content == pdf


def test_a_callback_before_the_signing_concludes_nothing_and_tells_marketing_once(client, kintone, gmosign, gstaff,
                                                                                 issued, drain):
    rid, envelope_id = issued()
    forged = gmosign.callback_body(envelope_id)  # what a forger (or an early callback) sends: no event at all

    post_gmosign(client, forged)
    drain()
    post_gmosign(client, dict(forged, event="Completed"))  # the same slot: coalesced
    assert signature_status.run(cctx_of(gmosign, kintone), "contracts", envelope_id=envelope_id, event="Completed") \
        == "kept_open_unproven"

    record = values(kintone, rid)
    assert record["ステータス"] == "署名依頼中" and record["締結済PDF"] == []
    assert gstaff.archives == {}
    [note] = unproven_notes(kintone, rid)
    assert UNPROVEN in note and f"GMOサイン文書ID：{envelope_id}" in note and "システム運用担当者" in note


def cctx_of(gmosign, kintone):
    from kgbridge.bootstrap import current_context

    context = current_context()
    assert context.gmosign is gmosign and context.kintone is kintone
    return context


def test_the_attack_callback_for_envelope_a_naming_envelope_bs_document_concludes_nothing(
        client, kintone, gmosign, gstaff, issued, drain):
    a, envelope_a = issued()
    b, envelope_b = issued()
    gmosign.complete(envelope_b)  # B is really signed; A is not
    forged = {"envelope_xid": envelope_a, "envelope_name": "労働者派遣個別契約書",
              "document_list": [{"documentId": f"{envelope_b}-D1", "document_name": "契約書"}]}

    post_gmosign(client, forged)
    drain()

    assert values(kintone, a)["ステータス"] == "署名依頼中" and values(kintone, a)["締結済PDF"] == []
    assert values(kintone, b)["ステータス"] == "署名依頼中"  # B waits for its own callback
    assert gstaff.archives == {}
    assert gmosign.calls["download_document"] == 1  # A's own document only, never B's
    assert len(unproven_notes(kintone, a)) == 1


def test_the_attack_where_marketing_entered_the_envelope_id_by_hand(cctx, client, kintone, gmosign, gstaff,
                                                                    issued, drain, redis_conn):
    a, envelope_a = issued()
    _b, envelope_b = issued()
    gmosign.complete(envelope_a)
    gmosign.complete(envelope_b)
    # A's id was entered by hand after an unclear send: no document ids were stored for it.
    kintone.update_record(CONTRACTS, a, {"GMOサイン書類番号": {"value": ""}})
    cctx.ledger.mark(claim_key(cctx.mappings["contracts"], a), 3600,
                     Claim("sent", "2026-11-24T10:00:00+09:00", envelope_a, [], signers=1).dumps())

    post_gmosign(client, {"envelope_xid": envelope_a,
                          "document_list": [{"documentId": f"{envelope_b}-D1", "document_name": "契約書"}]})
    drain()

    assert values(kintone, a)["ステータス"] == "署名依頼中" and values(kintone, a)["締結済PDF"] == []
    assert gmosign.calls["download_document"] == 0
    [note] = unproven_notes(kintone, a)
    assert "書類番号が記録されていない" in note


def test_an_appended_or_altered_pdf_proves_nothing(cctx, kintone, gmosign, issued, signer):
    rid, envelope_id = issued()
    gmosign.complete(envelope_id)
    [document] = gmosign.envelopes[envelope_id].documents
    gmosign.envelopes[envelope_id].documents[document] += b"\n% a line added after signing\n"

    assert signature_status.run(cctx, "contracts", envelope_id=envelope_id) == "kept_open_unproven"
    assert values(kintone, rid)["ステータス"] == "署名依頼中"


def test_fewer_signatures_than_the_envelope_had_signers_proves_nothing(cctx, kintone, contract, signer):
    cctx.gmosign = gmosign = FakeGmoSign(supports_lookup=False, sign_documents=signer.for_fake(times=1))
    rid = contract()
    contract_issuance.run(cctx, "contracts", rid)
    envelope_id = values(kintone, rid)["GMOサイン文書ID"]
    key = claim_key(cctx.mappings["contracts"], rid)
    claim = Claim.loads(cctx.ledger.get(key))
    cctx.ledger.mark(key, 3600, json.dumps(dict(json.loads(claim.dumps()), signers=2)))  # two signers
    gmosign.complete(envelope_id)

    assert signature_status.run(cctx, "contracts", envelope_id=envelope_id) == "kept_open_unproven"
    assert values(kintone, rid)["ステータス"] == "署名依頼中"


def test_with_a_trust_root_configured_a_signature_by_another_certificate_proves_nothing(cctx, kintone, gmosign,
                                                                                       issued, signer):
    rid, envelope_id = issued()
    gmosign.complete(envelope_id)
    cctx.signature_trust_roots = (PdfSigner.throwaway("someone else").certificate,)
    assert signature_status.run(cctx, "contracts", envelope_id=envelope_id) == "kept_open_unproven"

    cctx.signature_trust_roots = (signer.certificate,)
    assert signature_status.run(cctx, "contracts", envelope_id=envelope_id) == "concluded"
    assert values(kintone, rid)["ステータス"] == "締結済"


def test_the_scheduled_check_looks_again_at_a_contract_whose_callback_came_too_early(cctx, kintone, gmosign, issued):
    rid, envelope_id = issued()
    untouched, _ = issued()
    assert signature_status.run(cctx, "contracts", envelope_id=envelope_id) == "kept_open_unproven"
    gmosign.complete(envelope_id)  # the timestamp was still pending; now the document is signed

    assert check_open_envelopes(cctx) == "open=2 moved=1 overdue=0 failed=0"
    assert values(kintone, rid)["ステータス"] == "締結済"
    assert values(kintone, untouched)["ステータス"] == "署名依頼中"
    assert gmosign.calls["download_document"] == 2  # once at the callback, once by the check; none for the other


def test_prove_signed_rules():
    signer = PdfSigner.throwaway()
    two = signer.sign(blank_pdf("x"), times=2)
    assert prove_signed(two, 2).proven
    assert prove_signed(two, 2, [signer.certificate]).proven
    assert not prove_signed(two, 3).proven
    assert not prove_signed(two, 0).proven  # signer count unknown
    assert not prove_signed(blank_pdf("x"), 1).proven
    assert not prove_signed(b"%PDF-1.4\n% signed ENV1 ENV1-D1\n%%EOF\n", 1).proven
    altered = two.replace(b"/MediaBox [ 0 0 595 842 ]", b"/MediaBox [ 0 0 595 843 ]")
    assert altered != two and not prove_signed(altered, 2).proven


def test_an_operator_confirms_an_unproven_contract_by_hand_and_the_reason_is_logged_without_personal_data(
        cli, cctx, kintone, contract, gstaff):
    cctx.gmosign = gmosign = FakeGmoSign(supports_lookup=False)  # documents carry no signature at all
    rid = contract()
    contract_issuance.run(cctx, "contracts", rid)
    envelope_id = values(kintone, rid)["GMOサイン文書ID"]
    gmosign.complete(envelope_id)
    assert signature_status.run(cctx, "contracts", envelope_id=envelope_id) == "kept_open_unproven"

    refused = cli("contracts", "confirm-signed", rid, "--reason", "x", "--document", "OTHER-D1", "--yes")
    assert refused.exit_code == 1 and "stored at send time" in refused.output
    result = cli("contracts", "confirm-signed", rid, "--yes", "--reason", "GMOサイン画面で締結済を確認")

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "concluded"
    assert values(kintone, rid)["ステータス"] == "締結済"
    assert f"kintone:contracts:{rid}" in gstaff.archives
    assert any("システム運用担当者がGMOサインで締結完了を確認" in t for t in kintone.comment_texts(CONTRACTS, rid))


def test_the_confirmation_reason_is_logged_without_addresses_or_phone_numbers(cctx, kintone, issued, gmosign):
    from structlog.testing import capture_logs

    rid, _envelope_id = issued()
    with capture_logs() as logs:
        assert signature_status.confirm_signed(
            cctx, "contracts", rid, "画面で確認済 (yamada@example.co.jp に電話 090-1234-5678)") == "concluded"

    [line] = [e for e in logs if e["event"] == "contract confirmed signed by an operator"]
    assert line["reason"] == "画面で確認済 ([email] に電話 [phone])"


def test_confirm_signed_refuses_a_contract_not_awaiting_signature(cli, cctx, contract):
    rid = contract()  # 発報処理中: never sent
    result = cli("contracts", "confirm-signed", rid, "--reason", "checked", "--yes")
    assert result.exit_code == 1 and "no GMO Sign envelope id" in result.output
