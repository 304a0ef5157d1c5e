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
    for name in ("CUSTOMER_ID", "SECRET_KEY", "WEBHOOK_TOKEN"):
        assert f"KGBRIDGE_GMOSIGN_{name} is required in live mode" in str(caught.value)


def test_the_default_mode_is_the_documented_gateway_with_basic_auth(live_env, monkeypatch):
    monkeypatch.delenv("KGBRIDGE_GMOSIGN_BASE_URL")
    settings = load_settings(**LIVE_KINTONE)
    assert settings.gmosign_mode == "gateway"
    assert settings.gmosign_url() == "https://api.gmo-exapi.net/gmosign"
    client = build_gmosign(settings)
    assert repr(client) == "LiveGmoSignClient(base_url='https://api.gmo-exapi.net/gmosign', auth='basic')"


def test_the_native_mode_must_be_chosen_and_given_its_address(live_env, monkeypatch):
    monkeypatch.delenv("KGBRIDGE_GMOSIGN_BASE_URL")
    with pytest.raises(SettingsError, match="KGBRIDGE_GMOSIGN_BASE_URL is required in live mode with"):
        load_settings(**LIVE_KINTONE, gmosign_mode="native")
    monkeypatch.setenv("KGBRIDGE_GMOSIGN_BASE_URL", "https://api.gmosign.com")
    with pytest.raises(SettingsError, match="set KGBRIDGE_GMOSIGN_MODE=native"):
        load_settings(**LIVE_KINTONE)  # the native host, but the gateway's Basic auth
    native = load_settings(**LIVE_KINTONE, gmosign_mode="native")
    assert repr(build_gmosign(native)) == "LiveGmoSignClient(base_url='https://api.gmosign.com', auth='token')"


def test_a_short_gmo_sign_webhook_token_or_unknown_mode_is_refused():
    with pytest.raises(SettingsError, match="GMOSIGN_WEBHOOK_TOKEN"):
        load_settings(**LIVE_KINTONE, **{**LIVE_GMOSIGN, "gmosign_webhook_token": "short"})
    with pytest.raises(SettingsError, match="GMOSIGN_MODE"):
        load_settings(**LIVE_KINTONE, **LIVE_GMOSIGN, gmosign_mode="oauth")


def test_live_settings_build_the_live_client_and_keep_secrets_out_of_reprs(monkeypatch, live_env):
    for key, value in LIVE_GMOSIGN.items():
        monkeypatch.setenv(f"KGBRIDGE_{key.upper()}", value)
    settings = load_settings(**LIVE_KINTONE, gmosign_mode="native")

    assert "secret-key-value" not in repr(settings) and "gmosign-token-0123456789" not in repr(settings)
    client = build_gmosign(settings)
    assert isinstance(client, LiveGmoSignClient)
    assert "secret-key-value" not in repr(client)
    assert settings.gmosign_webhook_tokens() == ["gmosign-token-0123456789"]


def test_fake_mode_builds_the_fake(settings):
    assert isinstance(build_gmosign(settings), FakeGmoSign)


def test_gmosign_connect_registers_the_callback_without_printing_the_token(cli, ops_env, monkeypatch):
    from pydantic import SecretStr

    from connectors.gmosign.fake import FakeGmoSign

    fake = FakeGmoSign()
    monkeypatch.setattr("kgbridge.bootstrap.build_gmosign", lambda _settings: fake)
    result = cli("gmosign", "connect", "--url", "https://kgbridge.example.co.jp/")
    assert result.exit_code == 1 and "KGBRIDGE_GMOSIGN_WEBHOOK_TOKEN is not set" in result.output

    ops_env.settings_ = ops_env.settings.model_copy(
        update={"gmosign_webhook_token": SecretStr("gmosign-token-0123456789")})
    assert cli("gmosign", "connect", "--url", "http://kgbridge.example.co.jp").exit_code == 1  # not HTTPS
    result = cli("gmosign", "connect", "--url", "https://kgbridge.example.co.jp/")

    assert result.exit_code == 0, result.output
    [hook] = fake.hooks.values()
    assert hook.url == "https://kgbridge.example.co.jp/webhooks/gmosign/gmosign-token-0123456789"
    assert hook.events == "Completed"
    assert "gmosign-token-0123456789" not in result.output
    assert f"connection id {hook.connect_id}" in result.output
    assert cli("gmosign", "disconnect", hook.connect_id).exit_code == 0 and fake.hooks == {}


def test_gmosign_connect_refuses_in_native_mode(cli, ops_env):
    ops_env.settings_ = ops_env.settings.model_copy(update={"gmosign_mode": "native"})
    result = cli("gmosign", "connect", "--url", "https://kgbridge.example.co.jp")
    assert result.exit_code == 1 and "documents callback registration for the gateway only" in result.output
