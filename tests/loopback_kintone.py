"""kintone played on 127.0.0.1 for tests that exercise the live connector end to end.

A small WSGI server backed by ``FakeKintone`` state, speaking the REST shapes of
reference/kintone.md §2: record, records, record/status, record/comment(s), file. It checks
the API token header. ``script`` queues canned answers (429, 503 HTML, ...) per path, so
outages can be rehearsed against the real client and its retries.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from dataclasses import dataclass

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from connectors.kintone import KintoneError
from connectors.kintone.fake import FakeKintone
from connectors.kintone.interface import Mention


@dataclass
class Canned:
    status: int
    body: str
    headers: dict


class LoopbackKintone:
    def __init__(self, fake: FakeKintone, token: str) -> None:
        self.fake = fake
        self.token = token
        self.requests: list[tuple[str, str]] = []
        self._script: dict[str, deque] = defaultdict(deque)
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="loopback-kintone")

    def __enter__(self) -> "LoopbackKintone":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()

    def script(self, path: str, status: int, body: str | dict = "", headers: dict | None = None, times: int = 1):
        """Answer the next ``times`` requests to ``path`` with this instead of the real thing."""
        text = json.dumps(body) if isinstance(body, dict) else body
        for _ in range(times):
            self._script[path].append(Canned(status, text, headers or {}))

    # -- the WSGI app ----------------------------------------------------------------

    def _app(self, environ, start_response):
        request = Request(environ)
        self.requests.append((request.method, request.path))
        canned = self._script[request.path].popleft() if self._script[request.path] else None
        if canned:
            response = Response(canned.body, status=canned.status, headers=canned.headers,
                                content_type=canned.headers.get("Content-Type", "application/json"))
        elif self.token not in (request.headers.get("X-Cybozu-API-Token") or "").split(","):
            response = self._json({"code": "CB_WA01", "id": "loopback", "message": "ユーザーのパスワード認証に失敗しました。"}, 401)
        else:
            try:
                response = self._json(self._handle(request))
            except KintoneError as exc:
                response = self._json({"code": exc.code, "id": "loopback", "message": exc.message,
                                       **({"errors": exc.errors} if exc.errors else {})}, exc.status or 400)
        return response(environ, start_response)

    @staticmethod
    def _json(body: dict, status: int = 200) -> Response:
        return Response(json.dumps(body, ensure_ascii=False), status=status, content_type="application/json")

    def _handle(self, request: Request) -> dict:
        method = request.headers.get("X-HTTP-Method-Override", request.method)
        path = request.path.replace("/k/v1/", "")
        args = request.args if method == "GET" and request.method == "GET" else (request.get_json(silent=True) or {})
        fake = self.fake
        if (method, path) == ("GET", "record.json"):
            return {"record": fake.get_record(args["app"], args["id"])}
        if (method, path) == ("GET", "records.json"):
            fields = args.get("fields") if isinstance(args, dict) and isinstance(args.get("fields"), list) else None
            if fields is None and hasattr(args, "getlist"):
                fields = [v for k, v in args.items(multi=True) if k.startswith("fields")] or None
            return {"records": fake.get_records(args["app"], args.get("query", ""), fields), "totalCount": None}
        if (method, path) == ("POST", "record.json"):
            rid, rev = fake.add_record(str(args["app"]), args["record"])
            return {"id": rid, "revision": rev}
        if (method, path) == ("PUT", "record.json"):
            return {"revision": fake.update_record(str(args["app"]), str(args["id"]), args.get("record", {}),
                                                   args.get("revision"))}
        if (method, path) == ("PUT", "record/status.json"):
            return {"revision": fake.update_status(str(args["app"]), str(args["id"]), args["action"],
                                                   args.get("assignee"), args.get("revision"))}
        if (method, path) == ("POST", "record/comment.json"):
            comment = args["comment"]
            mentions = [Mention(m["code"], m.get("type", "USER")) for m in comment.get("mentions", [])]
            return {"id": fake.add_comment(str(args["app"]), str(args["record"]), comment["text"], mentions)}
        if (method, path) == ("GET", "record/comments.json"):
            comments = fake.get_comments(args["app"], args["record"], int(args.get("limit", 10)))
            return {"comments": [{"id": c.id, "text": c.text, "createdAt": "", "creator": {"code": c.creator, "name": ""},
                                  "mentions": [m.as_json() for m in c.mentions]} for c in comments],
                    "older": False, "newer": False}
        return {"code": "CB_IL02", "message": f"not served by the loopback kintone: {method} {path}"}
