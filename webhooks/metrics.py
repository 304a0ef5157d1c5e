"""``GET /metrics``: the service's Prometheus figures (kgbridge/metrics.py), read from Redis per scrape.

When ``KGBRIDGE_METRICS_TOKEN`` is set, a scrape must send ``Authorization: Bearer <token>``
(Prometheus: ``authorization: {credentials: ...}``); the receiver faces the internet, so set it, or
block /metrics at the proxy in front.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kgbridge.metrics import registry_for
from webhooks import token_matches

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    state = current_app.extensions["kgbridge"]
    settings = state["settings"]
    if settings.metrics_token is not None:
        given = request.headers.get("Authorization", "")
        token = given[len("Bearer "):] if given.startswith("Bearer ") else ""
        if not token_matches(token, [settings.metrics_token.get_secret_value()]):
            return jsonify(ok=False, error="metrics need the bearer token (KGBRIDGE_METRICS_TOKEN)"), 401
    registry = state.get("metrics_registry")
    if registry is None:  # built once per process, on the first scrape
        registry = state["metrics_registry"] = registry_for(state["redis"], settings, mappings=state["mappings"])
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
