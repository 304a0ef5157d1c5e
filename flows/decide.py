"""Decide on a fresh copy of the record, and decide again when someone changed it meanwhile.

Every flow acts on what kintone holds now, not on the webhook's copy. Writes carry the
revision the decision was made on; a conflict (GAIA_CO02, or GAIA_IL03 for a status that moved)
means a person or another job got there first, so we re-read and decide again, a few times,
before leaving it to the job's retry.
"""

from __future__ import annotations

from collections.abc import Callable

from connectors.kintone import KintoneConflict
from flows.context import FlowContext
from mappings import AppMapping

MAX_DECISIONS = 3


def on_fresh_record(ctx: FlowContext, mapping: AppMapping, record_id: str, flow: str,
                    decide: Callable[[dict, str | None], str]) -> str:
    """Read the record, call ``decide(values, status_key)`` and return its outcome."""
    log = ctx.log.bind(flow=flow, app=mapping.key, record_id=record_id)
    for attempt in range(1, MAX_DECISIONS + 1):
        values = mapping.read(ctx.kintone.get_record(mapping.id, record_id))
        status = mapping.status_key(values.get("status"))
        try:
            outcome = decide(values, status)
        except KintoneConflict as exc:
            log.info("record changed meanwhile; deciding again", step="decide", attempt=attempt, code=exc.code)
            continue
        log.info("record checked", step="decide", outcome=outcome, status=status)
        return outcome
    raise KintoneConflict(f"{mapping.key} #{record_id} kept changing while we decided; will retry later")
