"""What every flow is handed: the connectors, the mappings, the ledger, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import structlog

from connectors.gmosign.interface import GmoSignClient
from connectors.gstaff.errors import GStaffConfigError
from connectors.gstaff.interface import GStaffClient
from connectors.kintone.interface import KintoneClient
from flows.business_calendar import BusinessCalendar
from kgbridge.ledger import Ledger
from mappings import Mappings

TOKYO = ZoneInfo("Asia/Tokyo")


def tokyo_now() -> datetime:
    return datetime.now(TOKYO)


def _discard(_detail: str, record_id: str | None = None) -> None:
    return None


@dataclass
class FlowContext:
    kintone: KintoneClient
    mappings: Mappings
    ledger: Ledger
    clock: Callable[[], datetime] = tokyo_now
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    # Optional connectors: a flow that needs one raises a clear error when it is not configured.
    gstaff: GStaffClient | None = None
    gmosign: GmoSignClient | None = None
    # CA certificates a signed contract PDF must chain to (KGBRIDGE_GMOSIGN_SIGNATURE_TRUST_ROOTS;
    # empty: not checked, see flows/signature_proof.py).
    signature_trust_roots: tuple = ()
    # Start another flow as its own job: enqueue(flow, app_key, record_id, marker) -> False when
    # that job (same flow, record and marker) exists already. None outside a worker: the caller
    # then runs the flow inline.
    enqueue: Callable[[str, str, str, str], bool] | None = None
    # Start one flow on many records: enqueue_many(flow, app_key, [(record id, marker)], key); from
    # KGBRIDGE_BULK_MIN_RECORDS on as page jobs (flows/bulk.py). None: one ``enqueue`` (or run) each.
    enqueue_many: Callable[[str, str, list[tuple[str, str]], str], Any] | None = None
    # The RQ job this run belongs to ("" outside a worker): a flow can tell an earlier, dead run of
    # its own job from another job working on the same record.
    job_id: str = ""
    # report(detail, record_id=None): say what the flow decided, in a few words without personal data
    # ("held: missing 業務内容", "sent envelope X"): the job runner keeps it in the record's run history
    # (kgbridge/history.py) beside the outcome word the flow returns. ``record_id`` names the record
    # when the job named none (a GMO Sign callback names its envelope). Outside a job it goes nowhere.
    report: Callable[..., None] = _discard
    log: Any = field(default_factory=lambda: structlog.get_logger("kgbridge.flow"))

    def now(self) -> datetime:
        return self.clock().astimezone(TOKYO)


def gstaff_of(ctx: FlowContext) -> GStaffClient:
    """The context's G-Staff client; a configuration error (never retried) when there is none."""
    if ctx.gstaff is None:
        raise GStaffConfigError("G-Staff is not configured (KGBRIDGE_GSTAFF_BASE_URL, KGBRIDGE_GSTAFF_API_KEY)")
    return ctx.gstaff
