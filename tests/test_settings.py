"""Settings are validated at start with a message naming each bad value; secrets never print."""

from __future__ import annotations

import pytest

from kgbridge.settings import SettingsError, load_settings


def test_live_mode_without_kintone_settings_names_what_is_missing():
    with pytest.raises(SettingsError) as err:
        load_settings(connector_mode="live")
    assert "KGBRIDGE_KINTONE_BASE_URL" in str(err.value)
    assert "KGBRIDGE_KINTONE_API_TOKENS" in str(err.value)


def test_each_bad_value_is_named(monkeypatch):
    monkeypatch.setenv("KGBRIDGE_CONNECTOR_MODE", "sometimes")
    monkeypatch.setenv("KGBRIDGE_WEBHOOK_TOKEN", "short")
    monkeypatch.setenv("KGBRIDGE_RETRY_INTERVALS", "10,-5")
    with pytest.raises(SettingsError) as err:
        load_settings()
    text = str(err.value)
    assert "KGBRIDGE_CONNECTOR_MODE" in text
    assert "KGBRIDGE_WEBHOOK_TOKEN" in text
    assert "KGBRIDGE_RETRY_INTERVALS" in text
    assert "short" not in text  # the input is never echoed: it may be a secret


def test_secrets_do_not_appear_in_repr_or_dump(monkeypatch, live_env):
    monkeypatch.setenv("KGBRIDGE_KINTONE_API_TOKENS", '{"orders": "tok-orders-123", "clients": ["a-tok-1", "tok-orders-123"]}')
    monkeypatch.setenv("KGBRIDGE_WEBHOOK_TOKEN", "hook-secret-0123456789")
    monkeypatch.setenv("KGBRIDGE_GSTAFF_API_KEY", "gstaff-key-987654")
    settings = load_settings(connector_mode="live", kintone_base_url="https://example.cybozu.com",
                             gstaff_base_url="https://gstaff.example.jp")
    shown = repr(settings) + str(settings.model_dump()) + settings.model_dump_json()
    for secret in ("tok-orders-123", "a-tok-1", "hook-secret-0123456789", "gstaff-key-987654"):
        assert secret not in shown
    assert settings.tokens_for("clients") == ["a-tok-1", "tok-orders-123"]
    assert settings.webhook_tokens() == ["hook-secret-0123456789"]


def test_retry_intervals_read_as_comma_list_or_json(monkeypatch):
    monkeypatch.setenv("KGBRIDGE_RETRY_INTERVALS", "10, 60,300")
    assert load_settings(connector_mode="fake").retry_intervals == [10, 60, 300]
    monkeypatch.setenv("KGBRIDGE_RETRY_INTERVALS", "[5, 15]")
    assert load_settings(connector_mode="fake").retry_intervals == [5, 15]


def test_a_json_variable_that_is_not_json_is_reported_by_name(monkeypatch):
    monkeypatch.setenv("KGBRIDGE_KINTONE_API_TOKENS", "orders=abc")
    with pytest.raises(SettingsError, match="kintone_api_tokens") as err:
        load_settings(connector_mode="fake")
    assert "abc" not in str(err.value)


# -- API tokens: one per app in a header (kintone GAIA_DA03) -------------------------------------

def test_two_tokens_of_one_app_in_one_header_are_refused_without_echoing_them(monkeypatch, live_env):
    monkeypatch.setenv("KGBRIDGE_KINTONE_API_TOKENS",
                       '{"orders": ["tok-orders-new-1", "tok-orders-old-2"], "clients": "tok-clients-3"}')

    with pytest.raises(SettingsError) as err:
        load_settings(connector_mode="live", kintone_base_url="https://example.cybozu.com",
                      gstaff_base_url="https://gstaff.example.jp")

    text = str(err.value)
    assert "KGBRIDGE_KINTONE_API_TOKENS" in text and "'orders': token no. 2" in text and "GAIA_DA03" in text
    assert "tok-orders" not in text


def test_an_apps_lookup_tokens_are_other_apps_own_tokens(monkeypatch):
    monkeypatch.setenv("KGBRIDGE_KINTONE_API_TOKENS",
                       '{"orders": ["tok-orders-1", "tok-clients-2"], "clients": "tok-clients-2"}')

    settings = load_settings(connector_mode="fake")

    assert settings.tokens_for("orders") == ["tok-orders-1", "tok-clients-2"]
