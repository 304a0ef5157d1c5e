"""kintone's app-management API: create apps, their form fields and process management, deploy them.

Used only by ``kgbridge apps create`` when a company sets up its kintone (never by a flow). App
management cannot be done with an API token (tokens belong to one existing app): kintone requires
password authentication, ``X-Cybozu-Authorization: base64(login:password)``, of a user allowed to
create apps. The password is asked for at the command and kept only in this object.

Endpoints (cybozu.dev, kintone REST API "アプリ" / "設定"):
- ``POST /k/v1/preview/app.json``           ``{name, space?, thread?}`` → ``{app, revision}``
- ``POST /k/v1/preview/app/form/fields.json`` ``{app, properties}``       → ``{revision}``
- ``PUT  /k/v1/preview/app/status.json``    ``{app, enable, states, actions}`` → ``{revision}``
- ``POST /k/v1/preview/app/deploy.json``    ``{apps: [{app, revision?}]}`` → ``{}``
- ``GET  /k/v1/preview/app/deploy.json``    ``apps[0]=…``  → ``{apps: [{app, status}]}``,
  status PROCESSING | SUCCESS | FAIL | CANCEL

kintone has no REST API for webhook settings or for issuing API tokens: those two steps stay in
kintone's screens (``kgbridge apps create`` prints them per app). Errors are the kintone
connector's own (``connectors.kintone.errors``).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import requests

from connectors.http_retry import make_retrying
from connectors.kintone.errors import KintoneConfigError, KintoneConnectionError, KintoneUnavailable
from connectors.kintone.live import _content_type, _error_from, _is_transient

DEPLOY_DONE = "SUCCESS"
DEPLOY_FAILED = ("FAIL", "CANCEL")


@runtime_checkable
class KintoneAppAdmin(Protocol):
    def create_app(self, name: str, space: str | None = None) -> str:
        """Create an app in the preview environment; return its id."""

    def add_fields(self, app: str, properties: dict[str, dict[str, Any]]) -> str:
        """Add form fields (kintone's field properties, keyed by field code) to the preview app."""

    def set_process(self, app: str, settings: dict[str, Any]) -> str:
        """Set process management (``enable``, ``states``, ``actions``) of the preview app."""

    def deploy(self, apps: list[str]) -> None:
        """Start applying the preview settings of these apps to production."""

    def deploy_status(self, apps: list[str]) -> dict[str, str]:
        """{app id: PROCESSING | SUCCESS | FAIL | CANCEL}."""


class LiveKintoneAdmin:
    def __init__(self, base_url: str, login: str, password: str, *, session: requests.Session | None = None,
                 timeout: float = 30.0, retry_budget: float = 30.0, sleep: Callable[[float], None] = time.sleep):
        if not base_url.startswith(("https://", "http://")):
            raise KintoneConfigError("kintone base URL must start with https://")
        if not login or not password:
            raise KintoneConfigError("app management needs a kintone login name and password")
        self._base_url = base_url.rstrip("/")
        self._auth = base64.b64encode(f"{login}:{password}".encode()).decode()
        self._session = session or requests.Session()
        self._timeout = timeout
        self._retry_budget = retry_budget
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"LiveKintoneAdmin(base_url={self._base_url!r})"

    def create_app(self, name: str, space: str | None = None) -> str:
        body: dict[str, Any] = {"name": name}
        if space:
            body["space"] = space
            body["thread"] = space  # an app in a space goes to its default thread unless told
        # Not retried after it may have landed: a second app of the same name would be made.
        return self._call("POST", "preview/app", body, idempotent=False, pick=lambda b: str(b["app"]))

    def add_fields(self, app: str, properties: dict[str, dict[str, Any]]) -> str:
        return self._call("POST", "preview/app/form/fields", {"app": app, "properties": properties},
                          idempotent=False, pick=lambda b: str(b["revision"]))

    def set_process(self, app: str, settings: dict[str, Any]) -> str:
        return self._call("PUT", "preview/app/status", {"app": app, **settings}, pick=lambda b: str(b["revision"]))

    def deploy(self, apps: list[str]) -> None:
        self._call("POST", "preview/app/deploy", {"apps": [{"app": a} for a in apps]}, pick=lambda b: None)

    def deploy_status(self, apps: list[str]) -> dict[str, str]:
        params = {f"apps[{i}]": a for i, a in enumerate(apps)}
        return self._call("GET", "preview/app/deploy", None, params=params,
                          pick=lambda b: {str(x["app"]): str(x["status"]) for x in b["apps"]})

    # -- HTTP ------------------------------------------------------------------------------

    def _call(self, method: str, resource: str, body: Any, *, params: dict | None = None,
              idempotent: bool = True, pick: Callable[[Any], Any]) -> Any:
        what = f"{method} {resource}.json"
        retrying = make_retrying(self._retry_budget, 4, sleep=self._sleep,
                                 is_retryable=_is_transient if idempotent else (lambda _exc: False))
        return retrying(self._send_once, what, method, resource, body, params, pick)

    def _send_once(self, what, method, resource, body, params, pick):
        headers = {"X-Cybozu-Authorization": self._auth}
        try:
            response = self._session.request(method, f"{self._base_url}/k/v1/{resource}.json", json=body,
                                             params=params, headers=headers, timeout=self._timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise KintoneConnectionError(f"{what}: no answer ({type(exc).__name__})") from exc
        except requests.RequestException as exc:
            raise KintoneConfigError(f"{what}: request failed ({type(exc).__name__})") from None
        if not 200 <= response.status_code < 300:
            raise _error_from(response, what)
        try:
            return pick(response.json())
        except (ValueError, KeyError, TypeError):
            raise KintoneUnavailable(f"{what}: unexpected answer ({_content_type(response)})",
                                     status=response.status_code) from None
