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


# -- queries: the floors' first look skips only what the whole condition refuses ----------------

def _mixed_app(seed: int = 7) -> FakeKintone:
    """Records of every shape a condition meets: times (some empty), numbers of several forms, a table."""
    import random

    rng = random.Random(seed)
    fake = FakeKintone()
    fake.add_app(FakeApp("5", {"評価": "NUMBER", "種別": "DROP_DOWN", "期限": "DATE", "明細": "SUBTABLE"},
                         tables={"明細": {"単価": "NUMBER"}}, status_field="ステータス", initial_status="申請中"))
    stamps = ["2026-11-30T15:00:00Z", "2026-12-01T00:00:00Z", "2026-12-01T00:00:01Z", "2026-12-01T01:30:00Z", ""]
    numbers = ["", "0", "7", "007", "60", "59", "1.5", "-3", "1e2", "600"]
    for _ in range(300):
        rows = [{"id": str(i), "value": {"単価": {"type": "NUMBER", "value": rng.choice(numbers)}}}
                for i in range(rng.randint(0, 2))]
        rid = fake.seed("5", {"評価": rng.choice(numbers), "種別": rng.choice(["A", "B", ""]),
                              "期限": rng.choice(["2026-12-01", "2026-12-15", None])},
                        status=rng.choice(["申請中", "承認", "却下"]))
        record = fake.apps["5"].records[rid]
        record["明細"] = {"type": "SUBTABLE", "value": rows}
        record["更新日時"]["value"] = rng.choice(stamps)
    return fake


QUERIES = [
    '更新日時 >= "2026-12-01T00:00:00Z" order by 更新日時 asc, $id asc',
    '(更新日時 > "2026-12-01T00:00:00Z" or (更新日時 >= "2026-12-01T00:00:00Z" and $id > 120)) '
    'and ステータス in ("申請中", "承認") order by 更新日時 asc, $id asc',
    'ステータス in ("申請中") and $id > 40 order by $id asc',
    '評価 >= 60 or 評価 > 7',
    '評価 >= 60 and 評価 > 7 and 種別 in ("A")',
    '単価 >= 60',  # a table's column: any row
    '期限 >= "2026-12-02" or 更新日時 > "2026-12-01T00:00:00Z"',
    '(期限 >= "2026-12-02" or 期限 > "2026-11-01") and $id >= 250 order by 期限 desc, $id asc',
    '評価 > -1 and 更新日時 < "2026-12-01T01:00:00Z"',
    '評価 > 1e1',
    '種別 not in ("A") and 評価 >= 007 order by 評価 desc',
]


@pytest.mark.parametrize("query", QUERIES)
def test_a_query_answers_what_a_scan_of_every_record_answers(query):
    from connectors.kintone import query as q

    fake = _mixed_app()
    parsed = q.parse(query)
    records = list(fake.apps["5"].records.values())
    # never skips a match
    assert all(parsed.may_match(r) for r in records if parsed.predicate(r))
    # the answer is the scan's, in the same order, page by page
    expected = [r for r in records if parsed.predicate(r)]
    for code, desc in reversed(parsed.order_by or [("$id", True)]):
        expected.sort(key=lambda r, c=code: q.sort_key(r, c), reverse=desc)
    expected_ids = [r["$id"]["value"] for r in expected]
    assert expected_ids, "a query that matches nothing proves nothing"
    answered = []
    for offset in range(0, len(expected_ids) + 100, 100):
        answered += [r["$id"]["value"] for r in fake.get_records("5", f"{query} limit 100 offset {offset}")]
    assert answered == expected_ids


def test_the_floors_do_skip_records_outside_the_sweeps_window():
    from connectors.kintone import query as q

    parsed = q.parse('(更新日時 > "2026-12-01T00:00:00Z" or (更新日時 >= "2026-12-01T00:00:00Z" and $id > 120))')
    records = list(_mixed_app().apps["5"].records.values())
    skipped = [r for r in records if not parsed.may_match(r)]
    assert skipped and all(r["更新日時"]["value"] < "2026-12-01T00:00:00Z" for r in skipped)


def test_records_read_are_copies():
    fake = _mixed_app()
    [row] = fake.get_records("5", "$id = 3")
    row["明細"]["value"].append({"id": "9", "value": {}})
    row["評価"]["value"] = "999"
    single = fake.get_record("5", "3")
    single["明細"]["value"].clear()

    assert fake.record_values("5", "3")["評価"] != "999"
    assert len(fake.get_record("5", "3")["明細"]["value"]) == len(row["明細"]["value"]) - 1
