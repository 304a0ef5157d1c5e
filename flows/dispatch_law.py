"""The dispatch-law check of an individual contract before it is sent (issue 11, seed A-5).

contract_issuance calls ``check`` for every kind with ``check_dispatch_period``: it reads from
G-Staff what the period limits and their exemptions depend on — the client's registered 抵触日
of the work site, its assignment history, and, when the contract claims or limits to 無期雇用 /
60歳以上, each assigned worker's 雇用形態 and birth date — and judges the contract with the rules
in the mapping's ``[dispatch_law]`` section (mappings/dispatch_law.py). A problem keeps the
contract from being sent (one comment, back to 作成中, by contract_issuance); a proven exemption
is printed into the contract through the merge fields ``printed`` returns.

G-Staff calls: 2 (history, assignments) plus one per worker (雇用形態, birth date, former employers);
kintone calls: none, or one read of the client when the contract lacks its Gスタッフ顧客ID.
A transient G-Staff failure raises (the job retries; nothing was sent); an unknown client or
worker is a problem for the sales rep.
"""

from __future__ import annotations

from connectors.gstaff.errors import GStaffConfigError, GStaffNotFound
from connectors.kintone import KintoneNotFound
from flows.context import FlowContext
from mappings import AppMapping
from mappings.contracts import IssuanceSettings, merge_text
from mappings.dispatch_law import DispatchLawSettings, Facts, Verdict, judge, same_name, staff_ids


def check(ctx: FlowContext, contracts: AppMapping, contract: dict) -> Verdict:
    """The period limits and the claimed exemption for one contract (no check for other kinds)."""
    issuance = IssuanceSettings.of(contracts)
    kind = issuance.kinds.get(contract.get("contract_kind") or "")
    if kind is None or not kind.check_dispatch_period or not contract.get("dispatch_start") \
            or not contract.get("dispatch_end"):
        return Verdict()
    rules = DispatchLawSettings.of(contracts)
    client_id = contract.get("gstaff_client_id") or client_gstaff_id(ctx, contract)
    if not client_id:
        label = contracts.field("gstaff_client_id").display
        return Verdict(problems=[f"「{label}」が空のため、Gスタッフの派遣実績で期間制限を確認できません。"
                                 "「顧客」を選び直して、Gスタッフ顧客IDを取り込んでください。"])
    facts = gather_facts(ctx, contracts, issuance, rules, contract, client_id)
    if facts is None:
        return Verdict(problems=[f"Gスタッフ顧客ID「{client_id}」の顧客がGスタッフに見つかりません。"
                                 "「顧客」とGスタッフの登録を確認してください。"])
    return judge(rules, contracts, contract, facts, text_of=merge_text)


def client_gstaff_id(ctx: FlowContext, contract: dict) -> str:
    """The client record's Gスタッフ顧客ID when the contract lacks it (one kintone read)."""
    if contract.get("client_record_id") is None or "clients" not in ctx.mappings:
        return ""
    clients = ctx.mappings["clients"]
    try:
        client = clients.read(ctx.kintone.get_record(clients.id, str(int(contract["client_record_id"]))))
    except KintoneNotFound:
        return ""
    return client.get("gstaff_client_id") or ""


def gather_facts(ctx: FlowContext, contracts: AppMapping, issuance: IssuanceSettings, rules: DispatchLawSettings,
                 contract: dict, client_id: str) -> Facts | None:
    """What G-Staff knows about the client and the workers (None: the client is unknown)."""
    if ctx.gstaff is None:
        raise GStaffConfigError("G-Staff is not configured (KGBRIDGE_GSTAFF_* settings): "
                                "the dispatch-law check of a contract needs it")
    try:
        history = ctx.gstaff.get_history(client_id)
        assignments = ctx.gstaff.get_assignments(client_id)
    except GStaffNotFound:
        return None
    site = next((s for s in history.work_sites if same_name(s.name, contract.get("work_site"))), None)
    staff = {}  # every worker: 法第40条の9 and the exemptions need them
    for staff_id in staff_ids(contract.get("staff_ids")):
        try:
            staff[staff_id] = ctx.gstaff.get_staff(staff_id)
        except GStaffNotFound:
            staff[staff_id] = None
    return Facts(staff=staff, assignments=assignments, site_conflict_date=site.conflict_date if site else None,
                 reference=issuance.reference(contracts, contract["record_id"]), client_id=client_id)
