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
+1 comment. G-Staff calls: one per archive of a 基本契約 extended; the date G-Staff kept is remembered,
so a re-run after a failed kintone write does not ask again.

Found in bulk (``run_page``: a reconcile sweep finding concluded contracts whose webhooks were lost), a
page of n individual contracts costs ⌈n / 500⌉ reads, one query for the 基本契約 of the page's clients
(per 100 clients and 500 基本契約), one extension per 基本契約 (the latest date of its contracts, G-Staff
first) and ⌈基本契約 extended / 2,000⌉ bulk writes. A 基本契約 of the page with 取引終了日 or 取引継続確認日
(its comment to the rep, its own query) goes to its ordinary job; so does every individual contract
whose 基本契約 someone changed meanwhile (the bulk write refused it) or G-Staff refused for good.
"""

from __future__ import annotations

from datetime import date

from connectors.errors import Permanent
from connectors.gstaff.errors import GStaffConfigError, GStaffProtocolError
from connectors.kintone.interface import RecordUpdate
from flows import bulk
from flows.context import FlowContext
from flows.decide import MAX_DECISIONS, on_fresh_record
from flows.notify import tell
from mappings import AppMapping
from mappings.contracts import StatusSettings, master_retention_until
from mappings.japanese_dates import full_date

FLOW = "master_retention"
CLIENTS_PER_QUERY = 100  # client record numbers in one ``in (...)`` of the 基本契約 query
REMEMBER_SECONDS = 400 * 86400  # "this individual contract is covered": longer than any retry horizon
READS = ("contract_kind", "client", "client_record_id", "concluded_on", "retention_until", "gstaff_archive_id",
         "trade_ended_on", "trade_continued_on", "sales_rep", "status")


def run(ctx: FlowContext, app_key: str, record_id: str, **_params) -> str:
    contracts = ctx.mappings[app_key]
    settings = contracts.settings(FLOW)

    def decide_now(contract: dict, status: str | None) -> str:
        what = decide(settings, contract, status)
        if what == "cover":
            return cover_individual(ctx, contracts, settings, contract)
        if what == "fix_at_trade_end":
            return fix_at_trade_end(ctx, contracts, settings, contract)
        if what == "extend_for_continued_trade":
            return extend_for_continued_trade(ctx, contracts, contract)
        return "nothing_to_do"

    return on_fresh_record(ctx, contracts, record_id, FLOW, decide_now)


# -- the decisions: a contract as read, its 基本契約 among the client's, no call ------------------------
#
# The per-record job above and the page job below (``run_page``) both decide with these: what the
# contract needs (``decide``), the date an individual contract needs its 基本契約 kept to
# (``coverage``), which 基本契約 is in force for it (``master_in_force``), and whether that one is kept
# long enough already (``needs_extension``).


def decide(settings: dict, contract: dict, status: str | None) -> str:
    """What a concluded contract needs: ``cover`` (an individual contract's 基本契約 kept at least as long),
    ``fix_at_trade_end``, ``extend_for_continued_trade`` (a 基本契約's), or ``nothing_to_do``."""
    if status != "concluded" or contract.get("client_record_id") is None:
        return "nothing_to_do"
    if contract.get("contract_kind") == settings["individual_kind"]:
        return "cover"
    if contract.get("contract_kind") == settings["master_kind"] and contract.get("trade_ended_on"):
        return "fix_at_trade_end"
    if contract.get("contract_kind") == settings["master_kind"] and contract.get("trade_continued_on"):
        return "extend_for_continued_trade"
    return "nothing_to_do"


def coverage(contracts: AppMapping, contract: dict) -> tuple[date | None, str]:
    """(the 保管期限 the individual contract needs its 基本契約 kept to, the ledger key that remembers it
    covered); None when the contract has no 保管期限 or 締結日 (signature_status writes both)."""
    until = contract.get("retention_until")
    if until is None or contract.get("concluded_on") is None:
        return None, ""
    return until, f"{FLOW}:{contracts.key}:{contract['record_id']}:{until.isoformat()}"


def master_in_force(masters: list[dict], contract: dict) -> dict | None:
    """The client's 基本契約 in force for an individual contract: the latest concluded one with a 締結日 on
    or before the individual's (the higher record number on the same day)."""
    concluded_on, client = contract["concluded_on"], int(contract["client_record_id"])
    candidates = [m for m in masters if m.get("client_record_id") is not None and int(m["client_record_id"]) == client
                  and m.get("concluded_on") is not None and m["concluded_on"] <= concluded_on]
    return max(candidates, key=lambda m: (m["concluded_on"], int(m["record_id"])), default=None)


def needs_extension(current: date | None, until: date) -> bool:
    """Whether a 保管期限 of ``current`` must be extended to keep the contract until ``until`` (never shortened)."""
    return current is None or current < until


def read_masters(ctx: FlowContext, contracts: AppMapping, settings: dict, client_ids) -> list[dict]:
    """Every concluded 基本契約 of these clients, as the mapping reads them (a query per 100 clients and
    500 基本契約)."""
    wanted = sorted({int(c) for c in client_ids})
    out: list[dict] = []
    for part in bulk.chunks(wanted, CLIENTS_PER_QUERY):
        last = 0
        while True:
            query = (_of_clients(contracts, settings["master_kind"], part)
                     + f" and $id > {last} order by $id asc")
            rows = ctx.kintone.get_records(contracts.id, query, fields=_codes(contracts), limit=bulk.READ_PAGE)
            out += [contracts.read(row) for row in rows]
            if len(rows) < bulk.READ_PAGE:
                break
            last = int(rows[-1]["$id"]["value"])
    return out


# -- carrying them out -----------------------------------------------------------------------------


def cover_individual(ctx: FlowContext, contracts: AppMapping, settings: dict, contract: dict) -> str:
    """Extend the 基本契約 in force to this individual contract's 保管期限 when that is later."""
    until, memory = coverage(contracts, contract)
    if until is None:
        return "nothing_to_do"
    if ctx.ledger.done(memory):
        return "already_covered"
    master = master_in_force(read_masters(ctx, contracts, settings, [contract["client_record_id"]]), contract)
    if master is None:
        ctx.report("no concluded 基本契約 of the client before this contract")
        return "no_master_contract"
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
    if not needs_extension(current, until):
        return current
    return extend(ctx, contracts, master, until)


def extend(ctx: FlowContext, contracts: AppMapping, master: dict, until: date) -> date:
    """The 基本契約 kept at least until ``until``: G-Staff's archive first, then 保管期限 in kintone."""
    kept = extend_archive(ctx, contracts, master, until)
    ctx.kintone.update_record(contracts.id, master["record_id"], contracts.write({"retention_until": kept}),
                              revision=master["revision"])
    ctx.report(f"基本契約 #{master['record_id']} kept until {kept.isoformat()}")
    return kept


def extend_archive(ctx: FlowContext, contracts: AppMapping, master: dict, until: date) -> date:
    """The date G-Staff's archive of the 基本契約 keeps once asked to keep it until ``until`` (``until``
    itself when it is not archived yet: its archive will take the record's 保管期限). What G-Staff kept is
    remembered: it never shortens a date, so a re-run (the kintone write failed, the worker died before
    it) need not ask again."""
    archive_ids = [i for i in (master.get("gstaff_archive_id") or "").split(",") if i.strip()]
    if not archive_ids:
        return until
    if ctx.gstaff is None:
        raise GStaffConfigError("G-Staff is not configured (KGBRIDGE_GSTAFF_* settings): the archive of "
                                f"{contracts.key} #{master['record_id']} cannot be extended; nothing was changed")
    memory = f"{FLOW}:archived:{contracts.key}:{master['record_id']}:{','.join(archive_ids)}:{until.isoformat()}"
    if (known := ctx.ledger.get(memory)) is not None:
        return date.fromisoformat(known)
    base = f"kintone:{contracts.key}:{master['record_id']}"  # the references signature_status archived under
    references = [base] if len(archive_ids) == 1 else [f"{base}:{n}" for n in range(1, len(archive_ids) + 1)]
    kept = min(ctx.gstaff.extend_retention(archive_id.strip(), reference, until)
               for archive_id, reference in zip(archive_ids, references, strict=True))
    if kept < until:  # the contract: the archive keeps the later date
        raise GStaffProtocolError(f"PUT /contracts/{{id}}/retention kept {kept.isoformat()}, "
                                  f"before the {until.isoformat()} asked; nothing written to kintone")
    ctx.ledger.mark(memory, REMEMBER_SECONDS, kept.isoformat())
    return kept


def run_page(ctx: FlowContext, app_key: str, record_ids: list[str]) -> bulk.PageResult:
    """Concluded contracts found in bulk (a reconcile page), decided per page.

    One read of the page (≤ 500 per call), ``decide`` for each contract as its own job would, one query
    for every concluded 基本契約 of the page's individual contracts' clients, the 基本契約 in force for
    each (``master_in_force``), taken in record order as one job per contract would (a contract whose
    基本契約 an earlier one of the page already extends far enough is ``covered``). Each 基本契約 is then
    extended once, to the latest date its contracts need: G-Staff's archive first, then every 保管期限 of
    the page in bulk (``flows.bulk``, each 基本契約 with the revision read). A 基本契約 the bulk write
    refused (changed since it was read: a person, or another page of the same backlog extending it) is
    read again and decided again (``_extend_masters``); one still refused after that, or refused by
    G-Staff for good, sends the individual contracts that needed it to their ordinary jobs. A 基本契約 of
    the page that needs its own job (取引終了日, 取引継続確認日: a comment to the rep) goes to it.
    """
    contracts = ctx.mappings[app_key]
    settings = contracts.settings(FLOW)
    result = bulk.PageResult()
    rows = bulk.read_records(ctx, contracts, record_ids, fields=_codes(contracts))
    covering: list[tuple[dict, date, str]] = []  # (individual contract, 保管期限 it needs, its memory)
    for row in rows.values():
        contract = contracts.read(row)
        rid, what = contract["record_id"], decide(settings, contract, contracts.status_key(contract.get("status")))
        until, memory = coverage(contracts, contract) if what == "cover" else (None, "")
        if what in ("fix_at_trade_end", "extend_for_continued_trade"):
            result.fallback.append(rid)  # the rep is told: its ordinary job
        elif until is None:
            result.handled(rid, "nothing_to_do", contract["revision"])
        elif ctx.ledger.done(memory):
            result.handled(rid, "already_covered", contract["revision"])
        else:
            covering.append((contract, until, memory))
    masters = read_masters(ctx, contracts, settings, [c["client_record_id"] for c, _, _ in covering]) if covering else []
    kept_until: dict[str, date | None] = {m["record_id"]: m.get("retention_until") for m in masters}
    # 基本契約 id -> the contracts that wait for its write: (contract, memory, outcome once it landed); one
    # covered only by a date an earlier contract of the page extends it to waits too.
    needing: dict[str, list[tuple[dict, str, str]]] = {}
    for contract, until, memory in sorted(covering, key=lambda c: int(c[0]["record_id"])):
        master = master_in_force(masters, contract)
        if master is None:
            result.handled(contract["record_id"], "no_master_contract", contract["revision"],
                           "no concluded 基本契約 of the client before this contract")
        elif needs_extension(kept_until[master["record_id"]], until):
            kept_until[master["record_id"]] = until
            needing.setdefault(master["record_id"], []).append((contract, memory, "master_extended"))
        elif master["record_id"] in needing:
            needing[master["record_id"]].append((contract, memory, "covered"))
        else:  # kept long enough as read
            ctx.ledger.mark(memory, REMEMBER_SECONDS)
            result.handled(contract["record_id"], "covered", contract["revision"])
    wanted = {master_id: kept_until[master_id] for master_id in needing}
    done, refused = _extend_masters(ctx, contracts, {m["record_id"]: m for m in masters}, wanted, result)
    landed: dict[str, int] = {}
    sent: dict[str, str] = {}
    for master_id, how in done.items():
        for contract, memory, outcome in needing[master_id]:
            ctx.ledger.mark(memory, REMEMBER_SECONDS)
            landed[contract["record_id"]] = int(contract["revision"])
            sent[contract["record_id"]] = outcome if how == "master_extended" else "covered"
    return bulk.finish_page(ctx, FLOW, contracts, record_ids, rows, result, sent=sent, landed=(
        landed, [contract["record_id"] for master_id in refused for contract, _, _ in needing[master_id]]),
        detail="基本契約 kept longer, in bulk")


def _extend_masters(ctx: FlowContext, contracts: AppMapping, masters: dict[str, dict], wanted: dict[str, date],
                    result: bulk.PageResult) -> tuple[dict[str, str], list[str]]:
    """Keep each 基本契約 (id -> as read) at least until its wanted date: G-Staff's archive first, then
    every 保管期限 in bulk. A 基本契約 the bulk write refused (changed meanwhile, e.g. extended by another
    page of the same backlog) is read again and decided again, a few times; then, and on G-Staff's
    refusal, it is left to the ordinary jobs of the contracts that needed it.
    ({基本契約 id: "master_extended" or "covered"}, [基本契約 ids left])."""
    done: dict[str, str] = {}
    left: list[str] = []
    pending = dict(wanted)
    for attempt in range(1, MAX_DECISIONS + 1):
        updates: list[RecordUpdate] = []
        for master_id, until in pending.items():
            master = masters[master_id]
            if not needs_extension(master.get("retention_until"), until):  # kept long enough meanwhile
                done[master_id] = "covered"
                continue
            try:
                kept = extend_archive(ctx, contracts, master, until)
            except Permanent as exc:
                ctx.log.warning("G-Staff refused an extension; contracts to their ordinary jobs", step="extend",
                                record_id=master_id, error=type(exc).__name__)
                left.append(master_id)
                continue
            updates.append(RecordUpdate(master_id, contracts.write({"retention_until": kept}), str(master["revision"])))
        written, gone = bulk.write_records(ctx, contracts, updates)
        for master_id, revision in written.items():
            done[master_id] = "master_extended"
            if master_id in result.revisions:  # a 基本契約 of the page: at the revision our write gave it
                result.revisions[master_id] = revision
        if not gone:
            break
        if attempt == MAX_DECISIONS:
            left += gone
            break
        fresh = bulk.read_records(ctx, contracts, gone, fields=_codes(contracts))
        left += [master_id for master_id in gone if master_id not in fresh]  # deleted: their own jobs say so
        masters = {**masters, **{master_id: contracts.read(row) for master_id, row in fresh.items()}}
        pending = {master_id: pending[master_id] for master_id in gone if master_id in fresh}
        ctx.log.info("基本契約 changed meanwhile; deciding again", step="decide", attempt=attempt, count=len(pending))
    return done, left


def _of_client(contracts: AppMapping, kind: str, client_record_id) -> str:
    status = contracts.status_name("concluded")
    return (f'{contracts.field("contract_kind").code} in ("{kind}")'
            f' and {contracts.field("client_record_id").code} = {int(client_record_id)}'
            f' and {contracts.field("status").code} in ("{status}")')


def _of_clients(contracts: AppMapping, kind: str, client_record_ids) -> str:
    status = contracts.status_name("concluded")
    ids = ", ".join(str(int(c)) for c in client_record_ids)
    return (f'{contracts.field("contract_kind").code} in ("{kind}")'
            f' and {contracts.field("client_record_id").code} in ({ids})'
            f' and {contracts.field("status").code} in ("{status}")')


def _codes(contracts: AppMapping) -> list[str]:
    return ["$id", "$revision", *contracts.codes(*READS)]

