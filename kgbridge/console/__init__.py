"""The web console (``kgbridge console``): status, failed jobs with a replay button, a record's run
history and the deadline overview, for the operators who keep kgbridge running.

Plain server-rendered HTML (Jinja, autoescaped; no JavaScript). Bound to 127.0.0.1 by default:
reach it through an SSH tunnel or a proxy that adds TLS. Safety:

- one password, ``KGBRIDGE_CONSOLE_PASSWORD`` (at least 12 characters), compared as SHA-256 hashes in
  constant time; a wrong one waits a second before the answer;
- a signed session cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` with
  ``KGBRIDGE_CONSOLE_COOKIE_SECURE``), valid for ``KGBRIDGE_CONSOLE_SESSION_HOURS``; its key is
  ``KGBRIDGE_CONSOLE_SECRET_KEY``, or a random one per process (sessions end with a restart);
- a CSRF token in the session, required in every POST form (login included);
- no caching, no framing, a content security policy that allows nothing but this origin's pages.

It reads and acts through the same modules as the CLI (kgbridge/ops/*): a replay here is
``kgbridge jobs replay ID``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import timedelta
from functools import wraps

import redis
from flask import Flask, abort, flash, redirect, render_template, request, session, url_for

from kgbridge import bootstrap, history, logs
from kgbridge.jobs import make_queue
from kgbridge.ops import failed_jobs, run_history
from kgbridge.ops import status as status_module
from kgbridge.ops.when import local, parse_stamp
from kgbridge.settings import Settings, SettingsError, load_settings
from mappings import load_mappings

FAILED_LOGIN_DELAY_SECONDS = 1.0


def password_matches(given: str, expected: str) -> bool:
    """Constant time over the hashes: the time says nothing of either password's length."""
    given_d = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
    return hmac.compare_digest(given_d, hashlib.sha256(expected.encode()).digest())


def create_app(settings: Settings | None = None, *, connection: redis.Redis | None = None) -> Flask:
    """Build the console. Under gunicorn: ``gunicorn 'kgbridge.console:create_app()'``."""
    if settings is None:
        settings = load_settings()
        logs.configure(settings.log_level, settings.log_format)
    if settings.console_password is None:
        raise SettingsError("invalid configuration:\n  KGBRIDGE_CONSOLE_PASSWORD: required to run the console")
    app = Flask("kgbridge.console", template_folder="templates")
    secret = settings.console_secret_key.get_secret_value() if settings.console_secret_key else secrets.token_hex(32)
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_NAME="kgbridge_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.console_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.console_session_hours),
        MAX_CONTENT_LENGTH=64 * 1024,
    )
    connection = connection or bootstrap.redis_client(settings)
    mappings = load_mappings(settings.mapping_dir)
    queue = make_queue(connection, settings)
    app.jinja_env.filters["jst"] = lambda value: local(parse_stamp(value) if isinstance(value, str) else value)

    def csrf_token() -> str:
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(32)
        return session["csrf"]

    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.before_request
    def _check_csrf():
        if request.method == "POST":
            given, expected = request.form.get("csrf_token", ""), session.get("csrf", "")
            if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
                abort(400, description="the form's CSRF token is missing or wrong: reload the page and try again")

    @app.after_request
    def _headers(response):
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'self'; form-action 'self'; "
                                                       "frame-ancestors 'none'; base-uri 'none'")
        return response

    @app.errorhandler(400)
    def _bad_request(exc):
        return render_template("error.html", code=400, message=exc.description), 400

    def login_required(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if session.get("user") != "operator":
                return redirect(url_for("login", next=request.path))
            return view(*args, **kwargs)
        return wrapped

    @app.get("/login")
    def login():
        return render_template("login.html", next=_safe_next(request.args.get("next")))

    @app.post("/login")
    def login_post():
        assert settings.console_password is not None
        if not password_matches(request.form.get("password", ""), settings.console_password.get_secret_value()):
            time.sleep(FAILED_LOGIN_DELAY_SECONDS)
            return render_template("login.html", next=_safe_next(request.form.get("next")),
                                   error="パスワードが違います。 (wrong password)"), 401
        session.clear()  # a fresh session (and CSRF token) after logging in
        session.permanent = True
        session["user"] = "operator"
        return redirect(_safe_next(request.form.get("next")) or url_for("overview"))

    @app.post("/logout")
    def logout():
        session.clear()
        return redirect(url_for("login"))

    @app.get("/")
    @login_required
    def overview():
        report = status_module.gather(connection, settings, mappings=mappings)
        return render_template("status.html", status=report, level=status_module.LEVEL_NAMES[report.level],
                               levels=status_module.LEVEL_NAMES)

    @app.get("/failed")
    @login_required
    def failed():
        return render_template("failed.html", rows=failed_jobs.list_failed(queue))

    @app.post("/failed/<job_id>/replay")
    @login_required
    def replay(job_id: str):
        [result] = failed_jobs.replay(queue, settings, [job_id])
        if result.ok:
            flash(f"{job_id}: replayed (queued again with a fresh retry budget)", "ok")
        else:
            flash(f"{job_id}: not replayed ({result.outcome}: {result.detail})", "problem")
        return redirect(url_for("failed"))

    @app.get("/jobs/<job_id>")
    @login_required
    def job(job_id: str):
        details = failed_jobs.show(queue, job_id)
        if details is None:
            abort(404)
        return render_template("job.html", job=details)

    @app.get("/records")
    @login_required
    def records():
        app_key, record_id = request.args.get("app", "").strip(), request.args.get("record", "").strip()
        runs, error = [], ""
        if app_key and app_key not in mappings and mappings.by_app_id(app_key) is not None:
            app_key = mappings.by_app_id(app_key).key  # a kintone app id works too
        if app_key and record_id:
            if app_key not in mappings:
                error = f"no mapping for {app_key!r}"
            else:
                runs = run_history.list_runs(connection, app_key, record_id, limit=history.HISTORY_MAX)
        return render_template("records.html", app_key=app_key, record_id=record_id, runs=runs, error=error,
                               apps=[m.key for m in mappings])

    @app.get("/deadlines")
    @login_required
    def deadlines():
        run = history.read_task_run(connection, "deadlines")
        said = {}
        for line in run.detail:
            name, _, text = line.partition(": ")
            said[name] = text
        return render_template("deadlines.html", rules=mappings.deadlines.rules, run=run, said=said,
                               every=settings.deadline_sweep_seconds)

    @app.errorhandler(404)
    def _not_found(_exc):
        return render_template("error.html", code=404, message="not found"), 404

    return app


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no //host, no scheme): a login link cannot send anyone elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""
