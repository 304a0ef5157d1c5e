"""Client lookup in G-Staff for a new inquiry or client (seed A-1, DESIGN.md flow 1).

Before anyone calls a prospective client, sales checks G-Staff for the client's history and
registers the client there when it is unknown. For a new (or edited) Inquiries or Clients
record whose Gスタッフ顧客ID is empty:

- an invalid 法人番号, or neither 法人番号 nor 会社名: a comment saying what to fix; nothing else;
- one client found (by 法人番号, or by normalised 会社名 and 電話番号): the G-Staff id, 過去トラブル,
  抵触日 and 離職率 are written back and one comment gives a short risk summary mentioning the
  担当営業;
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

kintone calls: found or registered 3 (record, comment, update); id entered by a person 3;
several candidates, invalid 法人番号 or no 会社名 2 (record, comment; 1 when already told);
a linked record (our own write-back's notification, any later edit) 1 (record).
G-Staff calls: found 2 (search, history); registered 3 (search, reference, register).
"""

from __future__ import annotations

from connectors.errors import RetryLater
from connectors.gstaff.errors import GStaffConfigError, GStaffDataError, GStaffNotFound
from connectors.gstaff.interface import ClientHistory, ClientSummary, GStaffClient, MatchKind, NewClient
from flows import client_risk as text
from flows.client_risk import RiskRules, history_values
from flows.context import FlowContext
from flows.decide import on_fresh_record
from flows.notify import tell
from mappings import AppMapping
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
    if ctx.gstaff is None:
        raise GStaffConfigError("G-Staff is not configured (KGBRIDGE_GSTAFF_BASE_URL, KGBRIDGE_GSTAFF_API_KEY)")
    claim = f"{FLOW}:claim:{app_key}:{record_id}"
    if not ctx.ledger.claim(claim, CLAIM_SECONDS):
        raise RecordBusy(f"{FLOW}: another job is deciding for {app_key} #{record_id}; will retry")
    try:
        return on_fresh_record(ctx, mapping, record_id, FLOW,
                               lambda record, _status: decide(ctx, ctx.gstaff, mapping, record))
    finally:
        ctx.ledger.release(claim)


def decide(ctx: FlowContext, gstaff: GStaffClient, mapping: AppMapping, record: dict) -> str:
    client_id = (record.get("gstaff_client_id") or "").strip()
    if client_id:
        return refresh_entered_id(ctx, gstaff, mapping, record, client_id)
    return look_up(ctx, gstaff, mapping, record)


def look_up(ctx: FlowContext, gstaff: GStaffClient, mapping: AppMapping, record: dict) -> str:
    """Find the record's client in G-Staff; link it, list the candidates, or register it."""
    rid, rep = record["record_id"], record.get("sales_rep")
    raw_number = (record.get("corporate_number") or "").strip()
    name, phone = record.get("company_name") or "", record.get("phone") or ""
    number = ""
    if raw_number:
        try:
            number = check_corporate_number(raw_number)
        except InvalidCorporateNumber as exc:
            told = tell(ctx, mapping, rid, text.invalid_number_text(mapping, raw_number, exc.reason), rep,
                        once_as="invalid_corporate_number")
            return "told_invalid_corporate_number" if told else "already_told"
    if not number and not company_key(name):  # "株式会社" alone is no name either
        told = tell(ctx, mapping, rid, text.missing_name_text(mapping), rep, once_as="missing_company_name")
        return "told_missing_company_name" if told else "already_told"

    reference = reference_for(mapping.key, rid)
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
        told = tell(ctx, mapping, rid, text.candidates_text(mapping, name, matches), rep, once_as="candidates")
        return "told_candidates" if told else "already_told"

    client = gstaff.find_client_by_reference(reference)
    if client is None:
        if not company_key(name):  # a 法人番号 alone is not enough to register
            told = tell(ctx, mapping, rid, text.missing_name_text(mapping), rep, once_as="missing_company_name")
            return "told_missing_company_name" if told else "already_told"
        new = NewClient(name=normalize_company_name(name), reference=reference, corporate_number=number,
                        phone=normalize_phone(phone), address=(record.get("address") or "").strip())
        try:
            client = gstaff.register_client(new)
        except GStaffDataError as exc:
            told = tell(ctx, mapping, rid, text.rejected_text(mapping, exc.code), rep, once_as="registration_rejected")
            return "told_registration_rejected" if told else "already_told"
    return link_registered(ctx, mapping, record, client)


def choose(matches: list[ClientSummary]) -> ClientSummary | None:
    """The one client we may link without asking: the only 法人番号 match, else the only
    name-and-phone match. Anything less certain is for a person to choose."""
    for kind in (MatchKind.CORPORATE_NUMBER, MatchKind.NAME_AND_PHONE):
        strong = [c for c in matches if c.matched_by == kind]
        if strong:
            return strong[0] if len(strong) == 1 else None
    return None


def link_registered(ctx: FlowContext, mapping: AppMapping, record: dict, client: ClientSummary) -> str:
    history = ClientHistory(client.client_id)
    return link(ctx, mapping, record, client.client_id, history, text.registered_text(client),
                "registered_new_client", with_history=False)


def refresh_entered_id(ctx: FlowContext, gstaff: GStaffClient, mapping: AppMapping, record: dict,
                       client_id: str) -> str:
    """A filled Gスタッフ顧客ID that we did not link ourselves: bring its history in."""
    if ctx.ledger.get(_linked_key(mapping.key, record["record_id"])) == client_id:
        return "nothing_to_do"
    try:
        history = gstaff.get_history(client_id)
    except GStaffNotFound:
        told = tell(ctx, mapping, record["record_id"], text.unknown_id_text(mapping, client_id),
                    record.get("sales_rep"), once_as="unknown_client_id")
        return "told_unknown_client_id" if told else "already_told"
    comment = text.entered_id_text(mapping, client_id, history, ctx.now().date(),
                                   RiskRules.of(mapping.settings(FLOW)))
    return link(ctx, mapping, record, client_id, history, comment, "history_fetched")


def link(ctx: FlowContext, mapping: AppMapping, record: dict, client_id: str, history: ClientHistory,
         comment: str, outcome: str, *, with_history: bool = True) -> str:
    """Tell the rep, remember the link, then write the id (and history) back.

    In this order so that the notification our own update causes finds the link remembered
    and does nothing, and so that a crash before the update repeats no comment (``tell`` is
    once per text) and loses nothing (the record still has no id, so the next run links again).
    """
    rid = record["record_id"]
    tell(ctx, mapping, rid, comment, record.get("sales_rep"), once_as=f"gstaff:{client_id}")
    ctx.ledger.mark(_linked_key(mapping.key, rid), LINK_REMEMBER_SECONDS, client_id)
    wanted = {"gstaff_client_id": client_id}
    if with_history:
        wanted.update(history_values(history, ctx.now().date()))
    changes = {name: value for name, value in wanted.items()
               if name in mapping.fields and not _same(record.get(name), value)}
    if changes:
        ctx.kintone.update_record(mapping.id, rid, mapping.write(changes), revision=record["revision"])
    return outcome


def _same(current, wanted) -> bool:
    if current in (None, "") and wanted in (None, ""):
        return True
    if isinstance(current, str) and isinstance(wanted, str):
        return current.strip() == wanted.strip()
    return current == wanted
