"""What the flows may ask of kintone.

Records travel as kintone's own JSON (``{"会社名": {"type": "SINGLE_LINE_TEXT", "value": "…"}}``,
including ``$id`` and ``$revision``); ``mappings/`` turns them into domain models. App and
record ids are strings, as kintone sends them. Every method raises only ``KintoneError``
subclasses (``connectors.kintone.errors``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

Record = dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Mention:
    code: str
    type: str = "USER"  # USER | GROUP | ORGANIZATION

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "type": self.type}


@dataclass(frozen=True)
class Comment:
    id: str
    text: str
    mentions: list[Mention] = field(default_factory=list)
    creator: str = ""


@dataclass(frozen=True)
class RecordUpdate:
    """One record of a bulk update (PUT records.json): the fields to write, checked against ``revision``."""

    id: str
    record: Record
    revision: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "record": self.record}
        if self.revision is not None:
            body["revision"] = self.revision
        return body


@dataclass(frozen=True)
class StatusAction:
    """One record of a bulk process action (PUT records/status.json), checked against ``revision``."""

    id: str
    action: str
    assignee: str | None = None
    revision: str | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "action": self.action}
        if self.assignee is not None:
            body["assignee"] = self.assignee
        if self.revision is not None:
            body["revision"] = self.revision
        return body


@dataclass(frozen=True)
class NewRecord:
    """One record of a bulk add (POST records.json) inside a bulkRequest: its fields, no id yet."""

    record: Record

    def as_json(self) -> Record:
        return self.record


@dataclass(frozen=True)
class BulkWrite:
    """One request of a bulkRequest.json: up to 100 updates, up to 100 actions, or up to 100 new records,
    in one app."""

    app: str
    items: tuple[RecordUpdate, ...] | tuple[StatusAction, ...] | tuple[NewRecord, ...]

    @property
    def kind(self) -> str:  # "update_records" | "update_statuses" | "add_records"
        if self.items and isinstance(self.items[0], StatusAction):
            return "update_statuses"
        if self.items and isinstance(self.items[0], NewRecord):
            return "add_records"
        return "update_records"


MAX_RECORDS_PER_BULK_WRITE = 100  # PUT records.json and PUT records/status.json
MAX_REQUESTS_PER_BULK = 20  # bulkRequest.json


@runtime_checkable
class KintoneClient(Protocol):
    def get_record(self, app: str, record_id: str) -> Record:
        """Return one record (GET /k/v1/record.json)."""

    def get_records(
        self, app: str, query: str = "", fields: list[str] | None = None, limit: int = 500
    ) -> list[Record]:
        """Return up to ``limit`` (≤ 500) records matching a kintone query, in one call."""

    def add_record(self, app: str, record: Record) -> tuple[str, str]:
        """Create a record; return (id, revision)."""

    def add_records(self, app: str, records: list[Record]) -> list[str]:
        """Create up to 100 records in one call, all or none; return their ids in order.

        Bulk writes send no webhook: use this only for records no flow is triggered by.
        """

    def update_record(
        self, app: str, record_id: str, record: Record, revision: str | None = None
    ) -> str:
        """Update the given fields, checked against ``revision``; return the new revision."""

    def update_status(
        self,
        app: str,
        record_id: str,
        action: str,
        assignee: str | None = None,
        revision: str | None = None,
    ) -> str:
        """Run a process-management action; return the new revision (+2)."""

    def update_records(self, app: str, updates: list[RecordUpdate]) -> list[str]:
        """Update up to 100 records in one call (PUT records.json), all or none; return their new revisions.

        Bulk writes send no webhook. A stale revision on any record fails the whole call
        (``KintoneRevisionConflict``) and nothing is written.
        """

    def update_statuses(self, app: str, actions: list[StatusAction]) -> list[str]:
        """Run up to 100 process actions in one call (PUT records/status.json), all or none; return the new
        revisions (+2 each). Bulk actions send no webhook."""

    def bulk_request(self, writes: list[BulkWrite]) -> list[list[str]]:
        """Run up to 20 bulk writes in one call (POST bulkRequest.json), all or none, in order; return each
        write's new revisions (an add's: the new records' ids, in order). On failure nothing is written
        (nor added), and the error's ``request_index`` names the write kintone refused (kintone answers
        ``{"results": [{}, {error}, …]}``). Bulk writes send no webhook."""

    def add_comment(self, app: str, record_id: str, text: str, mentions: list[Mention] = ()) -> str:
        """Post a record comment; return its id (kintone has no bulk comment)."""

    def get_comments(self, app: str, record_id: str, limit: int = 10) -> list[Comment]:
        """Return the newest comments, newest first."""

    def get_form_fields(self, app: str) -> dict[str, dict[str, Any]]:
        """Return the app's form fields by field code (GET /k/v1/app/form/fields.json)."""

    def get_process_settings(self, app: str) -> dict[str, Any]:
        """Return process management settings (GET /k/v1/app/status.json)."""

    def upload_file(self, name: str, content: bytes, content_type: str) -> str:
        """Upload a file to temporary storage; return its fileKey."""

    def download_file(self, file_key: str) -> bytes:
        """Download an attached file by its fileKey."""
