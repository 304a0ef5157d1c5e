"""GMO Sign settings: required in live mode, secrets masked, the right connector built."""

from __future__ import annotations

import pytest

from connectors.gmosign.fake import FakeGmoSign
from connectors.gmosign.live import LiveGmoSignClient
from kgbridge.bootstrap import build_gmosign
from kgbridge.settings import SettingsError, load_settings

LIVE_KINTONE = {"connector_mode": "live", "kintone_base_url": "https://example.cybozu.com",
                "kintone_api_tokens": {"contracts": "t"}}
LIVE_GMOSIGN = {"gmosign_base_url": "https://api.gmosign.com", "gmosign_customer_id": "C0001234",
                "gmosign_secret_key": "secret-key-value", "gmosign_webhook_token": "gmosign-token-0123456789"}


def test_live_mode_names_every_missing_gmo_sign_setting():
    with pytest.raises(SettingsError) as caught:
        load_settings(**LIVE_KINTONE)
    for name in ("BASE_URL", "CUSTOMER_ID", "SECRET_KEY", "WEBHOOK_TOKEN"):
        assert f"KGBRIDGE_GMOSIGN_{name} is required in live mode" in str(caught.value)


def test_a_short_gmo_sign_webhook_token_or_unknown_auth_is_refused():
    with pytest.raises(SettingsError, match="GMOSIGN_WEBHOOK_TOKEN"):
        load_settings(**LIVE_KINTONE, **{**LIVE_GMOSIGN, "gmosign_webhook_token": "short"})
    with pytest.raises(SettingsError, match="GMOSIGN_AUTH"):
        load_settings(**LIVE_KINTONE, **LIVE_GMOSIGN, gmosign_auth="oauth")


def test_live_settings_build_the_live_client_and_keep_secrets_out_of_reprs(monkeypatch, live_env):
    for key, value in LIVE_GMOSIGN.items():
        monkeypatch.setenv(f"KGBRIDGE_{key.upper()}", value)
    settings = load_settings(**LIVE_KINTONE)

    assert "secret-key-value" not in repr(settings) and "gmosign-token-0123456789" not in repr(settings)
    client = build_gmosign(settings)
    assert isinstance(client, LiveGmoSignClient)
    assert "secret-key-value" not in repr(client)
    assert settings.gmosign_webhook_tokens() == ["gmosign-token-0123456789"]


def test_fake_mode_builds_the_fake(settings):
    assert isinstance(build_gmosign(settings), FakeGmoSign)
