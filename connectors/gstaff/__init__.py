"""G-Staff connector (the company's client and staff system)."""

from connectors.gstaff.errors import (  # noqa: F401
    GStaffConfigError,
    GStaffConnectionError,
    GStaffDataError,
    GStaffError,
    GStaffNotFound,
    GStaffProtocolError,
    GStaffRateLimited,
    GStaffTransientError,
)
from connectors.gstaff.interface import (  # noqa: F401
    ArchivedContract,
    Assignment,
    ClientHistory,
    ClientSummary,
    EmploymentType,
    FormerEmployment,
    GStaffClient,
    MatchKind,
    NewClient,
    RepWorkload,
    SharedIndividualContract,
    SharedOrder,
    StaffMember,
    TroubleEntry,
    WorkSite,
)
