"""``POST /webhooks/kintone/<token>``: kintone record notifications.

kintone signs nothing (reference/kintone.md §1.7), so the secret path segment is the proof
of origin; the flows re-read every record from kintone before acting on it.
"""

from __future__ import annotations

import structlog
from flask import Blueprint, current_app, jsonify

from webhooks import read_body, token_matches
from webhooks.intake import Rejected, accept_kintone, parse_kintone

bp = Blueprint("kintone", __name__)
log = structlog.get_logger("kgbridge.webhook")


@bp.post("/webhooks/kintone/<token>")
def receive(token: str):
    structlog.contextvars.clear_contextvars()  # nothing bound by an earlier request or job
    ext = current_app.extensions["kgbridge"]
    if not token_matches(token, ext["settings"].webhook_tokens()):
        return jsonify(ok=False, error="not found"), 404
    try:
        note = parse_kintone(read_body())
        accepted = accept_kintone(note, mappings=ext["mappings"], connection=ext["redis"], queue=ext["queue"],
                                  settings=ext["settings"])
    except Rejected as exc:
        log.info("webhook rejected", source="kintone", status=exc.status, reason=exc.reason)
        return jsonify(ok=False, error=exc.reason), exc.status
    log.info("webhook accepted", source="kintone", event_id=note.id, event_type=note.type, app_id=note.app.id,
             count=len(accepted.jobs), outcome="duplicate" if accepted.duplicate else "enqueued")
    return jsonify(accepted.as_json()), 200
