"""kintone errors, grouped by what the caller should do next.

    KintoneError
    ├── KintoneTransientError (RetryLater)     retry with backoff
    │   ├── KintoneRateLimited                 429 GAIA_TO04
    │   ├── KintoneDatabaseLocked              GAIA_DA02
    │   ├── KintoneUnavailable                 5xx, HTML maintenance page
    │   └── KintoneConnectionError             no answer / timeout
    ├── KintoneConflict (RetryLater)           re-read the record and decide again
    │   ├── KintoneRevisionConflict            GAIA_CO02
    │   └── KintoneStatusConflict              GAIA_IL03
    ├── KintoneDataError (Permanent)           fix the record or the request data
    │   ├── KintoneNotFound                    GAIA_RE01 / GAIA_AP01 / GAIA_BL01
    │   ├── KintoneValidationError             CB_VA01 (with field errors)
    │   └── KintoneAssigneeRequired            GAIA_SA01
    └── KintoneConfigError (Permanent)         fix settings, tokens or the app
        ├── KintoneAuthError                   401 CB_AU01 / CB_WA01
        ├── KintonePermissionDenied            403 CB_NO02
        └── KintoneProcessDisabled             GAIA_ST02

Messages carry the HTTP status, kintone's code and request id, never a token or record values.
"""

from __future__ import annotations

from connectors.errors import Permanent, RetryLater


class KintoneError(Exception):
    request_index: int | None = None  # in a bulkRequest.json: which request kintone refused (0-based)

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        errors: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.errors = errors or {}

    def __str__(self) -> str:
        parts = []
        if self.status is not None:
            parts.append(f"[{self.status}]")
        if self.code:
            parts.append(f"[{self.code}]")
        parts.append(self.message)
        if self.request_id:
            parts.append(f"(id: {self.request_id})")
        return " ".join(parts)


class KintoneTransientError(KintoneError, RetryLater):
    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class KintoneRateLimited(KintoneTransientError):
    pass


class KintoneDatabaseLocked(KintoneTransientError):
    pass


class KintoneUnavailable(KintoneTransientError):
    pass


class KintoneConnectionError(KintoneTransientError):
    pass


class KintoneConflict(KintoneError, RetryLater):
    """Someone changed the record first. Re-read and decide again (never retried blindly)."""


class KintoneRevisionConflict(KintoneConflict):
    pass


class KintoneStatusConflict(KintoneConflict):
    pass


class KintoneDataError(KintoneError, Permanent):
    pass


class KintoneNotFound(KintoneDataError):
    pass


class KintoneValidationError(KintoneDataError):
    pass


class KintoneAssigneeRequired(KintoneDataError):
    pass


class KintoneConfigError(KintoneError, Permanent):
    pass


class KintoneAuthError(KintoneConfigError):
    pass


class KintonePermissionDenied(KintoneConfigError):
    pass


class KintoneProcessDisabled(KintoneConfigError):
    pass


_BY_CODE: dict[str, type[KintoneError]] = {
    "GAIA_TO04": KintoneRateLimited,
    "GAIA_DA02": KintoneDatabaseLocked,
    "GAIA_CO02": KintoneRevisionConflict,
    "GAIA_IL03": KintoneStatusConflict,
    "GAIA_SA01": KintoneAssigneeRequired,
    "GAIA_ST02": KintoneProcessDisabled,
    "GAIA_RE01": KintoneNotFound,
    "GAIA_AP01": KintoneNotFound,
    "GAIA_BL01": KintoneNotFound,
    "GAIA_RE02": KintoneNotFound,
    "CB_VA01": KintoneValidationError,
    "CB_AU01": KintoneAuthError,
    "CB_WA01": KintoneAuthError,
    "CB_NO02": KintonePermissionDenied,
}


def error_class_for(status: int, code: str | None) -> type[KintoneError]:
    """Choose the error class from kintone's code first, then the HTTP status."""
    if code and code in _BY_CODE:
        return _BY_CODE[code]
    if status == 429:
        return KintoneRateLimited
    if status >= 500:
        return KintoneUnavailable
    if status == 401:
        return KintoneAuthError
    if status == 403:
        return KintonePermissionDenied
    if status == 404:
        return KintoneNotFound
    if status == 409:
        return KintoneRevisionConflict
    return KintoneDataError
