"""``POST /webhooks/gmosign/<token>``: GMO Sign envelope callbacks.

GMO Sign registers our URL on request and documents no signature, shared secret or source IPs
(reference/gmosign.md §1.6): the secret path segment (``KGBRIDGE_GMOSIGN_WEBHOOK_TOKEN``) is the
only proof of origin, and the flow treats every callback as a hint it verifies.
"""

from __future__ import annotations

from flask import Blueprint, current_app

from webhooks.gmosign_intake import accept_gmosign, parse_gmosign
from webhooks.receive import receive_webhook

bp = Blueprint("gmosign", __name__)


@bp.post("/webhooks/gmosign/<token>")
def receive(token: str):
    settings = current_app.extensions["kgbridge"]["settings"]
    return receive_webhook("gmosign", token, settings.gmosign_webhook_tokens(), parse_gmosign, accept_gmosign,
                           describe=lambda callback: {"envelope_id": callback.envelope_xid,
                                                      "event_type": callback.event})
