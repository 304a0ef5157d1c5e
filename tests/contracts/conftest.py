"""Fixtures for the contract flows: fake GMO Sign and G-Staff on the shared context, a complete
individual contract, and helpers to post kintone and GMO Sign webhooks."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from connectors.gmosign.fake import FakeGmoSign
from connectors.gstaff.fake import FakeGStaff
from kgbridge.samples import COMPLETE_CONTRACT, notification
from tests.conftest import WEBHOOK_TOKEN

__all__ = ["COMPLETE_CONTRACT"]  # the contract tests import it from here

CONTRACTS, CLIENTS = "5", "1"
GMOSIGN_TOKEN = "test-gmosign-token-0123456789"
NOW = datetime.fromisoformat("2026-11-24T10:00:00+09:00")  # a Tuesday



class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no except clause of ours catches it."""


@pytest.fixture
def gmosign() -> FakeGmoSign:
    return FakeGmoSign()


@pytest.fixture
def gstaff() -> FakeGStaff:
    return FakeGStaff.with_samples()


@pytest.fixture
def cctx(ctx, gmosign, gstaff):
    """The shared flow context with GMO Sign and G-Staff fakes and a frozen clock."""
    ctx.gmosign = gmosign
    ctx.gstaff = gstaff
    ctx.clock = lambda: NOW
    return ctx


@pytest.fixture
def contract(kintone):
    """Seed a contract in 発報処理中 (marketing just ran 発報); None removes a field."""

    def make(status: str = "発報処理中", **changes) -> str:
        values = dict(COMPLETE_CONTRACT)
        for key, value in changes.items():
            if value is None:
                values.pop(key, None)
            else:
                values[key] = value
        return kintone.seed(CONTRACTS, values, status=status)

    return make


@pytest.fixture
def app(settings, redis_conn, cctx):
    from webhooks import create_app

    return create_app(settings.model_copy(update={"gmosign_webhook_token": _secret(GMOSIGN_TOKEN)}),
                      connection=redis_conn)


@pytest.fixture
def client(app):
    return app.test_client()


def _secret(value: str):
    from pydantic import SecretStr

    return SecretStr(value)


def post_kintone(client, kintone, record_id: str, event_type: str = "UPDATE_STATUS", **overrides):
    body = notification(kintone, CONTRACTS, record_id, event_type=event_type)
    body.update(overrides)
    return client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", data=json.dumps(body, ensure_ascii=False),
                       content_type="application/json")


def post_gmosign(client, body, token: str = GMOSIGN_TOKEN):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body, ensure_ascii=False)
    return client.post(f"/webhooks/gmosign/{token}", data=data, content_type="application/json")
