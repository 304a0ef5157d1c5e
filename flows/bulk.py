"""Work found in bulk, done per page: one read for up to 500 records, bulk actions and writes.

A page flow (``run_page`` in a flow module, listed in ``flows.PAGE_FLOWS``) reads its records
with ``read_records``, decides each one with the flow's own ``decide`` (the same code as the
per-record job), then hands the process actions to ``run_actions`` or the field writes to
``write_records`` and ends with ``finish_page``. The former group them as kintone allows: ≤ 100 records per PUT records/status.json
or PUT records.json, ≤ 20 of those in one bulkRequest.json (2,000 records per call), each record
with the revision it was decided on, all or none per call. Bulk calls send no webhook.

A conflict (GAIA_CO02 / GAIA_IL03: someone changed a record after the page was read) rolls the
whole call back. kintone names the refused request of a bulkRequest (``request_index``), not the
record: its records' revisions are read again (one query), the records that changed go to their
ordinary per-record job, and the rest are sent again. When the refused request's records all look
unchanged (an action's condition no longer met, an assignee required), or on a data error, that
request's records go to their ordinary job, which ends with its own, per-record reason. Transient
failures propagate: the page job is retried and decides again on a fresh read, so an action that
landed before its answer was lost is seen as done (the record moved on), never run twice.

kintone calls per page of n records: ⌈n / 500⌉ reads, ⌈actions / 2,000⌉ + ⌈writes / 2,000⌉ bulk
calls; a conflict adds one read and one call; each fallback record costs its ordinary job's calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from connectors.kintone import KintoneConflict, KintoneDataError
from connectors.kintone.interface import (
    MAX_RECORDS_PER_BULK_WRITE,
    MAX_REQUESTS_PER_BULK,
    BulkWrite,
    RecordUpdate,
    StatusAction,
)
from flows import applications as apps
from flows.context import FlowContext
from mappings import AppMapping

READ_PAGE = 500  # kintone's most records per GET records.json
PER_CALL = MAX_RECORDS_PER_BULK_WRITE * MAX_REQUESTS_PER_BULK  # 2,000 records in one bulkRequest
MAX_ATTEMPTS = 3  # per call: conflicts narrowed down, then the rest goes to ordinary jobs


@dataclass
class PageResult:
    """What a page job did: outcome counts, the revision each handled record is at, the fallbacks."""

    outcomes: dict[str, int] = field(default_factory=dict)
    revisions: dict[str, int] = field(default_factory=dict)  # record id -> revision handled (processed mark)
    fallback: list[str] = field(default_factory=list)  # record ids left to their ordinary job
    decided: dict[str, tuple[str, str]] = field(default_factory=dict)  # record id -> (outcome, detail): run history

    def count(self, outcome: str, record_id: str | None = None, detail: str = "") -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if record_id is not None:
            self.decided[str(record_id)] = (outcome, detail)

    def handled(self, record_id: str, outcome: str, revision: int | str, detail: str = "") -> None:
        """Count a record done by this page job, at the revision it is now (its processed mark)."""
        self.count(outcome, record_id, detail)
        self.revisions[str(record_id)] = int(revision)

    def summary(self) -> str:
        parts = [f"{k} {v}" for k, v in sorted(self.outcomes.items())]
        if self.fallback:
            parts.append(f"ordinary jobs {len(self.fallback)}")
        return ", ".join(parts) or "nothing"


def chunks(items: Sequence, size: int) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def ids_query(ids: Iterable[str]) -> str:
    return f"$id in ({', '.join(str(int(i)) for i in ids)}) order by $id asc"


def read_records(ctx: FlowContext, mapping: AppMapping, ids: Sequence[str],
                 fields: list[str] | None = None) -> dict[str, dict]:
    """{record id: raw record} for the ids kintone still has, ⌈n / 500⌉ calls."""
    out: dict[str, dict] = {}
    for part in chunks(list(dict.fromkeys(str(i) for i in ids)), READ_PAGE):
        for row in ctx.kintone.get_records(mapping.id, ids_query(part), fields=fields, limit=READ_PAGE):
            out[str(row["$id"]["value"])] = row
    return out


def finish_page(ctx: FlowContext, flow: str, mapping: AppMapping, record_ids: Sequence[str], rows: dict[str, dict],
                result: PageResult, *, sent: dict[str, str], landed: tuple[dict[str, int], list[str]],
                detail: str) -> PageResult:
    """End a page job: count each record the bulk calls landed, with its new revision (``sent``: record
    id -> outcome word of what was sent; ``landed``: what ``run_actions`` or ``write_records`` returned;
    ``detail`` for the run history), start the ordinary job of every fallback, and count the records
    kintone no longer has (``rows``: what ``read_records`` read of ``record_ids``)."""
    done, refused = landed
    for record_id, revision in done.items():
        result.handled(record_id, sent[record_id], revision, detail)
    result.fallback += refused
    for record_id in result.fallback:  # as its webhook would have: the job id of the revision read
        apps.start_flow(ctx, flow, mapping.key, record_id, marker=f"r{rows[record_id]['$revision']['value']}")
    missing = len(set(map(str, record_ids)) - set(rows))
    if missing:
        result.outcomes["not_found"] = missing  # deleted since: nothing to do
    return result


def run_actions(ctx: FlowContext, mapping: AppMapping, actions: Sequence[StatusAction]) -> tuple[dict[str, int], list[str]]:
    """Run process actions in bulk; ({record id: new revision}, [record ids left to their ordinary job])."""
    return _run(ctx, mapping, list(actions))


def write_records(ctx: FlowContext, mapping: AppMapping, updates: Sequence[RecordUpdate],
                  owners: Mapping[str, str] | None = None) -> tuple[dict[str, int], list[str]]:
    """Write fields in bulk; ({record id: new revision}, [record ids left to their ordinary job]).

    ``owners`` (record id -> whose record: the contract a follow-up belongs to) keeps each owner's
    records together: one refused takes every record of its owner in the call to the owner's ordinary
    job, so an owner's writes land all or none (pass at most one call's worth, ``PER_CALL``)."""
    return _run(ctx, mapping, list(updates), owners)


def _run(ctx: FlowContext, mapping: AppMapping, items: list,
         owners: Mapping[str, str] | None = None) -> tuple[dict[str, int], list[str]]:
    done: dict[str, int] = {}
    fallback: list[str] = []
    for group in chunks(items, PER_CALL):
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if not group:
                break
            writes = [BulkWrite(mapping.id, tuple(part)) for part in chunks(group, MAX_RECORDS_PER_BULK_WRITE)]
            try:
                results = _send(ctx, mapping, writes)
            except (KintoneConflict, KintoneDataError) as exc:
                refused = list(writes[exc.request_index].items) if exc.request_index is not None else group
                changed = _changed(ctx, mapping, refused) if isinstance(exc, KintoneConflict) else []
                gone = changed or refused  # unchanged yet refused: its ordinary job says why
                if owners is not None:  # and every record of the same owners with them
                    whose = {owners[i.id] for i in gone}
                    gone = [i for i in group if owners[i.id] in whose]
                ctx.log.info("bulk call refused; records to their ordinary job", step="bulk", attempt=attempt,
                             code=exc.code, refused=len(refused), fallback=len(gone))
                fallback += [i.id for i in gone]
                left = {i.id for i in gone}
                group = [i for i in group if i.id not in left]
                continue
            for write, revisions in zip(writes, results, strict=True):
                done.update({i.id: int(rev) for i, rev in zip(write.items, revisions, strict=True)})
            group = []
        fallback += [i.id for i in group]  # still refused after MAX_ATTEMPTS
    return done, fallback


def _send(ctx: FlowContext, mapping: AppMapping, writes: list[BulkWrite]) -> list[list[str]]:
    if len(writes) > 1:
        return ctx.kintone.bulk_request(writes)
    items = list(writes[0].items)
    if writes[0].kind == "update_statuses":
        return [ctx.kintone.update_statuses(mapping.id, items)]
    return [ctx.kintone.update_records(mapping.id, items)]


def _changed(ctx: FlowContext, mapping: AppMapping, items: list) -> list:
    """The items whose record moved past the revision they were decided on (one query per 500)."""
    now = read_records(ctx, mapping, [i.id for i in items], fields=["$id", "$revision"])
    return [i for i in items if i.id not in now or now[i.id]["$revision"]["value"] != str(i.revision)]
