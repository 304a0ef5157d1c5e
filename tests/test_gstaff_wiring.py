"""G-Staff settings and wiring: live mode needs the service's URL and key; the fake answers
like the live client."""

from __future__ import annotations

import pytest
import responses

from connectors.gstaff.fake import FakeGStaff
from connectors.gstaff.live import LiveGStaffClient
from kgbridge.bootstrap import build_gstaff
from kgbridge.settings import SettingsError, load_settings

KINTONE = {"kintone_base_url": "https://example.cybozu.com", "kintone_api_tokens": {"orders": "t0ken"}}
KEY = "gsk_live_0123456789abcdefSECRET"
BASE = "https://gstaff-bridge.example.internal/api/v1"


def test_live_mode_without_gstaff_names_both_missing_settings():
    with pytest.raises(SettingsError) as caught:
        load_settings(connector_mode="live", **KINTONE)

    assert "KGBRIDGE_GSTAFF_BASE_URL is required in live mode" in str(caught.value)
    assert "KGBRIDGE_GSTAFF_API_KEY is required in live mode" in str(caught.value)


def test_live_mode_builds_the_live_client_from_the_environment(monkeypatch, live_env):
    monkeypatch.setenv("KGBRIDGE_GSTAFF_BASE_URL", BASE)
    monkeypatch.setenv("KGBRIDGE_GSTAFF_API_KEY", KEY)
    monkeypatch.setenv("KGBRIDGE_GSTAFF_TIMEOUT_SECONDS", "7")
    settings = load_settings(connector_mode="live", **KINTONE)

    gstaff = build_gstaff(settings)

    assert isinstance(gstaff, LiveGStaffClient)
    assert KEY not in repr(settings) + str(settings) + repr(gstaff)
    assert settings.gstaff_timeout_seconds == 7.0


def test_a_base_url_without_a_scheme_is_refused_at_start(monkeypatch):
    monkeypatch.setenv("KGBRIDGE_GSTAFF_API_KEY", KEY)
    with pytest.raises(SettingsError, match="KGBRIDGE_GSTAFF_BASE_URL must start with https://"):
        load_settings(connector_mode="live", gstaff_base_url="gstaff.example.internal", **KINTONE)


def test_fake_mode_needs_no_gstaff_settings_and_has_sample_clients():
    gstaff = build_gstaff(load_settings(connector_mode="fake"))

    assert isinstance(gstaff, FakeGStaff)
    assert gstaff.find_clients(corporate_number="9234567890123")[0].client_id == "G-1001"


@pytest.mark.parametrize(
    "query",
    [
        {"corporate_number": "9234567890123"},
        {"corporate_number": "9234567890123", "name": "株式会社テスト商事"},
        {"name": "㈱テスト商事", "phone": "045-000-0000"},
        {"name": "テスト商事株式会社", "phone": "03-1111-1111"},
        {"name": "みどり運輸"},
        {"name": "株式会社みどり運輸", "phone": "092-000-0000"},
        {"name": "株式会社どこにもない"},
        {"phone": "03-0000-0000"},
    ],
)
def test_the_fake_finds_what_the_live_client_finds_over_the_same_clients(query):
    fake = FakeGStaff.with_samples()
    everyone = [{"client_id": c.client_id, "name": c.name, "corporate_number": c.corporate_number,
                 "phone": c.phone, "address": c.address, "reference": c.reference or None}
                for c in fake.clients.values()]
    live = LiveGStaffClient(BASE, KEY, sleep=lambda _s: None)
    with responses.RequestsMock() as service:
        # The service may answer a superset of candidates; our matching narrows them.
        service.get(f"{BASE}/clients", json={"clients": everyone, "truncated": False})
        from_live = live.find_clients(**query)

    assert fake.find_clients(**query) == from_live
