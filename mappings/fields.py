"""Conversions between kintone field values and Python values, by kintone field type.

kintone sends every scalar as a string (``NUMBER`` too); dates as ``YYYY-MM-DD``; datetimes
in UTC ``YYYY-MM-DDTHH:MM:SSZ``; users as ``[{code, name}]``; files as
``[{contentType, fileKey, name, size}]``; tables as ``[{id, value: {...}}]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

TEXT_TYPES = {"SINGLE_LINE_TEXT", "MULTI_LINE_TEXT", "RICH_TEXT", "LINK", "RECORD_NUMBER", "__ID__",
              "__REVISION__", "STATUS"}
CHOICE_TYPES = {"DROP_DOWN", "RADIO_BUTTON"}
LIST_TYPES = {"CHECK_BOX", "MULTI_SELECT", "CATEGORY"}
USER_TYPES = {"USER_SELECT", "ORGANIZATION_SELECT", "GROUP_SELECT", "STATUS_ASSIGNEE", "CREATOR",
              "MODIFIER"}
NUMBER_TYPES = {"NUMBER", "CALC"}
SUPPORTED_TYPES = (TEXT_TYPES | CHOICE_TYPES | LIST_TYPES | USER_TYPES | NUMBER_TYPES
                   | {"DATE", "DATETIME", "TIME", "FILE", "SUBTABLE", "CREATED_TIME", "UPDATED_TIME"})
# Types kintone computes itself: never written back.
READ_ONLY_TYPES = {"RECORD_NUMBER", "__ID__", "__REVISION__", "STATUS", "STATUS_ASSIGNEE", "CREATOR",
                   "MODIFIER", "CREATED_TIME", "UPDATED_TIME", "CALC", "CATEGORY"}


class FieldValueError(ValueError):
    """A kintone value that does not fit its declared type."""


@dataclass(frozen=True)
class User:
    code: str
    name: str = ""


@dataclass(frozen=True)
class FileRef:
    file_key: str
    name: str
    content_type: str = ""
    size: int = 0


def from_kintone(ftype: str, value: Any, table_fields: dict | None = None) -> Any:
    """Turn one kintone field value into its Python value."""
    if ftype in TEXT_TYPES:
        return "" if value is None else str(value)
    if ftype in CHOICE_TYPES:
        return value or None
    if ftype in LIST_TYPES:
        return list(value or [])
    if ftype in NUMBER_TYPES:
        if value in (None, ""):
            return None
        try:
            return Decimal(str(value))
        except InvalidOperation as exc:
            raise FieldValueError("not a number") from exc
    if ftype == "DATE":
        return date.fromisoformat(value) if value else None
    if ftype in ("DATETIME", "CREATED_TIME", "UPDATED_TIME"):
        if not value:
            return None
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    if ftype == "TIME":
        return value or None
    if ftype in USER_TYPES:
        if isinstance(value, dict):  # CREATOR / MODIFIER hold one user
            return User(code=value.get("code", ""), name=value.get("name", ""))
        return [User(code=u.get("code", ""), name=u.get("name", "")) for u in (value or [])]
    if ftype == "FILE":
        return [
            FileRef(file_key=f.get("fileKey", ""), name=f.get("name", ""),
                    content_type=f.get("contentType", ""), size=int(f.get("size") or 0))
            for f in (value or [])
        ]
    if ftype == "SUBTABLE":
        rows = []
        for row in value or []:
            cells = row.get("value", {})
            converted = {"_row_id": row.get("id")}
            for name, spec in (table_fields or {}).items():
                cell = cells.get(spec.code)
                converted[name] = from_kintone(spec.type, cell.get("value") if cell else None)
            rows.append(converted)
        return rows
    raise FieldValueError(f"unsupported field type {ftype}")


def to_kintone(ftype: str, value: Any, table_fields: dict | None = None) -> Any:
    """Turn a Python value into the value kintone expects when writing."""
    if value is None:
        return [] if ftype in LIST_TYPES | USER_TYPES | {"FILE", "SUBTABLE"} else ""
    if ftype in TEXT_TYPES or ftype in CHOICE_TYPES or ftype == "TIME":
        return str(value)
    if ftype in LIST_TYPES:
        return list(value)
    if ftype in NUMBER_TYPES:
        return format(Decimal(str(value)), "f")
    if ftype == "DATE":
        return value.isoformat()
    if ftype == "DATETIME":
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:00Z")
    if ftype in USER_TYPES:
        return [{"code": u.code if isinstance(u, User) else str(u)} for u in value]
    if ftype == "FILE":
        return [{"fileKey": f.file_key if isinstance(f, FileRef) else str(f)} for f in value]
    if ftype == "SUBTABLE":
        rows = []
        for row in value:
            cells = {
                spec.code: {"value": to_kintone(spec.type, row.get(name))}
                for name, spec in (table_fields or {}).items()
                if name in row
            }
            entry = {"value": cells}
            if row.get("_row_id"):
                entry["id"] = row["_row_id"]
            rows.append(entry)
        return rows
    raise FieldValueError(f"unsupported field type {ftype}")


def is_blank(value: Any) -> bool:
    """True when a required item has not been filled in."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple)):
        return len(value) == 0
    return False
