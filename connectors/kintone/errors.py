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
    ├── KintoneConfigError (Permanent)         fix settings, tokens or the app
    │   ├── KintoneAuthError                   401 CB_AU01 / CB_WA01
    │   ├── KintonePermissionDenied            403 CB_NO02
    │   ├── KintoneProcessDisabled             GAIA_ST02
    │   └── KintoneTokenError                  the API token setting (message says what to fix)
    │       ├── KintoneTokenInvalid            GAIA_IA02 wrong token, or a draft (app not updated)
    │       ├── KintoneTokenDuplicate          GAIA_DA03 two tokens of one app in one request
    │       └── KintoneTokenNotPermitted       GAIA_NO01 the token lacks the permission
    └── KintoneRefused (Permanent)             520 with a code we do not know: not retried

The token codes, statuses and messages are those kintone/cli-kintone's end-to-end tests expect
from a real tenant (features/record/import.feature: ``[400] [GAIA_IA02] The specified API token
does not match the API token generated via an app.`` for a draft and for a wrong token,
``[400] [GAIA_DA03] You cannot specify a duplicate API token for the same app.``, ``[403]
[GAIA_NO01] Using this API token, you cannot run the specified API.``); older versions of those
tests and kintone's js-sdk tests show the same codes under HTTP 520, so the code decides, not
the status. A 520 whose JSON body names a code is kintone's own refusal (its "unknown error"
status), never a passing outage: retrying repeats it.

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


class KintoneTokenError(KintoneConfigError):
    """An API-token problem: the message ends with what to change (``fix``)."""

    fix = "check KGBRIDGE_KINTONE_API_TOKENS"

    def __str__(self) -> str:
        return f"{super().__str__()} — {self.fix}"


class KintoneTokenInvalid(KintoneTokenError):
    fix = ("fix KGBRIDGE_KINTONE_API_TOKENS: kintone does not know this app's token. Copy it again from the app's "
           "settings (API token); a token just generated or changed is active only after 「アプリを更新」")


class KintoneTokenDuplicate(KintoneTokenError):
    fix = ("fix KGBRIDGE_KINTONE_API_TOKENS: a request carried two tokens of the same app. Give each app one token; "
           "list other apps' tokens after it only for apps its lookups read")


class KintoneTokenNotPermitted(KintoneTokenError):
    fix = ("fix the token's permissions in the app's settings (API token: view/add/edit as kgbridge needs) and "
           "「アプリを更新」, or give KGBRIDGE_KINTONE_API_TOKENS a token that has them")


class KintoneRefused(KintoneError, Permanent):
    """kintone answered 520 with an error code we do not map: its refusal, not an outage."""


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
    "GAIA_IA02": KintoneTokenInvalid,
    "GAIA_DA03": KintoneTokenDuplicate,
    "GAIA_NO01": KintoneTokenNotPermitted,
}


def error_class_for(status: int, code: str | None) -> type[KintoneError]:
    """Choose the error class from kintone's code first, then the HTTP status."""
    if code and code in _BY_CODE:
        return _BY_CODE[code]
    if status == 429:
        return KintoneRateLimited
    if status == 520 and code:
        return KintoneRefused
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
