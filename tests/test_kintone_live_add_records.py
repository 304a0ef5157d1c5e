"""LiveKintoneClient.add_records against the documented POST /k/v1/records.json shape."""

from __future__ import annotations

import pytest
import responses
from responses import matchers

from connectors.kintone.errors import KintoneUnavailable, KintoneValidationError
from connectors.kintone.live import LiveKintoneClient

BASE = "https://example.cybozu.com"
TOKEN = "AAAAtokenForApp7xxxxxxxxxxxxxxxxxxxxxxxx"


@pytest.fixture
def client():
    return LiveKintoneClient(BASE, {"7": [TOKEN]}, retry_budget=30.0, sleep=lambda _s: None)


@responses.activate
def test_add_records_sends_all_records_in_one_call_and_returns_their_ids(client):
    records = [{"フォロー名": {"value": "初日フォロー"}}, {"フォロー名": {"value": "1週目フォロー"}}]
    responses.post(f"{BASE}/k/v1/records.json", json={"ids": ["11", "12"], "revisions": ["1", "1"]},
                   match=[matchers.json_params_matcher({"app": "7", "records": records}),
                          matchers.header_matcher({"X-Cybozu-API-Token": TOKEN})])

    assert client.add_records("7", records) == ["11", "12"]


@responses.activate
def test_add_records_is_not_repeated_after_an_unclear_failure(client):
    responses.post(f"{BASE}/k/v1/records.json", body="<html>maintenance</html>", status=503,
                   content_type="text/html")

    with pytest.raises(KintoneUnavailable):
        client.add_records("7", [{"フォロー名": {"value": "初日フォロー"}}])
    assert len(responses.calls) == 1


def test_more_than_100_records_are_refused_before_any_call(client):
    with pytest.raises(KintoneValidationError):
        client.add_records("7", [{}] * 101)
