"""G-Staff's read side as a small HTTP server on 127.0.0.1, backed by ``FakeGStaff`` state.

A worker process on the live G-Staff client (``KGBRIDGE_GSTAFF_BASE_URL`` = ``server.url``) reads
what the contract's dispatch-law check needs over loopback, and what the client lookup searches and
registers, in the shapes of docs/gstaff-openapi.yaml:

    GET /clients/{id}/history       GET /clients/{id}/assignments       GET /staff/{id}
    GET /clients (search)           GET /clients/by-reference           POST /clients (register)
    GET /reps/workload (the routing's rep workload)
    POST /individual-contracts (contract_staffing's share)   PUT /contracts/{id}/retention (master_retention)

Any other path answers 404 ``not_found``. Every request needs ``Authorization: Bearer <api_key>``.
The server logs nothing (answers carry birth dates).

    with GStaffServer(FakeGStaff.with_samples(), API_KEY) as server: ...
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from datetime import date

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from connectors.gstaff.errors import GStaffDataError, GStaffNotFound
from connectors.gstaff.fake import FakeGStaff
from connectors.gstaff.interface import NewClient, SharedIndividualContract

_HISTORY = re.compile(r"^/clients/(?P<id>[^/]+)/history$")
_ASSIGNMENTS = re.compile(r"^/clients/(?P<id>[^/]+)/assignments$")
_STAFF = re.compile(r"^/staff/(?P<id>[^/]+)$")
_RETENTION = re.compile(r"^/contracts/(?P<id>[^/]+)/retention$")


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
            if path == "/clients" and request.method == "GET":
                return 200, self._search(request.args)
            if path == "/clients" and request.method == "POST":
                return self._register(request.get_json())
            if path == "/clients/by-reference" and request.method == "GET":
                found = self.fake.find_client_by_reference(request.args.get("reference", ""))
                return (200, _client(found)) if found else (404, {"code": "not_found", "message": "no such client"})
            if path == "/reps/workload" and request.method == "GET":
                codes = [c for c in request.args.get("codes", "").split(",") if c]
                return 200, {"reps": [{"code": r.code, "current_staff": r.current_staff,
                                       "current_clients": r.current_clients}
                                      for r in self.fake.rep_workloads(codes).values()]}
            if request.method == "GET" and (m := _HISTORY.match(path)):
                return 200, _history(self.fake.get_history(m["id"]))
            if request.method == "GET" and (m := _ASSIGNMENTS.match(path)):
                return 200, {"client_id": m["id"],
                             "assignments": [_assignment(a) for a in self.fake.get_assignments(m["id"])]}
            if path == "/individual-contracts" and request.method == "POST":
                return self._share(request.get_json())
            if request.method == "PUT" and (m := _RETENTION.match(path)):
                body = request.get_json()
                kept = self.fake.extend_retention(m["id"], body.get("reference", ""),
                                                  date.fromisoformat(body["retention_until"]))
                return 200, {"archive_id": m["id"], "reference": body.get("reference", ""),
                             "retention_until": kept.isoformat()}
            if request.method == "GET" and (m := _STAFF.match(path)):
                member = self.fake.get_staff(m["id"])
                return 200, {"staff_id": member.staff_id, "employment_type": str(member.employment_type),
                             "birth_date": member.birth_date.isoformat() if member.birth_date else None,
                             "former_employers": [{"client_id": f.client_id, "left_on": f.left_on.isoformat(),
                                                   "mandatory_retirement": f.mandatory_retirement}
                                                  for f in member.former_employers]}
        except GStaffNotFound:
            return 404, {"code": "not_found", "message": "no such client or staff"}
        except GStaffDataError as exc:
            return (exc.status if exc.status in (400, 409) else 400), {"code": exc.code or "invalid_request",
                                                                         "message": str(exc)}
        return 404, {"code": "not_found", "message": "no such operation"}

    def _search(self, args) -> dict:
        """Every client matching any parameter, as the contract says (kgbridge narrows them itself)."""
        number, name, phone = args.get("corporate_number", ""), _squash(args.get("name", "")), args.get("phone", "")
        with self.fake._lock:
            clients = list(self.fake.clients.values())
        found = [c for c in clients if (number and c.corporate_number == number)
                 or (name and name in _squash(c.name)) or (phone and re.sub(r"\D", "", c.phone) == phone)]
        return {"clients": [_client(c) for c in found[:50]], "truncated": len(found) > 50}

    def _share(self, body: dict) -> tuple[int, dict]:
        reference = body.get("reference", "")
        existing = reference in self.fake.individual_contracts
        contract_id = self.fake.share_individual_contract(SharedIndividualContract(
            reference=reference, client_id=body.get("client_id", ""), staff_name=body.get("staff_name", ""),
            dispatch_start=date.fromisoformat(body["dispatch_start"]),
            dispatch_end=date.fromisoformat(body["dispatch_end"]),
            **{k: body[k] for k in ("order_id", "work_location", "job_description", "wage", "commander") if k in body}))
        return (200 if existing else 201), {"contract_id": contract_id, "reference": reference}

    def _register(self, body: dict) -> tuple[int, dict]:
        existing = self.fake.find_client_by_reference(body.get("reference", ""))
        client = self.fake.register_client(NewClient(
            name=body.get("name", ""), reference=body.get("reference", ""),
            corporate_number=body.get("corporate_number", ""), phone=body.get("phone", ""),
            address=body.get("address", "")))
        return (200 if existing else 201), _client(client)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or ""))


def _client(c) -> dict:
    return {"client_id": c.client_id, "name": c.name, "corporate_number": c.corporate_number or None,
            "phone": c.phone or None, "address": c.address or None, "reference": c.reference or None}


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
