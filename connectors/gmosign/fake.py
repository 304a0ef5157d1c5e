"""An in-memory GMO Sign with the live client's interface and errors.

Envelopes follow the lifecycle of reference/gmosign.md §1.5: approval pending (when there are
approvers) → sent → signed → completed, or declined / rejected / expired / withdrawn. Tests read
``envelopes`` and ``calls``, and drive the lifecycle with ``move(envelope_id, state)``, which
returns the callback body GMO Sign would post (the documented payload: envelope and documents,
no event name).

Rehearsals: ``fail_next`` makes the next call of a method raise; ``lose_answer_of`` makes a send
create its envelope and then raise ``GmoSignOutcomeUnknown`` (accepted, answer lost);
``crash_after`` raises any exception (e.g. one standing for SIGKILL) once the envelope exists;
``during`` runs a function inside the next call of a method (another job racing this one).
``supports_lookup=False`` makes the optional operations raise ``GmoSignNotSupported`` like the
live client. ``sign_documents(pdf, signer_count) -> pdf`` makes a completed envelope serve really
signed PDFs (tests pass one that signs with a throwaway certificate, tests/signed_pdfs.py);
without it a completed document is the placeholder ``signed_pdf`` (no signature at all).
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from connectors.gmosign.errors import (
    GmoSignDataError,
    GmoSignNotFound,
    GmoSignNotSupported,
    GmoSignOutcomeUnknown,
)
from connectors.gmosign.interface import (
    FINAL_STATES,
    Approver,
    CallbackHook,
    EnvelopeInfo,
    EnvelopeState,
    SentEnvelope,
    SignatureRequest,
    Signer,
    TemplateSend,
)

S = EnvelopeState
_NEXT: dict[EnvelopeState, set[EnvelopeState]] = {
    S.APPROVAL_PENDING: {S.SENT, S.REJECTED, S.WITHDRAWN},
    S.SENT: {S.SIGNED, S.COMPLETED, S.DECLINED, S.EXPIRED, S.WITHDRAWN},
    S.SIGNED: {S.COMPLETED, S.DECLINED, S.EXPIRED, S.WITHDRAWN},
}


@dataclass
class FakeEnvelope:
    envelope_id: str
    name: str
    document_code: str
    signers: list[Signer]
    approvers: list[Approver]
    template_id: str = ""
    merge_fields: dict[str, str] = field(default_factory=dict)
    state: EnvelopeState = S.SENT
    webhook: bool = True
    documents: dict[str, bytes] = field(default_factory=dict)  # control number -> PDF
    history: list[EnvelopeState] = field(default_factory=list)


class FakeGmoSign:
    """Satisfies ``connectors.gmosign.interface.GmoSignClient``."""

    def __init__(self, *, supports_lookup: bool = True, sign_documents=None) -> None:
        self.supports_lookup = supports_lookup
        self.sign_documents = sign_documents
        self.envelopes: dict[str, FakeEnvelope] = {}
        self.registered: dict[str, tuple[str, bytes]] = {}  # document code -> (file name, content)
        self.hooks: dict[str, CallbackHook] = {}  # connect id -> registration
        self.calls: Counter = Counter()
        self._failures: dict[str, list[BaseException]] = defaultdict(list)
        self._lost_answers: Counter = Counter()
        self._crashes: dict[str, list[BaseException]] = defaultdict(list)
        self._during: dict[str, list] = defaultdict(list)
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    # -- rehearsals --------------------------------------------------------------------------

    def fail_next(self, method: str, error: BaseException, times: int = 1) -> None:
        self._failures[method].extend([error] * times)

    def lose_answer_of(self, method: str, times: int = 1) -> None:
        self._lost_answers[method] += times

    def crash_after(self, method: str, error: BaseException) -> None:
        self._crashes[method].append(error)

    def during(self, method: str, action) -> None:
        self._during[method].append(action)

    # -- driving the lifecycle ---------------------------------------------------------------

    def move(self, envelope_id: str, state: EnvelopeState) -> dict:
        """Move an envelope on (as signers and approvers would); return the callback body."""
        with self._lock:
            envelope = self._envelope(envelope_id)
            if state not in _NEXT.get(envelope.state, set()):
                raise ValueError(f"an envelope cannot go from {envelope.state.value} to {state.value}")
            envelope.state = state
            envelope.history.append(state)
            if state is S.COMPLETED:
                for control_number, unsigned in envelope.documents.items():
                    envelope.documents[control_number] = (
                        self.sign_documents(unsigned, len(envelope.signers)) if self.sign_documents
                        else signed_pdf(envelope_id, control_number))
            return self.callback_body(envelope_id)

    def complete(self, envelope_id: str) -> dict:
        """Approve (if needed), sign and complete; return the completion callback body."""
        envelope = self._envelope(envelope_id)
        if envelope.state is S.APPROVAL_PENDING:
            self.move(envelope_id, S.SENT)
        return self.move(envelope_id, S.COMPLETED)

    def callback_body(self, envelope_id: str) -> dict:
        envelope = self._envelope(envelope_id)
        return {
            "envelope_xid": envelope.envelope_id,
            "envelope_name": envelope.name,
            "document_list": [{"documentId": cn, "document_name": f"{envelope.name} ({n})"}
                              for n, cn in enumerate(envelope.documents, start=1)],
        }

    def envelopes_for(self, document_code: str) -> list[FakeEnvelope]:
        return [e for e in self.envelopes.values() if e.document_code == document_code]

    # -- the GmoSignClient interface ---------------------------------------------------------

    def send_from_template(self, send: TemplateSend) -> SentEnvelope:
        self._enter("send_from_template")
        self._check_signers(send.signers)
        with self._lock:
            envelope = self._create(send.envelope_name, send.document_code, send.signers, send.approvers,
                                    send.webhook, documents=1)
            envelope.template_id = send.template_id
            envelope.merge_fields = dict(send.merge_fields)
        return self._answer("send_from_template", envelope)

    def register_document(self, content: bytes, file_name: str, document_code: str) -> str:
        self._enter("register_document")
        if not content.startswith(b"%PDF"):
            raise GmoSignDataError("register document: not a PDF", status=400)
        self.registered[document_code] = (file_name, content)
        return document_code

    def request_signature(self, request: SignatureRequest) -> SentEnvelope:
        self._enter("request_signature")
        self._check_signers(request.signers)
        unknown = [d.document_code for d in request.documents if d.document_code not in self.registered]
        if unknown:
            raise GmoSignDataError(f"request signature: documents not registered: {unknown}", status=400)
        with self._lock:
            code = request.documents[0].document_code if request.documents else ""
            envelope = self._create(request.envelope_name, code, request.signers, request.approvers,
                                    request.webhook, documents=len(request.documents))
        return self._answer("request_signature", envelope)

    def download_document(self, document_id: str) -> bytes:
        self._enter("download_document")
        with self._lock:
            for envelope in self.envelopes.values():
                if document_id in envelope.documents:
                    return envelope.documents[document_id]
        raise GmoSignNotFound(f"document {document_id} not found", status=404)

    def connect_callback(self, name: str, url: str, events: str = "Completed") -> CallbackHook:
        self._enter("connect_callback")
        hook = CallbackHook(connect_id=f"CONNECT{len(self.hooks) + 1:04d}", url=url, events=events)
        self.hooks[hook.connect_id] = hook
        return hook

    def delete_callback(self, connect_id: str) -> None:
        self._enter("delete_callback")
        if self.hooks.pop(connect_id, None) is None:
            raise GmoSignNotFound(f"callback registration {connect_id} not found", status=404)

    def find_envelope(self, document_code: str) -> EnvelopeInfo | None:
        self._enter("find_envelope")
        if not self.supports_lookup:
            raise GmoSignNotSupported("finding an envelope by document code")
        found = self.envelopes_for(document_code)
        return self._info(found[0]) if found else None

    def get_envelope(self, envelope_id: str) -> EnvelopeInfo:
        self._enter("get_envelope")
        if not self.supports_lookup:
            raise GmoSignNotSupported("reading an envelope's status")
        return self._info(self._envelope(envelope_id))

    def cancel_envelope(self, envelope_id: str) -> None:
        self._enter("cancel_envelope")
        if not self.supports_lookup:
            raise GmoSignNotSupported("withdrawing an envelope")
        with self._lock:
            envelope = self._envelope(envelope_id)
            if envelope.state is S.WITHDRAWN:
                return
            if envelope.state in FINAL_STATES:
                raise GmoSignDataError(f"envelope {envelope_id} is {envelope.state.value}; cannot withdraw",
                                       status=400)
            envelope.state = S.WITHDRAWN
            envelope.history.append(S.WITHDRAWN)

    # -- internals ---------------------------------------------------------------------------

    def _create(self, name: str, code: str, signers: list[Signer], approvers: list[Approver], webhook: bool,
                documents: int) -> FakeEnvelope:
        envelope_id = f"ENV{next(self._ids):06d}"
        state = S.APPROVAL_PENDING if approvers else S.SENT
        envelope = FakeEnvelope(envelope_id, name, code, list(signers), list(approvers), state=state,
                                webhook=webhook, history=[state])
        for n in range(1, documents + 1):
            control_number = f"{envelope_id}-D{n}"
            envelope.documents[control_number] = b"%PDF-1.4\n% unsigned " + control_number.encode() + b"\n%%EOF\n"
        self.envelopes[envelope_id] = envelope
        return envelope

    def _answer(self, method: str, envelope: FakeEnvelope) -> SentEnvelope:
        crashes = self._crashes.get(method)
        if crashes:
            raise crashes.pop(0)
        if self._lost_answers[method] > 0:
            self._lost_answers[method] -= 1
            raise GmoSignOutcomeUnknown(f"{method}: read timed out (the envelope may exist)")
        return SentEnvelope(envelope.envelope_id, list(envelope.documents), raw_status=envelope.state.value,
                            signer_count=len(envelope.signers))

    @staticmethod
    def _check_signers(signers: list[Signer]) -> None:
        # GMO Sign's answer when signer data is missing (reference §4.2, Gluegent).
        if not signers:
            raise GmoSignDataError("必須情報が不足しています（署名者）", status=400)
        for signer in signers:
            if not signer.from_template and (not signer.name or "@" not in signer.email):
                raise GmoSignDataError("必須情報が不足しています（署名者の氏名・メールアドレス）", status=400)

    def _envelope(self, envelope_id: str) -> FakeEnvelope:
        try:
            return self.envelopes[envelope_id]
        except KeyError:
            raise GmoSignNotFound(f"envelope {envelope_id} not found", status=404) from None

    @staticmethod
    def _info(envelope: FakeEnvelope) -> EnvelopeInfo:
        return EnvelopeInfo(envelope.envelope_id, envelope.state, envelope.document_code, list(envelope.documents),
                            signer_count=len(envelope.signers))

    def _enter(self, method: str) -> None:
        self.calls[method] += 1
        pending = self._failures.get(method)
        if pending:
            raise pending.pop(0)
        actions = self._during.get(method)
        if actions:
            actions.pop(0)()


def signed_pdf(envelope_id: str, control_number: str) -> bytes:
    """The bytes the fake serves for a completed document (tests compare attachments with it)."""
    return f"%PDF-1.4\n% signed {envelope_id} {control_number}\n%%EOF\n".encode()
