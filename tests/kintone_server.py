"""kintone as a small HTTP server on 127.0.0.1, backed by ``FakeKintone`` state, that a test controls.

The real ``LiveKintoneClient`` (and a worker process using it) talks to it over loopback, so its
retries, timeouts and error mapping are exercised for real. The test decides how kintone misbehaves:

    with KintoneServer(fake, tokens={"3": "token…"}) as server:
        server.fail(rate_limited(retry_after=1), times=3)          # the next 3 requests get 429
        server.fail(maintenance_page(), seconds=2.0)               # the HTML 503 page for 2 s
        held = server.hold("PUT", "record/status")                 # apply the action, then hold the answer
        held.reached.wait(10); ...; held.release()

Answers follow kintone's shapes (reference/kintone.md §2): JSON bodies, errors as
``{"code", "id", "message", "errors"}`` with ``X-Cybozu-Error``, the maintenance page as HTML.
``server.requests`` logs every request (method, resource, status, time) for assertions;
``fake.calls`` counts only the calls that reached kintone's data.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connectors.kintone.errors import KintoneError
from connectors.kintone.fake import FakeKintone
from connectors.kintone.interface import BulkWrite, Mention, NewRecord, RecordUpdate, StatusAction

MAINTENANCE_HTML = (
    '<!DOCTYPE html><html lang="ja"><head><title>メンテナンス中 | cybozu.com</title></head>'
    "<body><h1>ただいまメンテナンス中です</h1><p>しばらくお待ちください。</p></body></html>"
)
HOLD_LIMIT_SECONDS = 60.0  # a held request is answered after this long even if never released


@dataclass
class Answer:
    """A canned answer the server gives instead of the real one."""

    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, code: str, message: str, retry_after: float | None = None, **headers: str) -> Answer:
    body = json.dumps({"code": code, "id": uuid.uuid4().hex[:20], "message": message}).encode()
    hdrs = {"X-Cybozu-Error": code, **headers}
    if retry_after is not None:
        hdrs["Retry-After"] = str(retry_after)
    return Answer(status, body, headers=hdrs)


def rate_limited(retry_after: float | None = None) -> Answer:
    """429 GAIA_TO04: too many concurrent requests for the domain."""
    return _error(429, "GAIA_TO04", "The number of concurrent API requests exceeds the limit.", retry_after,
                  **{"X-ConcurrencyLimit-Limit": "100", "X-ConcurrencyLimit-Running": "100"})


def unavailable(retry_after: float | None = None) -> Answer:
    """503 with a JSON body (a proxy or kintone itself overloaded)."""
    return _error(503, "GAIA_UN03", "Service temporarily unavailable.", retry_after)


def maintenance_page(retry_after: float | None = None) -> Answer:
    """503 with kintone's HTML maintenance page (no JSON, no error code)."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return Answer(503, MAINTENANCE_HTML.encode(), "text/html; charset=utf-8", headers)


def no_permission() -> Answer:
    """403 CB_NO02: the API token lacks the permission; retrying cannot help."""
    return _error(403, "CB_NO02", "No privilege to proceed.")


@dataclass
class _Fault:
    answer: Answer
    method: str | None
    resource: str | None
    times: int | None
    until: float | None
    after_effect: bool = False

    def matches(self, method: str, resource: str, now: float) -> bool:
        if self.method and self.method != method:
            return False
        if self.resource and self.resource != resource:
            return False
        if self.until is not None and now >= self.until:
            return False
        return self.times is None or self.times > 0


@dataclass
class Hold:
    """One request held open: ``reached`` is set when it arrives, ``release()`` lets it answer."""

    method: str
    resource: str
    after_effect: bool
    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    used: bool = False

    def release(self) -> None:
        self.released.set()


@dataclass
class Request:
    method: str
    resource: str
    status: int
    at: float  # time.monotonic()
    app: str | None = None


class KintoneServer:
    """A threaded HTTP server speaking kintone's REST API over ``fake``'s state."""

    def __init__(self, fake: FakeKintone, tokens: dict[str, str | list[str]] | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.fake = fake
        self.tokens = {str(app): ([t] if isinstance(t, str) else list(t)) for app, t in (tokens or {}).items()}
        self.requests: list[Request] = []
        self._faults: list[_Fault] = []
        self._holds: list[Hold] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> KintoneServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="kintone-server")
        self._thread.start()
        return self

    def stop(self) -> None:
        for hold in self._holds:
            hold.release()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> KintoneServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what the test controls --------------------------------------------------------

    def fail(self, answer: Answer, *, times: int | None = 1, seconds: float | None = None,
             method: str | None = None, resource: str | None = None, after_effect: bool = False) -> None:
        """Answer matching requests with ``answer``: the next ``times`` of them, or for ``seconds``.

        ``after_effect``: kintone does the work first and still answers with the error (a 5xx
        from a proxy after the save), so the caller cannot tell whether it happened.
        """
        until = time.monotonic() + seconds if seconds is not None else None
        if seconds is not None:
            times = None
        with self._lock:
            self._faults.append(_Fault(answer, method, resource, times, until, after_effect))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def hold(self, method: str, resource: str, *, after_effect: bool = True) -> Hold:
        """Hold the next matching request open until released.

        ``after_effect``: kintone has done the work (the answer is what gets lost), else the
        request is held before anything happens.
        """
        hold = Hold(method, resource, after_effect)
        with self._lock:
            self._holds.append(hold)
        return hold

    def count(self, method: str | None = None, resource: str | None = None, status: int | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests
                       if (method is None or r.method == method) and (resource is None or r.resource == resource)
                       and (status is None or r.status == status))

    # -- internals ---------------------------------------------------------------------

    def _take_fault(self, method: str, resource: str) -> _Fault | None:
        now = time.monotonic()
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, resource, now):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _take_hold(self, method: str, resource: str) -> Hold | None:
        with self._lock:
            for hold in self._holds:
                if not hold.used and hold.method == method and hold.resource == resource:
                    hold.used = True
                    return hold
        return None

    def _log(self, method: str, resource: str, status: int, app: str | None) -> None:
        with self._lock:
            self.requests.append(Request(method, resource, status, time.monotonic(), app))

    def _authorised(self, app: str | None, header: str | None) -> bool:
        if not self.tokens:
            return True
        given = [t.strip() for t in (header or "").split(",") if t.strip()]
        if app is None:
            return bool(given) and all(any(t in ts for ts in self.tokens.values()) for t in given)
        return any(t in self.tokens.get(str(app), []) for t in given)

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers, body: bytes) -> Answer:
        resource = path.split("/v1/", 1)[-1].removesuffix(".json")
        params = {k: v[0] for k, v in query.items()}
        data: dict[str, Any] = {}
        if body and (headers.get("Content-Type") or "").startswith("application/json"):
            try:
                data = json.loads(body)
            except ValueError:
                return _error(400, "CB_IL02", "Illegal request.")
        if method == "POST" and headers.get("X-HTTP-Method-Override") == "GET":
            method, params = "GET", data
        app = str(data.get("app") or params.get("app") or "") or None
        if resource == "bulkRequest":  # logged under every app its requests touch
            app = ",".join(dict.fromkeys(str((r.get("payload") or {}).get("app")) for r in data.get("requests") or [])
                           ) or None

        fault = self._take_fault(method, resource)
        if fault is not None and not fault.after_effect:
            self._log(method, resource, fault.answer.status, app)
            return fault.answer
        if not self._authorised(app, headers.get("X-Cybozu-API-Token")):
            self._log(method, resource, 401, app)
            return _error(401, "CB_WA01", "Password authentication failed.")

        hold = self._take_hold(method, resource)
        if hold is not None and not hold.after_effect:
            self._wait(hold)
        try:
            answer = self._apply(method, resource, params, data, headers, body)
        except KintoneError as exc:
            answer = _error(exc.status or 400, exc.code or "CB_VA01", exc.message)
            if exc.errors:
                answer.body = json.dumps({**json.loads(answer.body), "errors": exc.errors}).encode()
            if resource == "bulkRequest" and exc.request_index is not None:
                # kintone names the refused request by its place: {"results": [{}, {error}, {}]}
                results: list[dict] = [{} for _ in data.get("requests") or []]
                results[exc.request_index] = json.loads(answer.body)
                answer.body = json.dumps({"results": results}, ensure_ascii=False).encode()
        if hold is not None and hold.after_effect:
            self._wait(hold)
        if fault is not None:
            answer = fault.answer
        self._log(method, resource, answer.status, app)
        return answer

    @staticmethod
    def _wait(hold: Hold) -> None:
        hold.reached.set()
        hold.released.wait(HOLD_LIMIT_SECONDS)

    def _apply(self, method: str, resource: str, params: dict, data: dict, headers, body: bytes) -> Answer:
        fake = self.fake
        key = (method, resource)
        if key == ("GET", "record"):
            return _json({"record": fake.get_record(params["app"], params["id"])})
        if key == ("GET", "records"):
            fields = params.get("fields") or [v for k, v in sorted(params.items()) if k.startswith("fields[")]
            records = fake.get_records(params["app"], params.get("query", ""), fields or None)
            return _json({"records": records, "totalCount": None})
        if key == ("POST", "record"):
            rid, rev = fake.add_record(str(data["app"]), data.get("record") or {})
            return _json({"id": rid, "revision": rev})
        if key == ("POST", "records"):  # {"ids": [...], "revisions": [...]}, all or none (reference/kintone.md)
            ids = fake.add_records(str(data["app"]), data.get("records") or [])
            return _json({"ids": ids, "revisions": ["1"] * len(ids)})
        if key == ("PUT", "record"):
            rev = fake.update_record(str(data["app"]), str(data["id"]), data.get("record") or {},
                                     revision=_opt(data.get("revision")))
            return _json({"revision": rev})
        if key == ("PUT", "record/status"):
            rev = fake.update_status(str(data["app"]), str(data["id"]), data["action"],
                                     assignee=data.get("assignee"), revision=_opt(data.get("revision")))
            return _json({"revision": rev})
        if key == ("PUT", "records"):
            revs = fake.update_records(str(data["app"]), [_update(r) for r in data.get("records") or []])
            return _json({"records": [{"id": str(r["id"]), "revision": rev}
                                      for r, rev in zip(data["records"], revs, strict=True)]})
        if key == ("PUT", "records/status"):
            revs = fake.update_statuses(str(data["app"]), [_action(r) for r in data.get("records") or []])
            return _json({"records": [{"id": str(r["id"]), "revision": rev}
                                      for r, rev in zip(data["records"], revs, strict=True)]})
        if key == ("POST", "bulkRequest"):
            writes = [_bulk_write(r) for r in data.get("requests") or []]
            results = fake.bulk_request(writes)
            return _json({"results": [{"ids": out, "revisions": ["1"] * len(out)} if w.kind == "add_records" else
                                      {"records": [{"id": i.id, "revision": rev} for i, rev in zip(w.items, out,
                                                                                                   strict=True)]}
                                      for w, out in zip(writes, results, strict=True)]})
        if key == ("POST", "record/comment"):
            comment = data.get("comment") or {}
            mentions = [Mention(m["code"], m.get("type") or "USER") for m in comment.get("mentions") or []]
            cid = fake.add_comment(str(data["app"]), str(data["record"]), comment.get("text") or "", mentions)
            return _json({"id": cid})
        if key == ("GET", "record/comments"):
            comments = fake.get_comments(params["app"], params["record"], int(params.get("limit", 10)))
            return _json({"comments": [{"id": c.id, "text": c.text, "createdAt": "2026-01-01T00:00:00Z",
                                        "creator": {"code": c.creator, "name": c.creator},
                                        "mentions": [m.as_json() for m in c.mentions]} for c in comments],
                          "older": False, "newer": False})
        if key == ("GET", "app/form/fields"):
            return _json({"properties": fake.get_form_fields(params["app"]), "revision": "1"})
        if key == ("GET", "app/status"):
            return _json(fake.get_process_settings(params["app"]))
        if key == ("POST", "file"):
            name, content, ctype = _first_file(headers.get("Content-Type") or "", body)
            return _json({"fileKey": fake.upload_file(name, content, ctype)})
        if key == ("GET", "file"):
            content = fake.download_file(params["fileKey"])
            return Answer(200, content, "application/octet-stream")
        return _error(404, "CB_NF01", f"unknown API {method} {resource}")


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _update(item: dict) -> RecordUpdate:
    return RecordUpdate(str(item["id"]), item.get("record") or {}, _opt(item.get("revision")))


def _action(item: dict) -> StatusAction:
    return StatusAction(str(item["id"]), item["action"], item.get("assignee"), _opt(item.get("revision")))


def _bulk_write(request: dict) -> BulkWrite:
    """One request of a bulkRequest: only the bulk writes kgbridge sends (PUT records / records/status,
    POST records)."""
    api = str(request.get("api") or "").split("/v1/", 1)[-1].removesuffix(".json")
    payload = request.get("payload") or {}
    if request.get("method") == "POST" and api == "records":
        return BulkWrite(str(payload["app"]), tuple(NewRecord(r) for r in payload.get("records") or []))
    if request.get("method") != "PUT" or api not in ("records", "records/status"):
        raise KintoneError(f"bulkRequest: {request.get('method')} {api} is not served here", status=400,
                           code="CB_VA01")
    convert = _action if api == "records/status" else _update
    return BulkWrite(str(payload["app"]), tuple(convert(r) for r in payload.get("records") or []))


def _json(body: Any) -> Answer:
    return Answer(200, json.dumps(body, ensure_ascii=False).encode())


def _first_file(content_type: str, body: bytes) -> tuple[str, bytes, str]:
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    for part in message.iter_parts():
        if part.get_filename():
            return part.get_filename(), part.get_payload(decode=True), part.get_content_type()
    raise KintoneError("no file in the upload", status=400, code="CB_IL02")


def _handler_for(server: KintoneServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body leave in two writes; without this, Nagle + delayed ACK add ~40 ms
            # to every answer on a kept-alive connection.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            answer = server.handle(self.command, parts.path, parse_qs(parts.query), self.headers, body)
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away (killed while we held its request)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *_args) -> None:  # quiet: tests read server.requests instead
            pass

    return Handler
