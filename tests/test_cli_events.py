"""``kgbridge events replay FILE...``: a saved webhook body goes through the receiver's own
validation, de-duplication and routing, and its jobs run on a real RQ worker."""

from __future__ import annotations

import json

import pytest

from kgbridge.ops import events
from kgbridge.samples import notification, seed_embedded
from tests.conftest import WEBHOOK_TOKEN
from webhooks import create_app
from webhooks.intake import Accepted, Rejected

ORDERS = "3"


@pytest.fixture
def ids(kintone, mappings):
    return seed_embedded(kintone, mappings)


def save(tmp_path, name: str, body) -> str:
    path = tmp_path / name
    path.write_bytes(body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode())
    return str(path)


def test_a_notification_kintone_never_delivered_is_processed_from_its_saved_body(cli, kintone, ids, drain,
                                                                                   tmp_path):
    path = save(tmp_path, "lost.json", notification(kintone, ORDERS, ids["order_complete"]))

    result = cli("events", "replay", path)

    assert result.exit_code == 0
    assert "enqueued" in result.stdout and f"order_registration-orders-{ids['order_complete']}-r1" in result.stdout
    drain()
    assert kintone.record_values(ORDERS, ids["order_complete"])["ステータス"] == "上長承認待ち"


def test_a_body_already_received_is_a_duplicate_and_changes_nothing(cli, kintone, ids, drain, tmp_path, settings,
                                                                     redis_conn):
    body = notification(kintone, ORDERS, ids["order_incomplete"])
    client = create_app(settings, connection=redis_conn).test_client()
    assert client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", json=body).status_code == 200
    drain()
    path = save(tmp_path, "again.json", body)

    result = cli("events", "replay", path, "--json")

    assert result.exit_code == 0
    [row] = json.loads(result.stdout)["results"]
    assert row["outcome"] == "duplicate" and row["jobs"] == []
    drain()
    assert len(kintone.comment_texts(ORDERS, ids["order_incomplete"])) == 1


def test_bad_files_are_rejected_with_the_reason_and_do_not_stop_the_good_ones(cli, kintone, ids, drain, tmp_path):
    unmapped = notification(kintone, ORDERS, ids["order_complete"])
    unmapped["app"]["id"] = "999"
    files = [
        save(tmp_path, "not-json.json", b"{oops"),
        save(tmp_path, "unknown.json", {"hello": "world"}),
        save(tmp_path, "unmapped.json", unmapped),
        save(tmp_path, "broken.json", {"id": "x", "type": "ADD_RECORD", "app": {"id": ORDERS}}),
        str(tmp_path / "missing.json"),
        save(tmp_path, "good.json", notification(kintone, ORDERS, ids["order_complete"])),
    ]

    result = cli("events", "replay", *files, "--json")

    assert result.exit_code == 1
    rows = {row["file"].rsplit("/", 1)[-1]: row for row in json.loads(result.stdout)["results"]}
    assert "not valid JSON" in rows["not-json.json"]["reason"]
    assert "unknown kind of body" in rows["unknown.json"]["reason"]
    assert "not mapped" in rows["unmapped.json"]["reason"]
    assert "needs a 'record'" in rows["broken.json"]["reason"]
    assert "cannot read the file" in rows["missing.json"]["reason"]
    assert rows["good.json"]["outcome"] == "enqueued"
    assert [r["outcome"] for n, r in rows.items() if n != "good.json"] == ["rejected"] * 5
    drain()
    assert kintone.record_values(ORDERS, ids["order_complete"])["ステータス"] == "上長承認待ち"


def test_a_body_larger_than_the_receiver_accepts_is_rejected(cli, tmp_path, settings):
    path = save(tmp_path, "huge.json", b" " * (settings.max_body_bytes + 1))
    result = cli("events", "replay", path)
    assert result.exit_code == 1 and "larger than" in result.stdout


def test_another_kind_of_body_can_register_its_own_intake(cli, tmp_path, monkeypatch):
    seen = []

    def parse(body: bytes) -> dict:
        data = json.loads(body)
        if not data.get("fax_id"):
            raise Rejected(422, "not a fax: fax_id is empty")
        return data

    def accept(fax: dict, *, source: str, **intake) -> Accepted:
        seen.append((fax["fax_id"], source, sorted(intake)))
        return Accepted(event_id=fax["fax_id"], jobs=["order_registration-orders-1-fax-1"])

    monkeypatch.setitem(events.EVENT_KINDS, "fax", events.EventKind(
        "fax", lambda data: isinstance(data, dict) and "fax_id" in data, parse, accept))

    result = cli("events", "replay", save(tmp_path, "fax.json", {"fax_id": "fax-1"}))

    assert result.exit_code == 0 and "fax" in result.stdout
    assert seen == [("fax-1", "replay", ["connection", "mappings", "queue", "settings"])]
    forced = cli("events", "replay", "--kind", "fax", save(tmp_path, "odd.json", {"fax_id": ""}))
    assert forced.exit_code == 1 and "fax_id is empty" in forced.stdout


def test_an_unknown_kind_name_is_bad_usage(cli, tmp_path):
    assert cli("events", "replay", "--kind", "fax", save(tmp_path, "a.json", {})).exit_code == 2
    assert cli("events", "replay").exit_code == 2
