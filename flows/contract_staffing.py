"""Staff decided → the individual contract's data to G-Staff, and marketing asked to issue (seed A-5).

人材供給が決定していれば、個別契約書情報をGスタッフで共有しマーケティング部へ発報を依頼する. The rep runs
マーケ発報依頼 on an individual contract (作成中 → 発報待ち). kintone itself offers that action only
when 派遣スタッフ is filled (the action's condition in contracts.toml, set the same in kintone), and
when the contract reaches 発報待ち this flow:

- without 派遣スタッフ (the condition is not set in kintone): refuses the request in a comment to the
  rep and marketing (marketing must not issue; contract_issuance would send it back anyway, since
  派遣スタッフ is a required item of the 個別契約);
- without a Gスタッフ顧客ID: asks the rep to link the client first;
- otherwise: shares the contract's data with G-Staff under ``kintone:contracts:<id>:<digest>`` (an
  edited contract asked again is shared again as a new version; a re-run shares it once), writes
  G-Staff's id to Gスタッフ個別契約ID and asks marketing (``[contract_staffing] marketing``) to run 発報.

kintone calls: 3 (contract, write-back, comment); 1 when already done. G-Staff calls: 1 per content
shared (the id G-Staff gave is remembered per reference, so a re-run, or a page job retried, asks again
for nothing).

Found in bulk (``run_page``: a reconcile sweep finding contracts whose 発報待ち webhooks were lost), a
page of n contracts costs ⌈n / 500⌉ reads, ⌈write-backs / 2,000⌉ bulk calls and one comment per
contract (kintone has no bulk comment: marketing's request, or the rep's refusal, as the ordinary job
says it, said once); G-Staff is asked per contract, as by the ordinary job. A contract someone changed
meanwhile (the bulk write refused it) goes to its ordinary job, which shares nothing twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from connectors.errors import Permanent
from connectors.gstaff import SharedIndividualContract
from connectors.kintone.interface import RecordUpdate
from flows import bulk
from flows.context import FlowContext, gstaff_of
from flows.decide import on_fresh_record
from flows.notify import bullet_list, tell
from mappings import AppMapping, User
from mappings.contract_content import contact_text
from mappings.contracts import IssuanceSettings
from mappings.fields import is_blank
from mappings.japanese_dates import full_date

FLOW = "contract_staffing"
SHARED_FIELDS = ("staff_name", "work_location", "job_description", "wage", "commander", "dispatch_start",
                 "dispatch_end")
REMEMBER_SECONDS = 400 * 86400  # the id G-Staff gave a shared content: longer than any retry horizon


def run(ctx: FlowContext, app_key: str, record_id: str, **_params) -> str:
    contracts = ctx.mappings[app_key]

    def decide_now(contract: dict, status: str | None) -> str:
        return carry_out(ctx, contracts, contract, decide(contracts, contract, status))

    return on_fresh_record(ctx, contracts, record_id, FLOW, decide_now)


def marketing(contracts: AppMapping) -> list[User]:
    return [User(code=code) for code in contracts.settings(FLOW).get("marketing", [])]


# -- the decision: one contract as read, no call -------------------------------------------------------
#
# The per-record job above and the page job below (``run_page``) both decide with ``decide``. A refusal
# is a comment only (said once). A request to issue is, in this order: the contract's data shared with
# G-Staff (``share``: its reference makes a repeat find the first share), Gスタッフ個別契約ID written
# (``write_back``: bulk-able, with the revision decided on), then marketing asked (``ask_marketing``, one
# comment per contract and content).


@dataclass(frozen=True)
class Decision:
    outcome: str  # the outcome word when carried out (a comment said before: already_told)
    comment: str | None = None  # a refusal, for the rep (and marketing), said once ...
    once_as: str | None = None  # ... under this key
    tell_marketing: bool = False  # the refusal mentions marketing too
    share: SharedIndividualContract | None = None  # to share with G-Staff, then ask marketing to issue
    digest: str = ""  # what makes two shares the same content (the reference's last part)


def decide(contracts: AppMapping, contract: dict, status: str | None) -> Decision:
    """What a contract at ``status`` needs: nothing, a refusal, or its share and marketing's request."""
    if status != "awaiting_issue" or contract.get("contract_kind") != "個別契約":
        return Decision("nothing_to_do")
    label = contracts.field
    if is_blank(contract.get("staff_name")):
        return Decision("refused_no_staff", once_as="refused_no_staff", tell_marketing=True, comment=(
            f"「{label('staff_name').display}」が未入力のため、マーケ発報依頼はお受けできません。"
            "スタッフさんが決まってから依頼してください。\nマーケティング部：この契約はまだ発報しないでください。"))
    client_id = (contract.get("gstaff_client_id") or "").strip()
    if not client_id:
        return Decision("told_no_gstaff_client", once_as="no_gstaff_client", comment=(
            f"「{label('gstaff_client_id').display}」が未入力のため、個別契約の情報をGスタッフに共有できません。"
            "顧客をGスタッフと紐付けてから、もう一度保存してください。"))
    shared = {**contract, "commander": commander_text(contracts, contract)}
    digest = hashlib.sha256("|".join(str(shared.get(n) or "") for n in SHARED_FIELDS).encode()).hexdigest()[:12]
    return Decision("issue_requested", digest=digest, share=SharedIndividualContract(
        reference=f"kintone:{contracts.key}:{contract['record_id']}:{digest}", client_id=client_id,
        staff_name=contract["staff_name"].strip(), dispatch_start=contract["dispatch_start"],
        dispatch_end=contract["dispatch_end"], work_location=contract.get("work_location") or "",
        job_description=contract.get("job_description") or "", wage=contract.get("wage") or "",
        commander=shared["commander"]))


def say(ctx: FlowContext, contracts: AppMapping, contract: dict, decision: Decision) -> str:
    """Carry out a decision without a share: its comment, once. The outcome word as carried out."""
    if decision.comment is None:
        return decision.outcome
    people = [*(contract.get("sales_rep") or []), *(marketing(contracts) if decision.tell_marketing else [])]
    told = tell(ctx, contracts, contract["record_id"], decision.comment, people, once_as=decision.once_as)
    return decision.outcome if told else "already_told"


def share(ctx: FlowContext, decision: Decision) -> str:
    """The id G-Staff keeps the contract's content under: remembered, else shared (idempotent on the
    reference, so a share whose answer was lost is found, not repeated)."""
    memory = f"{FLOW}:shared:{decision.share.reference}"
    shared_id = ctx.ledger.get(memory)
    if shared_id is None:
        shared_id = gstaff_of(ctx).share_individual_contract(decision.share)
        ctx.ledger.mark(memory, REMEMBER_SECONDS, shared_id)
    return shared_id


def write_back(contracts: AppMapping, contract: dict, shared_id: str) -> dict:
    """The fields to write on the contract once shared (none when it holds them already)."""
    if "gstaff_contract_id" in contracts.fields and contract.get("gstaff_contract_id") != shared_id:
        return {"gstaff_contract_id": shared_id}
    return {}


def ask_marketing(ctx: FlowContext, contracts: AppMapping, contract: dict, decision: Decision, shared_id: str) -> str:
    """Ask marketing to run 発報, once per contract and shared content."""
    told = tell(ctx, contracts, contract["record_id"], issue_request_text(contracts, contract, shared_id),
                marketing(contracts), once_as="issue_requested", same_as=decision.digest)
    return "issue_requested" if told else "already_requested"


def carry_out(ctx: FlowContext, contracts: AppMapping, contract: dict, decision: Decision) -> str:
    """The per-record job: the comment, or share, write back with the revision, ask marketing."""
    if decision.share is None:
        return say(ctx, contracts, contract, decision)
    shared_id = share(ctx, decision)
    changes = write_back(contracts, contract, shared_id)
    if changes:
        ctx.kintone.update_record(contracts.id, contract["record_id"], contracts.write(changes),
                                  revision=contract["revision"])
    return ask_marketing(ctx, contracts, contract, decision, shared_id)


def run_page(ctx: FlowContext, app_key: str, record_ids: list[str]) -> bulk.PageResult:
    """Contracts at 発報待ち found in bulk (a reconcile page), decided per page.

    One read of the page (≤ 500 per call), ``decide`` for each contract as its own job would, its
    share with G-Staff, then every Gスタッフ個別契約ID of the page in bulk (``flows.bulk``: 2,000 per call,
    each with the revision it was decided on), and only then marketing's request on each contract whose
    write landed (one comment each, said once), so marketing never reads of a contract kintone does not
    show as shared. A refusal is its comment. A contract G-Staff refused for good (not a transient
    failure: that retries the page) or the bulk call refused (changed since the page was read) goes to
    its ordinary job, which ends with its own reason or shares under the same reference.
    """
    contracts = ctx.mappings[app_key]
    result = bulk.PageResult()
    rows = bulk.read_records(ctx, contracts, record_ids)
    updates: list[RecordUpdate] = []
    waiting: dict[str, tuple[dict, Decision, str]] = {}  # record id -> what to ask marketing once written
    for row in rows.values():
        contract = contracts.read(row)
        rid = contract["record_id"]
        decision = decide(contracts, contract, contracts.status_key(contract.get("status")))
        if decision.share is None:
            result.handled(rid, say(ctx, contracts, contract, decision), contract["revision"])
            continue
        try:
            shared_id = share(ctx, decision)
        except Permanent as exc:
            ctx.log.warning("G-Staff refused a share; contract to its ordinary job", step="share", record_id=rid,
                            error=type(exc).__name__)
            result.fallback.append(rid)
            continue
        changes = write_back(contracts, contract, shared_id)
        if not changes:
            result.handled(rid, ask_marketing(ctx, contracts, contract, decision, shared_id), contract["revision"])
            continue
        updates.append(RecordUpdate(rid, contracts.write(changes), str(contract["revision"])))
        waiting[rid] = (contract, decision, shared_id)
    done, refused = bulk.write_records(ctx, contracts, updates)
    sent = {rid: ask_marketing(ctx, contracts, *waiting[rid]) for rid in done}
    return bulk.finish_page(ctx, FLOW, contracts, record_ids, rows, result, sent=sent, landed=(done, refused),
                            detail="shared with G-Staff, Gスタッフ個別契約ID written in bulk")


def commander_text(contracts: AppMapping, contract: dict) -> str:
    """The 指揮命令者 as the contract prints it (部署 役職 氏名（電話：…）) where the mapping keeps it in
    parts (a contacts role with fields), else the 指揮命令者 field as entered."""
    kind = IssuanceSettings.of(contracts).kinds.get(contract.get("contract_kind") or "")
    for role in (kind.contacts.roles.values() if kind and kind.contacts else ()):
        if role.fields.get("name") == "commander":
            return contact_text({part: contract.get(name) for part, name in role.fields.items()}, role.parts)
    return contract.get("commander") or ""


def issue_request_text(contracts: AppMapping, contract: dict, shared_id: str) -> str:
    label = contracts.field
    period = f"{full_date(contract['dispatch_start'])}〜{full_date(contract['dispatch_end'])}"
    return ("スタッフさんが決まりましたので、個別契約の発報をお願いします。内容を確認し「発報」を実行してください。\n"
            + bullet_list([f"{label('client').display}：{contract.get('client') or ''}",
                           f"{label('staff_name').display}：{contract['staff_name'].strip()}",
                           f"派遣期間：{period}"])
            + f"\n個別契約の情報はGスタッフに共有済みです（{label('gstaff_contract_id').display}：{shared_id}）。")
