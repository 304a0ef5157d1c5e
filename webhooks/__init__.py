"""The webhook receiver (Flask): authenticate, validate, de-duplicate, route, enqueue, answer.

It never calls an external system and answers within milliseconds; the work happens in
RQ jobs (``worker.py``).
"""

from __future__ import annotations

import hmac

import redis
from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from kgbridge import bootstrap, logs
from kgbridge.jobs import make_queue
from kgbridge.settings import Settings, SettingsError, load_settings
from mappings import load_mappings


def token_matches(given: str, expected: list[str]) -> bool:
    """Constant-time check against every configured token (rotation keeps two)."""
    given_b = given.encode()
    ok = False
    for token in expected:
        ok |= hmac.compare_digest(given_b, token.encode())
    return ok and bool(expected)


def create_app(settings: Settings | None = None, *, connection: redis.Redis | None = None) -> Flask:
    """Build the receiver. Under gunicorn: ``gunicorn 'webhooks:create_app()'``."""
    if settings is None:
        settings = load_settings()
        logs.configure(settings.log_level, settings.log_format)
    if not settings.webhook_tokens():
        raise SettingsError("invalid configuration:\n  KGBRIDGE_WEBHOOK_TOKEN: required to receive webhooks")
    app = Flask("kgbridge")
    app.json.ensure_ascii = False
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    connection = connection or bootstrap.redis_client(settings)
    app.extensions["kgbridge"] = {
        "settings": settings,
        "mappings": load_mappings(settings.mapping_dir),
        "redis": connection,
        "queue": make_queue(connection, settings),
    }

    from webhooks.gmosign import bp as gmosign_bp
    from webhooks.health import bp as health_bp
    from webhooks.kintone import bp as kintone_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(kintone_bp)
    app.register_blueprint(gmosign_bp)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        reasons = {404: "not found", 405: "method not allowed",
                   413: f"body larger than {settings.max_body_bytes} bytes"}
        return jsonify(ok=False, error=reasons.get(exc.code, exc.name.lower())), exc.code

    @app.errorhandler(redis.RedisError)
    def _redis_down(_exc):
        # We could not record the event: say so, so nothing is acknowledged that we might lose.
        return jsonify(ok=False, error="temporarily unable to record the event"), 503, {"Retry-After": "5"}

    return app
