"""``kgbridge apps create``: build the kintone apps of a mapping folder, then write their ids back.

For each mapped app, in an order where a looked-up app comes before the apps that look it up:
create the app (preview), add every mapped field (options, lookups and table columns included),
set process management (statuses, actions, execution conditions, the mapped assignee field as the
next status's assignee), deploy, and wait until kintone reports the deployment done. Once every
app is deployed, the new ids are written into the mapping files; until then a progress file in the
folder (``.kgbridge-apps.json``) holds them, so an interrupted run resumes without creating an app
twice.

kintone has no REST API for webhook settings or API tokens: the command ends with what to set in
kintone's screens for each app (the webhook URL and events of its triggers, the token's
permissions), and ``kgbridge mapping check`` then confirms the apps match.

kintone calls per app: 1 create, 1 fields, 1 process (apps with process management), 1 deploy, and
1 status poll per second until done.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.kintone.admin import DEPLOY_DONE, DEPLOY_FAILED, KintoneAppAdmin
from connectors.kintone.errors import KintoneError
from mappings import AppMapping, MappingError, Mappings

PROGRESS_FILE = ".kgbridge-apps.json"
# Maintained by kintone itself: never added to a form.
SYSTEM_TYPES = {"RECORD_NUMBER", "CREATOR", "CREATED_TIME", "MODIFIER", "UPDATED_TIME", "STATUS",
                "STATUS_ASSIGNEE", "CATEGORY", "__ID__", "__REVISION__"}
DEPLOY_WAIT_SECONDS = 120
# The API token's access rights (アクセス権, as kintone's screen names them): the flows read, add and
# edit records (status actions are edits); `mapping check` reads the form and process settings.
API_ACCESS_RIGHTS = "レコード閲覧・レコード追加・レコード編集・アプリ管理"


class AppsCreateError(Exception):
    """The apps could not all be created; the message says which step of which app, and how to resume."""


@dataclass
class Created:
    key: str
    app_id: str
    label: str
    resumed: bool = False
    webhook_events: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def create_apps(admin: KintoneAppAdmin, mappings: Mappings, folder: Path, *, space: str | None = None,
                sleep: Callable[[float], None] = time.sleep, wait_seconds: float = DEPLOY_WAIT_SECONDS) -> list[Created]:
    progress = _read_progress(folder)
    ids: dict[str, str] = {key: entry["app"] for key, entry in progress.items() if entry.get("deployed")}
    created = []
    for mapping in creation_order(mappings):
        events = sorted({e for t in mapping.triggers for e in t.events})
        if mapping.key in ids:
            created.append(Created(mapping.key, ids[mapping.key], mapping.app.label, True, events))
            continue
        entry = progress.setdefault(mapping.key, {})
        try:
            if not entry.get("app"):
                # Not retried once sent: a lost answer may leave an undeployed app to delete by hand.
                entry["app"] = admin.create_app(mapping.app.label or mapping.key, space)
                _write_progress(folder, progress)
            app_id = entry["app"]
            if not entry.get("fields"):
                admin.add_fields(app_id, form_properties(mapping, mappings, ids))
                entry["fields"] = True
                _write_progress(folder, progress)
            if mapping.process and not entry.get("process"):
                admin.set_process(app_id, process_settings(mapping))
                entry["process"] = True
                _write_progress(folder, progress)
            admin.deploy([app_id])
            _wait_deployed(admin, app_id, sleep, wait_seconds)
        except KintoneError as exc:
            raise AppsCreateError(f"{mapping.key}: {exc}. Fix the cause and run the command again: what was "
                                  f"already created is kept and reused ({folder / PROGRESS_FILE})") from None
        entry["deployed"] = True
        _write_progress(folder, progress)
        ids[mapping.key] = app_id
        created.append(Created(mapping.key, app_id, mapping.app.label, False, events))
    # Only now: an id written while another file still holds the old ids could make two mapping
    # files name one app, which the mapping loader refuses.
    for mapping in mappings:
        write_app_id(folder, mapping, ids[mapping.key])
    return created


def creation_order(mappings: Mappings) -> list[AppMapping]:
    """Every app after the apps its lookups read (a cycle of lookups is a mapping error)."""
    apps = {m.key: m for m in mappings}
    order: list[AppMapping] = []
    state: dict[str, str] = {}

    def visit(key: str, path: tuple[str, ...]) -> None:
        if state.get(key) == "done":
            return
        if state.get(key) == "visiting":
            raise MappingError(f"lookups go round in a circle: {' → '.join((*path, key))}")
        state[key] = "visiting"
        for spec in _all_fields(apps[key]):
            if spec.lookup is not None:
                if spec.lookup.app not in apps:
                    raise MappingError(f"{key}: field {spec.code} looks up {spec.lookup.app!r}, which has no mapping")
                visit(spec.lookup.app, (*path, key))
        state[key] = "done"
        order.append(apps[key])

    for key in apps:
        visit(key, ())
    return order


def form_properties(mapping: AppMapping, mappings: Mappings, ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """kintone's field properties for every mapped field that a form can hold."""
    return {spec.code: _field(spec, mappings, ids) for spec in mapping.fields.values() if spec.type not in SYSTEM_TYPES}


def _field(spec, mappings: Mappings, ids: dict[str, str]) -> dict[str, Any]:
    props: dict[str, Any] = {"type": spec.type, "code": spec.code, "label": spec.display}
    if spec.options:
        props["options"] = {o: {"label": o, "index": str(i)} for i, o in enumerate(spec.options)}
        if spec.type == "RADIO_BUTTON":
            props["defaultValue"] = spec.options[0]  # kintone requires a radio button's default
    elif spec.type == "RADIO_BUTTON":
        raise MappingError(f"field {spec.code}: a RADIO_BUTTON needs its options in the mapping (options = [...])")
    if spec.lookup is not None:
        related = ids.get(spec.lookup.app) or mappings[spec.lookup.app].id
        props["lookup"] = {"relatedApp": {"app": related}, "relatedKeyField": spec.lookup.key,
                           "fieldMappings": [{"field": ours, "relatedField": theirs}
                                             for ours, theirs in spec.lookup.copies.items()],
                           "lookupPickerFields": [], "filterCond": "", "sort": ""}
    if spec.type == "SUBTABLE":
        props["fields"] = {inner.code: _field(inner, mappings, ids) for inner in spec.fields.values()}
    return props


def process_settings(mapping: AppMapping) -> dict[str, Any]:
    """Process management as PUT preview/app/status.json takes it."""
    process = mapping.process
    assert process is not None
    chosen_by = {a.to_status: mapping.field(a.assignee).code for a in process.actions.values() if a.assignee}
    states = {}
    for index, (key, name) in enumerate(process.statuses.items()):
        entities = ([{"entity": {"type": "FIELD_ENTITY", "code": chosen_by[key]}, "includeSubs": False}]
                    if key in chosen_by else [])
        states[name] = {"name": name, "index": str(index), "assignee": {"type": "ONE", "entities": entities}}
    actions = [{"name": a.name, "from": process.statuses[a.from_status], "to": process.statuses[a.to_status],
                "filterCond": a.condition or ""} for a in process.actions.values()]
    return {"enable": True, "states": states, "actions": actions}


def write_app_id(folder: Path, mapping: AppMapping, app_id: str) -> Path:
    """Put the new id into the ``[app]`` table of the app's mapping file, leaving the rest as written."""
    for path in sorted(folder.glob("*.toml")):
        text = path.read_text(encoding="utf-8")
        section = re.search(r"^\[app\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
        if not section or not re.search(rf'^key\s*=\s*"{re.escape(mapping.key)}"', section[1], re.M):
            continue
        new_section = re.sub(r'^(id\s*=\s*)"[^"]*"', rf'\g<1>"{app_id}"', section[1], count=1, flags=re.M)
        path.write_text(text[:section.start(1)] + new_section + text[section.end(1):], encoding="utf-8")
        return path
    raise MappingError(f"no mapping file in {folder} has [app] key = {mapping.key!r}")


def _wait_deployed(admin: KintoneAppAdmin, app_id: str, sleep, wait_seconds: float) -> None:
    waited = 0.0
    while True:
        status = admin.deploy_status([app_id]).get(app_id, "PROCESSING")
        if status == DEPLOY_DONE:
            return
        if status in DEPLOY_FAILED:
            raise AppsCreateError(f"app {app_id}: kintone reports the deployment {status}; see the app's settings")
        if waited >= wait_seconds:
            raise AppsCreateError(f"app {app_id}: still deploying after {wait_seconds:.0f} s; run the command again")
        sleep(1.0)
        waited += 1.0


def _all_fields(mapping: AppMapping):
    for spec in mapping.fields.values():
        yield spec
        yield from spec.fields.values()


def _read_progress(folder: Path) -> dict[str, dict[str, Any]]:
    path = folder / PROGRESS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def _write_progress(folder: Path, progress: dict[str, Any]) -> None:
    (folder / PROGRESS_FILE).write_text(json.dumps(progress, ensure_ascii=False, indent=2), encoding="utf-8")


def render(created: list[Created], webhook_url: str) -> str:
    lines = ["Created and deployed:" if any(not c.resumed for c in created) else "Nothing new to create:"]
    for c in created:
        lines.append(f"  {c.key:<12} app {c.app_id:<6} {c.label}{'  (from an earlier run)' if c.resumed else ''}")
    lines += ["", "kintone has no API for webhooks or API tokens; in each app's settings (アプリの設定):"]
    for c in created:
        if c.webhook_events:
            lines.append(f"  {c.label or c.key} (app {c.app_id}): Webhook → {webhook_url} on {', '.join(c.webhook_events)}")
    lines += [f"  every app: APIトークン → 生成する with {API_ACCESS_RIGHTS}; then アプリを更新",
              "  put the tokens in KGBRIDGE_KINTONE_API_TOKENS as {\"<app key>\": \"<token>\", …}",
              "", "Then check: kgbridge mapping check"]
    return "\n".join(lines)
