"""Fixtures for the contract flows: fake GMO Sign and G-Staff on the shared context, a complete
individual contract, and helpers to post kintone and GMO Sign webhooks."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from connectors.gmosign.fake import FakeGmoSign
from connectors.gstaff.fake import FakeGStaff
from kgbridge.samples import notification
from tests.conftest import WEBHOOK_TOKEN

CONTRACTS, CLIENTS = "5", "1"
GMOSIGN_TOKEN = "test-gmosign-token-0123456789"
NOW = datetime.fromisoformat("2026-11-24T10:00:00+09:00")  # a Tuesday

COMPLETE_CONTRACT = {
    "契約種別": "個別契約",
    "顧客": "株式会社サンプル物流",
    "顧客レコード番号": "1",
    "Gスタッフ顧客ID": "G-1001",
    "担当営業": [{"code": "sato", "name": "佐藤 一郎"}],
    "担当営業メール": "sato@example.co.jp",
    "署名者氏名": "山田 花子",
    "署名者メール": "yamada@example.com",
    "就業場所": "東京物流センター（東京都江東区）",
    "組織単位": "物流課",
    "業務内容": "入出荷検品、ピッキング",
    "責任の程度": "役職なし（リーダー補佐）",
    "賃金": "時給1,500円",
    "就業日": "月〜金（祝日を除く）",
    "始業終業時刻": "9:00〜18:00",
    "休憩": "12:00〜13:00（60分）",
    "時間外休日労働": "1日2時間・月20時間まで、休日労働なし",
    "派遣開始日": "2026-12-01",
    "派遣終了日": "2027-03-31",
    "派遣人数": "2",
    "指揮命令者": "物流課 課長 鈴木 次郎",
    "苦情窓口": "派遣先：総務課 高橋／派遣元：営業部 佐藤",
    "安全衛生": "安全靴貸与、入場時に安全教育",
    "契約解除の措置": "新たな就業機会の確保、休業手当相当額の支払い",
    "派遣先責任者": "総務課長 高橋 三郎",
    "派遣元責任者": "営業部長 田中 四郎",
    "福利厚生施設": "休憩室・更衣室・食堂",
    "協定対象限定": "限定しない",
    "無期60歳以上限定": "限定しない",
    "紹介予定派遣": "非該当",
    "抵触日": "2027-04-01",
    "抵触日通知受領": ["受領済"],
    "待遇情報受領": ["受領済"],
}


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
