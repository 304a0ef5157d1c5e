"""One timeline per staff member (seed 001 ❶ 過去→現在→未来でスタッフさんを追う).

Every follow-up names G-Staff's staff id (スタッフID), so a renewal or a later contract with the same
person continues the same timeline; a record without one (made before the field existed) is
followed by its contract. Each follow-up opens linked to the one before it: 前回フォロー is that
record's number, 前回の確認事項 its 確認した事実 ("前回●●だったかと伺いましたが、その後どうですか?"),
and its open 相談・課題 rows are carried in with their 対応期限, so the answer is chased where the
next talk happens. The earlier record then points forward (引継ぎ先) and is no longer chased.

Helpers only: the flows (next_follow_up, follow_up) decide when to link.
"""

from __future__ import annotations

from datetime import date

from mappings import AppMapping
from mappings.fields import is_blank
from mappings.japanese_dates import full_date

# What a flow reads of a timeline's follow-ups.
TIMELINE_FIELDS = ("title", "category", "due_on", "done_on", "completion", "previous", "issues", "staff_id",
                   "dispatch_end", "contract_record_id")


def timeline_query(follow_ups: AppMapping, values: dict) -> str | None:
    """The query for every follow-up of this record's staff member (else its contract)."""
    staff = values.get("staff_id")
    if not is_blank(staff):
        quoted = str(staff).replace("\\", "\\\\").replace('"', '\\"')
        return f'{follow_ups.field("staff_id").code} = "{quoted}"'
    contract = values.get("contract_record_id")
    if contract is not None:
        return f'{follow_ups.field("contract_record_id").code} = {int(contract)}'
    return None


def fetch_timeline(ctx, follow_ups: AppMapping, values: dict, also: str = "") -> list[dict]:
    """The staff member's follow-ups that are still open or linked to ``values`` (one call).

    ``also`` is an extra "or" condition (e.g. the records linked to a given one).
    """
    where = timeline_query(follow_ups, values)
    if where is None:
        return []
    done_code = follow_ups.field("done_on").code
    linked = f'{follow_ups.field("previous").code} = {int(values["record_id"])}'
    condition = f'{where} and ({done_code} = "" or {linked}{" or " + also if also else ""})'
    rows = ctx.kintone.get_records(follow_ups.id, f"{condition} order by {follow_ups.field('due_on').code} asc",
                                   fields=["$id", *follow_ups.codes(*TIMELINE_FIELDS)], limit=500)
    return [follow_ups.read(r) for r in rows]


def is_open(values: dict, settings: dict) -> bool:
    """Planned and neither done nor stopped."""
    return is_blank(values.get("done_on")) and values.get("completion") != settings.get("stopped", "中止")


def open_rows(rows: list[dict] | None) -> list[dict]:
    """The 相談・課題 rows still waiting for an answer (not 対応済, not left blank)."""
    return [row for row in rows or [] if is_blank(row.get("resolved")) and not _blank_row(row)]


def carry_in(previous: dict, target: dict | None) -> dict:
    """The values that link ``target`` (None: a new record) to the follow-up before it."""
    have = [row for row in (target or {}).get("issues") or [] if not _blank_row(row)]
    seen = {_same(row) for row in have}
    carried = [{k: v for k, v in row.items() if k != "_row_id"} for row in open_rows(previous.get("issues"))
               if _same(row) not in seen]
    out = {"previous": int(previous["record_id"]), "previous_facts": _facts(previous)}
    if carried or target is None:
        out["issues"] = [*have, *carried]
    return out


def _facts(previous: dict) -> str:
    facts = (previous.get("facts") or "").strip()
    done_on = previous.get("done_on")
    when = full_date(done_on) if isinstance(done_on, date) else "前回"
    title = previous.get("title") or "フォロー"
    return f"{when}の{title}（#{previous['record_id']}）より：\n{facts}" if facts else ""


def _same(row: dict) -> tuple:
    return ((row.get("issue") or "").strip(), row.get("issue_due"))


def _blank_row(row: dict) -> bool:
    return all(is_blank(v) or (isinstance(v, str) and not v.strip())
               for k, v in row.items() if k != "_row_id")
