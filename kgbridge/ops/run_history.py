"""``kgbridge jobs list --app orders --record 12``: what ran on one record, when, and what it decided.

Reads the record's run history (kgbridge/history.py), newest first: one row per job end
(finished, retrying or failed), with the flow's outcome word and detail or the error's one line.
"""

from __future__ import annotations

import redis

from kgbridge.history import RunEntry, read_history
from kgbridge.ops.output import clip, table
from kgbridge.ops.when import local, parse_stamp


def list_runs(connection: redis.Redis, app_key: str, record_id: str, state: str | None = None,
              limit: int = 50) -> list[RunEntry]:
    return read_history(connection, app_key, record_id, state=state, limit=limit)


def render(app_key: str, record_id: str, runs: list[RunEntry]) -> str:
    if not runs:
        return (f"No runs recorded for {app_key} #{record_id} (none yet, or older than the history keeps). "
                "Failed jobs: kgbridge jobs failed")
    rows = []
    for r in runs:
        said = r.outcome + (f" — {'; '.join(r.detail)}" if r.detail else "")
        rows.append([local(parse_stamp(r.at)), r.flow, r.state, r.attempt, r.source, clip(said, 90), r.job_id])
    body = table(["ENDED (JST)", "FLOW", "STATE", "ATTEMPT", "SOURCE", "DECIDED", "JOB"], rows)
    return f"{app_key} #{record_id}: {len(runs)} run(s), newest first.\n\n{body}\n\nDetails: kgbridge jobs show JOB"
