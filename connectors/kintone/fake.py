"""An in-memory kintone with the live client's interface and errors.

Apps hold records in kintone's JSON shape with ``$id`` and ``$revision``; an update raises
the revision by 1, a process-management action by 2 (as kintone does). Actions check the
current status (GAIA_IL03), the assignee (GAIA_SA01) and the revision (GAIA_CO02).
An action may carry a condition (kintone's アクションの実行条件, in the query language): on a
record that does not match it the action is refused like an action from the wrong status.
Tests and the embedded mode read its state directly: ``records``, ``comments``, ``calls``.
``fail_next`` makes the next calls of a method raise, to rehearse outages; ``lose_answer_of``
makes a write take effect and then raise, as when kintone saved but the answer was lost;
``pause_next`` holds the next call of a method until the test lets it go, to rehearse two
jobs racing.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import threading
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.kintone import errors as e
from connectors.kintone import query as q
from connectors.kintone.interface import (
    MAX_RECORDS_PER_BULK_WRITE,
    MAX_REQUESTS_PER_BULK,
    BulkWrite,
    Comment,
    Mention,
    NewRecord,
    Record,
    RecordUpdate,
    StatusAction,
)


@dataclass
class FakeAction:
    name: str
    from_status: str
    to_status: str
    needs_assignee: bool = False
    condition: str | None = None  # kintone query the record must match

    def __post_init__(self) -> None:
        # Parse once up front, so a mapping with a malformed condition fails at start.
        self._predicate = q.parse(self.condition).predicate if self.condition else None

    def allows(self, record: Record) -> bool:
        return self._predicate is None or bool(self._predicate(record))


@dataclass
class FakeApp:
    app_id: str
    fields: dict[str, str]  # field code -> kintone type
    status_field: str | None = None
    tables: dict[str, dict[str, str]] = field(default_factory=dict)  # SUBTABLE code -> its fields' types
    initial_status: str | None = None
    actions: list[FakeAction] = field(default_factory=list)
    # Form properties beyond the type, as kintone's form API shows them (options, lookup).
    form_properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)
    comments: dict[str, list[Comment]] = field(default_factory=lambda: defaultdict(list))
    next_id: itertools.count = field(default_factory=lambda: itertools.count(1))


class Pause:
    """A call held by ``FakeKintone.pause_next``: ``entered`` is set once the call is waiting."""

    MAX_WAIT_SECONDS = 10  # never hang a test run: a forgotten pause lets go by itself

    def __init__(self) -> None:
        self.entered = threading.Event()
        self._go = threading.Event()

    def hold(self) -> None:
        self.entered.set()
        self._go.wait(self.MAX_WAIT_SECONDS)

    def resume(self) -> None:
        self._go.set()


def _copy(value: Any) -> Any:
    """A deep copy of kintone's JSON shapes (dicts, lists, scalars), much cheaper than copy.deepcopy."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return copy.deepcopy(value)  # anything else a test put in a record


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeKintone:
    """Satisfies ``connectors.kintone.interface.KintoneClient``."""

    def __init__(self) -> None:
        self.apps: dict[str, FakeApp] = {}
        self.files: dict[str, tuple[str, bytes, str]] = {}  # fileKey -> (name, content, type)
        self.calls: Counter = Counter()  # (method, app) -> count
        self._failures: dict[str, list[Exception]] = defaultdict(list)
        self._lost_answers: Counter = Counter()
        self._pauses: dict[str, list[Pause]] = defaultdict(list)
        self._lock = threading.RLock()

    # -- set-up used by tests and the embedded mode ----------------------------------

    def add_app(self, app: FakeApp) -> FakeApp:
        self.apps[str(app.app_id)] = app
        return app

    @classmethod
    def from_mappings(cls, mappings) -> "FakeKintone":
        """An empty fake whose apps have the fields and process of our mappings."""
        fake = cls()
        for m in mappings:
            fields = {spec.code: spec.type for spec in m.fields.values()}
            tables = {spec.code: {inner.code: inner.type for inner in spec.fields.values()}
                      for spec in m.fields.values() if spec.type == "SUBTABLE"}
            app = FakeApp(app_id=m.id, fields=fields, tables=tables)
            columns = [inner for spec in m.fields.values() for inner in spec.fields.values() if inner.options]
            for inner in columns:  # a table's columns: field codes are unique in an app
                app.form_properties[inner.code] = {"options": {o: {"label": o, "index": str(i)}
                                                               for i, o in enumerate(inner.options)}}
            for spec in m.fields.values():
                props: dict[str, Any] = {}
                if spec.options:
                    props["options"] = {o: {"label": o, "index": str(i)} for i, o in enumerate(spec.options)}
                if spec.lookup and spec.lookup.app in mappings:
                    props["lookup"] = {"relatedApp": {"app": mappings[spec.lookup.app].id, "code": ""},
                                       "relatedKeyField": spec.lookup.key,
                                       "fieldMappings": [{"field": ours, "relatedField": theirs}
                                                         for ours, theirs in spec.lookup.copies.items()]}
                if props:
                    app.form_properties[spec.code] = props
            if m.process:
                status = next((s for s in m.fields.values() if s.type == "STATUS"), None)
                app.status_field = status.code if status else "ステータス"
                app.initial_status = next(iter(m.process.statuses.values()))
                app.actions = [
                    FakeAction(a.name, m.process.statuses[a.from_status], m.process.statuses[a.to_status],
                               needs_assignee=bool(a.assignee), condition=a.condition)
                    for a in m.process.actions.values()
                ]
            fake.add_app(app)
        return fake

    def seed(self, app: str, values: dict[str, Any], status: str | None = None) -> str:
        """Store a record given as {field code: value}; return its id (no call counted)."""
        with self._lock:
            a = self._app(app)
            record = {code: {"type": a.fields.get(code, "SINGLE_LINE_TEXT"), "value": v} for code, v in values.items()}
            rid, _ = self._insert(a, record)
            if status and a.status_field:
                a.records[rid][a.status_field]["value"] = status
            return rid

    def fail_next(self, method: str, error: Exception, times: int = 1) -> None:
        self._failures[method].extend([error] * times)

    def lose_answer_of(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls of a write method take effect, then raise a timeout."""
        self._lost_answers[method] += times

    def pause_next(self, method: str) -> "Pause":
        """Hold the next call of ``method`` (before it does anything) until ``resume()``."""
        pause = Pause()
        self._pauses[method].append(pause)
        return pause

    def record_values(self, app: str, record_id: str) -> dict[str, Any]:
        """{field code: value} of a stored record, for assertions."""
        return {k: v["value"] for k, v in self._app(app).records[str(record_id)].items()}

    def comment_texts(self, app: str, record_id: str) -> list[str]:
        return [c.text for c in self._app(app).comments[str(record_id)]]

    # -- the KintoneClient interface -------------------------------------------------

    def get_record(self, app: str, record_id: str) -> Record:
        self._enter("get_record", app)
        with self._lock:
            return _copy(self._record(app, record_id))

    def get_records(self, app: str, query: str = "", fields: list[str] | None = None, limit: int = 500) -> list[Record]:
        self._enter("get_records", app)
        if limit > 500:
            raise e.KintoneValidationError("limit must be 500 or less", status=400, code="CB_VA01")
        try:
            parsed = q.parse(query)
        except q.QueryError as exc:
            raise e.KintoneValidationError(f"query: {exc}", status=400, code="GAIA_IQ11") from exc
        with self._lock:
            # may_match first: a cheap look at the floors the condition implies (the reconcile
            # sweep's 更新日時 window, a seek past $id) spares the whole condition most records.
            rows = [r for r in self._app(app).records.values() if parsed.may_match(r) and parsed.predicate(r)]
            for code, desc in reversed(parsed.order_by or [("$id", True)]):
                rows.sort(key=lambda r, c=code: q.sort_key(r, c), reverse=desc)
            # The live client appends ``limit <limit>`` to the query: the parameter is the page size.
            n = min(parsed.limit, limit) if parsed.limit is not None else limit
            rows = rows[parsed.offset: parsed.offset + n]
            if fields:
                keep = set(fields) | {"$id", "$revision"}
                rows = [{k: v for k, v in r.items() if k in keep} for r in rows]
            return [_copy(r) for r in rows]  # only the page leaves, as copies

    def add_record(self, app: str, record: Record) -> tuple[str, str]:
        self._enter("add_record", app)
        with self._lock:
            a = self._app(app)
            self._validate(a, record)
            result = self._insert(a, {code: {"type": a.fields[code], "value": cell.get("value")}
                                      for code, cell in record.items()})
        self._maybe_lose("add_record")
        return result

    def add_records(self, app: str, records: list[Record]) -> list[str]:
        self._enter("add_records", app)
        if not 1 <= len(records) <= 100:
            raise e.KintoneValidationError("A maximum of 100 records can be added at one time.", status=400,
                                           code="CB_VA01")
        with self._lock:
            a = self._app(app)
            for record in records:  # all or none, as kintone does
                self._validate(a, record)
            return [self._insert(a, {code: {"type": a.fields[code], "value": cell.get("value")}
                                     for code, cell in record.items()})[0] for record in records]

    def update_record(self, app: str, record_id: str, record: Record, revision: str | None = None) -> str:
        self._enter("update_record", app)
        with self._lock:
            revision = self._update(app, record_id, record, revision)
        self._maybe_lose("update_record")
        return revision

    def update_status(self, app: str, record_id: str, action: str, assignee: str | None = None,
                      revision: str | None = None) -> str:
        self._enter("update_status", app)
        with self._lock:
            revision = self._act(app, record_id, action, assignee, revision)
        self._maybe_lose("update_status")
        return revision

    def update_records(self, app: str, updates: list[RecordUpdate]) -> list[str]:
        self._enter("update_records", app)
        with self._lock, self._all_or_nothing([(app, u.id) for u in updates]):
            revisions = [self._update(app, u.id, u.record, u.revision) for u in self._bulk_items(updates)]
        self._maybe_lose("update_records")
        return revisions

    def update_statuses(self, app: str, actions: list[StatusAction]) -> list[str]:
        self._enter("update_statuses", app)
        with self._lock, self._all_or_nothing([(app, x.id) for x in actions]):
            revisions = [self._act(app, x.id, x.action, x.assignee, x.revision) for x in self._bulk_items(actions)]
        self._maybe_lose("update_statuses")
        return revisions

    def bulk_request(self, writes: list[BulkWrite]) -> list[list[str]]:
        """All or none, in order; a refused request raises with its ``request_index`` (as kintone answers)."""
        apps = list(dict.fromkeys(str(w.app) for w in writes))
        for app in apps:  # kintone's daily quota is per app; counted against every app touched (UNCONFIRMED)
            self._enter("bulk_request", app)
        if not 1 <= len(writes) <= MAX_REQUESTS_PER_BULK:
            raise e.KintoneValidationError(f"between 1 and {MAX_REQUESTS_PER_BULK} requests fit in one bulkRequest",
                                           status=400, code="CB_VA01")
        results = []
        added: list[tuple[str, str]] = []  # (app, id) of the records added, removed again on a refusal
        with self._lock, self._all_or_nothing([(w.app, i.id) for w in writes for i in w.items
                                               if not isinstance(i, NewRecord)]):
            try:
                for index, w in enumerate(writes):
                    try:
                        items = self._bulk_items(list(w.items))
                        if w.kind == "update_statuses":
                            results.append([self._act(w.app, x.id, x.action, x.assignee, x.revision) for x in items])
                        elif w.kind == "add_records":
                            a = self._app(w.app)
                            for x in items:
                                self._validate(a, x.record)
                            ids = [self._insert(a, {code: {"type": a.fields[code], "value": cell.get("value")}
                                                    for code, cell in x.record.items()})[0] for x in items]
                            added += [(str(w.app), rid) for rid in ids]
                            results.append(ids)
                        else:
                            results.append([self._update(w.app, u.id, u.record, u.revision) for u in items])
                    except e.KintoneError as exc:
                        exc.request_index = index
                        raise
            except BaseException:
                for app, rid in added:
                    self.apps[app].records.pop(rid, None)
                raise
        self._maybe_lose("bulk_request")
        return results

    def add_comment(self, app: str, record_id: str, text: str, mentions: list[Mention] = ()) -> str:
        self._enter("add_comment", app)
        if len(text) > 65535:
            raise e.KintoneValidationError("comment text too long", status=400, code="CB_VA01")
        if len(mentions) > 10:
            raise e.KintoneValidationError("at most 10 mentions", status=400, code="CB_VA01")
        with self._lock:
            self._record(app, record_id)
            bucket = self._app(app).comments[str(record_id)]
            comment = Comment(id=str(len(bucket) + 1), text=text, mentions=list(mentions), creator="Administrator")
            bucket.append(comment)
        self._maybe_lose("add_comment")
        return comment.id

    def get_comments(self, app: str, record_id: str, limit: int = 10) -> list[Comment]:
        self._enter("get_comments", app)
        with self._lock:
            self._record(app, record_id)
            return list(reversed(self._app(app).comments[str(record_id)]))[:limit]

    def get_form_fields(self, app: str) -> dict[str, dict[str, Any]]:
        self._enter("get_form_fields", app)
        a = self._app(app)
        # kintone lists the system fields too; these are the ones this fake's records carry.
        system = {"レコード番号": "RECORD_NUMBER", "作成者": "CREATOR", "作成日時": "CREATED_TIME", "更新者": "MODIFIER",
                  "更新日時": "UPDATED_TIME"}
        if a.status_field:
            system.update({a.status_field: "STATUS", "作業者": "STATUS_ASSIGNEE"})
        fields = {code: {"type": t, "code": code, "label": code} for code, t in {**system, **a.fields}.items()}
        for code, props in fields.items():
            props.update(a.form_properties.get(code, {}))
            if props["type"] == "STATUS":
                props["enabled"] = a.status_field is not None
            if props["type"] == "SUBTABLE":  # kintone lists a table's own fields inside it
                props["fields"] = {c: {"type": t, "code": c, "label": c, **a.form_properties.get(c, {})}
                                   for c, t in a.tables.get(code, {}).items()}
        return fields

    def get_process_settings(self, app: str) -> dict[str, Any]:
        self._enter("get_process_settings", app)
        a = self._app(app)
        statuses = {}
        for x in a.actions:
            for s in (x.from_status, x.to_status):
                statuses.setdefault(s, {"name": s, "index": str(len(statuses))})
        return {
            "enable": a.status_field is not None,
            "states": statuses,
            "actions": [{"name": x.name, "from": x.from_status, "to": x.to_status, "filterCond": x.condition or ""}
                        for x in a.actions],
            "revision": "1",
        }

    def upload_file(self, name: str, content: bytes, content_type: str) -> str:
        self._enter("upload_file", None)
        key = str(uuid.uuid4())
        self.files[key] = (name, content, content_type)
        return key

    def download_file(self, file_key: str) -> bytes:
        self._enter("download_file", None)
        if file_key not in self.files:
            raise e.KintoneNotFound("file not found", status=404, code="GAIA_BL01")
        return self.files[file_key][1]

    # -- internals -------------------------------------------------------------------

    def _update(self, app: str, record_id: str, record: Record, revision: str | None) -> str:
        a = self._app(app)
        current = self._record(app, record_id)
        self._check_revision(current, revision)
        self._validate(a, record)
        for code, cell in record.items():
            value = cell.get("value")
            if a.fields[code] == "FILE":
                value = [self._attach(f) for f in value or []]
            current[code] = {"type": a.fields[code], "value": value}
        return self._touch(current, 1)

    def _act(self, app: str, record_id: str, action: str, assignee: str | None, revision: str | None) -> str:
        a = self._app(app)
        if not a.status_field:
            raise e.KintoneProcessDisabled("process management is disabled", status=400, code="GAIA_ST02")
        current = self._record(app, record_id)
        self._check_revision(current, revision)
        status = current[a.status_field]["value"]
        match = next((x for x in a.actions if x.name == action and x.from_status == status), None)
        # An action whose condition the record does not meet is not offered: kintone refuses it
        # like an action from another status (the exact code is UNCONFIRMED; GAIA_IL03 assumed).
        if match is None or not match.allows(current):
            raise e.KintoneStatusConflict(
                "Failed to update the status. The settings or the status itself may have been changed by someone.",
                status=400, code="GAIA_IL03")
        if match.needs_assignee and not assignee:
            raise e.KintoneAssigneeRequired("作業者を指定してください。", status=400, code="GAIA_SA01")
        current[a.status_field]["value"] = match.to_status
        current["作業者"] = {"type": "STATUS_ASSIGNEE", "value": [{"code": assignee, "name": assignee}] if assignee else []}
        return self._touch(current, 2)

    @contextlib.contextmanager
    def _all_or_nothing(self, targets: list[tuple[str, str]]):
        """kintone's bulk calls: a refused item rolls back everything the call did ((app, record id) touched)."""
        saved = {}
        for app, rid in targets:
            record = self._app(app).records.get(str(rid))
            if record is not None:
                saved.setdefault((str(app), str(rid)), copy.deepcopy(record))
        try:
            yield
        except BaseException:
            for (app, rid), record in saved.items():
                self.apps[app].records[rid] = record
            raise

    @staticmethod
    def _bulk_items(items: list) -> list:
        if not 1 <= len(items) <= MAX_RECORDS_PER_BULK_WRITE:
            raise e.KintoneValidationError("A maximum of 100 records can be updated at one time.", status=400,
                                           code="CB_VA01")
        return items

    def _enter(self, method: str, app: str | None) -> None:
        self.calls[(method, str(app) if app is not None else None)] += 1
        pauses = self._pauses.get(method)
        if pauses:
            pauses.pop(0).hold()
        pending = self._failures.get(method)
        if pending:
            raise pending.pop(0)

    def _maybe_lose(self, method: str) -> None:
        if self._lost_answers[method] > 0:
            self._lost_answers[method] -= 1
            raise e.KintoneConnectionError("read timed out after the request was sent (answer lost)")

    def _app(self, app: str) -> FakeApp:
        try:
            return self.apps[str(app)]
        except KeyError:
            raise e.KintoneNotFound(f"app {app} not found", status=404, code="GAIA_AP01") from None

    def _record(self, app: str, record_id: str) -> Record:
        record = self._app(app).records.get(str(record_id))
        if record is None:
            raise e.KintoneNotFound(f"指定したレコード（id: {record_id}）が見つかりません。", status=404, code="GAIA_RE01")
        return record

    def _insert(self, a: FakeApp, record: Record) -> tuple[str, str]:
        rid = str(next(a.next_id))
        now = _now()
        record = dict(record)
        for code, t in a.fields.items():
            if code not in record and t not in ("STATUS",):
                record[code] = {"type": t, "value": [] if t in ("CHECK_BOX", "MULTI_SELECT", "USER_SELECT", "FILE", "SUBTABLE") else ("" if t not in ("DATE", "DATETIME", "DROP_DOWN") else None)}
        for code, cell in record.items():
            if a.fields.get(code) == "FILE":
                cell["value"] = [self._attach(f) for f in cell["value"] or []]
        record["$id"] = {"type": "__ID__", "value": rid}
        record["$revision"] = {"type": "__REVISION__", "value": "1"}
        record["レコード番号"] = {"type": "RECORD_NUMBER", "value": rid}
        given = (record.get("作成日時") or {}).get("value")  # kintone lets an add set 作成日時
        record["作成日時"] = {"type": "CREATED_TIME", "value": given or now}
        record["更新日時"] = {"type": "UPDATED_TIME", "value": now}
        if a.status_field:
            record[a.status_field] = {"type": "STATUS", "value": a.initial_status}
            record["作業者"] = {"type": "STATUS_ASSIGNEE", "value": []}
        a.records[rid] = record
        return rid, "1"

    def _attach(self, ref: dict) -> dict:
        if "name" in ref:  # already an attached file (kept as is)
            return ref
        name, content, ctype = self.files.get(ref.get("fileKey"), (None, None, None))
        if name is None:
            raise e.KintoneValidationError("unknown fileKey", status=400, code="CB_VA01")
        return {"fileKey": ref["fileKey"], "name": name, "contentType": ctype, "size": str(len(content))}

    @staticmethod
    def _check_revision(current: Record, revision: str | None) -> None:
        if revision not in (None, "", "-1", -1) and str(revision) != current["$revision"]["value"]:
            raise e.KintoneRevisionConflict(
                "指定したrevisionは最新ではありません。ほかのユーザーがレコードを更新した可能性があります。",
                status=409, code="GAIA_CO02")

    @staticmethod
    def _validate(a: FakeApp, record: Record) -> None:
        unknown = [code for code in record if code not in a.fields]
        if unknown:
            raise e.KintoneValidationError(
                "Missing or invalid input.", status=400, code="CB_VA01",
                errors={f"record.{c}": {"messages": ["指定されたフィールドが見つかりません。"]} for c in unknown})
        bad = [c for c, cell in record.items() if a.fields[c] in ("STATUS", "RECORD_NUMBER", "CALC")]
        if bad:
            raise e.KintoneValidationError("Missing or invalid input.", status=400, code="CB_VA01",
                                           errors={f"record.{c}": {"messages": ["cannot be written"]} for c in bad})
        for code, cell in record.items():
            if a.fields[code] == "NUMBER" and cell.get("value") not in (None, ""):
                try:
                    float(cell["value"])
                except (TypeError, ValueError):
                    raise e.KintoneValidationError(
                        "Missing or invalid input.", status=400, code="CB_VA01",
                        errors={f"record.{code}.value": {"messages": ["数値でなければなりません。"]}}) from None

    @staticmethod
    def _touch(current: Record, by: int) -> str:
        new = str(int(current["$revision"]["value"]) + by)
        current["$revision"]["value"] = new
        current["更新日時"] = {"type": "UPDATED_TIME", "value": _now()}
        return new
