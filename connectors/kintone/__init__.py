"""kintone REST API connector."""

from connectors.kintone.errors import (  # noqa: F401
    KintoneAssigneeRequired,
    KintoneAuthError,
    KintoneConfigError,
    KintoneConflict,
    KintoneConnectionError,
    KintoneDatabaseLocked,
    KintoneDataError,
    KintoneError,
    KintoneNotFound,
    KintonePermissionDenied,
    KintoneProcessDisabled,
    KintoneRateLimited,
    KintoneRevisionConflict,
    KintoneStatusConflict,
    KintoneTransientError,
    KintoneUnavailable,
    KintoneValidationError,
)
from connectors.kintone.interface import (  # noqa: F401
    BulkWrite,
    Comment,
    KintoneClient,
    Mention,
    RecordUpdate,
    StatusAction,
)
