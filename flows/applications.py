"""稟議 (Workflow) records: what the 06_1 and 06_2 flows share.

Opening an application exactly once, finding the open one, the items an application still
lacks, the client record it concerns, and starting another flow. kintone has no unique
constraint, so "one open application per client" is kept by a Redis claim around a
look-before-create query, and every application we open carries our key in 連携キー so a
retry after an unclear failure finds it instead of adding a second one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connectors.errors import RetryLater
from flows.context import FlowContext
from flows.notify import tell
from mappings import AppMapping, MappingError, User
from mappings.fields import is_blank

# A job opening an application holds the client's claim at most this long (two kintone calls,
# each within its retry budget; a killed job's claim expires by itself).
OPENING_CLAIM_SECONDS = 300
# How long we remember that a step of an application was done (approval effects, releases).
REMEMBER_SECONDS = 400 * 24 * 3600


class OpeningInProgress(RetryLater):
    """Another job is opening this client's application right now; retry shortly and find it."""


def kintone_string(value: str) -> str:
    """A string literal for a kintone query."""
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def kind_name(wf: AppMapping, kind: str) -> str:
    """The 申請種別 choice of a kind ("credit_check" → 「06_1 反社・与信チェック」)."""
    return wf.settings("kinds")[kind]


def form_name(mappings, kind: str, client: str | None) -> str:
    """The company's own name of the 稟議 form of ``kind`` for a client (clients mapping [forms],
    seed A-4): ``06_1_【事前確認】株式会社サンプル物流反社/与信チェック申請書``."""
    forms = mappings["clients"].settings("forms")
    if kind not in forms:
        raise MappingError(f"mapping 'clients' names no 稟議 form {kind!r} in [forms]")
    return forms[kind].format(client=(client or "").strip() or "（会社名未入力）")


def kind_of(wf: AppMapping, application: dict) -> str | None:
    """The kind key of an application, None for a 申請種別 we do not handle."""
    for key, name in wf.settings("kinds").items():
        if application.get("kind") == name:
            return key
    return None


def title_of(application: dict) -> str:
    return application.get("title") or f"稟議 #{application['record_id']}"


def codes_of(users: list[User] | None) -> list[str]:
    return [u.code for u in users or [] if u.code]


def find_open(ctx: FlowContext, wf: AppMapping, kind: str, client_record_id: str, reference: str) -> str | None:
    """The open application of this kind for the client, or the one carrying ``reference``."""
    closed = ", ".join(kintone_string(wf.status_name(s)) for s in ("approved", "rejected"))
    query = (f"({wf.field('client_record_id').code} = {int(client_record_id)}"
             f" and {wf.field('kind').code} in ({kintone_string(kind_name(wf, kind))})"
             f" and {wf.field('status').code} not in ({closed}))"
             f" or {wf.field('reference').code} = {kintone_string(reference)}"
             " order by $id asc")
    rows = ctx.kintone.get_records(wf.id, query, fields=["$id"], limit=1)
    return str(rows[0]["$id"]["value"]) if rows else None


def open_once(ctx: FlowContext, wf: AppMapping, kind: str, client_record_id: str, reference: str,
              values: Callable[[], dict[str, Any]]) -> tuple[str, bool]:
    """Find the client's open application of ``kind`` or add one; return (record id, created).

    The claim makes concurrent jobs for the same client take turns, so the second one finds
    what the first added. ``values`` is called only when a record is really added. After an
    unclear failure of the add (kintone may have saved it) the claim is released and the
    retry looks again before adding: the query finds the saved record by client or by
    ``reference``.
    """
    claim = f"workflow:opening:{kind}:client-{client_record_id}"
    if not ctx.ledger.claim(claim, OPENING_CLAIM_SECONDS):
        raise OpeningInProgress(f"another job is opening the {kind} application of client {client_record_id}")
    try:
        existing = find_open(ctx, wf, kind, client_record_id, reference)
        if existing is not None:
            return existing, False
        record_id, _ = ctx.kintone.add_record(wf.id, wf.write({**values(), "reference": reference}))
        return str(record_id), True
    finally:
        ctx.ledger.release(claim)


def missing_items(wf: AppMapping, application: dict, names: list[str]) -> list[str]:
    """The Japanese labels of the named items that are still empty, in the order given."""
    return [wf.field(name).display for name in names if is_blank(application.get(name))]


def read_client(ctx: FlowContext, client_record_id: Any, application: dict | None = None) -> dict:
    """The application's client; read once per decision when ``application`` is given.

    The copy is kept on the application dict, which lives for one decision only (a conflict
    re-reads everything), so a check before 決裁 and the effect after it share one read.
    """
    if application is not None and "_client" in application:
        return application["_client"]
    clients = ctx.mappings["clients"]
    client = clients.read(ctx.kintone.get_record(clients.id, str(int(client_record_id))))
    if application is not None:
        application["_client"] = client
    return client


def update_client(ctx: FlowContext, client: dict, changes: dict[str, Any]) -> bool:
    """Write the changed values of the client (checked against its revision); False when none changed."""
    clients = ctx.mappings["clients"]
    changed = {name: value for name, value in changes.items() if client.get(name) != value}
    if not changed:
        return False
    ctx.kintone.update_record(clients.id, client["record_id"], clients.write(changed), revision=client["revision"])
    return True


def start_flow(ctx: FlowContext, flow: str, app_key: str, record_id: str, marker: str) -> None:
    """Run ``flow`` on a record as its own job (inline when there is no queue, e.g. in a script)."""
    if ctx.enqueue is not None:
        ctx.enqueue(flow, app_key, str(record_id), marker)
        return
    from flows import get_flow

    get_flow(flow)(ctx, app_key, str(record_id))


def start_flows(ctx: FlowContext, flow: str, app_key: str, records: list[tuple[str, str]], key: str) -> None:
    """Run ``flow`` on many records ([(record id, marker)]): in bulk where the worker can (page jobs),
    else as a job each (``start_flow``). ``key`` names the batch, so a repeat adds no second page job."""
    if not records:
        return
    if ctx.enqueue_many is not None:
        ctx.enqueue_many(flow, app_key, [(str(rid), marker) for rid, marker in records], key)
        return
    for record_id, marker in records:
        start_flow(ctx, flow, app_key, record_id, marker)


def tell_no_client(ctx: FlowContext, wf: AppMapping, application: dict) -> str:
    """An approved or rejected application without a client: say so instead of guessing."""
    tell(ctx, wf, application["record_id"],
         f"稟議「{title_of(application)}」に顧客が指定されていないため、顧客管理台帳を更新できませんでした。"
         "顧客を指定して保存し、システム担当者に連絡してください。",
         (application.get("applicant") or []) + (application.get("supervisor") or []), once_as="no_client")
    return "no_client"
