"""Contract issuance through GMO Sign (seed A-5, DESIGN.md flow 3).

Marketing runs 発報 on a contract in 発報待ち; kintone moves it to 発報処理中 and notifies us.
We check every item the contract's kind requires (the seed's 就業場所, 業務内容, 賃金, 休憩,
派遣期間, 指揮命令者, 苦情窓口 and the rest of 法第26条, from the mapping), that the 抵触日通知
and 待遇情報 were received, and the dispatch law (flows/dispatch_law.py): both period limits,
事業所単位 and 個人単位, from G-Staff's assignment history, unless an exemption is proven from
G-Staff and the record; a proven exemption is printed into the contract. Anything wrong: one comment that mentions the sales rep, and 不備差戻し back to 作成中;
nothing is sent. Complete: the contract goes out from the kind's GMO Sign template with the client's
signer, the sales rep as approver and the record's merge fields; GMOサイン文書ID, 発報日時 and
署名期限 are written and 署名依頼 moves it to 署名依頼中. So 署名依頼中 always means an envelope
exists. When someone runs 取消 in kintone, the envelope is withdrawn where the API allows it,
else marketing is told to withdraw it in GMO Sign.

Exactly once per contract record, whatever the revision or the number of jobs: before sending,
the record's reference is claimed in Redis (``gmosign:issue:<app>:<record>``) as ``sending``.

    claim          record's 文書ID   what a run does
    none           empty            check, claim, send, record ``sent`` + envelope id, write back
    sent           empty            write back (a job died between the send and the write-back)
    sent           same id          run 署名依頼 (a job died between the write-back and the action)
    sending/unclear some id         a person found the envelope and entered its id: take it
    sending, fresh empty            another job is sending right now: retry later
    sending, stale empty            the sender died mid-call; treated like ``unclear``
    sending, own job empty          an earlier run of this very job died mid-call (worker or work
                                    horse killed; RQ reruns a job only once its run has ended):
                                    treated like ``unclear`` at once, without waiting to go stale
    unclear        empty            the send timed out after leaving: ask GMO Sign for the envelope
                                    by our document code; found → take it; not found or the API
                                    cannot be asked → stop for an operator, never send again
    none / other   some id          not ours: refuse to send, tell the rep, 不備差戻し

A definite refusal by GMO Sign (bad data, bad configuration) releases the claim: nothing was
created. ``kgbridge contracts release-claim`` releases it by hand once a person has made sure in
GMO Sign that nothing was sent.

kintone calls: complete contract 4 (read, write-back, 署名依頼, comment to the rep); incomplete 3
(read, comment, 不備差戻し); a repeated notification after sending 1 (read).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from dataclasses import fields as dataclass_fields
from datetime import date, datetime, timedelta

from connectors.errors import Permanent, RetryLater
from connectors.gmosign import (
    Approver,
    GmoSignClient,
    GmoSignConfigError,
    GmoSignDataError,
    GmoSignError,
    GmoSignNotSupported,
    GmoSignOutcomeUnknown,
    Signer,
    TemplateSend,
)
from connectors.kintone import KintoneNotFound
from flows import applications as apps
from flows import dispatch_law
from flows.context import FlowContext
from flows.decide import on_fresh_record
from flows.notify import bullet_list, tell
from kgbridge import envelopes
from mappings import AppMapping
from mappings.contracts import (
    IssuanceSettings,
    StatusSettings,
    contract_problems,
    merge_fields,
)
from mappings.japanese_dates import full_date

FLOW = "contract_issuance"


class IssuanceInProgress(RetryLater):
    """Another job holds the claim and may be sending right now."""


class IssuanceNeedsOperator(Permanent):
    """The send's outcome is unknown and GMO Sign cannot tell us: a person must look."""


@dataclass(frozen=True)
class Claim:
    state: str  # sending | unclear | sent
    at: str  # ISO time the send started (= 発報日時)
    envelope_id: str = ""
    document_ids: list[str] = field(default_factory=list)
    job: str = ""  # the RQ job that took the claim ("" outside a worker)
    signers: int = 0  # how many signers the envelope has (what a signed PDF must carry; 0: not known)
    personal_conflict_date: str = ""  # ISO 個人単位 抵触日 judged before the send, written back with the id

    def dumps(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def loads(cls, text: str | None) -> "Claim | None":
        if not text:
            return None
        known = {f.name for f in dataclass_fields(cls)}  # a claim written by another version still reads
        return cls(**{k: v for k, v in json.loads(text).items() if k in known})

    @property
    def started(self) -> datetime:
        return datetime.fromisoformat(self.at)


def claim_key(contracts: AppMapping, record_id: str) -> str:
    return f"gmosign:issue:{contracts.key}:{record_id}"


def run(ctx: FlowContext, app_key: str, record_id: str, **_params) -> str:
    contracts = ctx.mappings[app_key]

    def decide(contract: dict, status: str | None) -> str:
        if status == "issuing":
            return issue_contract(ctx, contracts, contract)
        if status == "cancelled":
            return withdraw_envelope(ctx, contracts, contract)
        return "nothing_to_do"

    return on_fresh_record(ctx, contracts, record_id, FLOW, decide)


def issue_contract(ctx: FlowContext, contracts: AppMapping, contract: dict) -> str:
    """Send a complete contract once, or send an incomplete one back to the rep."""
    settings = IssuanceSettings.of(contracts)
    key = claim_key(contracts, contract["record_id"])
    claim = Claim.loads(ctx.ledger.get(key))
    on_record = contract.get("gmosign_envelope_id") or ""

    if on_record:
        if claim is None or (claim.state == "sent" and claim.envelope_id != on_record):
            return refuse_foreign_envelope(ctx, contracts, contract, on_record)
        if claim.state != "sent":  # a person looked in GMO Sign and entered the id
            claim = replace(claim, state="sent", envelope_id=on_record, document_ids=[])
            ctx.ledger.mark(key, settings.claim_ttl_days * 86400, claim.dumps())
            return write_back(ctx, contracts, settings, contract, claim)
        return mark_sent(ctx, contracts, contract, claim)

    if claim is None:
        problems = contract_problems(contracts, settings, contract)
        problems.other += trade_not_ready(ctx, settings, contract)
        law = dispatch_law.check(ctx, contracts, contract)  # period limits, exemptions (flows/dispatch_law.py)
        problems.law += law.problems
        if problems:
            return send_back(ctx, contracts, contract, incomplete_text(contracts, contract, problems))
        try:
            claim = send_contract(ctx, contracts, settings, contract, key, printed=law.merge_fields,
                                  personal_conflict_date=law.personal_conflict_date)
        except GmoSignDataError as exc:
            text = (f"GMOサインが契約書の送信を受け付けませんでした（{exc.message}）。"
                    "署名者・担当営業のメールアドレスなど、入力内容を確認してください。")
            return send_back(ctx, contracts, contract, text)
    elif claim.state != "sent":
        claim = recover_unclear_send(ctx, contracts, settings, contract, key, claim)
    return write_back(ctx, contracts, settings, contract, claim)


def trade_not_ready(ctx: FlowContext, settings: IssuanceSettings, contract: dict) -> list[str]:
    """For a 基本契約: the client's trade-start (06_2) must be approved first (one kintone read)."""
    kind = settings.kinds.get(contract.get("contract_kind") or "")
    if kind is None or not kind.requires_trade_ready or "clients" not in ctx.mappings:
        return []
    if contract.get("client_record_id") is None:
        return []  # 顧客 itself is reported as a missing item
    clients = ctx.mappings["clients"]
    try:
        client = clients.read(ctx.kintone.get_record(clients.id, str(int(contract["client_record_id"]))))
    except KintoneNotFound:
        return ["「顧客レコード番号」の顧客が顧客管理台帳に見つかりません。顧客を選び直してください。"]
    ready = clients.settings("trade").get("ready", "取引可")
    if client.get("trade_status") == ready:
        return []
    name = client.get("company_name") or contract.get("client") or ""
    return [f"顧客「{name}」は取引開始の稟議「{apps.form_name(ctx.mappings, 'trade_start', name)}」がまだ承認されていません"
            f"（取引状態：{client.get('trade_status') or '未設定'}）。承認されてから基本契約書の発報を依頼してください。"]


def send_contract(ctx: FlowContext, contracts: AppMapping, settings: IssuanceSettings, contract: dict,
                  key: str, printed: dict[str, str] | None = None, personal_conflict_date: date | None = None) -> Claim:
    """Claim the reference, send from the kind's template, and remember the envelope."""
    gmosign = gmosign_of(ctx)
    request = template_send(contracts, settings, contract, printed)
    ttl = settings.claim_ttl_days * 86400
    claim = Claim("sending", ctx.now().isoformat(timespec="seconds"), job=ctx.job_id,
                  personal_conflict_date=personal_conflict_date.isoformat() if personal_conflict_date else "")
    if not ctx.ledger.claim(key, ttl, claim.dumps()):
        raise IssuanceInProgress(f"contract {contract['record_id']} is claimed by another job")
    try:
        sent = gmosign.send_from_template(request)
    except GmoSignOutcomeUnknown:
        ctx.ledger.mark(key, ttl, replace(claim, state="unclear").dumps())
        raise  # a retry asks GMO Sign first
    except GmoSignError as exc:
        ctx.ledger.release(key)  # refused or never left: nothing was created
        if isinstance(exc, GmoSignConfigError):
            tell(ctx, contracts, contract["record_id"],
                 "システム設定の問題でGMOサインに送信できませんでした。システム運用担当者が対応します。"
                 "対応後、自動で送信されますので、このレコードはそのままにしてください。",
                 contract.get("sales_rep"), once_as="config_error")
        raise
    claim = replace(claim, state="sent", envelope_id=sent.envelope_id, document_ids=list(sent.document_ids),
                    signers=sent.signer_count or len(request.signers))
    ctx.ledger.mark(key, ttl, claim.dumps())
    envelopes.remember(ctx.ledger.redis, sent.envelope_id, contracts.key, contract["record_id"])
    return claim


def recover_unclear_send(ctx: FlowContext, contracts: AppMapping, settings: IssuanceSettings, contract: dict,
                         key: str, claim: Claim) -> Claim:
    """After a send whose outcome is unknown: find the envelope, or stop for a person."""
    record_id = contract["record_id"]
    stale_at = claim.started + timedelta(seconds=settings.claim_stale_after_seconds)
    own_dead_run = bool(ctx.job_id) and claim.job == ctx.job_id
    if claim.state == "sending" and ctx.now() < stale_at and not own_dead_run:
        raise IssuanceInProgress(f"contract {record_id} is being sent by another job since {claim.at}")
    reference = settings.reference(contracts, record_id)
    try:
        found = gmosign_of(ctx).find_envelope(reference)
        why = "GMO Sign has no envelope with this document code yet"
    except GmoSignNotSupported:
        found, why = None, "the configured GMO Sign API cannot be asked for it"
    if found is not None:
        claim = replace(claim, state="sent", envelope_id=found.envelope_id, document_ids=list(found.document_ids),
                        signers=found.signer_count)
        ctx.ledger.mark(key, settings.claim_ttl_days * 86400, claim.dumps())
        return claim
    tell(ctx, contracts, record_id, outcome_unknown_text(contracts, contract, reference),
         contract.get("sales_rep"), once_as="outcome_unknown")
    raise IssuanceNeedsOperator(
        f"contract {contracts.key} #{record_id}: the GMO Sign send started {claim.at} has an unknown outcome "
        f"and {why}. Look in GMO Sign for the envelope named '... [{reference}]': if it exists, enter its "
        "transaction ID (envelope_xid, 'Envelope transaction ID' in the connector definition; not a document "
        "ID) exactly as GMO Sign shows it in GMOサイン文書ID on the record (the flow then continues); if it "
        "does not, run "
        f"`kgbridge contracts release-claim {record_id}` and replay this job.")


def write_back(ctx: FlowContext, contracts: AppMapping, settings: IssuanceSettings, contract: dict,
               claim: Claim) -> str:
    """Write envelope id, 発報日時 and 署名期限 on the record, then move it to 署名依頼中."""
    sent_at = claim.started
    values = {
        "gmosign_envelope_id": claim.envelope_id,
        "gmosign_state": StatusSettings.of(contracts).label("approval_pending"),
        "sent_at": sent_at,
        "signing_deadline": sent_at.date() + timedelta(days=settings.signing_deadline_days),
    }
    if claim.document_ids:
        values["gmosign_document_ids"] = ",".join(claim.document_ids)
    if "personal_conflict_date" in contracts.fields:  # reminded by the deadline rules (issue 11)
        values["personal_conflict_date"] = (date.fromisoformat(claim.personal_conflict_date)
                                            if claim.personal_conflict_date else None)
    envelopes.remember(ctx.ledger.redis, claim.envelope_id, contracts.key, contract["record_id"])
    revision = ctx.kintone.update_record(contracts.id, contract["record_id"], contracts.write(values),
                                         revision=contract["revision"])
    contract = dict(contract, **values, revision=revision)
    return mark_sent(ctx, contracts, contract, claim)


def mark_sent(ctx: FlowContext, contracts: AppMapping, contract: dict, claim: Claim) -> str:
    # Tell first, then move the status: a run that dies in between is re-run from 発報処理中 and
    # finishes both (the comment is said once), whereas a status already moved ends the flow.
    deadline = contract.get("signing_deadline")
    tell(ctx, contracts, contract["record_id"],
         f"GMOサインで契約書を送信しました（GMOサイン文書ID：{claim.envelope_id}"
         + (f"、署名期限：{full_date(deadline)}" if deadline else "") + "）。\n"
         "担当営業：GMOサインから届く承認依頼の内容を確認して承認してください。"
         f"承認されると、{contract.get('signer_name') or 'クライアントの署名者'}様へ署名依頼が送られます。",
         contract.get("sales_rep"), once_as=f"sent-{claim.envelope_id}")
    run_action(ctx, contracts, contract, "mark_sent", contract["revision"])
    ctx.report(f"sent envelope {claim.envelope_id}")
    return "sent_for_signature"


def template_send(contracts: AppMapping, settings: IssuanceSettings, contract: dict,
                  printed: dict[str, str] | None = None) -> TemplateSend:
    """The GMO Sign request for one contract: client's signer, the rep as approver, merge fields
    (plus ``printed``: what the dispatch-law check prints, e.g. the proven exemption)."""
    kind = settings.kinds[contract["contract_kind"]]
    reference = settings.reference(contracts, contract["record_id"])
    rep = contract["sales_rep"][0]
    fields = merge_fields(kind, contract) | (printed or {})
    if settings.reference_item:
        fields[settings.reference_item] = reference
    return TemplateSend(
        template_id=kind.template_id,
        envelope_name=f"{kind.envelope_name}（{contract.get('client') or ''}）",
        document_code=reference,
        signers=[Signer(name=contract["signer_name"], email=contract["signer_email"],
                        organization=contract.get("client") or "")],
        approvers=[Approver(name=rep.name or rep.code, email=contract["sales_rep_email"])],
        merge_fields=fields,
        sender_name=settings.sender_name,
        approval_comment=f"kintone 契約 #{contract['record_id']} の発報です。内容を確認して承認してください。",
    )


def send_back(ctx: FlowContext, contracts: AppMapping, contract: dict, text: str) -> str:
    """Tell the rep why nothing was sent, then 不備差戻し back to 作成中."""
    tell(ctx, contracts, contract["record_id"], text, contract.get("sales_rep"),
         once_as=f"not_sent-r{contract['revision']}")
    run_action(ctx, contracts, contract, "return_incomplete", contract["revision"])
    ctx.report("sent back to the rep: nothing sent")
    return "sent_back_not_sent"


def _title(contracts: AppMapping, contract: dict) -> str:
    parts = [contract.get("client") or "", contract.get("contract_kind") or ""]
    return " ".join(p for p in parts if p) or f"レコード番号 {contract['record_id']}"


def incomplete_text(contracts: AppMapping, contract: dict, problems) -> str:
    parts = [f"契約「{_title(contracts, contract)}」は、次の点が揃っていないためGMOサインで送信していません。"
             "ステータスを「作成中」に戻しました。"]
    if problems.missing:
        parts.append("【未入力の契約項目】\n" + bullet_list(problems.missing))
    if problems.documents:
        parts.append("【受領が確認できない書類】\n" + bullet_list(problems.documents)
                     + "\n派遣先から受け取ったら、受領日を入力してファイルを添付してください。"
                     "抵触日通知と待遇情報がないまま契約を結ぶことはできません（労働者派遣法第26条）。")
    if problems.other:
        parts.append("【内容の確認が必要な項目】\n" + bullet_list(problems.other))
    if problems.law:
        parts.append("【労働者派遣法の期間制限】\n" + bullet_list(problems.law))
    parts.append("修正したら、もう一度「マーケ発報依頼」を実行してください。")
    return "\n\n".join(parts)


def outcome_unknown_text(contracts: AppMapping, contract: dict, reference: str) -> str:
    label = contracts.field("gmosign_envelope_id").display
    return (f"契約「{_title(contracts, contract)}」をGMOサインへ送信しましたが、結果を確認できませんでした"
            "（通信がタイムアウトしました）。二重送信を防ぐため、自動での再送信は行いません。\n"
            f"マーケティング部：GMOサインの文書管理で、文書名の末尾が「[{reference}]」の文書"
            f"（管理番号「{reference}」）があるか確認してください。\n"
            + bullet_list([f"ある場合：その文書（封筒）の「トランザクションID」を、GMOサインの画面に表示されているとおり"
                           f"（英数字・記号を一字一句そのまま）このレコードの「{label}」に入力して保存してください。"
                           "書類ごとの「文書ID」ではありません。署名依頼中への変更は自動で行われます。",
                           "ない場合：システム運用担当者に連絡してください。確認のうえ送信し直します。"]))


def refuse_foreign_envelope(ctx: FlowContext, contracts: AppMapping, contract: dict, envelope_id: str) -> str:
    label = contracts.field("gmosign_envelope_id").display
    return send_back(ctx, contracts, contract,
                     f"このレコードには既に「{label}」（{envelope_id}）が入っているため、二重送信を防ぐために"
                     "GMOサインで送信しませんでした。ステータスを「作成中」に戻しました。\n"
                     f"新しく発報する場合は、レコードを再利用して作成し、「{label}」を空欄にしてから"
                     "「マーケ発報依頼」を実行してください。")


def withdraw_envelope(ctx: FlowContext, contracts: AppMapping, contract: dict) -> str:
    """取消 in kintone: withdraw the envelope in GMO Sign, or ask marketing to."""
    envelope_id = contract.get("gmosign_envelope_id") or ""
    labels = StatusSettings.of(contracts)
    if not envelope_id or contract.get("gmosign_state") in (labels.label("withdrawn"), labels.label("completed")):
        return "nothing_to_do"  # never sent, or GMO Sign itself withdrew it and we recorded that
    try:
        gmosign_of(ctx).cancel_envelope(envelope_id)
    except GmoSignNotSupported:
        tell(ctx, contracts, contract["record_id"],
             f"kintoneで取消にしましたが、GMOサインの文書は自動では取り下げられません。\n"
             f"マーケティング部：GMOサインの文書管理で文書（GMOサイン文書ID：{envelope_id}）を取り下げてください。",
             contract.get("sales_rep"), once_as=f"withdraw-{envelope_id}")
        return "told_to_withdraw"
    except GmoSignDataError as exc:
        tell(ctx, contracts, contract["record_id"],
             f"GMOサインの文書（GMOサイン文書ID：{envelope_id}）を取り下げられませんでした（{exc.message}）。"
             "GMOサインの文書管理で状況を確認してください。",
             contract.get("sales_rep"), once_as=f"withdraw-{envelope_id}")
        return "withdraw_refused"
    ctx.kintone.update_record(contracts.id, contract["record_id"],
                              contracts.write({"gmosign_state": labels.label("withdrawn")}),
                              revision=contract["revision"])
    return "envelope_withdrawn"


def run_action(ctx: FlowContext, contracts: AppMapping, contract: dict, action_key: str, revision: str) -> str:
    """Run a process action, with the assignee the mapping names (e.g. the sales rep)."""
    action = contracts.action(action_key)
    users = contract.get(action.assignee) if action.assignee else None
    assignee = users[0].code if users else None
    return ctx.kintone.update_status(contracts.id, contract["record_id"], action.name, assignee=assignee,
                                     revision=revision)


def release_claim(ledger, contracts: AppMapping, record_id: str) -> Claim | None:
    """Let a contract be sent again after a person made sure GMO Sign has no envelope for it.

    Returns the released claim (None when there was none). A claim that names an envelope is
    never released: that contract was sent.
    """
    key = claim_key(contracts, record_id)
    stored = ledger.get(key)
    claim = Claim.loads(stored)
    if claim is not None and claim.state == "sent":
        raise ValueError(f"contract {contracts.key} #{record_id} was sent as envelope {claim.envelope_id}; "
                         "its claim stays")
    if claim is not None:
        ledger.release_if(key, stored)  # the text as stored: only if no job changed it meanwhile
    return claim


def gmosign_of(ctx: FlowContext) -> GmoSignClient:
    """The configured GMO Sign client (a Permanent error when there is none)."""
    if ctx.gmosign is None:
        raise GmoSignConfigError("GMO Sign is not configured (KGBRIDGE_GMOSIGN_* settings)")
    return ctx.gmosign
