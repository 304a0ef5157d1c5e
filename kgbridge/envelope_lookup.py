"""The periodic lookup of envelopes GMO Sign called about that no index entry names (kgbridge/envelopes.py).

Each run takes up to ``envelopes.BATCH`` pending envelope ids at a time and asks kintone about all
of them in one query (``GMOサイン文書ID in (...)``), for at most ``envelopes.BATCHES`` queries: a
flood of callbacks for made-up envelopes costs one kintone call per hundred ids, once each (the
answer is remembered), and never an RQ job. A found envelope (a contract sent before the index
existed) is indexed and its held callback goes through the receiver's own ``accept_gmosign``, so
it reaches the flow as if it had just arrived. If kintone cannot answer, the ids go back to the
pending set for the next run.
"""

from __future__ import annotations

import redis
import structlog

from connectors.errors import RetryLater
from kgbridge import envelopes
from kgbridge.settings import Settings
from mappings import Mappings
from webhooks.gmosign_intake import FLOW, accept_gmosign, parse_gmosign
from webhooks.intake import Rejected

log = structlog.get_logger("kgbridge.envelope_lookup")


def look_up_pending(kintone, mappings: Mappings, connection: redis.Redis, settings: Settings,
                    batches: int = envelopes.BATCHES) -> dict[str, int]:
    """Settle pending envelope ids against kintone; counts of found, unknown and kintone calls."""
    counts = {"found": 0, "unknown": 0, "calls": 0}
    apps = [m for m in mappings if m.settings(FLOW).get("callbacks")]
    if len(apps) != 1:
        return counts
    contracts = apps[0]
    code = contracts.field("gmosign_envelope_id").code
    for _ in range(batches):
        pending = envelopes.take_pending(connection)
        if not pending:
            break
        ids = ", ".join(f'"{envelope_id}"' for envelope_id, _ in pending)  # ids are [A-Za-z0-9_.:-] only
        try:
            counts["calls"] += 1
            records = kintone.get_records(contracts.id, query=f"{code} in ({ids})", fields=["$id", code],
                                          limit=500)
        except Exception:
            envelopes.give_back(connection, pending)
            raise
        owners = {r[code]["value"]: r["$id"]["value"] for r in records}
        unknown = [envelope_id for envelope_id, _ in pending if envelope_id not in owners]
        envelopes.settle(connection, unknown, settings.gmosign_unknown_ttl_seconds)
        counts["unknown"] += len(unknown)
        for envelope_id, body in pending:
            if envelope_id in owners:
                envelopes.remember(connection, envelope_id, contracts.key, owners[envelope_id])
                envelopes.drop_body(connection, envelope_id)
                counts["found"] += 1
                if body:
                    _record(body, mappings, connection, settings)
    if counts["calls"]:
        log.info("pending GMO Sign envelopes looked up", count=counts["found"] + counts["unknown"],
                 found=counts["found"], calls=counts["calls"], outcome="done")
    return counts


def _record(body: bytes, mappings: Mappings, connection: redis.Redis, settings: Settings) -> None:
    try:
        accept_gmosign(parse_gmosign(body), mappings=mappings, connection=connection, settings=settings,
                       source="lookup")
    except (Rejected, RetryLater) as exc:  # cannot happen for a body the receiver took; never lose the run
        log.warning("held GMO Sign callback not recorded", error=type(exc).__name__)
