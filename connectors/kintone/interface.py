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

    def add_comment(self, app: str, record_id: str, text: str, mentions: list[Mention] = ()) -> str:
        """Post a record comment; return its id."""

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
