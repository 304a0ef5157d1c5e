"""kintone REST client over ``requests`` (implements ``KintoneClient``).

Every failure leaves as a ``KintoneError`` subclass (``connectors.kintone.errors``); no
``requests`` exception escapes. Short transient blips are retried here within a small budget;
anything longer is the job-level retry's business.

API tokens travel only in the ``X-Cybozu-API-Token`` header of each request. They are never put
on the session, in messages or in ``repr``. A request to an app carries that app's tokens (its
own first, then those of apps its lookups read); ``file.json`` (upload and download), which names
no app, carries exactly one token: the own token of ``file_app`` (the app the files belong to),
since two tokens of one app in a header are refused (GAIA_DA03).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import requests

from connectors.http_retry import make_retrying, never_sent, parse_retry_after
from connectors.kintone.errors import (
    KintoneConfigError,
    KintoneConnectionError,
    KintoneDatabaseLocked,
    KintoneError,
    KintoneRateLimited,
    KintoneTransientError,
    KintoneUnavailable,
    KintoneValidationError,
    error_class_for,
)
from connectors.kintone.interface import (
    MAX_REQUESTS_PER_BULK,
    BulkWrite,
    Comment,
    Mention,
    Record,
    RecordUpdate,
    StatusAction,
)

MAX_TOKENS_PER_REQUEST = 9  # kintone rejects 10 or more tokens in one request
# kintone answers "Request URL Too Large" above ~8 KB; the official JS client switches
# to POST + X-HTTP-Method-Override at 4,096 characters, and so do we.
MAX_GET_URL_LENGTH = 4096
MAX_RECORDS_PER_GET = 500
MAX_RECORDS_PER_WRITE = 100
_MAX_MESSAGE_CHARS = 300
# Printable ASCII without comma: the comma separates tokens in the header, and anything
# else would break header encoding (and could end up quoted in a requests error).
_TOKEN_SHAPE = re.compile(r"[\x21-\x2b\x2d-\x7e]+")


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, KintoneTransientError)


def _certainly_not_processed(exc: BaseException) -> bool:
    """Retry rule for non-idempotent POSTs: repeat only what kintone certainly did not do."""
    if isinstance(exc, KintoneRateLimited):
        return True  # 429 GAIA_TO04: turned away at the concurrency gate, nothing ran
    if isinstance(exc, KintoneDatabaseLocked):
        return True  # GAIA_DA02: the save could not take its lock, nothing was written
    if isinstance(exc, KintoneConnectionError):
        return never_sent(exc.__cause__)
    # A 5xx or a read timeout may come after kintone saved: the job re-checks state first.
    return False


def _clean_tokens(app: str, values: Sequence[str] | str) -> tuple[str, ...]:
    if isinstance(values, str):  # a lone token instead of a list of them
        values = [values]
    tokens = tuple(dict.fromkeys(token.strip() for token in values if token and token.strip()))
    if not tokens:
        raise KintoneConfigError(f"no API token configured for kintone app {app}")
    if len(tokens) > MAX_TOKENS_PER_REQUEST:
        raise KintoneConfigError(
            f"kintone app {app} has {len(tokens)} API tokens; "
            f"at most {MAX_TOKENS_PER_REQUEST} fit in one request"
        )
    if not all(_TOKEN_SHAPE.fullmatch(token) for token in tokens):
        raise KintoneConfigError(f"an API token for kintone app {app} has invalid characters")
    return tokens


class LiveKintoneClient:
    def __init__(
        self,
        base_url: str,
        tokens: Mapping[str, Sequence[str]],
        *,
        guest_space_id: str | None = None,
        session: requests.Session | None = None,
        timeout: float = 10.0,
        retry_budget: float = 30.0,
        max_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        on_request: Callable[[list[str]], None] | None = None,
        file_app: str | None = None,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise KintoneConfigError("kintone base URL must start with https://")
        if not tokens:
            raise KintoneConfigError("no kintone API tokens configured")
        self._base_url = base_url.rstrip("/")
        self._prefix = f"/k/guest/{guest_space_id}/v1" if guest_space_id else "/k/v1"
        self._tokens = {str(app): _clean_tokens(str(app), values) for app, values in tokens.items()}
        if file_app is not None and str(file_app) not in self._tokens:
            raise KintoneConfigError(f"no API token configured for kintone app {file_app}, whose token file.json uses")
        self._file_app = None if file_app is None else str(file_app)
        self._session = session or requests.Session()
        self._timeout = timeout
        self._retry_budget = retry_budget
        self._max_attempts = max_attempts
        self._sleep = sleep
        # Called once per HTTP request (retries included) with the app ids it names: kintone's
        # daily quota is per app (kgbridge/quota.py counts).
        self._on_request = on_request

    def __repr__(self) -> str:
        return f"LiveKintoneClient(base_url={self._base_url!r})"

    # -- records ---------------------------------------------------------------------------

    def get_record(self, app: str, record_id: str) -> Record:
        return self._call(
            "GET", "record", app, params={"app": app, "id": record_id}, pick=lambda b: b["record"]
        )

    def get_records(
        self, app: str, query: str = "", fields: list[str] | None = None, limit: int = 500
    ) -> list[Record]:
        if not 1 <= int(limit) <= MAX_RECORDS_PER_GET:
            raise KintoneValidationError(f"limit must be between 1 and {MAX_RECORDS_PER_GET}")
        full_query = f"{query.strip()} limit {int(limit)}".strip()
        params = {"app": app, "query": full_query}
        for i, code in enumerate(fields or []):
            params[f"fields[{i}]"] = code
        url = self._url("records")
        if len(f"{url}?{urlencode(params)}") <= MAX_GET_URL_LENGTH:
            return self._call("GET", "records", app, params=params, pick=lambda b: b["records"])
        body: dict[str, Any] = {"app": app, "query": full_query}
        if fields:
            body["fields"] = list(fields)
        return self._call(
            "POST",
            "records",
            app,
            json=body,
            headers={"X-HTTP-Method-Override": "GET"},
            pick=lambda b: b["records"],
        )

    def add_record(self, app: str, record: Record) -> tuple[str, str]:
        return self._call(
            "POST",
            "record",
            app,
            json={"app": app, "record": record},
            idempotent=False,
            pick=lambda b: (str(b["id"]), str(b["revision"])),
        )

    def add_records(self, app: str, records: list[Record]) -> list[str]:
        if not 1 <= len(records) <= MAX_RECORDS_PER_WRITE:
            raise KintoneValidationError(f"between 1 and {MAX_RECORDS_PER_WRITE} records can be added at once")
        return self._call(
            "POST",
            "records",
            app,
            json={"app": app, "records": list(records)},
            idempotent=False,
            pick=lambda b: [str(i) for i in b["ids"]],
        )

    def update_record(
        self, app: str, record_id: str, record: Record, revision: str | None = None
    ) -> str:
        body: dict[str, Any] = {"app": app, "id": record_id, "record": record}
        if revision is not None:
            body["revision"] = revision
        # Safe to repeat: a PUT sets the same values again. With a revision, a repeat after a
        # lost answer fails with GAIA_CO02 instead; the flow re-reads and sees its own write.
        return self._call("PUT", "record", app, json=body, pick=lambda b: str(b["revision"]))

    def update_status(
        self,
        app: str,
        record_id: str,
        action: str,
        assignee: str | None = None,
        revision: str | None = None,
    ) -> str:
        body: dict[str, Any] = {"app": app, "id": record_id, "action": action}
        if assignee is not None:
            body["assignee"] = assignee
        if revision is not None:
            body["revision"] = revision
        # Retried like a safe call: a repeat of an action that did land fails with GAIA_IL03
        # (status already moved) or GAIA_CO02 (revision given), and the flow re-reads.
        return self._call("PUT", "record/status", app, json=body, pick=lambda b: str(b["revision"]))

    # -- bulk writes (no webhooks; each all or none) -----------------------------------------
    # Repeated here only when kintone certainly did not run them (429, GAIA_DA02, never sent), like a
    # POST: a repeat of a call that did land would fail with GAIA_CO02 on every record (each carries
    # its revision), and the caller could not tell that from people's edits. After a 5xx or a lost
    # answer the error goes up; the page job runs again and decides on a fresh read.

    def update_records(self, app: str, updates: list[RecordUpdate]) -> list[str]:
        body = {"app": app, "records": [u.as_json() for u in _bulk_items(updates)]}
        return self._call("PUT", "records", app, json=body, idempotent=False, pick=_revisions)

    def update_statuses(self, app: str, actions: list[StatusAction]) -> list[str]:
        body = {"app": app, "records": [a.as_json() for a in _bulk_items(actions)]}
        return self._call("PUT", "records/status", app, json=body, idempotent=False, pick=_revisions)

    def bulk_request(self, writes: list[BulkWrite]) -> list[list[str]]:
        if not 1 <= len(writes) <= MAX_REQUESTS_PER_BULK:
            raise KintoneValidationError(f"between 1 and {MAX_REQUESTS_PER_BULK} requests fit in one bulkRequest")
        requests_ = [{"method": "POST" if w.kind == "add_records" else "PUT",
                      "api": f"{self._prefix}/{_BULK_API[w.kind]}.json",
                      "payload": {"app": w.app, "records": [i.as_json() for i in _bulk_items(list(w.items))]}}
                     for w in writes]
        apps = list(dict.fromkeys(str(w.app) for w in writes))
        headers = {"X-Cybozu-API-Token": self._token_header_for(apps)}
        # An add answers {"ids", "revisions"} (kintone/js-sdk rest-api-client addAllRecordsWithBulkRequest),
        # an update or an action {"records": [{id, revision}]}.
        return self._call("POST", "bulkRequest", apps[0], json={"requests": requests_}, headers=headers,
                          idempotent=False, pick=lambda b: [[str(i) for i in result["ids"]] if "ids" in result
                                                            else _revisions(result) for result in b["results"]])

    # -- comments --------------------------------------------------------------------------

    def add_comment(
        self, app: str, record_id: str, text: str, mentions: Sequence[Mention] = ()
    ) -> str:
        body = {
            "app": app,
            "record": record_id,
            "comment": {"text": text, "mentions": [m.as_json() for m in mentions]},
        }
        return self._call(
            "POST", "record/comment", app, json=body, idempotent=False, pick=lambda b: str(b["id"])
        )

    def get_comments(self, app: str, record_id: str, limit: int = 10) -> list[Comment]:
        params = {"app": app, "record": record_id, "order": "desc", "limit": limit}
        return self._call(
            "GET",
            "record/comments",
            app,
            params=params,
            pick=lambda b: [_comment(item) for item in b["comments"]],
        )

    # -- app settings ----------------------------------------------------------------------

    def get_form_fields(self, app: str) -> dict[str, dict[str, Any]]:
        return self._call(
            "GET", "app/form/fields", app, params={"app": app}, pick=lambda b: b["properties"]
        )

    def get_process_settings(self, app: str) -> dict[str, Any]:
        return self._call("GET", "app/status", app, params={"app": app}, pick=dict)

    # -- files -----------------------------------------------------------------------------

    def upload_file(self, name: str, content: bytes, content_type: str) -> str:
        return self._call(
            "POST",
            "file",
            None,
            files={"file": (name, content, content_type)},
            idempotent=False,
            pick=lambda b: str(b["fileKey"]),
        )

    def download_file(self, file_key: str) -> bytes:
        return self._call("GET", "file", None, params={"fileKey": file_key}, raw=True)

    # -- plumbing --------------------------------------------------------------------------

    def _url(self, resource: str) -> str:
        return f"{self._base_url}{self._prefix}/{resource}.json"

    def _token_header(self, app: str | None) -> str:
        if app is not None:
            tokens = self._tokens.get(str(app), ())
            if not tokens:
                raise KintoneConfigError(f"no API token configured for kintone app {app}")
            return ",".join(tokens)  # at most MAX_TOKENS_PER_REQUEST, checked at start
        # file.json names no app: one token, the file app's own (or the only own token there is).
        own = tuple(dict.fromkeys(ts[0] for ts in self._tokens.values()))
        if self._file_app is not None:
            own = (self._tokens[self._file_app][0],)
        if len(own) != 1:
            raise KintoneConfigError(
                "file.json takes one API token and several apps have their own: set which app's token "
                "it uses (KGBRIDGE_KINTONE_FILE_APP, the app holding the files)")
        return own[0]

    def _token_header_for(self, apps: Sequence[str]) -> str:
        """Every token of every app a bulkRequest touches, once each (at most 9 in one request)."""
        tokens = tuple(dict.fromkeys(t for app in apps for t in self._token_header(app).split(",")))
        if len(tokens) > MAX_TOKENS_PER_REQUEST:
            raise KintoneConfigError(f"a bulkRequest over apps {', '.join(apps)} needs {len(tokens)} API tokens; "
                                     f"at most {MAX_TOKENS_PER_REQUEST} fit in one request")
        return ",".join(tokens)

    def _call(
        self,
        method: str,
        resource: str,
        app: str | None,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        files: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        pick: Callable[[Any], Any] = lambda body: body,
        raw: bool = False,
    ) -> Any:
        all_headers = {"X-Cybozu-API-Token": self._token_header(app), **(headers or {})}
        apps = [str(app)] if app is not None else []
        if resource == "bulkRequest" and isinstance(json, dict):
            apps = list(dict.fromkeys(str(r["payload"]["app"]) for r in json["requests"]))
        what = f"{method} {resource}.json"
        retrying = make_retrying(
            self._retry_budget,
            self._max_attempts,
            sleep=self._sleep,
            is_retryable=_is_transient if idempotent else _certainly_not_processed,
        )
        return retrying(
            self._send_once,
            what,
            method,
            self._url(resource),
            params=params,
            json=json,
            files=files,
            headers=all_headers,
            pick=pick,
            raw=raw,
            apps=apps,
        )

    def _send_once(
        self, what: str, method: str, url: str, *, pick: Callable[[Any], Any], raw: bool, apps: list[str], **kw
    ) -> Any:
        if self._on_request is not None:
            self._on_request(apps)
        try:
            response = self._session.request(method, url, timeout=self._timeout, **kw)
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            raise KintoneConnectionError(f"{what}: no answer ({type(exc).__name__})") from exc
        except requests.RequestException as exc:
            # Invalid URL, too many redirects …: not a blip. `from None` because some of these
            # quote header values, and the header holds the tokens.
            raise KintoneConfigError(f"{what}: request failed ({type(exc).__name__})") from None
        if not 200 <= response.status_code < 300:
            raise _error_from(response, what)
        if raw:
            return response.content
        try:
            return pick(response.json())
        except (ValueError, KeyError, TypeError):
            raise KintoneUnavailable(
                f"{what}: unexpected answer ({_content_type(response)})",
                status=response.status_code,
            ) from None


_BULK_API = {"update_records": "records", "update_statuses": "records/status", "add_records": "records"}


def _bulk_items(items: Sequence[Any]) -> Sequence[Any]:
    if not 1 <= len(items) <= MAX_RECORDS_PER_WRITE:
        raise KintoneValidationError(f"between 1 and {MAX_RECORDS_PER_WRITE} records fit in one bulk write")
    return items


def _revisions(body: Mapping[str, Any]) -> list[str]:
    return [str(r["revision"]) for r in body["records"]]


def _error_from(response: requests.Response, what: str) -> KintoneError:
    """Build the typed error from kintone's JSON body ``{code, id, message, errors}``.

    A bulkRequest.json answers ``{"results": [{}, {code, id, message, errors}, {}]}``: the one
    non-empty result is the request kintone refused (js-sdk KintoneRestAPIError reads it so); the
    error carries its position as ``request_index``.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    index = None
    if isinstance(body, dict) and isinstance(body.get("results"), list):
        index, body = next(((i, r) for i, r in enumerate(body["results"]) if isinstance(r, dict) and r),
                           (None, None))
    if isinstance(body, dict) and body.get("code"):
        code = str(body["code"])
        request_id = body.get("id")
        message = str(body.get("message") or "")[:_MAX_MESSAGE_CHARS]
        errors = body.get("errors") if isinstance(body.get("errors"), dict) else None
    else:
        # The maintenance page (503) and proxies answer in HTML: keep only status and type.
        code = response.headers.get("X-Cybozu-Error")
        request_id, errors = None, None
        message = f"non-JSON answer ({_content_type(response)})"
    cls = error_class_for(response.status_code, code)
    kw: dict[str, Any] = {
        "status": response.status_code,
        "code": code,
        "request_id": request_id,
        "errors": errors,
    }
    if issubclass(cls, KintoneTransientError):
        kw["retry_after"] = parse_retry_after(response.headers.get("Retry-After"))
    error = cls(f"{what}: {message}" if index is None else f"{what} (request {index + 1}): {message}", **kw)
    error.request_index = index
    return error


def _content_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"


def _comment(item: Mapping[str, Any]) -> Comment:
    return Comment(
        id=str(item["id"]),
        text=item.get("text") or "",
        mentions=[
            Mention(code=m["code"], type=m.get("type") or "USER")
            for m in item.get("mentions") or []
        ],
        creator=(item.get("creator") or {}).get("code") or "",
    )
