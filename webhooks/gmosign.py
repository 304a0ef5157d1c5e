"""``POST /webhooks/gmosign/<token>``: GMO Sign envelope callbacks.

GMO Sign documents no signature, shared secret or source address for its callbacks
(docs/gmosign-sources.md): the secret path segment (``KGBRIDGE_GMOSIGN_WEBHOOK_TOKEN``) is the
proof of origin, and a callback is only ever a trigger the flow verifies. Where the deployment
knows the addresses GMO Sign calls from, ``KGBRIDGE_GMOSIGN_CALLBACK_ALLOWED_IPS`` refuses every
other source with 403 before the body is read. The source is the TCP peer; ``X-Forwarded-For`` is
read only when that peer is one of ``KGBRIDGE_TRUSTED_PROXIES`` (then the right-most address not
itself a trusted proxy is the source), so a caller cannot claim an allowed address by a header.
"""

from __future__ import annotations

import ipaddress

from flask import Blueprint, current_app, jsonify, request

from webhooks.gmosign_intake import accept_gmosign, describe, parse_gmosign
from webhooks.receive import receive_webhook

bp = Blueprint("gmosign", __name__)


@bp.post("/webhooks/gmosign/<token>")
def receive(token: str):
    ext = current_app.extensions["kgbridge"]
    settings = ext["settings"]
    if settings.gmosign_callback_allowed_ips:
        source = source_address(request.remote_addr, request.headers.getlist("X-Forwarded-For"),
                                settings.trusted_proxies)
        if source is None or not any(source in net for net in settings.gmosign_callback_allowed_ips):
            return jsonify(ok=False, error="source address not allowed"), 403
    return receive_webhook("gmosign", token, "gmosign_webhook_tokens", parse_gmosign, accept_gmosign,
                           describe=describe)


def source_address(peer: str | None, forwarded: list[str], trusted_proxies) -> ipaddress._BaseAddress | None:
    """The caller's address: the TCP peer, or behind trusted proxies the first untrusted hop."""
    try:
        address = ipaddress.ip_address(peer or "")
    except ValueError:
        return None
    hops = [h.strip() for line in forwarded for h in line.split(",") if h.strip()]
    while hops and any(address in net for net in trusted_proxies):
        try:
            address = ipaddress.ip_address(hops.pop())
        except ValueError:
            return None
    return address
