"""G-Staff connector (the company's client and staff system)."""

from connectors.gstaff.errors import (  # noqa: F401
    GStaffConfigError,
    GStaffDataError,
    GStaffError,
    GStaffNotFound,
    GStaffTransientError,
)
from connectors.gstaff.interface import (  # noqa: F401
    ArchivedContract,
    ClientHistory,
    ClientSummary,
    GStaffClient,
    NewClient,
    SharedOrder,
    TroubleEntry,
    WorkSite,
)
