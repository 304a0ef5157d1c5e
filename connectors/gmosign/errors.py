"""GMO Sign errors, grouped by what the caller should do next.

    GmoSignError
    ├── GmoSignTransientError (RetryLater)    retry later: nothing was done (timeouts on reads,
    │   │                                     429, 5xx on reads, a send that never left)
    │   └── GmoSignConnectionError            no answer at all
    ├── GmoSignOutcomeUnknown (RetryLater)    a send may or may not have created an envelope
    │                                         (read timeout or 5xx after the request left):
    │                                         never send again blindly; look first
    ├── GmoSignDataError (Permanent)          GMO Sign refused the request data: fix the record
    │   └── GmoSignNotFound                   no such envelope / document
    ├── GmoSignConfigError (Permanent)        credentials, IP allow-list, template id: fix settings
    └── GmoSignNotSupported (Permanent)       the configured GMO Sign API has no such operation
                                              (status query, search, cancel are not documented)

Messages carry the HTTP status and GMO Sign's own ``message``, never a token, the secret key
or a signer's name or address.
"""

from __future__ import annotations

from connectors.errors import Permanent, RetryLater


class GmoSignError(Exception):
    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        prefix = f"[{self.status}] " if self.status is not None else ""
        return f"{prefix}{self.message}"


class GmoSignTransientError(GmoSignError, RetryLater):
    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class GmoSignConnectionError(GmoSignTransientError):
    pass


class GmoSignOutcomeUnknown(GmoSignError, RetryLater):
    """The send may have created an envelope. Find it before anything is sent again."""


class GmoSignDataError(GmoSignError, Permanent):
    pass


class GmoSignNotFound(GmoSignDataError):
    pass


class GmoSignConfigError(GmoSignError, Permanent):
    pass


class GmoSignNotSupported(GmoSignError, Permanent):
    """The operation exists in the interface but not in the API this deployment talks to."""

    def __init__(self, operation: str) -> None:
        super().__init__(
            f"{operation} is not supported by the configured GMO Sign API "
            "(no documented endpoint; ask GMO Sign for it before enabling)"
        )
        self.operation = operation
