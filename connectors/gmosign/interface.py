"""What the flows may ask of GMO Sign (電子印鑑GMOサイン).

Shapes follow the one public machine-readable description of the API, GMO's Power Platform
connector (reference/gmosign.md §1.3): send an envelope from a stored template with merge
fields (``inset_item_list``), or register documents and request signatures; download a
document; the completion callback. Every method raises only ``GmoSignError`` subclasses.

Optional operations: the public description has no status query, no search by our document
code and no cancel. They are part of the interface so a flow can use them where a deployment
has them (the fake does), but the live client raises ``GmoSignNotSupported`` for them rather
than calling an invented endpoint. Flows must work without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol, runtime_checkable


class EnvelopeState(str, Enum):
    """An envelope's lifecycle (reference/gmosign.md §1.5)."""

    APPROVAL_PENDING = "approval_pending"  # 社内承認待ち (our approver has not approved yet)
    REJECTED = "rejected"  # 社内承認で却下
    SENT = "sent"  # 署名待ち (mailed to the signer)
    SIGNED = "signed"  # signed, completion pending (other signers, timestamp)
    COMPLETED = "completed"  # 締結完了
    DECLINED = "declined"  # 辞退 by the signer
    EXPIRED = "expired"  # 署名期限切れ
    WITHDRAWN = "withdrawn"  # 取り下げ / deleted by the sender

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({EnvelopeState.REJECTED, EnvelopeState.COMPLETED, EnvelopeState.DECLINED,
                          EnvelopeState.EXPIRED, EnvelopeState.WITHDRAWN})


@dataclass(frozen=True)
class Signer:
    """A signer. The counterparty (``in_house=False``) signs by mail authentication (契約印タイプ)."""

    name: str
    email: str
    organization: str = ""
    order: int = 1
    in_house: bool = False
    from_template: bool = False  # use the signer stored in the template (in-house seal holder)


@dataclass(frozen=True)
class Approver:
    """社内承認: must be a user of the same GMO Sign account."""

    name: str
    email: str
    order: int = 1
    department: str = ""


@dataclass(frozen=True)
class TemplateSend:
    template_id: str
    envelope_name: str
    document_code: str  # our idempotency reference, e.g. kintone-contracts-12
    signers: list[Signer]
    approvers: list[Approver] = field(default_factory=list)
    merge_fields: dict[str, str] = field(default_factory=dict)  # inset item name -> value
    sender_name: str = ""
    approval_comment: str = ""
    webhook: bool = True  # is_web_hook: only such envelopes fire callbacks


@dataclass(frozen=True)
class DocumentRef:
    document_code: str
    document_name: str


@dataclass(frozen=True)
class SignatureRequest:
    envelope_name: str
    documents: list[DocumentRef]  # registered before with register_document
    signers: list[Signer]
    approvers: list[Approver] = field(default_factory=list)
    sender_name: str = ""
    approval_comment: str = ""
    webhook: bool = True


@dataclass(frozen=True)
class SentEnvelope:
    envelope_id: str  # envelope_xid
    document_ids: list[str]  # control_number of each document
    raw_status: str = ""  # envelope_status as GMO Sign answered (values undocumented)
    signer_count: int = 0  # signers of the envelope (signer_list of the answer; 0: not said)


@dataclass(frozen=True)
class EnvelopeInfo:
    envelope_id: str
    state: EnvelopeState
    document_code: str = ""
    document_ids: list[str] = field(default_factory=list)
    signer_count: int = 0


@dataclass(frozen=True)
class CallbackHook:
    """A callback registration (CreateHookEnvelope's answer)."""

    connect_id: str
    url: str
    events: str = "Completed"


@runtime_checkable
class GmoSignClient(Protocol):
    def send_from_template(self, send: TemplateSend) -> SentEnvelope:
        """Create and send an envelope from a template. Never retried after the request left:
        an unclear answer raises GmoSignOutcomeUnknown."""

    def register_document(self, content: bytes, file_name: str, document_code: str) -> str:
        """Upload one PDF under our document code; return the code."""

    def request_signature(self, request: SignatureRequest) -> SentEnvelope:
        """Create and send an envelope from registered documents (same rule as sending)."""

    def download_document(self, document_id: str) -> bytes:
        """The document's PDF (signed once the envelope is completed)."""

    def connect_callback(self, name: str, url: str, events: str = "Completed") -> CallbackHook:
        """Register our callback URL for envelopes' events (gateway only, else GmoSignNotSupported)."""

    def delete_callback(self, connect_id: str) -> None:
        """Remove a callback registration (gateway only, else GmoSignNotSupported)."""

    # -- optional: not in the public API description (GmoSignNotSupported) ---------------

    def find_envelope(self, document_code: str) -> EnvelopeInfo | None:
        """The envelope made under our document code, if any."""

    def get_envelope(self, envelope_id: str) -> EnvelopeInfo:
        """The envelope's current state."""

    def cancel_envelope(self, envelope_id: str) -> None:
        """Withdraw (取り下げ) an envelope nobody has completed."""
