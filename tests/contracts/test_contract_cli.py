"""The operator commands for contracts: release an unclear claim, run the open-envelope check,
replay a saved GMO Sign callback."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cli import main
from flows import contract_issuance
from flows.contract_issuance import Claim, claim_key
from kgbridge.ledger import Ledger
from tests.contracts.conftest import CONTRACTS


@pytest.fixture
def env(redis_url, monkeypatch):
    import structlog

    monkeypatch.setenv("KGBRIDGE_CONNECTOR_MODE", "fake")
    monkeypatch.setenv("KGBRIDGE_REDIS_URL", redis_url)
    yield
    structlog.reset_defaults()  # check-open configures logging onto the runner's stderr


def test_release_claim_frees_an_unclear_send_after_confirmation(env, redis_conn, mappings):
    ledger = Ledger(redis_conn)
    key = claim_key(mappings["contracts"], "12")
    ledger.mark(key, 3600, Claim("unclear", "2026-11-24T10:00:00+09:00").dumps())

    refused = CliRunner().invoke(main, ["contracts", "release-claim", "12"], input="n\n")
    assert refused.exit_code == 1 and ledger.get(key) is not None

    result = CliRunner().invoke(main, ["contracts", "release-claim", "12", "--yes"])
    assert result.exit_code == 0, result.output
    assert "released the claim taken 2026-11-24T10:00:00+09:00 (unclear)" in result.output
    assert ledger.get(key) is None


def test_release_claim_refuses_for_a_contract_that_was_sent(env, redis_conn, mappings):
    ledger = Ledger(redis_conn)
    key = claim_key(mappings["contracts"], "12")
    ledger.mark(key, 3600, Claim("sent", "2026-11-24T10:00:00+09:00", "ENV000001").dumps())

    result = CliRunner().invoke(main, ["contracts", "release-claim", "12", "--yes"])

    assert result.exit_code == 1 and "was sent as envelope ENV000001" in result.output
    assert ledger.get(key) is not None


def test_check_open_runs_once_and_prints_its_counts(env, redis_conn):
    result = CliRunner().invoke(main, ["contracts", "check-open"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "open=0 moved=0 overdue=0 failed=0"


def test_a_saved_gmo_sign_callback_is_replayed_through_the_receivers_checks(cli, cctx, contract, gmosign, kintone,
                                                                           drain, tmp_path):
    rid = contract()
    assert contract_issuance.run(cctx, "contracts", rid) == "sent_for_signature"
    envelope_id = kintone.record_values(CONTRACTS, rid)["GMOサイン文書ID"]
    body = gmosign.complete(envelope_id)

    saved = tmp_path / "gmosign-callback.json"
    saved.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")

    result = cli("events", "replay", str(saved), "--json")
    drain()
    again = cli("events", "replay", str(saved), "--json")

    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)["results"]
    assert (row["kind"], row["outcome"]) == ("gmosign", "enqueued")
    [job_id] = row["jobs"]
    assert job_id.startswith(f"signature_status-contracts--{envelope_id}-s")
    assert kintone.record_values(CONTRACTS, rid)["ステータス"] == "締結済"
    [repeat] = json.loads(again.stdout)["results"]
    assert (repeat["outcome"], repeat["jobs"]) == ("duplicate", [])
