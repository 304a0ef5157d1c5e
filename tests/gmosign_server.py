"""GMO Sign as a small HTTP server on 127.0.0.1, backed by ``FakeGmoSign`` state, that a test controls.

The real ``LiveGmoSignClient`` (and a worker process using it) talks to it over loopback, so the
token handling, the send's never-repeat rule and the error mapping run for real. It speaks the
paths and shapes the live client uses (reference/gmosign.md §1.3, connectors/gmosign/live.py):

    POST <token path>                                          {customer_id, secret_key} -> access_token
    POST /customer/envelopes/templates/{templateId}/transaction  send from a template (201)
    GET  /customer/documents/{documentId}                        {"downloadedDocument": base64}

Everything under /customer/ needs ``Authorization: Basic <customer id:secret key>`` (the gateway,
the default mode) or ``Bearer <a token this server issued>`` (native mode). ``POST /customer/connect``
and ``DELETE /customer/connect/{id}`` register and remove the callback (``hooks``). The
document code travels at the end of the envelope name (``… [kintone-contracts-12]``), as the live
client sends it, so ``fake.envelopes_for(code)`` finds what was sent for a record.

    with GmoSignServer(fake, CUSTOMER_ID, SECRET_KEY) as server:
        held = server.hold("send")          # create the envelope, then hold the answer
        held.reached.wait(10); ...; held.release()
        server.count("send")                # how many send requests arrived

``hold(..., after_effect=False)`` holds the request before anything happens instead. The server
logs nothing: bodies carry signers' names and addresses.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from connectors.gmosign import live
from connectors.gmosign.errors import GmoSignDataError, GmoSignNotFound
from connectors.gmosign.fake import FakeGmoSign
from connectors.gmosign.interface import Approver, Signer, TemplateSend
from tests.kintone_server import HOLD_LIMIT_SECONDS, Hold

# Every token this server issues starts so: the log scan looks for the prefix (tests/log_capture.py).
ACCESS_TOKEN_PREFIX = "gmosignLoopbackAccessToken-"
_SEND = re.compile(r"^/customer/envelopes/templates/(?P<template>[^/]+)/transaction$")
_DOCUMENT = re.compile(r"^/customer/documents/(?P<document>[^/]+)$")
_CONNECT = re.compile(r"^/customer/connect/(?P<connect>[^/]+)$")
_CODE_IN_NAME = re.compile(r"^(?P<name>.*) \[(?P<code>[^\[\]]+)\]$")


@dataclass
class Seen:
    operation: str  # token | send | download | unknown
    status: int


class _Quiet(WSGIRequestHandler):
    def log_request(self, *_args, **_kw) -> None:  # paths are all we would log; tests read .requests
        pass


class GmoSignServer:
    """A threaded HTTP server speaking the live client's GMO Sign API over ``fake``'s state."""

    def __init__(self, fake: FakeGmoSign, customer_id: str, secret_key: str, *,
                 token_path: str = live.DEFAULT_TOKEN_PATH) -> None:
        self.fake = fake
        self.customer_id = customer_id
        self.secret_key = secret_key
        self.token_path = "/" + token_path.lstrip("/")
        self.requests: list[Seen] = []
        self.tokens: set[str] = set()
        self.hooks: dict[str, dict] = {}  # connect id -> the registration body
        self._holds: list[tuple[str, Hold]] = []
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="gmosign-server")

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> GmoSignServer:
        if not self._thread.is_alive():
            self._thread.start()
        return self

    def stop(self) -> None:
        for _, hold in self._holds:
            hold.release()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> GmoSignServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what the test controls --------------------------------------------------------------

    def hold(self, operation: str, *, after_effect: bool = True) -> Hold:
        """Hold the next ``operation`` request open until released (after GMO Sign acted on it)."""
        hold = Hold("POST" if operation != "download" else "GET", operation, after_effect)
        with self._lock:
            self._holds.append((operation, hold))
        return hold

    def count(self, operation: str, status: int | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.operation == operation and (status is None or r.status == status))

    # -- the WSGI app ------------------------------------------------------------------------

    def _app(self, environ, start_response):
        request = Request(environ)
        operation, status, body = self._handle(request)
        with self._lock:
            self.requests.append(Seen(operation, status))
        return _json(body, status)(environ, start_response)

    def _handle(self, request: Request) -> tuple[str, int, dict]:
        path = request.path
        if request.method == "POST" and path == self.token_path:
            return ("token", *self._token(request))
        operation = ("send" if _SEND.match(path) and request.method == "POST"
                     else "download" if _DOCUMENT.match(path) and request.method == "GET"
                     else "connect" if path == "/customer/connect" and request.method == "POST"
                     else "disconnect" if _CONNECT.match(path) and request.method == "DELETE" else "unknown")
        if operation == "unknown":
            return operation, 404, _error("指定されたAPIは存在しません")
        if not self._authorized(request.headers.get("Authorization", "")):
            return operation, 401, _error("認証に失敗しました")
        if operation in ("connect", "disconnect"):
            return (operation, *self._hook(operation, request))
        hold = self._take_hold(operation)
        if hold is not None and not hold.after_effect:
            _wait(hold)
        try:
            if operation == "send":
                status, body = self._send(_SEND.match(path)["template"], request.get_json(silent=True))
            else:
                content = self.fake.download_document(_DOCUMENT.match(path)["document"])
                status, body = 200, {"status": "success", "downloadedDocument": base64.b64encode(content).decode()}
        except GmoSignNotFound as exc:
            status, body = 404, _error(exc.message)
        except GmoSignDataError as exc:
            status, body = 400, _error(exc.message)
        if hold is not None and hold.after_effect:
            _wait(hold)
        return operation, status, body

    def _authorized(self, header: str) -> bool:
        if header.startswith("Basic "):
            try:
                given = base64.b64decode(header.removeprefix("Basic ")).decode()
            except (ValueError, UnicodeDecodeError):
                return False
            return given == f"{self.customer_id}:{self.secret_key}"
        return header.removeprefix("Bearer ") in self.tokens

    def _hook(self, operation: str, request: Request) -> tuple[int, dict]:
        with self._lock:
            if operation == "disconnect":
                connect_id = _CONNECT.match(request.path)["connect"]
                if self.hooks.pop(connect_id, None) is None:
                    return 404, _error("指定された接続は存在しません")
                return 200, {"connect_id": connect_id}
            body = request.get_json(silent=True)
            if not isinstance(body, dict) or not all(body.get(k) for k in ("name", "urlToPublishTo", "envelopeEvents")):
                return 400, _error("必須情報が不足しています（name, urlToPublishTo, envelopeEvents）")
            connect_id = f"connect-{len(self.hooks) + 1}"
            self.hooks[connect_id] = dict(body)
            return 201, {"cus_id": self.customer_id, "connect_id": connect_id, "envelopeEvents": body["envelopeEvents"],
                         "urlToPublishTo": body["urlToPublishTo"], "created_at": "2026-12-02 10:00:00",
                         "updated_at": "2026-12-02 10:00:00"}

    def _token(self, request: Request) -> tuple[int, dict]:
        given = request.get_json(silent=True) or {}
        if not isinstance(given, dict) or (given.get("customer_id"), given.get("secret_key")) != (
                self.customer_id, self.secret_key):
            return 401, _error("顧客IDまたはシークレットキーが正しくありません")
        token = ACCESS_TOKEN_PREFIX + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens.add(token)
        return 200, {"access_token": token, "expires_in": 1800}

    def _send(self, template_id: str, body: Any) -> tuple[int, dict]:
        if not isinstance(body, dict) or not body.get("envelope_name") or not isinstance(body.get("signer_list"), list):
            return 400, _error("必須情報が不足しています（envelope_name, signer_list）")
        named = _CODE_IN_NAME.match(str(body["envelope_name"]))
        name, code = (named["name"], named["code"]) if named else (str(body["envelope_name"]), "")
        send = TemplateSend(
            template_id=template_id, envelope_name=name, document_code=code,
            signers=[_signer(s) for s in body["signer_list"] if isinstance(s, dict)],
            approvers=[Approver(name=str(a.get("name") or ""), email=str(a.get("email") or ""),
                                order=int(a.get("order_no") or 1), department=str(a.get("post_name") or ""))
                       for a in body.get("approver_list") or [] if isinstance(a, dict)],
            merge_fields={str(i.get("name")): str(i.get("value")) for i in body.get("inset_item_list") or []
                          if isinstance(i, dict)},
            sender_name=str(body.get("sender_name") or ""),
            approval_comment=str(body.get("work_flow_comment") or ""),
            webhook=body.get("is_web_hook", 1) == 1,
        )
        sent = self.fake.send_from_template(send)
        envelope = self.fake.envelopes[sent.envelope_id]
        return 201, {
            "status": "success",
            "envelope_xid": sent.envelope_id,
            "envelope_status": sent.raw_status,
            "document_list": [{"document_name": envelope.name, "control_number": cn} for cn in sent.document_ids],
            "signer_list": [{"order_no": str(s.order), "name": s.name, "organize_name": s.organization,
                             "email": s.email, "sign_status": "0"} for s in envelope.signers],
        }

    def _take_hold(self, operation: str) -> Hold | None:
        with self._lock:
            for wanted, hold in self._holds:
                if wanted == operation and not hold.used:
                    hold.used = True
                    return hold
        return None


def _signer(entry: dict) -> Signer:
    return Signer(name=str(entry.get("name") or ""), email=str(entry.get("email") or ""),
                  organization=str(entry.get("organize_name") or ""), order=int(entry.get("order_no") or 1),
                  in_house=entry.get("signer_type") == 1, from_template=entry.get("use_template") == 1)


def _wait(hold: Hold) -> None:
    hold.reached.set()
    hold.released.wait(HOLD_LIMIT_SECONDS)


def _error(message: str) -> dict:
    return {"status": "error", "result": "NG", "message": message}


def _json(body: dict, status: int) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, content_type="application/json")
