"""Signature status from GMO Sign back into kintone (DESIGN.md flow 4).

A GMO Sign callback names an envelope. We find the contract whose GMOサイン文書ID it is and move
its status forward only: 署名依頼中 → 締結済 / 差戻し / 取消 / 期限切れ (the mapping's transitions).
A contract in a final status never moves again, whatever order callbacks arrive in; a completion
reported for a contract a person already closed is left for that person, with a comment.

Callbacks are hints (GMO Sign signs nothing): where the API can be asked, the envelope's state is
re-read; otherwise only a completion is believed, and only once its documents download. On
completion the signed PDFs are archived in G-Staff (idempotent by our reference) with the
保管期限, attached to 締結済PDF with 締結日 and 保管期限, and 締結 moves the record to 締結済.
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
from connectors.gmosign import EnvelopeState, GmoSignNotSupported
from connectors.gstaff import ArchivedContract, GStaffConfigError, GStaffError, GStaffNotFound
from connectors.kintone import KintoneConflict
from flows.context import FlowContext
from flows.contract_issuance import gmosign_of, run_action
from flows.notify import tell
from mappings import AppMapping
from mappings.contracts import StatusSettings, jp_date, retention_until
from mappings.fields import is_blank

FLOW = "signature_status"
MAX_DECISIONS = 3
COMPLETED_EVENT = "Completed"  # the only event GMO Sign documents (reference §1.6)
CHECK_LOCK = "lock:signature_status:check_open_envelopes"
CHECK_LOCK_SECONDS = 15 * 60
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


def run(ctx: FlowContext, app_key: str, record_id: str = "", *, envelope_id: str = "",
        event: str = COMPLETED_EVENT, document_ids: str = "", **_params) -> str:
    contracts = ctx.mappings[app_key]
    log = ctx.log.bind(flow=FLOW, app=app_key, envelope_id=envelope_id)
    contract = find_contract(ctx, contracts, envelope_id)
    log = log.bind(record_id=contract["record_id"])
    state = observed_state(ctx, envelope_id, event)
    if state is None:
        log.info("callback not trusted without a re-read", step="observe", event_type=event, outcome="ignored")
        return "ignored_unverifiable_event"
    hints = [d for d in document_ids.split(",") if d]
    for attempt in range(1, MAX_DECISIONS + 1):
        try:
            outcome = apply_state(ctx, contracts, contract, state, hints)
        except KintoneConflict as exc:
            log.info("contract changed meanwhile; deciding again", step="decide", attempt=attempt, code=exc.code)
            contract = contracts.read(ctx.kintone.get_record(contracts.id, contract["record_id"]))
            continue
        log.info("signature status applied", step="decide", outcome=outcome, status=state.value)
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


def observed_state(ctx: FlowContext, envelope_id: str, event: str) -> EnvelopeState | None:
    """The envelope's state: re-read where the API allows, else only a completion is believed."""
    try:
        return gmosign_of(ctx).get_envelope(envelope_id).state
    except GmoSignNotSupported:
        return EnvelopeState.COMPLETED if event == COMPLETED_EVENT else None


def apply_state(ctx: FlowContext, contracts: AppMapping, contract: dict, state: EnvelopeState,
                hints: list[str]) -> str:
    """Move the contract forward to what the envelope's state means; never back."""
    settings = StatusSettings.of(contracts)
    status = contracts.status_key(contract["status"])
    completed = state is EnvelopeState.COMPLETED
    if status == "issuing":
        raise ContractNotYetKnown(f"contract {contract['record_id']} is still being issued")
    if status in settings.final_statuses:
        if completed and status == contracts.action(settings.transitions["completed"]).to_status:
            return finish_completion(ctx, contracts, settings, contract, hints)  # archive left to do?
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
        return finish_completion(ctx, contracts, settings, contract, hints)
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
                      hints: list[str]) -> str:
    """Attach the signed PDFs, archive them in G-Staff with the 保管期限, move to 締結済.

    Each step is skipped when the record shows it done, so a retry finishes what is missing.
    """
    record_id = contract["record_id"]
    need_pdf = is_blank(contract.get("signed_pdf"))
    need_archive = is_blank(contract.get("gstaff_archive_id"))
    conclude = contracts.action(settings.transitions["completed"])
    need_status = contracts.status_key(contract["status"]) != conclude.to_status
    if not (need_pdf or need_archive or need_status):
        return "already_concluded"

    document_ids = [d for d in (contract.get("gmosign_document_ids") or "").split(",") if d] or hints
    if not document_ids:
        raise ContractDataError(f"contract {contracts.key} #{record_id}: GMO Sign named no document to download")
    gmosign = gmosign_of(ctx)
    # Downloading is the proof of completion where the API cannot be asked for the state.
    pdfs = [(doc_id, gmosign.download_document(doc_id)) for doc_id in document_ids]
    concluded_on = contract.get("concluded_on") or ctx.now().date()
    keep_until = contract.get("retention_until") or retention_until(settings.retention, concluded_on,
                                                                      contract.get("dispatch_end"))
    archive_ids, archive_error = [], None
    if need_archive:
        try:
            archive_ids = archive(ctx, contracts, contract, pdfs, keep_until)
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


def archive(ctx: FlowContext, contracts: AppMapping, contract: dict, pdfs: list[tuple[str, bytes]], keep_until) -> list[str]:
    """Store each signed PDF in G-Staff under our reference; return the archive ids."""
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
            content=pdf, retention_until=keep_until, contract_kind=contract.get("contract_kind") or "")))
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
                    state = gmosign_of(ctx).get_envelope(envelope_id).state
                except GmoSignNotSupported:
                    can_ask = False
                else:
                    if apply_state(ctx, contracts, contract, state, []) not in ("unchanged", "nothing_to_do"):
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
                f"{deadline_label}（{jp_date(deadline)}）を過ぎましたが、GMOサインでの締結完了を確認できていません"
                f"（GMOサイン文書ID：{contract.get('gmosign_envelope_id') or '未登録'}）。\n"
                "GMOサインの文書管理で状況を確認してください。署名再依頼をした場合は新しい期限を"
                f"「{deadline_label}」に入力し、期限切れ・辞退の場合はステータスを進めてください。",
                contract.get("sales_rep"), once_as=f"overdue-{deadline.isoformat()}")
