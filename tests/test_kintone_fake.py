"""The fake kintone's process-management conditions and its rehearsal knobs (lost answers,
paused calls), which the 稟議 flows' tests rely on."""

from __future__ import annotations

import threading

import pytest

from connectors.kintone import KintoneConnectionError, KintoneStatusConflict
from connectors.kintone.fake import FakeAction, FakeApp, FakeKintone
from connectors.kintone.query import QueryError


def _app(condition: str | None) -> FakeKintone:
    fake = FakeKintone()
    fake.add_app(FakeApp("9", {"評価": "NUMBER", "種別": "DROP_DOWN"}, status_field="ステータス",
                         initial_status="審査中",
                         actions=[FakeAction("決裁", "審査中", "承認", condition=condition)]))
    return fake


@pytest.mark.parametrize(("values", "allowed"), [
    ({"評価": "60"}, True),
    ({"評価": "59"}, False),
    ({"評価": ""}, False),
    ({"評価": "10", "種別": "06_2"}, True),
])
def test_an_action_runs_only_on_records_meeting_its_condition(values, allowed):
    fake = _app('種別 in ("06_2") or 評価 >= 60')
    rid = fake.seed("9", values)

    if allowed:
        fake.update_status("9", rid, "決裁")
    else:
        with pytest.raises(KintoneStatusConflict):
            fake.update_status("9", rid, "決裁")

    assert fake.record_values("9", rid)["ステータス"] == ("承認" if allowed else "審査中")


def test_a_malformed_condition_is_refused_when_the_app_is_set_up():
    with pytest.raises(QueryError):
        _app("評価 >=")


def test_default_mapping_conditions_are_valid_queries(mappings):
    fake = FakeKintone.from_mappings(mappings)
    conditions = [a.condition for a in fake.apps["4"].actions if a.condition]
    assert len(conditions) == 5  # 申請, 法務確認依頼, 法務確認OK, 決裁, 取締役承認


def test_a_lost_answer_leaves_the_write_done_and_raises_a_timeout():
    fake = _app(None)
    fake.lose_answer_of("add_record")

    with pytest.raises(KintoneConnectionError):
        fake.add_record("9", {"評価": {"value": "70"}})

    assert [r["評価"]["value"] for r in fake.apps["9"].records.values()] == ["70"]
    fake.add_record("9", {"評価": {"value": "71"}})  # the next call answers normally
    assert len(fake.apps["9"].records) == 2


def test_a_paused_call_waits_until_resumed():
    fake = _app(None)
    pause = fake.pause_next("add_record")
    done = threading.Event()
    worker = threading.Thread(target=lambda: (fake.add_record("9", {}), done.set()))
    worker.start()

    assert pause.entered.wait(5)
    assert not done.is_set() and fake.apps["9"].records == {}
    pause.resume()
    worker.join(5)
    assert done.is_set() and len(fake.apps["9"].records) == 1
