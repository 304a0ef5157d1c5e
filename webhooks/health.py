"""Liveness and readiness probes."""

from __future__ import annotations

import redis
from flask import Blueprint, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(ok=True)


@bp.get("/readyz")
def readyz():
    try:
        current_app.extensions["kgbridge"]["redis"].ping()
    except redis.RedisError:
        return jsonify(ok=False, error="redis unreachable"), 503
    return jsonify(ok=True)
