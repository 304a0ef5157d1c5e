"""Receivers broken on purpose, for gunicorn to serve in tests (``tests.apps:NAME()``)."""

from __future__ import annotations

from webhooks import create_app


def receiver_without_mappings():
    """The receiver from the KGBRIDGE_* settings, its mappings lost: every webhook that passes the
    token check and the parser ends in a 500 (what a bug would do), which Flask logs with the path."""
    app = create_app()
    app.extensions["kgbridge"]["mappings"] = None
    return app
