"""The shape every webhook route shares: secret path token, parse, record once, answer at once.

Each source brings its parser and its accept function (``webhooks.intake`` for kintone,
``webhooks.gmosign_intake`` for GMO Sign); the same pair serves ``kgbridge events replay``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
import structlog
from flask import current_app, jsonify, request

from kgbridge import logs
from webhooks import read_body, token_matches
from webhooks.intake import Accepted, Rejected

log = structlog.get_logger("kgbridge.webhook")


def receive_webhook(source: str, token: str, tokens: str, parse: Callable[[bytes], Any],
                    accept: Callable[..., Accepted], describe: Callable[[Any], dict] = lambda _parsed: {}):
    """Answer one webhook call: 404 for a wrong token, 4xx with the reason, else 200 once recorded.

    ``tokens`` names the app's configured tokens in its kgbridge extension ("webhook_tokens" or
    "gmosign_webhook_tokens"), read here with the rest, through one look-up of the app."""
    structlog.contextvars.clear_contextvars()  # nothing bound by an earlier request or job
    # The app and the request themselves, not their proxies: each attribute looked up through
    # current_app or request costs ~8 k instructions (werkzeug's LocalProxy), the object's own ~0.
    app = current_app._get_current_object()
    ext = app.extensions["kgbridge"]
    if not token_matches(token, ext[tokens]):
        return jsonify(ok=False, error="not found"), 404
    try:
        parsed = parse(read_body(request._get_current_object().environ, app.config["MAX_CONTENT_LENGTH"]))
        accepted = accept(parsed, mappings=ext["mappings"], connection=ext["redis"], settings=ext["settings"])
    except Rejected as exc:
        log.info("webhook rejected", source=source, status=exc.status, reason=exc.reason)
        return jsonify(ok=False, error=exc.reason), exc.status
    outcome = "duplicate" if accepted.duplicate else "ignored" if accepted.ignored_reason else "recorded"
    # One INFO line per webhook, from the side that finishes with it: a recorded event's is the
    # dispatcher's "event dispatched" (same event_id); here it is DEBUG, not even built at INFO (the
    # module's logger is structlog's lazy proxy, which binds a logger on every call).
    if outcome != "recorded" or logs.enabled_for(logging.DEBUG):
        (log.debug if outcome == "recorded" else log.info)(
            "webhook accepted", source=source, event_id=accepted.event_id, count=accepted.count, outcome=outcome,
            **describe(parsed))
    # The hot path's answer, built without jsonify's provider machinery (sorted keys, mimetype lookup).
    return app.response_class(orjson.dumps(accepted.as_json()), 200, content_type="application/json")
