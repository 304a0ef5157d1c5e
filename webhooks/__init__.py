"""The webhook receiver (Flask): authenticate, validate, route, de-duplicate and record, answer.

It never calls an external system and answers within milliseconds: an accepted event costs one
Redis call (``kgbridge.inbox.record``). The worker side turns recorded events into RQ flow jobs
(``kgbridge.dispatch``) and runs them (``worker.py``).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re

import redis
from flask import Flask, jsonify
from werkzeug.exceptions import ClientDisconnected, HTTPException, RequestEntityTooLarge
from werkzeug.wsgi import get_content_length

from kgbridge import bootstrap, logs
from kgbridge.settings import Settings, SettingsError, load_settings
from mappings import load_mappings


def token_matches(given: str, expected: list[str] | tuple[str, ...]) -> bool:
    """Constant-time check against every configured token (rotation keeps two).

    Both sides are hashed first, so the comparison always runs over 32 bytes and its time says
    nothing about the token's length either; every token is compared, matched or not. The
    configured tokens' digests are computed once (``_digests``), the given one's on every call.
    """
    given_d = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
    ok = False
    for token_d in _digests(tuple(expected)):
        ok |= hmac.compare_digest(given_d, token_d)
    return ok and bool(expected)


@functools.lru_cache(maxsize=8)
def _digests(tokens: tuple[str, ...]) -> tuple[bytes, ...]:
    """The SHA-256 of each configured token: settings are frozen, so a receiver asks for the same
    one or two tuples on every webhook (~6 k instructions a token saved per webhook)."""
    return tuple(hashlib.sha256(token.encode()).digest() for token in tokens)


def read_body(environ: dict, limit: int | None) -> bytes:
    """The request body, refused with 413 past ``limit`` (the app's ``MAX_CONTENT_LENGTH``) however it was sent.

    Read from ``wsgi.input`` itself, not through ``request.get_data``: werkzeug wraps the input in a
    ``LimitedStream`` to enforce the limit, some 35 k instructions a webhook (docs/benchmarks.md §1).
    The same rules as werkzeug's ``get_input_stream``: a declared Content-Length past the limit is
    refused before anything is read; a body without one (chunked) is read only from a server that
    ends the stream itself (``wsgi.input_terminated``: gunicorn, werkzeug's server for chunked
    bodies), up to one byte past the limit, and refused when it gets there (werkzeug cut it off
    there silently); from any other server it reads as empty. A body shorter than its declared
    length on an unterminated stream is a client that went away (400, as werkzeug says).
    """
    length = get_content_length(environ)  # None when chunked or not given
    if length is not None and limit is not None and length > limit:
        raise RequestEntityTooLarge()
    stream = environ["wsgi.input"]
    if length is not None:
        data = _read_up_to(stream, length)
        if len(data) < length and "wsgi.input_terminated" not in environ:
            raise ClientDisconnected()
        return data
    if "wsgi.input_terminated" not in environ:
        return b""
    if limit is None:
        return stream.read()
    data = _read_up_to(stream, limit + 1)
    if len(data) > limit:
        raise RequestEntityTooLarge()
    return data


def _read_up_to(stream, size: int) -> bytes:
    """``size`` bytes from ``stream``, or fewer where it ends first (a read may return less than asked)."""
    data = stream.read(size) if size else b""
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size and (more := stream.read(size - got)):
        parts.append(more)
        got += len(more)
    return b"".join(parts)


# A webhook path in any spelling that reaches us: doubled slashes, odd case, percent-encoded slashes
# (the server decodes %2F before we see PATH_INFO), a trailing slash.
_WEBHOOK_PATH = re.compile(r"/+webhooks/+(kintone|gmosign)/+([^/]+)/*", re.IGNORECASE)
_CANONICAL = ("/webhooks/kintone/", "/webhooks/gmosign/")
_PREFIX_LENGTH = len(_CANONICAL[0])  # both: "kintone" and "gmosign" have seven letters


def normalise_path(wsgi_app):
    """WSGI middleware: route every spelling of a webhook path as the one canonical path, so a token
    is checked (and its path logged, redacted) the same way however the URL was written."""

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        # The canonical spelling (what kintone and GMO Sign send) is left as it is without the regular
        # expression (~5 k instructions a webhook): the prefix, then a token with no "/".
        if not (path.startswith(_CANONICAL) and len(path) > _PREFIX_LENGTH and "/" not in path[_PREFIX_LENGTH:]):
            match = _WEBHOOK_PATH.fullmatch(path)
            if match:
                environ["PATH_INFO"] = f"/webhooks/{match[1].lower()}/{match[2]}"
        return wsgi_app(environ, start_response)

    return app


def create_app(settings: Settings | None = None, *, connection: redis.Redis | None = None) -> Flask:
    """Build the receiver. Under gunicorn: ``gunicorn 'webhooks:create_app()'``."""
    if settings is None:
        settings = load_settings()
        logs.configure(settings.log_level, settings.log_format)
    logs.redact_secrets(settings.secret_values())
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
        "webhook_tokens": tuple(settings.webhook_tokens()),  # read once: settings are frozen
        "gmosign_webhook_tokens": tuple(settings.gmosign_webhook_tokens()),
    }

    from webhooks.gmosign import bp as gmosign_bp
    from webhooks.health import bp as health_bp
    from webhooks.kintone import bp as kintone_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(kintone_bp)
    app.register_blueprint(gmosign_bp)
    from webhooks.metrics import bp as metrics_bp

    app.register_blueprint(metrics_bp)
    app.wsgi_app = normalise_path(app.wsgi_app)

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
