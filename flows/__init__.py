"""The business processes, one module per flow, as plain functions over connector interfaces.

Each flow module has ``run(ctx, app_key, record_id, **params) -> str`` returning a short
outcome word for the log and the record's run history; ``ctx.report("held: missing 業務内容")``
adds what it decided in a few words (no personal data). ``FLOWS`` is the registry the job runner
and the router use.
"""

from __future__ import annotations

import importlib

# flow name -> module path; modules are imported when first used.
FLOWS: dict[str, str] = {
    "order_registration": "flows.order_registration",
    "follow_up": "flows.follow_up",
    "next_follow_up": "flows.next_follow_up",
    "client_lookup": "flows.client_lookup",
    "inquiry_routing": "flows.inquiry_routing",
    "visit_report": "flows.visit_report",
    "workflow": "flows.workflow",
    "contract_issuance": "flows.contract_issuance",
    "contract_staffing": "flows.contract_staffing",
    "signature_status": "flows.signature_status",
    "master_retention": "flows.master_retention",
}


# Flows that can also decide a page of records at once (``run_page(ctx, app_key, record_ids)``,
# flows/bulk.py): work found in bulk goes there instead of one job per record. Page jobs of several
# flows on the same records run in this order, one after the other (kgbridge/ops/reconcile.py):
# routing (quick: no G-Staff call per record) before the G-Staff client lookup of the same inquiries.
# On the Contracts app the follow-up schedule (締結済/取消; it writes the Follow-ups app, never the contract)
# comes first, then master_retention (締結済: the 基本契約 it extends are written in bulk), then
# contract_staffing (発報待ち); contract_issuance and signature_status stay one job per contract: GMO Sign
# takes one call per envelope (a send, a status, a download), so a page would save kintone reads only
# while each envelope keeps its own exactly-once claim.
PAGE_FLOWS: dict[str, str] = {
    "order_registration": "flows.order_registration",
    "inquiry_routing": "flows.inquiry_routing",
    "client_lookup": "flows.client_lookup",
    "follow_up": "flows.follow_up",
    "master_retention": "flows.master_retention",
    "contract_staffing": "flows.contract_staffing",
    "visit_report": "flows.visit_report",
    "next_follow_up": "flows.next_follow_up",
    "workflow": "flows.workflow",
}


def get_page_flow(name: str):
    try:
        module = importlib.import_module(PAGE_FLOWS[name])
    except KeyError:
        raise LookupError(f"flow {name!r} has no page path") from None
    return module.run_page


def get_flow(name: str):
    try:
        module = importlib.import_module(FLOWS[name])
    except KeyError:
        raise LookupError(f"unknown flow {name!r}") from None
    return module.run
