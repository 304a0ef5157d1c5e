"""Test helpers: Tokyo times, and records seeded the way kintone stores them (every field present)."""

from __future__ import annotations

from datetime import UTC, datetime

from flows.business_calendar import TOKYO

SATO = [{"code": "sato", "name": "佐藤 一郎"}]  # a sales rep; the directory names tanaka as supervisor
SUZUKI = [{"code": "suzuki", "name": "鈴木 課長"}]
_EMPTY = {"MULTI_LINE_TEXT": "", "SINGLE_LINE_TEXT": "", "NUMBER": "", "DATE": None, "DATETIME": "",
          "DROP_DOWN": None, "USER_SELECT": [], "CHECK_BOX": [], "FILE": [], "SUBTABLE": []}


def at(text: str) -> datetime:
    """A Tokyo wall-clock time."""
    return datetime.fromisoformat(text).replace(tzinfo=TOKYO)


def utc(text: str) -> str:
    """A Tokyo time as kintone stores a DATETIME (UTC, Z)."""
    return at(text).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed(kintone, mappings, app_key: str, status: str | None = None, **values) -> str:
    """Store a record with every field of the app, empty unless given (by domain name)."""
    mapping = mappings[app_key]
    record = {spec.code: values.get(name, _EMPTY.get(spec.type, ""))
              for name, spec in mapping.fields.items() if spec.type not in ("STATUS", "CREATED_TIME")}
    rid = kintone.seed(mapping.id, record, status=status)
    if "created_at" in values:
        kintone.apps[mapping.id].records[rid]["作成日時"]["value"] = values["created_at"]
    return rid


def without_flow(mappings, flow: str):
    """The same mappings without the triggers of ``flow`` (for tests about another flow of the app)."""
    from mappings import Mappings

    apps = [m.model_copy(update={"triggers": [t for t in m.triggers if t.flow != flow]}) for m in mappings]
    out = Mappings(apps)
    out.deadlines = mappings.deadlines
    return out


def with_digest(mappings, rule: str, digest_from: int | None) -> None:
    """The same deadline rules but ``rule``'s ``digest_from`` (None: one comment per record)."""
    rules = [r.model_copy(update={"digest_from": digest_from}) if r.name == rule else r
             for r in mappings.deadlines.rules]
    mappings.deadlines = mappings.deadlines.model_copy(update={"rules": rules})


VISITS_APP = "6"


def visited(kintone, client_id: str, **changes) -> str:
    """A completed visit to the client (seed A-3): orders of a client need one (flows/visit_gate.py)."""
    from kgbridge.samples import COMPLETED_VISIT

    return kintone.seed(VISITS_APP, {**COMPLETED_VISIT, "顧客レコード番号": client_id, **changes})
