"""Client lookup in G-Staff for a new inquiry or client (seed A-1, DESIGN.md flow 1).

Before anyone calls a prospective client, sales checks G-Staff for the client's history and
registers the client there when it is unknown. For a new (or edited) Inquiries or Clients
record whose Gスタッフ顧客ID is empty:

- an invalid 法人番号, or neither 法人番号 nor 会社名: a comment saying what to fix; nothing else;
- one client found (by 法人番号, or by normalised 会社名 and 電話番号): the G-Staff id, 過去トラブル,
  抵触日 and 離職率 are written back; when the summary names a risk (past trouble, a 抵触日 soon or
  passed, turnover above the threshold) one comment gives it, mentioning the 担当営業 (the
  mapping's ``tell_linked``: "risky", the default; "every" tells each link, the same holds for a
  registered client and an entered id);
- several candidates (or a name match whose phone differs): a comment lists them for a person
  to choose by entering the Gスタッフ顧客ID; nothing is written back;
- none: the client is registered in G-Staff under the reference ``kintone:<app>:<record>``
  and the new id is written back. Before registering we ask G-Staff for that reference, so a
  registration whose answer was lost is found instead of repeated (the G-Staff service is
  also bound to answer a repeated reference with the first client).

A record whose Gスタッフ顧客ID is filled is acted on only when that id is not the one this flow
last linked (a person chose a candidate or changed it): its history is fetched and written.
Our own write-back arrives as an UPDATE_RECORD notification and changes nothing, so it
cannot loop. To look a linked record up again (say after correcting 会社名), clear
Gスタッフ顧客ID and save. Runs for one record are serialised by a short Redis claim.

kintone calls: found or registered 3 (record, comment, update), 2 when the client is not risky (no
comment; a registered client has no history, so none); id entered by a person likewise; several candidates, invalid 法人番号 or no 会社名 2 (record, comment; 1 when already told);
a linked record (our own write-back's notification, any later edit) 1 (record).
G-Staff calls: found 2 (search, history); registered 3 (search, reference, register).

Found in bulk (``run_page``: a reconcile sweep finding a bulk import whose webhooks were lost),
a page of n records costs ⌈n / 500⌉ reads, one comment per record whose outcome posts one (a risky
client found or entered, and the messages above when not said yet) and ⌈writes / 2,000⌉ bulk calls;
a record changed meanwhile costs its ordinary job's calls on top (its comment is not repeated).
The G-Staff calls are those of the ordinary jobs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.errors import Permanent, RetryLater
from connectors.gstaff.errors import GStaffDataError, GStaffNotFound
from connectors.gstaff.interface import ClientHistory, ClientSummary, GStaffClient, MatchKind, NewClient
from connectors.kintone.interface import RecordUpdate
from flows import bulk
from flows import client_risk as text
from flows.client_risk import RiskRules, history_values, risk_lines
from flows.context import FlowContext, gstaff_of
from flows.decide import on_fresh_record
from flows.notify import tell
from mappings import AppMapping, MappingError
from mappings.normalize import (
    InvalidCorporateNumber,
    check_corporate_number,
    company_key,
    normalize_company_name,
    normalize_phone,
)

FLOW = "client_lookup"
LINK_REMEMBER_SECONDS = 400 * 24 * 3600  # longer than any edit of a fresh inquiry is likely
CLAIM_SECONDS = 300  # longer than a job may run (KGBRIDGE_JOB_TIMEOUT_SECONDS, 180 by default)


class RecordBusy(RetryLater):
    """Another job is deciding for the same record right now; try again shortly."""


def reference_for(app_key: str, record_id: str) -> str:
    """Our reference for G-Staff writes made on behalf of this record."""
    return f"kintone:{app_key}:{record_id}"


def _linked_key(app_key: str, record_id: str) -> str:
    return f"{FLOW}:linked:{app_key}:{record_id}"


def run(ctx: FlowContext, app_key: str, record_id: str, **_params) -> str:
    mapping = ctx.mappings[app_key]
    gstaff = gstaff_of(ctx)
    claim = _claim_key(app_key, record_id)
    if not _claim(ctx, claim):
        raise RecordBusy(f"{FLOW}: another job is deciding for {app_key} #{record_id}; will retry")
    try:
        return on_fresh_record(ctx, mapping, record_id, FLOW,
                               lambda record, _status: carry_out(ctx, mapping, record,
                                                                 decide(ctx, gstaff, mapping, record)))
    finally:
        ctx.ledger.release(claim)


def _claim_key(app_key: str, record_id: str) -> str:
    return f"{FLOW}:claim:{app_key}:{record_id}"


def _claim(ctx: FlowContext, key: str) -> bool:
    """Take the record's claim for this job; a claim left by an earlier run of this very job (killed
    before it could release it: RQ runs a job id once at a time) is taken over, not waited out."""
    if ctx.ledger.claim(key, CLAIM_SECONDS, ctx.job_id or "1"):
        return True
    if ctx.job_id and ctx.ledger.get(key) == ctx.job_id:
        ctx.ledger.mark(key, CLAIM_SECONDS, ctx.job_id)
        return True
    return False


# -- the decision: one record as read, G-Staff asked, no kintone call -----------------------------
#
# The per-record job above and the page job below (``run_page``) both decide with ``decide``; what
# each outcome needs is in the Decision: a comment to the rep (kintone has no bulk comment: one call
# each, said once), a link to remember, and the fields to write (bulk-able: PUT records.json with
# the revision the decision was made on). Registering an unknown client in G-Staff is part of
# deciding: its reference makes a repeat find the first registration.


@dataclass(frozen=True)
class Decision:
    outcome: str  # the outcome word when carried out
    comment: str | None = None  # for the 担当営業, said once per record and text ...
    once_as: str | None = None  # ... under this key
    client_id: str | None = None  # the G-Staff client linked: remembered, so our own write changes nothing
    changes: dict[str, Any] = field(default_factory=dict)  # domain field -> value, to write on the record


def told(outcome: str, comment: str, once_as: str) -> Decision:
    """An outcome that is only a comment: ``outcome`` when posted, ``already_told`` when said before."""
    return Decision(outcome, comment=comment, once_as=once_as)


def decide(ctx: FlowContext, gstaff: GStaffClient, mapping: AppMapping, record: dict) -> Decision:
    client_id = (record.get("gstaff_client_id") or "").strip()
    if client_id:
        return refresh_entered_id(ctx, gstaff, mapping, record, client_id)
    return look_up(ctx, gstaff, mapping, record)


def look_up(ctx: FlowContext, gstaff: GStaffClient, mapping: AppMapping, record: dict) -> Decision:
    """Find the record's client in G-Staff; link it, list the candidates, or register it."""
    raw_number = (record.get("corporate_number") or "").strip()
    name, phone = record.get("company_name") or "", record.get("phone") or ""
    number = ""
    if raw_number:
        try:
            number = check_corporate_number(raw_number)
        except InvalidCorporateNumber as exc:
            return told("told_invalid_corporate_number", text.invalid_number_text(mapping, raw_number, exc.reason),
                        "invalid_corporate_number")
    if not number and not company_key(name):  # "株式会社" alone is no name either
        return told("told_missing_company_name", text.missing_name_text(mapping), "missing_company_name")

    reference = reference_for(mapping.key, record["record_id"])
    matches = gstaff.find_clients(corporate_number=number, name=name, phone=phone)
    ours = next((c for c in matches if c.reference == reference), None)
    if ours is not None:  # registered by an earlier run whose answer was lost
        return link_registered(ctx, mapping, record, ours)
    found = choose(matches)
    if found is not None:
        history = gstaff.get_history(found.client_id)
        comment = text.found_text(mapping, found, history, ctx.now().date(), RiskRules.of(mapping.settings(FLOW)))
        return link(ctx, mapping, record, found.client_id, history, comment, "linked_existing_client")
    if matches:
        return told("told_candidates", text.candidates_text(mapping, name, matches), "candidates")

    client = gstaff.find_client_by_reference(reference)
    if client is None:
        if not company_key(name):  # a 法人番号 alone is not enough to register
            return told("told_missing_company_name", text.missing_name_text(mapping), "missing_company_name")
        new = NewClient(name=normalize_company_name(name), reference=reference, corporate_number=number,
                        phone=normalize_phone(phone), address=(record.get("address") or "").strip())
        try:
            client = gstaff.register_client(new)
        except GStaffDataError as exc:
            return told("told_registration_rejected", text.rejected_text(mapping, exc.code), "registration_rejected")
    return link_registered(ctx, mapping, record, client)


def choose(matches: list[ClientSummary]) -> ClientSummary | None:
    """The one client we may link without asking: the only 法人番号 match, else the only
    name-and-phone match. Anything less certain is for a person to choose."""
    for kind in (MatchKind.CORPORATE_NUMBER, MatchKind.NAME_AND_PHONE):
        strong = [c for c in matches if c.matched_by == kind]
        if strong:
            return strong[0] if len(strong) == 1 else None
    return None


def link_registered(ctx: FlowContext, mapping: AppMapping, record: dict, client: ClientSummary) -> Decision:
    history = ClientHistory(client.client_id)
    return link(ctx, mapping, record, client.client_id, history, text.registered_text(client),
                "registered_new_client", with_history=False)


def refresh_entered_id(ctx: FlowContext, gstaff: GStaffClient, mapping: AppMapping, record: dict,
                       client_id: str) -> Decision:
    """A filled Gスタッフ顧客ID that we did not link ourselves: bring its history in."""
    if ctx.ledger.get(_linked_key(mapping.key, record["record_id"])) == client_id:
        return Decision("nothing_to_do")
    try:
        history = gstaff.get_history(client_id)
    except GStaffNotFound:
        return told("told_unknown_client_id", text.unknown_id_text(mapping, client_id), "unknown_client_id")
    comment = text.entered_id_text(mapping, client_id, history, ctx.now().date(),
                                   RiskRules.of(mapping.settings(FLOW)))
    return link(ctx, mapping, record, client_id, history, comment, "history_fetched")


def link(ctx: FlowContext, mapping: AppMapping, record: dict, client_id: str, history: ClientHistory,
         comment: str, outcome: str, *, with_history: bool = True) -> Decision:
    """Link the record to ``client_id``: the comment, and the id (and history) where the record differs."""
    wanted = {"gstaff_client_id": client_id}
    if with_history:
        wanted.update(history_values(history, ctx.now().date()))
    changes = {name: value for name, value in wanted.items()
               if name in mapping.fields and not _same(record.get(name), value)}
    told = comment if tells_linked(mapping, history, ctx.now().date()) else None
    return Decision(outcome, comment=told, once_as=f"gstaff:{client_id}", client_id=client_id, changes=changes)


TELL_LINKED = ("every", "risky")


def tells_linked(mapping: AppMapping, history: ClientHistory, today) -> bool:
    """Whether linking a client is told in a comment: the mapping's ``tell_linked`` (only a "risky"
    client, one with a line in the risk summary, the default; or "every" link). The fields are written
    either way. Each comment is one kintone call (there is no bulk comment), so this is what a bulk
    import costs beyond its pages."""
    settings = mapping.settings(FLOW)
    when = settings.get("tell_linked", "risky")
    if when not in TELL_LINKED:
        raise MappingError(f"{mapping.key} [{FLOW}] tell_linked = {when!r}: give one of {', '.join(TELL_LINKED)}")
    return when == "every" or bool(risk_lines(history, today, RiskRules.of(settings)))


def _same(current, wanted) -> bool:
    if current in (None, "") and wanted in (None, ""):
        return True
    if isinstance(current, str) and isinstance(wanted, str):
        return current.strip() == wanted.strip()
    return current == wanted


# -- carrying a decision out -----------------------------------------------------------------------


def say(ctx: FlowContext, mapping: AppMapping, record: dict, decision: Decision) -> str:
    """Tell the rep and remember the link: everything but the write. The outcome word as carried out.

    In this order, before the write, so that the notification our own update causes finds the link
    remembered and does nothing, and so that a crash before the update repeats no comment (``tell``
    is once per text) and loses nothing (the record still has no id, so the next run links again).
    """
    rid = record["record_id"]
    posted = decision.comment is not None and tell(ctx, mapping, rid, decision.comment, record.get("sales_rep"),
                                                   once_as=decision.once_as)
    if decision.client_id is not None:
        ctx.ledger.mark(_linked_key(mapping.key, rid), LINK_REMEMBER_SECONDS, decision.client_id)
        return decision.outcome
    return "already_told" if decision.comment is not None and not posted else decision.outcome


def carry_out(ctx: FlowContext, mapping: AppMapping, record: dict, decision: Decision) -> str:
    """The per-record job: comment, remember the link, write the record with its revision."""
    outcome = say(ctx, mapping, record, decision)
    if decision.changes:
        ctx.kintone.update_record(mapping.id, record["record_id"], mapping.write(decision.changes),
                                  revision=record["revision"])
    return outcome


def run_page(ctx: FlowContext, app_key: str, record_ids: list[str]) -> bulk.PageResult:
    """New inquiries or clients found in bulk (a reconcile page: a bulk import whose webhooks were lost).

    One read of the page (≤ 500 per call), ``decide`` for each record as its own job would (its
    G-Staff lookups are G-Staff calls, not kintone ones), the comment where that decision posts
    one (one call each, said once as the ordinary job says it), then every write of the page in
    bulk (``flows.bulk``: 2,000 per call, each with the revision it was decided on). A record
    another job is deciding for right now, one whose decision G-Staff refused for good (not a
    transient failure: that retries the page), and one a bulk call refused (changed since the page
    was read) go to the record's ordinary job.
    """
    mapping = ctx.mappings[app_key]
    gstaff = gstaff_of(ctx)
    result = bulk.PageResult()
    rows = bulk.read_records(ctx, mapping, record_ids)
    written: dict[str, str] = {}  # record id -> outcome, once its write lands
    updates: list[RecordUpdate] = []
    claimed: list[str] = []
    try:
        for row in rows.values():
            record = mapping.read(row)
            rid = record["record_id"]
            if not _claim(ctx, _claim_key(app_key, rid)):
                result.fallback.append(rid)  # its own job is deciding now; it retries (RecordBusy)
                continue
            claimed.append(rid)
            try:
                decision = decide(ctx, gstaff, mapping, record)
            except Permanent as exc:
                ctx.log.warning("G-Staff refused a decision; record to its ordinary job", step="decide",
                                record_id=rid, error=type(exc).__name__)
                result.fallback.append(rid)
                continue
            outcome = say(ctx, mapping, record, decision)
            if decision.changes:
                written[rid] = outcome
                updates.append(RecordUpdate(rid, mapping.write(decision.changes), str(record["revision"])))
            else:
                result.handled(rid, outcome, record["revision"])
        done, refused = bulk.write_records(ctx, mapping, updates)
    finally:
        for rid in claimed:
            ctx.ledger.release(_claim_key(app_key, rid))
    return bulk.finish_page(ctx, FLOW, mapping, record_ids, rows, result, sent=written, landed=(done, refused),
                            detail="written in bulk")
