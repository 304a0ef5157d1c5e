"""From a GMO Sign callback body to an inbox entry for the signature-status flow: validate, record once.

Shared by the HTTP receiver and ``kgbridge events replay`` (register ``parse_gmosign`` and
``accept_gmosign`` as the GMO Sign pair). GMO Sign documents one payload, for completed envelopes
(reference/gmosign.md §1.6): ``{envelope_xid, envelope_name, document_list[{documentId,
document_name}]}``. An ``event`` field, when a deployment sends one, names other events;
without it the callback is a completion. Nothing here is trusted: the flow re-reads.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from kgbridge.inbox import InboxEvent, record, route
from webhooks.intake import Accepted, Rejected, parse_body

_ID = r"^[A-Za-z0-9_.:-]{1,128}$"
FLOW = "signature_status"


class GmoSignDocument(BaseModel):
    model_config = ConfigDict(extra="allow")
    documentId: str = Field(pattern=_ID)
    document_name: str = Field(default="", max_length=1000)


class GmoSignCallback(BaseModel):
    model_config = ConfigDict(extra="allow")
    envelope_xid: str = Field(pattern=_ID)
    envelope_name: str = Field(default="", max_length=1000)
    document_list: list[GmoSignDocument] = Field(default_factory=list, max_length=100)
    event: str = Field(default="Completed", pattern=r"^[A-Za-z_]{1,40}$")

    @property
    def event_key(self) -> str:
        """What makes a callback distinct: the envelope and the event."""
        return f"gmosign:{self.envelope_xid}:{self.event}"


def parse_gmosign(body: bytes) -> GmoSignCallback:
    """Parse and validate a callback body; raise Rejected with a readable reason."""
    return parse_body(body, GmoSignCallback, "a GMO Sign callback")


def accept_gmosign(callback: GmoSignCallback, *, mappings, connection, settings, source: str = "webhook",
                   queue=None) -> Accepted:
    """Record the callback in the inbox once per envelope and event (one Redis call); the
    dispatcher enqueues the signature-status job.

    The app is the one whose mapping says ``[signature_status] callbacks = true``; the flow finds
    the contract by envelope id. Redis errors propagate (the receiver answers 503). ``queue`` is
    unused, accepted for callers written for the older signature.
    """
    apps = [m for m in mappings if m.settings(FLOW).get("callbacks")]
    if len(apps) != 1:
        raise Rejected(422, f"{len(apps)} app mappings take GMO Sign callbacks; exactly one must "
                            "([signature_status] callbacks = true)")
    event = InboxEvent(
        origin="gmosign", event_id=callback.event_key, app_key=apps[0].key,
        marker=f"{callback.envelope_xid}-{callback.event}", event_type=callback.event, flow=FLOW, source=source,
        params=(("envelope_id", callback.envelope_xid), ("event", callback.event),
                ("document_ids", ",".join(d.documentId for d in callback.document_list))))
    requests = route(mappings, event)
    if not record(connection, settings, callback.event_key, event, origin="gmosign"):
        return Accepted(callback.event_key, duplicate=True)
    return Accepted(callback.event_key, jobs=[r.job_id for r in requests])
