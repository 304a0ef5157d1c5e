"""``POST /webhooks/kintone/<token>``: kintone record notifications.

kintone signs nothing (reference/kintone.md §1.7), so the secret path segment is the proof
of origin; the flows re-read every record from kintone before acting on it.
"""

from __future__ import annotations

from flask import Blueprint

from webhooks.intake import accept_kintone, parse_kintone
from webhooks.receive import receive_webhook

bp = Blueprint("kintone", __name__)


@bp.post("/webhooks/kintone/<token>")
def receive(token: str):
    return receive_webhook("kintone", token, "webhook_tokens", parse_kintone, accept_kintone,
                           describe=lambda note: {"event_type": note.type, "app_id": note.app.id})
