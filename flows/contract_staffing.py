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

kintone calls: 3 (contract, write-back, comment); 1 when already done.
"""

from __future__ import annotations

import hashlib

from connectors.gstaff import SharedIndividualContract
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


def run(ctx: FlowContext, app_key: str, record_id: str, **_params) -> str:
    contracts = ctx.mappings[app_key]

    def decide(contract: dict, status: str | None) -> str:
        if status != "awaiting_issue" or contract.get("contract_kind") != "個別契約":
            return "nothing_to_do"
        return request_issue(ctx, contracts, contract)

    return on_fresh_record(ctx, contracts, record_id, FLOW, decide)


def marketing(contracts: AppMapping) -> list[User]:
    return [User(code=code) for code in contracts.settings(FLOW).get("marketing", [])]


def request_issue(ctx: FlowContext, contracts: AppMapping, contract: dict) -> str:
    rid, rep = contract["record_id"], contract.get("sales_rep") or []
    label = contracts.field
    if is_blank(contract.get("staff_name")):
        told = tell(ctx, contracts, rid,
                    f"「{label('staff_name').display}」が未入力のため、マーケ発報依頼はお受けできません。"
                    "スタッフさんが決まってから依頼してください。\nマーケティング部：この契約はまだ発報しないでください。",
                    [*rep, *marketing(contracts)], once_as="refused_no_staff")
        return "refused_no_staff" if told else "already_told"
    client_id = (contract.get("gstaff_client_id") or "").strip()
    if not client_id:
        told = tell(ctx, contracts, rid,
                    f"「{label('gstaff_client_id').display}」が未入力のため、個別契約の情報をGスタッフに共有できません。"
                    "顧客をGスタッフと紐付けてから、もう一度保存してください。", rep, once_as="no_gstaff_client")
        return "told_no_gstaff_client" if told else "already_told"
    gstaff_of(ctx)  # G-Staff must be configured
    shared = {**contract, "commander": commander_text(contracts, contract)}
    digest = hashlib.sha256("|".join(str(shared.get(n) or "") for n in SHARED_FIELDS).encode()).hexdigest()[:12]
    shared_id = ctx.gstaff.share_individual_contract(SharedIndividualContract(
        reference=f"kintone:{contracts.key}:{rid}:{digest}", client_id=client_id,
        staff_name=contract["staff_name"].strip(), dispatch_start=contract["dispatch_start"],
        dispatch_end=contract["dispatch_end"], work_location=contract.get("work_location") or "",
        job_description=contract.get("job_description") or "", wage=contract.get("wage") or "",
        commander=shared["commander"]))
    if "gstaff_contract_id" in contracts.fields and contract.get("gstaff_contract_id") != shared_id:
        ctx.kintone.update_record(contracts.id, rid, contracts.write({"gstaff_contract_id": shared_id}),
                                  revision=contract["revision"])
    told = tell(ctx, contracts, rid, issue_request_text(contracts, contract, shared_id), marketing(contracts),
                once_as="issue_requested", same_as=digest)
    return "issue_requested" if told else "already_requested"


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
