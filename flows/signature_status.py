"""Signature status from GMO Sign back into kintone (DESIGN.md flow 4).

A GMO Sign callback names an envelope. We find the contract whose GMOサイン文書ID it is and move
its status forward only: 署名依頼中 → 締結済 / 差戻し / 取消 / 期限切れ (the mapping's transitions).
A contract in a final status never moves again, whatever order callbacks arrive in; a completion
reported for a contract a person already closed is left for that person, with a comment.

A callback is a trigger, never a fact (GMO Sign signs nothing, and anyone who learns the URL can
post one): its event name and document ids are not believed. Where GMO Sign's API can be asked,
the envelope's state is read from it. Where it cannot (the published API: docs/gmosign-sources.md),
a completion is accepted only when every document GMO Sign returned for the envelope at send time
downloads and proves its own signing (flows/signature_proof.py: a valid digital signature per
signer, covering the whole file). Anything else leaves the contract 署名依頼中 with one comment
telling marketing what to check; an operator who checked in GMO Sign confirms by hand
(``kgbridge contracts confirm-signed``, ``confirm_signed`` below). On completion the signed PDFs
are archived in G-Staff (idempotent by our reference) with the 保管期限, attached to 締結済PDF with 締結日 and 保管期限, and 締結 moves the record to 締結済.
kintone learns of a signature even when G-Staff is down: the archive is then retried by the job
(transient) or waits in the failed registry for an operator (a record problem, with a comment).

GMO Sign announces only completion, so ``check_open_envelopes`` (run by the workers every
KGBRIDGE_OPEN_ENVELOPE_CHECK_SECONDS, kgbridge/periodic.py) looks at every contract still
署名依頼中: it applies the envelope's state where the API can tell it, and on business days flags
contracts past their 署名期限 to the sales rep, once per deadline.

kintone calls: completion 4 (find, upload, write-back, 締結; +1 client read when the contract
lacks its Gスタッフ顧客ID, +1 upload per extra document); another final state 3 (find, write, action);
a repeated callback 1 (find). The scheduled check: 1 per 500 open contracts, +1 comment per
overdue contract.
"""

from __future__ import annotations

import re
import uuid

from connectors.errors import Permanent, RetryLater
from connectors.gmosign import EnvelopeInfo, EnvelopeState, GmoSignNotSupported
from connectors.gstaff import ArchivedContract, GStaffConfigError, GStaffError, GStaffNotFound
from connectors.kintone import KintoneConflict
from flows.context import FlowContext
from flows.contract_issuance import Claim, claim_key, gmosign_of, run_action
from flows.notify import tell
from flows.signature_proof import prove_signed
from mappings import AppMapping
from mappings.contracts import StatusSettings, retention_until
from mappings.fields import is_blank
from mappings.japanese_dates import full_date

FLOW = "signature_status"
MAX_DECISIONS = 3
CHECK_LOCK = "lock:signature_status:check_open_envelopes"
CHECK_LOCK_SECONDS = 15 * 60
UNPROVEN_RECHECK_SECONDS = 35 * 24 * 3600  # longer than a signing deadline (30 days)
ENVELOPE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")  # also keeps the kintone query well-formed


class ContractNotYetKnown(RetryLater):
    """No contract carries this envelope id yet: its issuance may still be writing it back."""


class ContractDataError(Permanent):
    """A callback or contract problem retrying cannot fix (bad id, duplicate records)."""


class ArchiveNeedsFix(ContractDataError):
    """The signed contract could not be archived in G-Staff until someone fixes data or settings."""

    def __init__(self, message: str, reason_ja: str = "") -> None:
        super().__init__(message)
        self.reason_ja = reason_ja or "Gスタッフがデータを受け付けませんでした。"


def archive_problem(exc: Exception) -> ArchiveNeedsFix:
    """The archive failure as the operator (English) and the rep (Japanese) need to read it."""
    if isinstance(exc, ArchiveNeedsFix):
        return exc
    if isinstance(exc, GStaffNotFound):
        return ArchiveNeedsFix(str(exc), "Gスタッフに顧客が見つかりません。「Gスタッフ顧客ID」を確認してください。")
    if isinstance(exc, GStaffConfigError):
        return ArchiveNeedsFix(str(exc), "システム設定の問題です。システム運用担当者が対応します。")
    return ArchiveNeedsFix(str(exc))


def run(ctx: FlowContext, app_key: str, record_id: str = "", *, envelope_id: str = "", event: str = "",
        **_params) -> str:
    """A GMO Sign callback named ``envelope_id``: look at that envelope (the callback is only a
    trigger; its event name and document ids are never believed)."""
    contracts = ctx.mappings[app_key]
    log = ctx.log.bind(flow=FLOW, app=app_key, envelope_id=envelope_id)
    contract = find_contract(ctx, contracts, envelope_id)
    log = log.bind(record_id=contract["record_id"])
    ctx.report(f"callback for envelope {envelope_id}", record_id=contract["record_id"])
    info = envelope_info(ctx, envelope_id)
    if info is None:  # the API cannot be asked: only the signed documents themselves can tell
        outcome = conclude_on_proof(ctx, contracts, contract, log)
        log.info("signature status applied", step="decide", outcome=outcome, event_type=event or "none")
        return outcome
    for attempt in range(1, MAX_DECISIONS + 1):
        try:
            outcome = apply_state(ctx, contracts, contract, info.state, info.document_ids)
        except KintoneConflict as exc:
            log.info("contract changed meanwhile; deciding again", step="decide", attempt=attempt, code=exc.code)
            contract = contracts.read(ctx.kintone.get_record(contracts.id, contract["record_id"]))
            continue
        log.info("signature status applied", step="decide", outcome=outcome, status=info.state.value)
        return outcome
    raise KintoneConflict(f"contract {contract['record_id']} kept changing while we decided; will retry later")


def find_contract(ctx: FlowContext, contracts: AppMapping, envelope_id: str) -> dict:
    """The one contract whose GMOサイン文書ID is ``envelope_id`` (one kintone call)."""
    if not ENVELOPE_ID.match(envelope_id):
        raise ContractDataError(f"not a GMO Sign envelope id: {envelope_id[:40]!r}")
    code = contracts.field("gmosign_envelope_id").code
    records = ctx.kintone.get_records(contracts.id, query=f'{code} = "{envelope_id}"', limit=2)
    if not records:
        raise ContractNotYetKnown(f"no {contracts.key} record has GMO Sign envelope {envelope_id} (yet)")
    if len(records) > 1:
        raise ContractDataError(f"two {contracts.key} records have GMO Sign envelope {envelope_id}; fix the records")
    return contracts.read(records[0])


def envelope_info(ctx: FlowContext, envelope_id: str) -> EnvelopeInfo | None:
    """The envelope as GMO Sign says it is, where its API can be asked; else None."""
    try:
        return gmosign_of(ctx).get_envelope(envelope_id)
    except GmoSignNotSupported:
        return None


def stored_send(ctx: FlowContext, contracts: AppMapping, contract: dict) -> tuple[list[str], int]:
    """The document ids GMO Sign returned when we sent this contract's envelope, and its number
    of signers: from our claim (written at send time), else the document ids on the record."""
    claim = Claim.loads(ctx.ledger.get(claim_key(contracts, contract["record_id"])))
    if claim is not None and claim.envelope_id == contract.get("gmosign_envelope_id") and claim.document_ids:
        return list(claim.document_ids), claim.signers
    on_record = [d for d in (contract.get("gmosign_document_ids") or "").split(",") if d]
    return on_record, claim.signers if claim is not None and claim.envelope_id == contract.get(
        "gmosign_envelope_id") else 0


def conclude_on_proof(ctx: FlowContext, contracts: AppMapping, contract: dict, log) -> str:
    """Conclude only when every document GMO Sign returned for the envelope proves its signing."""
    settings = StatusSettings.of(contracts)
    status = contracts.status_key(contract["status"])
    if status == "issuing":
        raise ContractNotYetKnown(f"contract {contract['record_id']} is still being issued")
    concluded = contracts.action(settings.transitions["completed"]).to_status
    if status == concluded:
        return finish_completion(ctx, contracts, settings, contract, lambda: documents(ctx, contracts, contract))
    if status not in settings.open_statuses:
        return "already_final" if status in settings.final_statuses else "nothing_to_do"
    document_ids, signers = stored_send(ctx, contracts, contract)
    if not document_ids:
        return keep_open_unproven(ctx, contracts, contract, log, "no document ids were stored at send time",
                                  "送信時のGMOサイン書類番号が記録されていないため、締結済の契約書を確認できません。")
    gmosign = gmosign_of(ctx)
    pdfs = [(doc_id, gmosign.download_document(doc_id)) for doc_id in document_ids]
    for n, (_doc_id, pdf) in enumerate(pdfs, start=1):
        proof = prove_signed(pdf, signers, ctx.signature_trust_roots)
        if not proof.proven:
            return keep_open_unproven(ctx, contracts, contract, log, f"document {n}: {proof.reason}",
                                      "GMOサインからダウンロードした契約書に、署名者全員分の有効な電子署名を確認できません。")
    log.info("completion proven by the signed documents", step="prove", count=len(pdfs), outcome="proven")
    return finish_completion(ctx, contracts, settings, contract, pdfs)


def keep_open_unproven(ctx: FlowContext, contracts: AppMapping, contract: dict, log, reason: str,
                       reason_ja: str) -> str:
    """The contract stays 署名依頼中; marketing is told once what to check."""
    envelope_id = contract.get("gmosign_envelope_id") or ""
    log.warning("completion not proven; contract left open", step="prove", reason=reason, outcome="unproven")
    ctx.ledger.mark(unproven_key(contracts, contract["record_id"]), UNPROVEN_RECHECK_SECONDS, envelope_id)
    tell(ctx, contracts, contract["record_id"],
         f"GMOサインから締結完了の通知を受け取りましたが、{reason_ja}"
         f"そのため、ステータスは「{contract['status']}」のままにしています（GMOサイン文書ID：{envelope_id}）。\n"
         "マーケティング部：GMOサインの文書管理でこの文書が締結済みになっているか確認してください。"
         "締結済みの場合は、システム運用担当者に締結の手動確認を依頼してください。締結済みでない場合、対応は不要です。",
         contract.get("sales_rep"), once_as=f"unproven-{envelope_id}")
    return "kept_open_unproven"


def unproven_key(contracts: AppMapping, record_id: str) -> str:
    """Set while a contract had a completion callback its documents did not (yet) prove: the
    scheduled check looks at its documents again (a timestamp may still have been pending)."""
    return f"gmosign:unproven:{contracts.key}:{record_id}"


def documents(ctx: FlowContext, contracts: AppMapping, contract: dict,
              from_api: list[str] | None = None) -> list[tuple[str, bytes]]:
    """Download the envelope's documents: those stored at send time, else those GMO Sign's API
    named for the envelope. Never ids from a callback."""
    document_ids = stored_send(ctx, contracts, contract)[0] or list(from_api or [])
    if not document_ids:
        raise ContractDataError(f"contract {contracts.key} #{contract['record_id']}: no document of the envelope "
                                "is known (none stored at send time, none named by GMO Sign)")
    gmosign = gmosign_of(ctx)
    return [(doc_id, gmosign.download_document(doc_id)) for doc_id in document_ids]


def apply_state(ctx: FlowContext, contracts: AppMapping, contract: dict, state: EnvelopeState,
                api_documents: list[str]) -> str:
    """Move the contract forward to what the envelope's state means; never back."""
    settings = StatusSettings.of(contracts)
    status = contracts.status_key(contract["status"])
    completed = state is EnvelopeState.COMPLETED
    if status == "issuing":
        raise ContractNotYetKnown(f"contract {contract['record_id']} is still being issued")
    if status in settings.final_statuses:
        if completed and status == contracts.action(settings.transitions["completed"]).to_status:
            return finish_completion(ctx, contracts, settings, contract,  # archive left to do?
                                     lambda: documents(ctx, contracts, contract, api_documents))
        if completed:
            tell(ctx, contracts, contract["record_id"],
                 f"GMOサインでは締結が完了しましたが、このレコードは「{contract['status']}」のため、"
                 "ステータスは変更していません。契約の扱いを確認してください"
                 f"（GMOサイン文書ID：{contract['gmosign_envelope_id']}）。",
                 contract.get("sales_rep"), once_as="completed_after_final")
            return "kept_final_status"
        return "already_final"
    if status not in settings.open_statuses:
        return "nothing_to_do"
    if completed:
        return finish_completion(ctx, contracts, settings, contract,
                                 lambda: documents(ctx, contracts, contract, api_documents))
    label = settings.label(state.value)
    action_key = settings.transitions.get(state.value)
    if action_key is None:  # still open: approval pending, sent, signed
        if contract.get("gmosign_state") == label:
            return "unchanged"
        ctx.kintone.update_record(contracts.id, contract["record_id"], contracts.write({"gmosign_state": label}),
                                  revision=contract["revision"])
        return "state_noted"
    revision = ctx.kintone.update_record(contracts.id, contract["record_id"],
                                         contracts.write({"gmosign_state": label}), revision=contract["revision"])
    run_action(ctx, contracts, contract, action_key, revision)
    return f"moved_to_{contracts.action(action_key).to_status}"


def finish_completion(ctx: FlowContext, contracts: AppMapping, settings: StatusSettings, contract: dict,
                      pdfs) -> str:
    """Attach the signed PDFs, archive them in G-Staff with the 保管期限, move to 締結済.

    ``pdfs`` are the envelope's documents ``[(document id, bytes)]``, or a function downloading
    them (called only when a step is left to do). Each step is skipped when the record shows it
    done, so a retry finishes what is missing. The caller has established the completion.
    """
    record_id = contract["record_id"]
    need_pdf = is_blank(contract.get("signed_pdf"))
    need_archive = is_blank(contract.get("gstaff_archive_id"))
    conclude = contracts.action(settings.transitions["completed"])
    need_status = contracts.status_key(contract["status"]) != conclude.to_status
    if not (need_pdf or need_archive or need_status):
        return "already_concluded"

    if callable(pdfs):
        pdfs = pdfs()
    concluded_on = contract.get("concluded_on") or ctx.now().date()
    keep_until = contract.get("retention_until") or retention_until(settings.retention, concluded_on,
                                                                      contract.get("dispatch_end"))
    archive_ids, archive_error = [], None
    if need_archive:
        try:
            archive_ids = archive(ctx, contracts, contract, pdfs, keep_until, concluded_on)
        except (GStaffError, ArchiveNeedsFix) as exc:
            archive_error = exc

    values: dict = {}
    if need_pdf:
        values["signed_pdf"] = [ctx.kintone.upload_file(_file_name(contracts, contract, n, len(pdfs)), pdf,
                                                        "application/pdf")
                                for n, (_doc_id, pdf) in enumerate(pdfs, start=1)]
        values.update(gmosign_state=settings.label("completed"), concluded_on=concluded_on,
                      retention_until=keep_until)
    if archive_ids:
        values["gstaff_archive_id"] = ",".join(archive_ids)
    revision = contract["revision"]
    if values:
        revision = ctx.kintone.update_record(contracts.id, record_id, contracts.write(values), revision=revision)
    if need_status:
        run_action(ctx, contracts, contract, settings.transitions["completed"], revision)

    if archive_error is not None:
        if isinstance(archive_error, RetryLater):
            raise archive_error  # kintone knows; the retry archives
        problem = archive_problem(archive_error)
        tell(ctx, contracts, record_id,
             f"締結済の契約書をGスタッフに保管できませんでした。{problem.reason_ja}\n"
             "修正したら、システム運用担当者に再実行を依頼してください。締結済PDFと保管期限はこのレコードに記録済みです。",
             contract.get("sales_rep"), once_as="archive_failed")
        raise ArchiveNeedsFix(f"contract {contracts.key} #{record_id}: G-Staff archive failed: {problem}",
                              problem.reason_ja) from archive_error
    return "concluded"


def archive(ctx: FlowContext, contracts: AppMapping, contract: dict, pdfs: list[tuple[str, bytes]], keep_until,
            concluded_on=None) -> list[str]:
    """Store each signed PDF in G-Staff under our reference, with the search keys of 電子帳簿保存法
    (取引年月日 = 締結日, 取引金額 = 契約金額 when stated, 取引先 = 顧客); return the archive ids."""
    if ctx.gstaff is None:
        raise ArchiveNeedsFix("G-Staff is not configured", "システム設定の問題です。システム運用担当者が対応します。")
    client_id = contract.get("gstaff_client_id") or _client_gstaff_id(ctx, contract)
    if not client_id:
        raise ArchiveNeedsFix("the client has no G-Staff client id",
                              "顧客の「Gスタッフ顧客ID」が登録されていません。顧客管理台帳に登録してください。")
    ids = []
    for n, (_doc_id, pdf) in enumerate(pdfs, start=1):
        reference = f"kintone:{contracts.key}:{contract['record_id']}" + (f":{n}" if len(pdfs) > 1 else "")
        ids.append(ctx.gstaff.archive_contract(ArchivedContract(
            reference=reference, client_id=client_id, file_name=_file_name(contracts, contract, n, len(pdfs)),
            content=pdf, retention_until=keep_until, contract_kind=contract.get("contract_kind") or "",
            transaction_date=concluded_on, amount=contract.get("contract_amount"),
            counterparty=contract.get("client") or "")))
    return ids


def _client_gstaff_id(ctx: FlowContext, contract: dict) -> str:
    if contract.get("client_record_id") is None or "clients" not in ctx.mappings:
        return ""
    clients = ctx.mappings["clients"]
    client = clients.read(ctx.kintone.get_record(clients.id, str(int(contract["client_record_id"]))))
    return client.get("gstaff_client_id") or ""


def _file_name(contracts: AppMapping, contract: dict, n: int, total: int) -> str:
    suffix = f"-{n}" if total > 1 else ""
    return f"{contract.get('contract_kind') or '契約書'}_{contracts.key}-{contract['record_id']}{suffix}.pdf"


# -- the scheduled check -------------------------------------------------------------------------


def check_open_envelopes(ctx: FlowContext, app_key: str = "contracts") -> str:
    """Apply envelope states GMO Sign did not announce, and flag contracts past their 署名期限.

    One worker at a time (a Redis lock); a failure on one contract is counted, not fatal.
    """
    token = uuid.uuid4().hex
    if not ctx.ledger.claim(CHECK_LOCK, CHECK_LOCK_SECONDS, token):
        return "already_running"
    try:
        return _check(ctx, ctx.mappings[app_key])
    finally:
        ctx.ledger.release_if(CHECK_LOCK, token)


def _check(ctx: FlowContext, contracts: AppMapping) -> str:
    settings = StatusSettings.of(contracts)
    log = ctx.log.bind(flow=FLOW, app=contracts.key, step="check_open_envelopes")
    today = ctx.now().date()
    business_day = ctx.calendar.is_business_day(today)
    can_ask = True
    counts = {"open": 0, "moved": 0, "overdue": 0, "failed": 0}
    for contract in _open_contracts(ctx, contracts, settings):
        counts["open"] += 1
        envelope_id = contract.get("gmosign_envelope_id") or ""
        try:
            if can_ask and envelope_id:
                try:
                    info = gmosign_of(ctx).get_envelope(envelope_id)
                except GmoSignNotSupported:
                    can_ask = False
                else:
                    if apply_state(ctx, contracts, contract, info.state, info.document_ids) not in (
                            "unchanged", "nothing_to_do"):
                        counts["moved"] += 1
                        continue
            if not can_ask and envelope_id and ctx.ledger.done(unproven_key(contracts, contract["record_id"])):
                if conclude_on_proof(ctx, contracts, contract, log) != "kept_open_unproven":
                    ctx.ledger.release(unproven_key(contracts, contract["record_id"]))
                    counts["moved"] += 1
                    continue
            deadline = contract.get("signing_deadline")
            if business_day and deadline and deadline < today and flag_overdue(ctx, contracts, contract, deadline):
                counts["overdue"] += 1
        except (RetryLater, Permanent, KintoneConflict) as exc:
            counts["failed"] += 1
            log.warning("open envelope not checked", record_id=contract["record_id"], error=type(exc).__name__)
    log.info("open envelopes checked", outcome="done", count=counts["open"])
    return " ".join(f"{k}={v}" for k, v in counts.items())


def _open_contracts(ctx: FlowContext, contracts: AppMapping, settings: StatusSettings):
    """Every contract in an open status, 500 per kintone call, in record order."""
    status_code = contracts.field("status").code
    names = ", ".join(f'"{contracts.status_name(s)}"' for s in settings.open_statuses)
    last = 0
    while True:
        query = f"{status_code} in ({names}) and $id > {last} order by $id asc"
        page = ctx.kintone.get_records(contracts.id, query=query, limit=500)
        for record in page:
            yield contracts.read(record)
        if len(page) < 500:
            return
        last = int(page[-1]["$id"]["value"])


def flag_overdue(ctx: FlowContext, contracts: AppMapping, contract: dict, deadline) -> bool:
    """Tell the rep once per deadline that the contract is past it and still unsigned."""
    deadline_label = contracts.field("signing_deadline").display
    return tell(ctx, contracts, contract["record_id"],
                f"{deadline_label}（{full_date(deadline)}）を過ぎましたが、GMOサインでの締結完了を確認できていません"
                f"（GMOサイン文書ID：{contract.get('gmosign_envelope_id') or '未登録'}）。\n"
                "GMOサインの文書管理で状況を確認してください。署名再依頼をした場合は新しい期限を"
                f"「{deadline_label}」に入力し、期限切れ・辞退の場合はステータスを進めてください。",
                contract.get("sales_rep"), once_as=f"overdue-{deadline.isoformat()}")


# -- an operator's confirmation ----------------------------------------------------------------------

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?\d[\d-]{8,}\d")


class ConfirmationRefused(ContractDataError):
    """The contract cannot be confirmed as signed (wrong status, no envelope, no document)."""


def confirm_signed(ctx: FlowContext, app_key: str, record_id: str, reason: str,
                   document_ids: list[str] | None = None) -> str:
    """An operator checked in GMO Sign that the envelope is completed: conclude the contract.

    The documents are those stored at send time; only when none were stored may the operator
    name them (as GMO Sign's screens show them). The reason is logged without addresses or
    phone numbers; the record gets one comment saying who decided (an operator) and when.
    """
    contracts = ctx.mappings[app_key]
    settings = StatusSettings.of(contracts)
    reason = _PHONE.sub("[phone]", _EMAIL.sub("[email]", " ".join(reason.split())))[:200]
    if not reason:
        raise ConfirmationRefused("give the reason (what was checked in GMO Sign)")
    contract = contracts.read(ctx.kintone.get_record(contracts.id, str(record_id)))
    envelope_id = contract.get("gmosign_envelope_id") or ""
    status = contracts.status_key(contract["status"])
    concluded = contracts.action(settings.transitions["completed"]).to_status
    if not envelope_id:
        raise ConfirmationRefused(f"contract {app_key} #{record_id} has no GMO Sign envelope id")
    if status not in settings.open_statuses and status != concluded:
        raise ConfirmationRefused(f"contract {app_key} #{record_id} is {contract['status']}, not awaiting signature")
    stored = stored_send(ctx, contracts, contract)[0]
    given = [d for d in (document_ids or []) if d]
    if any(not ENVELOPE_ID.match(d) for d in given):
        raise ConfirmationRefused("a document id may hold only letters, digits and _ . : -")
    if stored and given and set(given) != set(stored):
        raise ConfirmationRefused(f"the envelope's documents were stored at send time ({', '.join(stored)}); "
                                  "give none or exactly those")
    if not (stored or given):
        raise ConfirmationRefused("no document id was stored at send time: give the document ids GMO Sign shows "
                                  "for the envelope (--document)")
    gmosign = gmosign_of(ctx)
    pdfs = [(doc_id, gmosign.download_document(doc_id)) for doc_id in stored or given]
    ctx.log.bind(flow=FLOW, app=app_key, record_id=str(record_id), envelope_id=envelope_id).warning(
        "contract confirmed signed by an operator", step="confirm", reason=reason, count=len(pdfs),
        outcome="confirmed")
    tell(ctx, contracts, str(record_id),
         f"システム運用担当者がGMOサインで締結完了を確認したため、締結済にしました（GMOサイン文書ID：{envelope_id}）。",
         contract.get("sales_rep"), once_as=f"confirmed-{envelope_id}")
    return finish_completion(ctx, contracts, settings, contract, pdfs)
