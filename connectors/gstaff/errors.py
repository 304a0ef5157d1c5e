"""G-Staff errors, grouped by what the caller should do next.

    GStaffError
    ├── GStaffTransientError (RetryLater)   timeouts, 429, 5xx: retry later
    │   ├── GStaffRateLimited               429: the service turned the call away unprocessed
    │   └── GStaffConnectionError           no answer (refused, reset, timed out)
    ├── GStaffDataError (Permanent)         the request data is wrong: fix the record
    │   └── GStaffNotFound                  no such client / archive
    └── GStaffConfigError (Permanent)       URL, credentials, permissions: fix settings
        └── GStaffProtocolError             the service answered outside docs/gstaff-openapi.yaml

Messages carry the HTTP status and the service's error code, never the API key.
"""

from __future__ import annotations

from connectors.errors import Permanent, RetryLater


class GStaffError(Exception):
    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code

    def __str__(self) -> str:
        prefix = f"[{self.status}] " if self.status is not None else ""
        code = f"[{self.code}] " if self.code else ""
        return f"{prefix}{code}{self.message}"


class GStaffTransientError(GStaffError, RetryLater):
    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class GStaffRateLimited(GStaffTransientError):
    pass


class GStaffConnectionError(GStaffTransientError):
    pass


class GStaffDataError(GStaffError, Permanent):
    pass


class GStaffNotFound(GStaffDataError):
    pass


class GStaffConfigError(GStaffError, Permanent):
    pass


class GStaffProtocolError(GStaffConfigError):
    pass
