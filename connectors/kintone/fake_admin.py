"""In-memory app management (``KintoneAppAdmin``) over a ``FakeKintone``.

Apps are built in a preview and reach the fake's production apps (the ones the flows and
``mapping check`` read) only when deployed, as in kintone. What kintone refuses is refused here
with the same kind of error: an unknown field type, a radio button without options, a lookup to
an app that does not exist, an action between statuses the process does not have.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Any

from connectors.kintone import errors as e
from connectors.kintone.fake import FakeAction, FakeApp, FakeKintone

_ADDABLE = {"SINGLE_LINE_TEXT", "MULTI_LINE_TEXT", "RICH_TEXT", "NUMBER", "CALC", "DATE", "TIME", "DATETIME",
            "DROP_DOWN", "RADIO_BUTTON", "CHECK_BOX", "MULTI_SELECT", "USER_SELECT", "ORGANIZATION_SELECT",
            "GROUP_SELECT", "FILE", "LINK", "SUBTABLE", "REFERENCE_TABLE", "LABEL", "SPACER", "HR",
            "GROUP"}


@dataclass
class _Preview:
    name: str
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    process: dict[str, Any] | None = None
    revision: int = 1


class FakeKintoneAdmin:
    def __init__(self, kintone: FakeKintone) -> None:
        self.kintone = kintone
        self.previews: dict[str, _Preview] = {}
        self.deployed: dict[str, str] = {}
        self.calls: list[str] = []
        start = max((int(a) for a in kintone.apps if a.isdigit()), default=0) + 1
        self._ids = itertools.count(start)

    def create_app(self, name: str, space: str | None = None) -> str:
        self.calls.append("create_app")
        if not name.strip():
            raise e.KintoneValidationError("app name is required", status=400, code="CB_VA01")
        app = str(next(self._ids))
        self.previews[app] = _Preview(name=name)
        return app

    def add_fields(self, app: str, properties: dict[str, dict[str, Any]]) -> str:
        self.calls.append("add_fields")
        preview = self._preview(app)
        for code, props in properties.items():
            self._check_field(code, props)
            if code in preview.properties:
                raise e.KintoneValidationError(f"field code {code} is used twice", status=400, code="CB_VA01")
        preview.properties.update(copy.deepcopy(properties))
        preview.revision += 1
        return str(preview.revision)

    def set_process(self, app: str, settings: dict[str, Any]) -> str:
        self.calls.append("set_process")
        preview = self._preview(app)
        states = settings.get("states") or {}
        for action in settings.get("actions") or []:
            if action.get("from") not in states or action.get("to") not in states:
                raise e.KintoneValidationError(f"action {action.get('name')} goes between unknown statuses",
                                               status=400, code="CB_VA01")
        preview.process = copy.deepcopy(settings)
        preview.revision += 1
        return str(preview.revision)

    def deploy(self, apps: list[str]) -> None:
        self.calls.append("deploy")
        for app in apps:
            self._apply(app, self._preview(app))
            self.deployed[app] = "SUCCESS"

    def deploy_status(self, apps: list[str]) -> dict[str, str]:
        self.calls.append("deploy_status")
        return {app: self.deployed.get(app, "PROCESSING") for app in apps}

    # -- kintone's rules -------------------------------------------------------------------------

    def _preview(self, app: str) -> _Preview:
        if app not in self.previews:
            raise e.KintoneNotFound(f"app {app} not found", status=404, code="GAIA_AP01")
        return self.previews[app]

    def _check_field(self, code: str, props: dict[str, Any]) -> None:
        kind = props.get("type")
        if kind not in _ADDABLE or props.get("code") != code:
            raise e.KintoneValidationError(f"field {code}: type {kind} cannot be added", status=400, code="CB_VA01")
        if kind == "RADIO_BUTTON":
            if not props.get("options") or props.get("defaultValue") not in props["options"]:
                raise e.KintoneValidationError(f"field {code}: a radio button needs options and one of them "
                                               "as its default", status=400, code="CB_VA01")
        lookup = props.get("lookup")
        if lookup:
            related = str((lookup.get("relatedApp") or {}).get("app") or "")
            if related not in self.kintone.apps:
                raise e.KintoneValidationError(f"field {code}: lookup to app {related}, which does not exist",
                                               status=400, code="GAIA_AP01")
            if lookup.get("relatedKeyField") not in self.kintone.apps[related].fields:
                raise e.KintoneValidationError(f"field {code}: no key field {lookup.get('relatedKeyField')} "
                                               f"in app {related}", status=400, code="CB_VA01")
        for inner_code, inner in (props.get("fields") or {}).items():
            self._check_field(inner_code, inner)

    def _apply(self, app: str, preview: _Preview) -> None:
        fields = {code: p["type"] for code, p in preview.properties.items()}
        tables = {code: {c: inner["type"] for c, inner in (p.get("fields") or {}).items()}
                  for code, p in preview.properties.items() if p["type"] == "SUBTABLE"}
        live = FakeApp(app_id=app, fields=fields, tables=tables)
        for code, props in preview.properties.items():
            extra = {k: copy.deepcopy(props[k]) for k in ("options", "lookup") if k in props}
            if extra:
                live.form_properties[code] = extra
            for inner_code, inner in (props.get("fields") or {}).items():  # a table's columns
                if "options" in inner:
                    live.form_properties[inner_code] = {"options": copy.deepcopy(inner["options"])}
        process = preview.process
        if process and process.get("enable"):
            states = sorted(process["states"].values(), key=lambda s: int(s["index"]))
            live.status_field = "ステータス"
            live.initial_status = states[0]["name"]
            chosen = {name for name, s in process["states"].items() if (s.get("assignee") or {}).get("entities")}
            live.actions = [FakeAction(a["name"], a["from"], a["to"], needs_assignee=a["to"] in chosen,
                                       condition=a.get("filterCond") or None)
                            for a in process.get("actions") or []]
        self.kintone.add_app(live)
