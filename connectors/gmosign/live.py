"""GMO Sign REST client over ``requests`` (implements ``GmoSignClient``).

Paths and bodies are those of GMO's certified Power Platform connector definition (every request
and its source: docs/gmosign-sources.md):

    POST   /customer/envelopes/templates/{templateId}/transaction   send from a template (201)
    POST   /customer/envelopes/documents                            register a document (JSON)
    POST   /customer/envelopes/signatures/request                   request signatures (JSON)
    GET    /customer/documents/{documentId}?download_type=2&operation=1   download
    POST   /customer/connect                                        register the callback (201)
    DELETE /customer/connect/{connectId}                            remove it

Authentication: ``auth="basic"`` (the default) is the documented one: the gateway
(``https://api.gmo-exapi.net/gmosign``) with HTTP Basic, customer id and secret key.
``auth="token"`` is the native API as integrators describe it: a 30-minute access token minted
from the same two values at a path nobody publishes (``token_path``, assumed
``/customer/token``), sent as ``Authorization: Bearer``, cached, renewed five minutes before it
expires and once more if GMO Sign answers 401. Callback registration is documented for the
gateway only: in token mode it raises ``GmoSignNotSupported``.

Sends are never repeated once the request may have left: a read timeout or a 5xx raises
``GmoSignOutcomeUnknown`` and the caller looks for the envelope before anything else. Status
query, search and cancel have no documented endpoint: they raise ``GmoSignNotSupported``.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import requests

from connectors.gmosign.errors import (
    GmoSignConfigError,
    GmoSignConnectionError,
    GmoSignDataError,
    GmoSignError,
    GmoSignNotFound,
    GmoSignNotSupported,
    GmoSignOutcomeUnknown,
    GmoSignTransientError,
)
from connectors.gmosign.interface import (
    Approver,
    CallbackHook,
    EnvelopeInfo,
    SentEnvelope,
    SignatureRequest,
    Signer,
    TemplateSend,
)
from connectors.http_retry import make_retrying, never_sent, parse_retry_after

DEFAULT_TOKEN_PATH = "/customer/token"  # noqa: S105 (a URL path; assumed, the endpoint is not public §1.1)
TOKEN_LIFETIME_SECONDS = 30 * 60  # documented by integrators (Yoom); used when no expires_in
TOKEN_RENEW_MARGIN_SECONDS = 5 * 60
_MAX_MESSAGE_CHARS = 300
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?\d[\d-]{8,}\d")


class _TokenRejected(GmoSignTransientError):
    """401 with a cached token: it may have been revoked early. Fetch a new one once."""


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, GmoSignTransientError)


def _certainly_not_processed(exc: BaseException) -> bool:
    """Retry rule for sends: repeat only what GMO Sign certainly did not do."""
    if isinstance(exc, _TokenRejected):
        return True  # refused at the door, nothing ran
    if isinstance(exc, GmoSignTransientError) and exc.status == 429:
        return True  # turned away by the rate limit
    if isinstance(exc, GmoSignConnectionError):
        return never_sent(exc.__cause__)
    return False


def _signer_json(signer: Signer) -> dict[str, Any]:
    """One entry of the template send's ``signer_list``."""
    entry: dict[str, Any] = {
        "signer_type": 1 if signer.in_house else 2,  # 1 in-house / 2 counterparty
        "sign_type": 1,  # 1 e-sign (契約印タイプ, mail authentication) / 0 digital
        "order_no": str(signer.order),
    }
    if signer.from_template:
        entry["use_template"] = 1
        return entry
    entry.update(use_template=2, name=signer.name, organize_name=signer.organization, email=signer.email,
                 is_send_mail=1, is_signer_change=2, language="ja")
    return entry


def _approver_json(approver: Approver) -> dict[str, Any]:
    return {"order_no": str(approver.order), "name": approver.name, "post_name": approver.department,
            "email": approver.email}


class LiveGmoSignClient:
    def __init__(
        self,
        base_url: str,
        customer_id: str,
        secret_key: str,
        *,
        auth: str = "basic",
        token_path: str = DEFAULT_TOKEN_PATH,
        session: requests.Session | None = None,
        timeout: float = 30.0,
        retry_budget: float = 30.0,
        max_attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise GmoSignConfigError("GMO Sign base URL must start with https://")
        if not customer_id or not secret_key:
            raise GmoSignConfigError("GMO Sign customer id and secret key are required")
        if auth not in ("token", "basic"):
            raise GmoSignConfigError("GMO Sign auth must be 'token' or 'basic'")
        self._base_url = base_url.rstrip("/")
        self._customer_id = customer_id
        self._secret_key = secret_key
        self._auth = auth
        self._token_path = "/" + token_path.lstrip("/")
        self._session = session or requests.Session()
        self._timeout = timeout
        self._retry_budget = retry_budget
        self._max_attempts = max_attempts
        self._sleep = sleep
        self._clock = clock
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LiveGmoSignClient(base_url={self._base_url!r}, auth={self._auth!r})"

    # -- sending -----------------------------------------------------------------------------

    def send_from_template(self, send: TemplateSend) -> SentEnvelope:
        body: dict[str, Any] = {
            # The template call takes no document code: our reference travels in the name, where
            # marketing sees it in GMO Sign's document list, and as a merge field if mapped.
            "envelope_name": f"{send.envelope_name} [{send.document_code}]",
            "signer_list": [_signer_json(s) for s in send.signers],
            "is_web_hook": 1 if send.webhook else 2,
            "inset_item_list": [{"name": k, "value": v} for k, v in send.merge_fields.items()],
        }
        if send.sender_name:
            body["sender_name"] = send.sender_name
        if send.approvers:
            body["approver_list"] = [_approver_json(a) for a in send.approvers]
        if send.approval_comment:
            body["work_flow_comment"] = send.approval_comment
        path = f"/customer/envelopes/templates/{quote(send.template_id, safe='')}/transaction"
        return self._call("POST", path, json=body, send=True, not_found_is_config=True, pick=_sent_envelope)

    def register_document(self, content: bytes, file_name: str, document_code: str) -> str:
        # RegisterDocumentRequest is a JSON body parameter; its `document` is a string of format
        # binary, sent base64-encoded (assumed: how Power Automate passes file content in JSON).
        # Registering twice under one code is harmless (reuse_flag 1): retried like a safe call.
        body = {"document": base64.b64encode(content).decode("ascii"), "document_code": document_code,
                "reuse_flag": 1, "remarks": file_name}
        return self._call("POST", "/customer/envelopes/documents", json=body,
                          pick=lambda b: str(b.get("document_code") or document_code))

    def request_signature(self, request: SignatureRequest) -> SentEnvelope:
        partners = [s for s in request.signers if not s.in_house]
        ours = [s for s in request.signers if s.in_house]
        body: dict[str, Any] = {
            "envelope_name": request.envelope_name,
            "is_detailed_response": 1,
            "is_web_hook": 1 if request.webhook else 2,
            "document_list": [{"document_code": d.document_code, "document_name": d.document_name}
                              for d in request.documents],
        }
        if partners:
            body["partner_signer_list"] = [
                {"order_no": str(s.order), "is_or_sign": 2, "sign_type": 1, "name": s.name,
                 "organize_name": s.organization, "email": s.email, "is_send_mail": 1, "language": "ja"}
                for s in partners]
            # "If you enter Partner signer list, it is required": one row per signer and document.
            body["partner_signer_document_list"] = _signer_documents(partners, request)
        if ours:
            body["our_signer_list"] = [
                {"order_no": str(s.order), "is_or_sign": 2, "sign_type": 2, "email": s.email, "is_send_mail": 1,
                 "language": "ja"}
                for s in ours]
            body["in_house_signer_envelope_documents_list"] = _signer_documents(ours, request)
        if request.sender_name:
            body["sender_name"] = request.sender_name
        if request.approvers:
            # ApproverList.order_no is an int32 here (the template send's approver takes a string).
            body["approver_list"] = [dict(_approver_json(a), order_no=a.order) for a in request.approvers]
        if request.approval_comment:
            body["workflow_comment"] = request.approval_comment
        return self._call("POST", "/customer/envelopes/signatures/request", json=body, send=True,
                          pick=_sent_envelope)

    # -- the callback (CreateHookEnvelope / DeleteHook: gateway only) --------------------------

    def connect_callback(self, name: str, url: str, events: str = "Completed") -> CallbackHook:
        if self._auth != "basic":
            raise GmoSignNotSupported("registering the callback URL (documented for the gateway only)")
        body = {"name": name, "urlToPublishTo": url, "envelopeEvents": events}
        return self._call("POST", "/customer/connect", json=body, send=True, pick=_hook)

    def delete_callback(self, connect_id: str) -> None:
        if self._auth != "basic":
            raise GmoSignNotSupported("removing a callback registration (documented for the gateway only)")
        self._call("DELETE", f"/customer/connect/{quote(connect_id, safe='')}", pick=lambda _b: None)

    # -- reading -----------------------------------------------------------------------------

    def download_document(self, document_id: str) -> bytes:
        # download_type=2, operation=1: the only values the connector uses (meaning undocumented).
        return self._call("GET", f"/customer/documents/{quote(document_id, safe='')}",
                          params={"download_type": 2, "operation": 1}, raw=True)

    # -- not in the public API description -------------------------------------------------

    def find_envelope(self, document_code: str) -> EnvelopeInfo | None:
        raise GmoSignNotSupported("finding an envelope by document code")

    def get_envelope(self, envelope_id: str) -> EnvelopeInfo:
        raise GmoSignNotSupported("reading an envelope's status")

    def cancel_envelope(self, envelope_id: str) -> None:
        raise GmoSignNotSupported("withdrawing an envelope")

    # -- plumbing ----------------------------------------------------------------------------

    def _call(self, method: str, path: str, *, send: bool = False, not_found_is_config: bool = False,
              pick: Callable[[Any], Any] = lambda body: body, raw: bool = False, **kw) -> Any:
        what = f"{method} {path.split('?')[0]}"
        retrying = make_retrying(self._retry_budget, self._max_attempts, sleep=self._sleep,
                                 is_retryable=_certainly_not_processed if send else _is_transient)
        renewed: list[bool] = []  # a refused token is renewed once per call, not in a loop
        return retrying(self._send_once, what, method, self._base_url + path, send=send,
                        not_found_is_config=not_found_is_config, pick=pick, raw=raw, renewed=renewed, **kw)

    def _send_once(self, what: str, method: str, url: str, *, send: bool, not_found_is_config: bool,
                   pick: Callable[[Any], Any], raw: bool, renewed: list[bool], **kw) -> Any:
        auth_kw = self._auth_kwargs()
        try:
            response = self._session.request(method, url, timeout=self._timeout, **auth_kw, **kw)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            if send and not never_sent(exc):
                raise GmoSignOutcomeUnknown(
                    f"{what}: no answer after the request left ({type(exc).__name__}); "
                    "the envelope may exist") from exc
            raise GmoSignConnectionError(f"{what}: no answer ({type(exc).__name__})") from exc
        except requests.RequestException as exc:
            # `from None`: some of these quote header values, and a header holds the token.
            raise GmoSignConfigError(f"{what}: request failed ({type(exc).__name__})") from None
        if response.status_code == 401 and self._auth == "token" and not renewed:
            renewed.append(True)
            self._forget_token()
            raise _TokenRejected(f"{what}: access token refused; fetching a new one", status=401)
        if not 200 <= response.status_code < 300:
            raise _error_from(response, what, send=send, not_found_is_config=not_found_is_config)
        if raw:
            return _document_bytes(response, what)
        try:
            return pick(response.json())
        except (ValueError, KeyError, TypeError, AttributeError):
            if send:
                raise GmoSignOutcomeUnknown(f"{what}: unreadable answer ({_content_type(response)}); "
                                            "the envelope may exist", status=response.status_code) from None
            raise GmoSignTransientError(f"{what}: unreadable answer ({_content_type(response)})",
                                        status=response.status_code) from None

    def _auth_kwargs(self) -> dict[str, Any]:
        if self._auth == "basic":
            return {"auth": (self._customer_id, self._secret_key)}
        return {"headers": {"Authorization": f"Bearer {self._access_token()}"}}

    def _access_token(self) -> str:
        with self._token_lock:
            if self._token and self._clock() < self._token_expires_at - TOKEN_RENEW_MARGIN_SECONDS:
                return self._token
            self._token, lifetime = self._fetch_token()
            self._token_expires_at = self._clock() + lifetime
            return self._token

    def _forget_token(self) -> None:
        with self._token_lock:
            self._token = None

    def _fetch_token(self) -> tuple[str, float]:
        what = f"POST {self._token_path}"
        retrying = make_retrying(self._retry_budget, self._max_attempts, sleep=self._sleep,
                                 is_retryable=_is_transient)

        def once() -> tuple[str, float]:
            try:
                response = self._session.post(
                    self._base_url + self._token_path, timeout=self._timeout,
                    json={"customer_id": self._customer_id, "secret_key": self._secret_key})
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise GmoSignConnectionError(f"{what}: no answer ({type(exc).__name__})") from exc
            except requests.RequestException as exc:
                raise GmoSignConfigError(f"{what}: request failed ({type(exc).__name__})") from None
            if response.status_code in (400, 401, 403, 404):
                raise GmoSignConfigError(
                    f"{what}: GMO Sign refused the customer id / secret key or the token path "
                    f"({_message(response) or 'no message'}); check KGBRIDGE_GMOSIGN_* settings and the "
                    "API IP allow-list", status=response.status_code)
            if not 200 <= response.status_code < 300:
                raise _error_from(response, what, send=False, not_found_is_config=True)
            try:
                body = response.json()
                token = body.get("access_token") or body.get("accessToken") or body.get("token")
                lifetime = float(body.get("expires_in") or TOKEN_LIFETIME_SECONDS)
            except (ValueError, AttributeError, TypeError):
                token, lifetime = None, 0.0
            if not isinstance(token, str) or not token:
                raise GmoSignConfigError(f"{what}: the answer holds no access token; check the token path",
                                         status=response.status_code)
            return token, lifetime

        return retrying(once)


def _signer_documents(signers: list[Signer], request: SignatureRequest) -> list[dict[str, Any]]:
    """Per signer and document: sign it (request_type "1"); the signer is named by its email."""
    return [{"signer_no": s.email, "document_code": d.document_code, "request_type": "1"}
            for s in signers for d in request.documents]


def _hook(body: Mapping[str, Any]) -> CallbackHook:
    connect_id = body["connect_id"]
    if not isinstance(connect_id, str | int) or not str(connect_id):
        raise KeyError("connect_id")
    return CallbackHook(connect_id=str(connect_id), url=str(body.get("urlToPublishTo") or ""),
                        events=str(body.get("envelopeEvents") or ""))


def _sent_envelope(body: Mapping[str, Any]) -> SentEnvelope:
    envelope_id = body["envelope_xid"]
    if not isinstance(envelope_id, str) or not envelope_id:
        raise KeyError("envelope_xid")
    documents = [str(d["control_number"]) for d in body.get("document_list") or [] if d.get("control_number")]
    signers = body.get("signer_list")
    return SentEnvelope(envelope_id=envelope_id, document_ids=documents,
                        raw_status=str(body.get("envelope_status") or body.get("status") or ""),
                        signer_count=len(signers) if isinstance(signers, list) else 0)


def _document_bytes(response: requests.Response, what: str) -> bytes:
    """The connector declares ``downloadedDocument`` (base64 in JSON); a plain PDF is taken too."""
    if _content_type(response) != "application/json":
        return response.content
    try:
        encoded = response.json()["downloadedDocument"]
        return base64.b64decode(encoded, validate=True)
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise GmoSignTransientError(f"{what}: the answer holds no document", status=response.status_code) from None


def _message(response: requests.Response) -> str:
    """GMO Sign's own message, without addresses or phone numbers it may quote back."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    text = str(body.get("message") or body.get("result") or "")[:_MAX_MESSAGE_CHARS]
    return _PHONE.sub("[電話番号]", _EMAIL.sub("[メールアドレス]", text))


def _error_from(response: requests.Response, what: str, *, send: bool, not_found_is_config: bool) -> GmoSignError:
    """Choose the error by HTTP status; GMO Sign's error codes are not documented (§1.3)."""
    status = response.status_code
    message = _message(response) or f"non-JSON answer ({_content_type(response)})"
    text = f"{what}: {message}"
    if status == 429:
        return GmoSignTransientError(text, status=status, retry_after=parse_retry_after(response.headers.get("Retry-After")))
    if status >= 500 or status == 408:
        if send:
            return GmoSignOutcomeUnknown(f"{text}; the envelope may exist", status=status)
        return GmoSignTransientError(text, status=status,
                                     retry_after=parse_retry_after(response.headers.get("Retry-After")))
    if status in (401, 403):
        return GmoSignConfigError(f"{text} (check credentials and the API IP allow-list)", status=status)
    if status == 404:
        if not_found_is_config:
            return GmoSignConfigError(f"{text} (check the template id in the mapping)", status=status)
        return GmoSignNotFound(text, status=status)
    return GmoSignDataError(text, status=status)


def _content_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
