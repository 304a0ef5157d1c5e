"""A contract's run history (``kgbridge jobs list --app contracts --record N``): the send and the GMO Sign
callback, which names only its envelope, both land in the contract's own history."""

from __future__ import annotations

import json

from tests.contracts.conftest import CONTRACTS, post_gmosign, post_kintone


def test_the_send_and_the_completion_callback_are_in_the_contracts_history(cli, client, kintone, gmosign, contract,
                                                                          drain):
    rid = contract()
    assert post_kintone(client, kintone, rid).status_code == 200
    drain()
    envelope_id = kintone.record_values(CONTRACTS, rid)["GMOサイン文書ID"]
    assert post_gmosign(client, gmosign.complete(envelope_id)).status_code == 200  # the documented payload
    drain()

    runs = json.loads(cli("jobs", "list", "--app", "contracts", "--record", rid, "--json").stdout)["runs"]

    assert [(r["flow"], r["state"]) for r in runs] == [("signature_status", "finished"),
                                                      ("contract_issuance", "finished")]
    completed, sent = runs
    assert sent["outcome"] == "sent_for_signature" and sent["detail"] == [f"sent envelope {envelope_id}"]
    assert completed["source"] == "webhook" and completed["detail"][0] == f"callback for envelope {envelope_id}"
