"""One kintone app's mapping, loaded from a TOML file and validated by pydantic.

A mapping names, for our domain terms, the app's field codes and types, the process
management statuses and actions, which flows run on which webhook events, and flow
settings such as the required hearing items. Each company names its fields differently:
that difference lives here, never in flow code.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mappings import fields as fv

OPTION_TYPES = {"DROP_DOWN", "RADIO_BUTTON", "CHECK_BOX", "MULTI_SELECT"}
WEBHOOK_EVENTS = {"ADD_RECORD", "UPDATE_RECORD", "UPDATE_STATUS", "DELETE_RECORD", "ADD_RECORD_COMMENT"}


class MappingError(Exception):
    """A mapping file is missing, malformed, or does not fit the record it is applied to."""


class LookupSpec(BaseModel):
    """A lookup field: which app it looks up, by which key field, and what it copies from there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    app: str  # mapping key of the looked-up app, e.g. "clients"
    key: str  # field code of the key in that app, e.g. 会社名
    copies: dict[str, str] = Field(default_factory=dict)  # our field code -> its field code


class FieldSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    type: str
    label: str = ""
    # Inner fields of a SUBTABLE, by domain name.
    fields: dict[str, "FieldSpec"] = Field(default_factory=dict)
    # DROP_DOWN / RADIO_BUTTON / CHECK_BOX / MULTI_SELECT: the options the flows read or write
    # (kintone refuses a value that is not one of the field's options; `mapping check` compares).
    options: list[str] = Field(default_factory=list)
    # A lookup field (its type is the key field's): `mapping check` makes sure the live field
    # looks up that app by that key; `apps create` builds it so.
    lookup: LookupSpec | None = None

    @model_validator(mode="after")
    def _known_type(self) -> "FieldSpec":
        if self.type not in fv.SUPPORTED_TYPES:
            raise ValueError(f"unsupported kintone field type {self.type!r}")
        if self.options and self.type not in OPTION_TYPES:
            raise ValueError(f"options are for {', '.join(sorted(OPTION_TYPES))} fields, not {self.type}")
        return self

    @property
    def display(self) -> str:
        """The Japanese label staff see on the form (the code when no label is given)."""
        return self.label or self.code


class ActionSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    name: str  # the action name as kintone shows it, e.g. 上長承認依頼
    from_status: str = Field(alias="from")  # status key
    to_status: str = Field(alias="to")  # status key
    assignee: str | None = None  # domain field (USER_SELECT) whose user becomes the assignee
    # The action's execution condition (kintone's アクションの実行条件, a record query such as
    # '信用調査機関の評価 >= 60'): kintone offers the action only on records that match it.
    condition: str | None = None


class ProcessSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    statuses: dict[str, str]  # key -> kintone status name
    actions: dict[str, ActionSpec] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _actions_use_known_statuses(self) -> "ProcessSpec":
        for key, action in self.actions.items():
            for status in (action.from_status, action.to_status):
                if status not in self.statuses:
                    raise ValueError(f"action {key!r} refers to unknown status {status!r}")
        return self


class Trigger(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    flow: str
    events: list[str]
    # Optional: only when the record's status is one of these status keys.
    statuses: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_events(self) -> "Trigger":
        unknown = set(self.events) - WEBHOOK_EVENTS
        if unknown:
            raise ValueError(f"unknown webhook events {sorted(unknown)}")
        return self


class AppInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str  # our name for the app, e.g. "orders"
    id: str  # the kintone app id
    label: str = ""  # e.g. オーダー


class AppMapping(BaseModel):
    """Everything we know about one kintone app."""

    model_config = ConfigDict(frozen=True, extra="allow")

    app: AppInfo
    fields: dict[str, FieldSpec]
    process: ProcessSpec | None = None
    triggers: list[Trigger] = Field(default_factory=list)

    @model_validator(mode="after")
    def _assignee_fields_exist(self) -> "AppMapping":
        if self.process:
            for key, action in self.process.actions.items():
                if action.assignee and action.assignee not in self.fields:
                    raise ValueError(f"action {key!r} takes its assignee from unknown field {action.assignee!r}")
        return self

    # -- reading and writing records -------------------------------------------------

    @property
    def key(self) -> str:
        return self.app.key

    @property
    def id(self) -> str:
        return self.app.id

    def field(self, name: str) -> FieldSpec:
        try:
            return self.fields[name]
        except KeyError:
            raise MappingError(f"mapping {self.key!r} has no field {name!r}") from None

    def settings(self, section: str) -> dict[str, Any]:
        """A flow's own section of the mapping file (e.g. [order_registration])."""
        return dict((self.model_extra or {}).get(section, {}))

    def read(self, record: dict) -> dict[str, Any]:
        """Convert a kintone record into {domain name: Python value} for every mapped field.

        Fields absent from the record read as None (webhook payloads and ``fields=``
        queries can be partial). A value of the wrong shape is a MappingError.
        """
        values: dict[str, Any] = {
            "record_id": str(record.get("$id", {}).get("value", "")),
            "revision": str(record.get("$revision", {}).get("value", "")),
        }
        for name, spec in self.fields.items():
            cell = record.get(spec.code)
            if cell is None:
                values[name] = None
                continue
            try:
                values[name] = fv.from_kintone(spec.type, cell.get("value"), spec.fields)
            except (fv.FieldValueError, ValueError, TypeError, AttributeError) as exc:
                raise MappingError(f"{self.key}.{name} ({spec.code}): {exc}") from exc
        return values

    def write(self, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Convert {domain name: Python value} into a kintone record body for add/update."""
        record: dict[str, dict[str, Any]] = {}
        for name, value in values.items():
            spec = self.field(name)
            if spec.type in fv.READ_ONLY_TYPES:
                raise MappingError(f"{self.key}.{name} ({spec.type}) is computed by kintone and cannot be written")
            record[spec.code] = {"value": fv.to_kintone(spec.type, value, spec.fields)}
        return record

    def codes(self, *names: str) -> list[str]:
        """Field codes for a ``fields=`` parameter, so queries fetch only what a flow needs."""
        return [self.field(n).code for n in names]

    # -- process management ----------------------------------------------------------

    def status_name(self, key: str) -> str:
        if not self.process or key not in self.process.statuses:
            raise MappingError(f"mapping {self.key!r} has no status {key!r}")
        return self.process.statuses[key]

    def status_key(self, name: str | None) -> str | None:
        """The status key for a kintone status name (None when unmapped)."""
        if not self.process or name is None:
            return None
        for key, value in self.process.statuses.items():
            if value == name:
                return key
        return None

    def action(self, key: str) -> ActionSpec:
        if not self.process or key not in self.process.actions:
            raise MappingError(f"mapping {self.key!r} has no action {key!r}")
        return self.process.actions[key]

    def flows_for(self, event_type: str) -> list[Trigger]:
        return [t for t in self.triggers if event_type in t.events]


_STARTED_KEPT = 1024  # (app, event type, status) combinations remembered by Mappings.flows_started


class Mappings:
    """All app mappings of one deployment, by app key and by kintone app id."""

    def __init__(self, apps: list[AppMapping]) -> None:
        from mappings.deadlines import DeadlineConfig

        # Deadline rules and the supervisor directory (deadlines.toml), when the folder has them.
        self.deadlines = DeadlineConfig()
        self._by_key = {a.key: a for a in apps}
        self._by_id = {a.id: a for a in apps}
        self._started: dict[tuple[str, str, str | None], tuple[str, ...]] = {}
        if len(self._by_key) != len(apps):
            raise MappingError("two mapping files use the same app key")
        if len(self._by_id) != len(apps):
            raise MappingError("two mapping files use the same kintone app id")

    def __getitem__(self, key: str) -> AppMapping:
        try:
            return self._by_key[key]
        except KeyError:
            raise MappingError(f"no mapping for app {key!r}") from None

    def __contains__(self, key: str) -> bool:
        return key in self._by_key

    def by_app_id(self, app_id: str) -> AppMapping | None:
        return self._by_id.get(str(app_id))

    def flows_started(self, app_key: str, event_type: str, status_key: str | None) -> tuple[str, ...]:
        """The flows an event of the app starts: the triggers of its mapping whose events and statuses
        match. Remembered per (app, event type, status), as the mappings do not change once loaded
        (the receiver asks once per webhook). MappingError when the app is not mapped."""
        key = (app_key, event_type, status_key)
        flows = self._started.get(key)
        if flows is None:
            flows = tuple(t.flow for t in self[app_key].flows_for(event_type)
                          if not t.statuses or status_key in t.statuses)
            if len(self._started) < _STARTED_KEPT:  # an inbox entry could name any status key
                self._started[key] = flows
        return flows

    def __iter__(self):
        return iter(self._by_key.values())


def load_mapping(path: Path) -> AppMapping:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return AppMapping.model_validate(data)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise MappingError(f"{path.name}: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise MappingError(f"{path.name}: {problems}") from exc


# Files in a mapping folder that configure several apps rather than map one.
SHARED_FILES = {"deadlines.toml"}


def load_mappings(folder: Path) -> Mappings:
    files = sorted(p for p in Path(folder).glob("*.toml") if p.name not in SHARED_FILES)
    if not files:
        raise MappingError(f"no mapping files (*.toml) in {folder}")
    mappings = Mappings([load_mapping(p) for p in files])
    deadlines = Path(folder) / "deadlines.toml"
    if deadlines.is_file():
        from mappings.deadlines import load_deadlines

        mappings.deadlines = load_deadlines(deadlines, mappings)
    return mappings
