"""Mappings turn kintone record JSON into domain values and back, for every field type we use."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from mappings import AppMapping, FileRef, MappingError, User, load_mappings
from mappings.app import load_mapping

MAPPING = AppMapping.model_validate({
    "app": {"key": "demo", "id": "9"},
    "fields": {
        "title": {"code": "件名", "type": "SINGLE_LINE_TEXT", "label": "件名"},
        "memo": {"code": "メモ", "type": "MULTI_LINE_TEXT"},
        "rate": {"code": "単価", "type": "NUMBER"},
        "start": {"code": "開始日", "type": "DATE"},
        "sent_at": {"code": "送信日時", "type": "DATETIME"},
        "kind": {"code": "種別", "type": "DROP_DOWN"},
        "days": {"code": "曜日", "type": "CHECK_BOX"},
        "rep": {"code": "担当", "type": "USER_SELECT"},
        "status": {"code": "ステータス", "type": "STATUS"},
        "files": {"code": "添付", "type": "FILE"},
        "lines": {"code": "明細", "type": "SUBTABLE", "fields": {
            "item": {"code": "品目", "type": "SINGLE_LINE_TEXT"},
            "qty": {"code": "数量", "type": "NUMBER"},
        }},
    },
})

RECORD = {
    "$id": {"type": "__ID__", "value": "12"},
    "$revision": {"type": "__REVISION__", "value": "4"},
    "件名": {"type": "SINGLE_LINE_TEXT", "value": "案件A"},
    "メモ": {"type": "MULTI_LINE_TEXT", "value": "一行目\n二行目"},
    "単価": {"type": "NUMBER", "value": "1900.5"},
    "開始日": {"type": "DATE", "value": "2026-12-01"},
    "送信日時": {"type": "DATETIME", "value": "2026-11-23T01:02:00Z"},
    "種別": {"type": "DROP_DOWN", "value": None},
    "曜日": {"type": "CHECK_BOX", "value": ["月", "水"]},
    "担当": {"type": "USER_SELECT", "value": [{"code": "sato", "name": "佐藤"}]},
    "ステータス": {"type": "STATUS", "value": "未処理"},
    "添付": {"type": "FILE", "value": [{"contentType": "application/pdf", "fileKey": "k1", "name": "a.pdf",
                                       "size": "123"}]},
    "明細": {"type": "SUBTABLE", "value": [{"id": "77", "value": {
        "品目": {"type": "SINGLE_LINE_TEXT", "value": "検品"}, "数量": {"type": "NUMBER", "value": ""}}}]},
}


def test_every_field_type_reads_into_its_python_value():
    values = MAPPING.read(RECORD)
    assert values["record_id"] == "12" and values["revision"] == "4"
    assert values["title"] == "案件A" and values["memo"] == "一行目\n二行目"
    assert values["rate"] == Decimal("1900.5")
    assert values["start"] == date(2026, 12, 1)
    assert values["sent_at"] == datetime(2026, 11, 23, 1, 2, tzinfo=UTC)
    assert values["kind"] is None
    assert values["days"] == ["月", "水"]
    assert values["rep"] == [User("sato", "佐藤")]
    assert values["status"] == "未処理"
    assert values["files"] == [FileRef("k1", "a.pdf", "application/pdf", 123)]
    assert values["lines"] == [{"_row_id": "77", "item": "検品", "qty": None}]


def test_values_write_back_in_the_shape_kintone_expects():
    body = MAPPING.write({
        "title": "案件B", "rate": Decimal("2000"), "start": date(2027, 1, 4),
        "sent_at": datetime(2026, 11, 23, 10, 2, 33, tzinfo=UTC), "days": ["金"],
        "rep": [User("tanaka")], "files": [FileRef("upload-key", "b.pdf")],
        "lines": [{"_row_id": "77", "item": "梱包", "qty": Decimal("3")}, {"item": "出荷", "qty": None}],
    })
    assert body["件名"] == {"value": "案件B"}
    assert body["単価"] == {"value": "2000"}
    assert body["開始日"] == {"value": "2027-01-04"}
    assert body["送信日時"] == {"value": "2026-11-23T10:02:00Z"}  # kintone drops seconds
    assert body["曜日"] == {"value": ["金"]}
    assert body["担当"] == {"value": [{"code": "tanaka"}]}
    assert body["添付"] == {"value": [{"fileKey": "upload-key"}]}
    assert body["明細"]["value"][0] == {"id": "77", "value": {"品目": {"value": "梱包"}, "数量": {"value": "3"}}}
    assert "id" not in body["明細"]["value"][1]


def test_fields_kintone_computes_cannot_be_written():
    with pytest.raises(MappingError, match="computed by kintone"):
        MAPPING.write({"status": "受付済"})


def test_a_value_of_the_wrong_shape_is_a_mapping_error_naming_the_field_not_the_value():
    broken = dict(RECORD, 単価={"type": "NUMBER", "value": "千九百"})
    with pytest.raises(MappingError) as err:
        MAPPING.read(broken)
    assert "単価" in str(err.value) and "千九百" not in str(err.value)


def test_absent_fields_read_as_none():
    values = MAPPING.read({"$id": {"value": "1"}, "$revision": {"value": "1"}})
    assert values["title"] is None and values["lines"] is None


def test_unknown_field_type_and_unknown_status_in_an_action_are_refused(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[app]\nkey="x"\nid="1"\n[fields]\na={code="A",type="BARCODE"}\n', encoding="utf-8")
    with pytest.raises(MappingError, match="unsupported kintone field type"):
        load_mapping(bad)
    bad.write_text('[app]\nkey="x"\nid="1"\n[fields]\n[process.statuses]\na="A"\n'
                   '[process.actions.go]\nname="進む"\nfrom="a"\nto="b"\n', encoding="utf-8")
    with pytest.raises(MappingError, match="unknown status"):
        load_mapping(bad)


def test_default_mappings_load_and_name_required_items_that_exist():
    mappings = load_mappings(Path(__file__).resolve().parent.parent / "mappings" / "default")
    orders = mappings["orders"]
    for name in orders.settings("order_registration")["required_items"]:
        assert orders.field(name).label
    assert orders.action("request_supervisor_approval").name == "上長承認依頼"
    assert mappings.by_app_id("3") is orders
