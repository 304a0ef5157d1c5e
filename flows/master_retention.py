"""How long a 基本契約 is kept (issue 11; seed A-6 締結した基本契約書…管理期限を明確化する).

A 基本契約 governs every individual contract with the client while trading lasts, so its 保管期限
runs until trading ends plus the retention rules' periods, and is never shorter than the latest
individual contract under it (``mappings.contracts.master_retention_until``). Triggered on a
concluded contract (contracts.toml ``[master_retention]``):

- an individual contract (its 保管期限 written at conclusion by signature_status): the client's
  基本契約 in force — the latest concluded one with a 締結日 on or before the individual's — is
  extended to the individual's 保管期限 when that is later;
- a 基本契約 with a 取引終了日: its 保管期限 is fixed at the rule applied to 取引終了日, or the
  latest individual contract's when later, and the rep is told the final date;
- a 基本契約 without one but with a 取引継続確認日 (asked three months before its 保管期限 by the
  deadline rule master_contract_retention): trading went on at least until that day (never later than
  today), so the 保管期限 becomes at least the rule applied to it as the end of trading; the rep is told.

A longer 保管期限 reaches G-Staff's archive first (``extend_retention``: G-Staff keeps the later
date and says which), then the kintone record: kintone never shows a date the archive does not
keep. A 基本契約 not archived yet only gets the new date in kintone (its archive takes the record's
保管期限). Without G-Staff configured nothing is written and the job fails for an operator.
Nothing ever shortens a 保管期限.

kintone calls: an individual contract 2 (itself, the 基本契約), +1 write when extended; 1 when
already covered (remembered). A 基本契約 with 取引終了日 2 (itself, its longest-kept individual contract),
+1 write and +1 comment when the date changes. A 取引継続確認日 1 (itself), +1 write when extended,
+1 comment.
"""

from __future__ import annotations

from datetime import date

from connectors.gstaff.errors import GStaffConfigError, GStaffProtocolError
from flows.context import FlowContext
from flows.decide import on_fresh_record
from flows.notify import tell
from mappings import AppMapping
from mappings.contracts import StatusSettings, master_retention_until
from mappings.japanese_dates import full_date

FLOW = "master_retention"
REMEMBER_SECONDS = 400 * 86400  # "this individual contract is covered": longer than any retry horizon
READS = ("contract_kind", "client", "client_record_id", "concluded_on", "retention_until", "gstaff_archive_id",
         "trade_ended_on", "trade_continued_on", "sales_rep", "status")


def run(ctx: FlowContext, app_key: str, record_id: str, **_params) -> str:
    contracts = ctx.mappings[app_key]
    settings = contracts.settings(FLOW)

    def decide(contract: dict, status: str | None) -> str:
        if status != "concluded" or contract.get("client_record_id") is None:
            return "nothing_to_do"
        if contract.get("contract_kind") == settings["individual_kind"]:
            return cover_individual(ctx, contracts, settings, contract)
        if contract.get("contract_kind") == settings["master_kind"] and contract.get("trade_ended_on"):
            return fix_at_trade_end(ctx, contracts, settings, contract)
        if contract.get("contract_kind") == settings["master_kind"] and contract.get("trade_continued_on"):
            return extend_for_continued_trade(ctx, contracts, contract)
        return "nothing_to_do"

    return on_fresh_record(ctx, contracts, record_id, FLOW, decide)


def cover_individual(ctx: FlowContext, contracts: AppMapping, settings: dict, contract: dict) -> str:
    """Extend the 基本契約 in force to this individual contract's 保管期限 when that is later."""
    until, concluded_on = contract.get("retention_until"), contract.get("concluded_on")
    if until is None or concluded_on is None:
        return "nothing_to_do"  # signature_status writes both at conclusion
    memory = f"{FLOW}:{contracts.key}:{contract['record_id']}:{until.isoformat()}"
    if ctx.ledger.done(memory):
        return "already_covered"
    query = (_of_client(contracts, settings["master_kind"], contract["client_record_id"])
             + f' and {contracts.field("concluded_on").code} <= "{concluded_on.isoformat()}"'
             + f' order by {contracts.field("concluded_on").code} desc, $id desc')
    rows = ctx.kintone.get_records(contracts.id, query, fields=_codes(contracts), limit=1)
    if not rows:
        ctx.report("no concluded 基本契約 of the client before this contract")
        return "no_master_contract"
    master = contracts.read(rows[0])
    kept = keep_at_least(ctx, contracts, master, until)
    ctx.ledger.mark(memory, REMEMBER_SECONDS)
    return "covered" if kept == master.get("retention_until") else "master_extended"


def fix_at_trade_end(ctx: FlowContext, contracts: AppMapping, settings: dict, master: dict) -> str:
    """取引終了日 entered: the 基本契約's final 保管期限, told to the rep."""
    concluded_on = master.get("concluded_on")
    if concluded_on is None:
        return "nothing_to_do"
    until = contracts.field("retention_until").code
    query = (_of_client(contracts, settings["individual_kind"], master["client_record_id"])
             + f' and {contracts.field("concluded_on").code} >= "{concluded_on.isoformat()}"'
             + f' and {until} != "" order by {until} desc, $id desc')  # the longest kept one decides
    longest = [contracts.read(row)["retention_until"]
               for row in ctx.kintone.get_records(contracts.id, query, fields=_codes(contracts), limit=1)]
    rule = StatusSettings.of(contracts).retention
    final = keep_at_least(ctx, contracts, master,
                          master_retention_until(rule, concluded_on, master["trade_ended_on"], longest))
    label = contracts.field("retention_until").display
    told = tell(ctx, contracts, master["record_id"],
                f"「{contracts.field('trade_ended_on').display}」（{full_date(master['trade_ended_on'])}）が入力されたため、"
                f"この基本契約の「{label}」を{full_date(final)}に確定しました。取引終了後の保存期間と、この基本契約の下で"
                "締結した個別契約の保管期限のうち最も遅い日です。Gスタッフの保管データも同じ期限で保管されます。",
                master.get("sales_rep"), once_as="retention_fixed",
                same_as=f"{master['trade_ended_on'].isoformat()}|{final.isoformat()}")
    return "retention_fixed" if told else "already_told"


def extend_for_continued_trade(ctx: FlowContext, contracts: AppMapping, master: dict) -> str:
    """取引継続確認日 entered: kept at least as if trading had ended that day; the rep is told the date."""
    concluded_on = master.get("concluded_on")
    if concluded_on is None:
        return "nothing_to_do"
    continued = min(master["trade_continued_on"], ctx.now().date())  # a confirmation is of the past
    final = keep_at_least(ctx, contracts, master,
                          master_retention_until(StatusSettings.of(contracts).retention, concluded_on, continued, []))
    label = contracts.field("retention_until").display
    told = tell(ctx, contracts, master["record_id"],
                f"「{contracts.field('trade_continued_on').display}」に{full_date(continued)}が入力されたため、その日まで"
                f"取引があったものとして、この基本契約の「{label}」を{full_date(final)}としました（これまでの保管期限の方が"
                "遅い場合はそのままです）。Gスタッフの保管データも同じ期限で保管されます。取引が終わったら"
                f"「{contracts.field('trade_ended_on').display}」を入力してください。取引が続く場合は、{label}の3か月前に"
                "またお知らせします。",
                master.get("sales_rep"), once_as="retention_extended",
                same_as=f"{continued.isoformat()}|{final.isoformat()}")
    return "retention_extended" if told else "already_told"


def keep_at_least(ctx: FlowContext, contracts: AppMapping, master: dict, until: date) -> date:
    """The 基本契約's 保管期限 once it is at least ``until``: a later one stays (never shortened), an
    earlier or empty one is extended (``extend``)."""
    current = master.get("retention_until")
    if current is not None and current >= until:
        return current
    return extend(ctx, contracts, master, until)


def extend(ctx: FlowContext, contracts: AppMapping, master: dict, until: date) -> date:
    """The 基本契約 kept at least until ``until``: G-Staff's archive first, then 保管期限 in kintone."""
    archive_ids = [i for i in (master.get("gstaff_archive_id") or "").split(",") if i.strip()]
    kept = until
    if archive_ids:
        if ctx.gstaff is None:
            raise GStaffConfigError("G-Staff is not configured (KGBRIDGE_GSTAFF_* settings): the archive of "
                                    f"{contracts.key} #{master['record_id']} cannot be extended; nothing was changed")
        base = f"kintone:{contracts.key}:{master['record_id']}"  # the references signature_status archived under
        references = [base] if len(archive_ids) == 1 else [f"{base}:{n}" for n in range(1, len(archive_ids) + 1)]
        kept = min(ctx.gstaff.extend_retention(archive_id.strip(), reference, until)
                   for archive_id, reference in zip(archive_ids, references, strict=True))
        if kept < until:  # the contract: the archive keeps the later date
            raise GStaffProtocolError(f"PUT /contracts/{{id}}/retention kept {kept.isoformat()}, "
                                      f"before the {until.isoformat()} asked; nothing written to kintone")
    ctx.kintone.update_record(contracts.id, master["record_id"], contracts.write({"retention_until": kept}),
                              revision=master["revision"])
    ctx.report(f"基本契約 #{master['record_id']} kept until {kept.isoformat()}")
    return kept


def _of_client(contracts: AppMapping, kind: str, client_record_id) -> str:
    status = contracts.status_name("concluded")
    return (f'{contracts.field("contract_kind").code} in ("{kind}")'
            f' and {contracts.field("client_record_id").code} = {int(client_record_id)}'
            f' and {contracts.field("status").code} in ("{status}")')


def _codes(contracts: AppMapping) -> list[str]:
    return ["$id", "$revision", *contracts.codes(*READS)]

