"""The receiver reads a notification's status from kintone's default STATUS field code first and
falls back to any STATUS-typed field (an app whose status field was renamed)."""

import pytest

from webhooks.intake import KintoneNotification


def note(fields: dict) -> KintoneNotification:
    record = {"$id": {"type": "__ID__", "value": "1"}, "$revision": {"type": "__REVISION__", "value": "2"}, **fields}
    return KintoneNotification.model_validate({"id": "n-1", "type": "UPDATE_STATUS", "app": {"id": "3"},
                                               "record": record})


@pytest.mark.parametrize(("fields", "status"), [
    ({"ステータス": {"type": "STATUS", "value": "未処理"}}, "未処理"),
    ({"状態": {"type": "STATUS", "value": "受付済"}}, "受付済"),  # renamed status field
    ({"ステータス": {"type": "SINGLE_LINE_TEXT", "value": "x"}, "状態": {"type": "STATUS", "value": "完了"}}, "完了"),
    ({}, None),  # process management off: no STATUS field at all
    ({"ステータス": {"type": "STATUS", "value": None}}, None),
])
def test_the_status_is_the_status_fields_value(fields, status):
    assert note(fields).status_name() == status
