"""From a GMO Sign callback body to an inbox entry for the signature-status flow: validate, record once.

Shared by the HTTP receiver and ``kgbridge events replay`` (register ``parse_gmosign`` and
``accept_gmosign`` as the GMO Sign pair). GMO Sign documents one payload, sent for the events the
webhook was registered for (only ``Completed`` is named, docs/gmosign-sources.md):
``{envelope_xid, envelope_name, document_list[{documentId, document_name}]}``.

Lenient on purpose: only ``envelope_xid`` is required (and must be a plain id); anything else in
the body, well-formed or not, is kept in the raw body and never read. A callback is a trigger for
the flow to look at that envelope, never a statement of what happened: no event name, document id
or state from the body is passed on (flows/signature_status.py).

Whether the envelope is one of ours is decided in Redis, with one call (kgbridge/envelopes.py): a
callback for an envelope no contract holds never becomes a job.
"""

from __future__ import annotations

import hashlib
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from kgbridge import envelopes
from kgbridge.inbox import InboxEvent, flows_of, inbox_key, seen_key
from webhooks.intake import Accepted, Rejected, parse_body

_ID = r"^[A-Za-z0-9_.:-]{1,128}$"
FLOW = "signature_status"
# Callbacks for one envelope within this many seconds start one look at it (a burst of them,
# genuine or not, costs one job; the contract's documents decide, not the callback).
COALESCE_SECONDS = 600

log = structlog.get_logger("kgbridge.webhook")


class GmoSignCallback(BaseModel):
    model_config = ConfigDict(extra="allow")
    envelope_xid: str = Field(pattern=_ID)
    _raw: bytes = PrivateAttr(default=b"")

    @property
    def raw(self) -> bytes:
        return self._raw

    def slot(self, now: float) -> int:
        return int(now) // COALESCE_SECONDS

    def event_key(self, now: float) -> str:
        """What makes a callback distinct: the envelope and the coalescing slot it arrived in."""
        return f"gmosign:{self.envelope_xid}:s{self.slot(now)}"

    def digest(self) -> str:
        return hashlib.sha256(self._raw).hexdigest()[:16]


def parse_gmosign(body: bytes) -> GmoSignCallback:
    """Parse and validate a callback body; raise Rejected with a readable reason."""
    callback = parse_body(body, GmoSignCallback, "a GMO Sign callback")
    callback._raw = body
    return callback


def accept_gmosign(callback: GmoSignCallback, *, mappings, connection, settings, source: str = "webhook",
                   queue=None, now: float | None = None) -> Accepted:
    """Record the callback for an envelope we know, once per coalescing slot (one Redis call);
    the dispatcher enqueues the signature-status job. An envelope we do not know is answered
    without any job: remembered as unknown, or left for the batched lookup.

    The app is the one whose mapping says ``[signature_status] callbacks = true``. Redis errors
    propagate (the receiver answers 503). ``queue`` is unused (older signature).
    """
    import time

    apps = [m for m in mappings if m.settings(FLOW).get("callbacks")]
    if len(apps) != 1:
        raise Rejected(422, f"{len(apps)} app mappings take GMO Sign callbacks; exactly one must "
                            "([signature_status] callbacks = true)")
    now = time.time() if now is None else now
    event_id = callback.event_key(now)
    event = InboxEvent(
        origin="gmosign", event_id=event_id, app_key=apps[0].key,
        marker=f"{callback.envelope_xid}-s{callback.slot(now)}", event_type="callback", flow=FLOW, source=source,
        params=(("envelope_id", callback.envelope_xid),))
    flows = flows_of(mappings, event)
    outcome = envelopes.accept_callback(
        connection, envelope_id=callback.envelope_xid, seen=seen_key("gmosign", event_id),
        inbox=inbox_key(settings),
        entry=event.dumps(), event_id=event_id, body=callback.raw, dedupe_ttl=settings.dedupe_ttl_seconds)
    if outcome == envelopes.RECORDED:
        return Accepted(event_id, event=event, flows=flows)
    if outcome == envelopes.DUPLICATE:
        return Accepted(event_id, duplicate=True)
    if outcome == envelopes.PENDING_FULL:
        log.warning("GMO Sign callback ignored: too many unknown envelopes wait for a lookup",
                    envelope_id=callback.envelope_xid, count=envelopes.PENDING_LIMIT)
    reasons = {envelopes.UNKNOWN: "no contract holds this envelope",
               envelopes.PENDING_LOOKUP: "envelope not known yet; it will be looked up",
               envelopes.PENDING_FULL: "envelope not known"}
    return Accepted(event_id, ignored_reason=reasons[outcome])


def describe(callback: GmoSignCallback) -> dict[str, Any]:
    """What the receiver's log line says about a callback (ids only)."""
    return {"envelope_id": callback.envelope_xid, "digest": callback.digest()}
