"""No personal data in any log line, from 発報 through a timeout to the signed contract."""

from __future__ import annotations

import logging

from structlog.testing import capture_logs

from connectors.gmosign import GmoSignDataError
from tests.contracts.conftest import COMPLETE_CONTRACT, post_gmosign, post_kintone

PERSONAL = ("山田", "yamada@", "佐藤", "sato@", "鈴木", "高橋", "田中", "東京物流センター", "時給")


def test_no_log_line_carries_names_addresses_or_contract_terms(client, kintone, gmosign, contract, drain, caplog):
    caplog.set_level(logging.DEBUG)
    refused = contract()
    timed_out = contract()
    gmosign.fail_next("send_from_template",
                      GmoSignDataError(f"署名者 {COMPLETE_CONTRACT['署名者氏名']} のメールが不正です", status=400))
    with capture_logs() as entries:
        post_kintone(client, kintone, refused)
        drain()
        gmosign.lose_answer_of("send_from_template")
        post_kintone(client, kintone, timed_out)
        drain()
        envelope_id = kintone.record_values("5", timed_out)["GMOサイン文書ID"]
        body = gmosign.complete(envelope_id)
        post_gmosign(client, body)
        drain()

    assert kintone.record_values("5", timed_out)["ステータス"] == "締結済"
    assert len(entries) > 5
    lines = [repr(entry) for entry in entries] + [r.getMessage() for r in caplog.records]
    leaks = [(word, line) for line in lines for word in PERSONAL if word in line]
    assert leaks == []
