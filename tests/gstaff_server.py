"""G-Staff's read side as a small HTTP server on 127.0.0.1, backed by ``FakeGStaff`` state.

A worker process on the live G-Staff client (``KGBRIDGE_GSTAFF_BASE_URL`` = ``server.url``) reads
what the contract's dispatch-law check needs over loopback, in the shapes of docs/gstaff-openapi.yaml:

    GET /clients/{id}/history       GET /clients/{id}/assignments       GET /staff/{id}

Any other path answers 404 ``not_found``. Every request needs ``Authorization: Bearer <api_key>``.
The server logs nothing (answers carry birth dates).

    with GStaffServer(FakeGStaff.with_samples(), API_KEY) as server: ...
"""

from __future__ import annotations

import json
import re
import threading

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from connectors.gstaff.errors import GStaffNotFound
from connectors.gstaff.fake import FakeGStaff

_HISTORY = re.compile(r"^/clients/(?P<id>[^/]+)/history$")
_ASSIGNMENTS = re.compile(r"^/clients/(?P<id>[^/]+)/assignments$")
_STAFF = re.compile(r"^/staff/(?P<id>[^/]+)$")


class _Quiet(WSGIRequestHandler):
    def log_request(self, *_args, **_kw) -> None:
        pass


class GStaffServer:
    def __init__(self, fake: FakeGStaff, api_key: str) -> None:
        self.fake = fake
        self.api_key = api_key
        self.paths: list[str] = []
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="gstaff-server")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> GStaffServer:
        if not self._thread.is_alive():
            self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> GStaffServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _app(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            self.paths.append(request.path)
        status, body = self._handle(request)
        return Response(json.dumps(body, ensure_ascii=False), status=status,
                        content_type="application/json; charset=utf-8")(environ, start_response)

    def _handle(self, request: Request) -> tuple[int, dict]:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return 401, {"code": "unauthorized", "message": "missing or wrong API key"}
        path = request.path
        try:
            if request.method == "GET" and (m := _HISTORY.match(path)):
                return 200, _history(self.fake.get_history(m["id"]))
            if request.method == "GET" and (m := _ASSIGNMENTS.match(path)):
                return 200, {"client_id": m["id"],
                             "assignments": [_assignment(a) for a in self.fake.get_assignments(m["id"])]}
            if request.method == "GET" and (m := _STAFF.match(path)):
                member = self.fake.get_staff(m["id"])
                return 200, {"staff_id": member.staff_id, "employment_type": str(member.employment_type),
                             "birth_date": member.birth_date.isoformat() if member.birth_date else None,
                             "former_employers": [{"client_id": f.client_id, "left_on": f.left_on.isoformat(),
                                                   "mandatory_retirement": f.mandatory_retirement}
                                                  for f in member.former_employers]}
        except GStaffNotFound:
            return 404, {"code": "not_found", "message": "no such client or staff"}
        return 404, {"code": "not_found", "message": "no such operation"}


def _history(history) -> dict:
    return {
        "client_id": history.client_id,
        "troubles": [{"occurred_on": t.occurred_on.isoformat(), "category": t.category, "summary": t.summary}
                     for t in history.troubles],
        "work_sites": [{"name": s.name, "conflict_date": s.conflict_date.isoformat() if s.conflict_date else None}
                       for s in history.work_sites],
        "turnover_rate": float(history.turnover_rate) if history.turnover_rate is not None else None,
        "current_staff": history.current_staff,
        "past_staff": history.past_staff,
    }


def _assignment(a) -> dict:
    return {"staff_id": a.staff_id, "work_site": a.work_site, "organization_unit": a.organization_unit,
            "start_on": a.start_on.isoformat(), "end_on": a.end_on.isoformat(), "reference": a.reference or None,
            "period_limited": a.period_limited}
