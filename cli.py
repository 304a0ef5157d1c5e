"""``kgbridge``: run and operate the service.

    kgbridge embedded            the whole service in one process with fakes (try it out)
    kgbridge serve               the webhook receiver under gunicorn
    kgbridge worker              an RQ worker with the scheduler and the periodic tasks
    kgbridge console             the web console (127.0.0.1:8090; KGBRIDGE_CONSOLE_PASSWORD)
    kgbridge contracts check-open   the periodic check of contracts awaiting signature, now
    kgbridge contracts release-claim RECORD   allow a re-send after a person checked GMO Sign
    kgbridge contracts confirm-signed RECORD --reason TEXT   conclude a contract a person saw signed
    kgbridge status              what the service is doing now (exit 0 ok, 1 warning, 2 critical)
    kgbridge jobs list --app APP --record ID   what ran on a record and what it decided
    kgbridge worker-check        exit 0 when a worker of this host is alive (Docker HEALTHCHECK)
    kgbridge gmosign connect --url URL   register our callback URL with GMO Sign (gateway mode)
    kgbridge gmosign disconnect CONNECT_ID
    kgbridge jobs failed|show|replay|purge
    kgbridge events replay FILE...
    kgbridge events set-aside [--requeue]
    kgbridge mapping check [APP]
    kgbridge reconcile
    kgbridge report retention --month 2026-11   延長率・終了率 to the KPI app, a table and a PNG chart

Every ops command reads the service's own KGBRIDGE_* settings, prints a table (``--json`` for
scripts) and exits 0 on success, 1 when it found something wrong, 2 on bad usage or settings.
The work lives in kgbridge/ops/; this module only parses options and prints.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime

import click
import redis

from kgbridge.settings import SettingsError, load_settings

EXIT_FOUND_WRONG = 1
EXIT_USAGE = 2


class _Group(click.Group):
    """Turns the errors an operator can act on into one line and an exit code, not a traceback."""

    def invoke(self, ctx: click.Context):
        from connectors.kintone.errors import KintoneError
        from mappings import MappingError

        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            click.echo(str(exc), err=True)
            ctx.exit(EXIT_USAGE)
        except MappingError as exc:
            click.echo(f"mapping error: {exc}", err=True)
            ctx.exit(EXIT_USAGE)
        except redis.RedisError as exc:
            # Never print the URL: it may hold the Redis password.
            click.echo(f"cannot use Redis (KGBRIDGE_REDIS_URL): {type(exc).__name__}", err=True)
            ctx.exit(EXIT_FOUND_WRONG)
        except KintoneError as exc:
            click.echo(f"kintone: {exc}", err=True)
            ctx.exit(EXIT_FOUND_WRONG)


class _When(click.ParamType):
    name = "WHEN"

    def convert(self, value, param, ctx) -> datetime:
        from kgbridge.ops.when import WhenError, parse_when

        if isinstance(value, datetime):
            return value
        try:
            return parse_when(value)
        except WhenError as exc:
            self.fail(str(exc), param, ctx)


WHEN = _When()
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")


def _env(ctx: click.Context):
    from kgbridge.ops.env import OpsEnv

    if ctx.find_root().obj is None:
        ctx.find_root().obj = OpsEnv()
    return ctx.find_root().obj


def _print(as_json: bool, data, text: str) -> None:
    from kgbridge.ops.output import to_json

    click.echo(to_json(data) if as_json else text)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Operate kgbridge: the kintone ↔ GMO Sign ↔ G-Staff middleware.

    Ops commands use the service's KGBRIDGE_* settings (the same Redis and kintone), print a
    table or --json, and exit 0 on success, 1 when something was found wrong, 2 on bad usage.
    """


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def embedded(host: str, port: int) -> None:
    """Run receiver and worker in one process on fakes, with sample data (no Redis needed)."""
    try:
        from kgbridge import embedded as emb
    except ModuleNotFoundError as exc:
        if exc.name != "fakeredis":
            raise
        click.echo("kgbridge embedded needs the demo extra (an in-process Redis): pip install 'kgbridge[demo]' "
                   "(make run installs it)", err=True)
        sys.exit(EXIT_USAGE)

    emb.run(host, port)


# Sync gunicorn workers of `kgbridge serve`. kintone sends at most 60 notifications a minute per
# domain and one worker answers hundreds a second (docs/benchmarks.md); two keep one free while the
# other answers, and keep receiver + worker under the 150 MB memory target.
DEFAULT_WEB_WORKERS = 2
# Threads per web worker (webhooks/serving.py): a slow or stalled client holds one for at most
# KGBRIDGE_WEB_REQUEST_SECONDS, so 2 x 64 leave the receiver answering with a hundred such clients
# connected at once. Idle threads cost a little memory each, created only when needed.
DEFAULT_WEB_THREADS = 64


def gunicorn_args(bind: str, workers: int, app: str = "webhooks:create_app()",
                  threads: int = DEFAULT_WEB_THREADS) -> list[str]:
    """The gunicorn command line of `kgbridge serve` (the benchmarks and tests run the same).

    ``--preload``: the master builds the app once and the workers share its memory (about 25 MB
    less for two workers; the app opens no connection before a request). A bad setting stops the
    master at once instead of every worker in turn. New code needs a restart, not a HUP.
    The worker is gunicorn's gthread with a deadline per request (webhooks.serving.ReceiverWorker):
    slow clients cannot hold the receiver (issue 16). ``--keep-alive 0``: each connection is closed
    after its answer; a gthread worker keeps the connections it accepted, so a client or proxy that
    keeps them alive had one worker serve everything while the other idled (docs/benchmarks.md §1).
    """
    return ["gunicorn", "--bind", bind, "--workers", str(workers),
            "--worker-class", "webhooks.serving.ReceiverWorker", "--threads", str(threads),
            "--access-logfile", "-", "--timeout", "30", "--no-control-socket", "--preload", "--keep-alive", "0",
            "--logger-class", "kgbridge.gunicorn_logging.Logger", app]


@main.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True, envvar="KGBRIDGE_BIND")
@click.option("--workers", default=DEFAULT_WEB_WORKERS, show_default=True, type=int, envvar="KGBRIDGE_WEB_WORKERS")
@click.option("--threads", default=DEFAULT_WEB_THREADS, show_default=True, type=click.IntRange(1, 1000),
              envvar="KGBRIDGE_WEB_THREADS")
def serve(bind: str, workers: int, threads: int) -> None:
    """Run the webhook receiver under gunicorn (settings from KGBRIDGE_* variables).

    Settings and mappings are checked here first, so a bad start is one line and exit 2, not a
    traceback from every gunicorn worker. gunicorn runs from this interpreter (``python -m``), so
    ``/opt/kgbridge/.venv/bin/kgbridge serve`` works without the venv on PATH.
    """
    from mappings import load_mappings

    settings = _check_settings()
    load_mappings(settings.mapping_dir)
    args = [sys.executable, "-m", *gunicorn_args(bind, workers, threads=threads)]
    os.execv(sys.executable, args)


def console_args(bind: str) -> list[str]:
    """The console under gunicorn: one process (a random session key is per process), a few threads."""
    return [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", "1", "--threads", "4",
            "--access-logfile", "-", "--timeout", "30", "--no-control-socket", "--preload",
            "kgbridge.console:create_app()"]


@main.command()
@click.option("--bind", default="127.0.0.1:8090", show_default=True, envvar="KGBRIDGE_CONSOLE_BIND",
              help="Loopback by default: reach it through an SSH tunnel or a TLS proxy.")
def console(bind: str) -> None:
    """Run the web console: status, failed jobs and replay, a record's history, deadlines."""
    settings = load_settings()  # bad settings: exit 2 (see _Group)
    if settings.console_password is None:
        raise click.UsageError("set KGBRIDGE_CONSOLE_PASSWORD (at least 12 characters) to run the console")
    args = console_args(bind)
    os.execv(args[0], args)


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker with the scheduler and the periodic tasks (KGBRIDGE_* settings)."""
    import worker as worker_module

    sys.exit(worker_module.main(["--burst"] if burst else []))


@main.group()
def contracts() -> None:
    """Contract issuance through GMO Sign."""


@contracts.command("release-claim")
@click.argument("record_id")
@click.option("--app", "app_key", default="contracts", show_default=True, help="Mapping key of the app.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def release_claim(record_id: str, app_key: str, yes: bool) -> None:
    """Allow RECORD_ID to be sent again after a send whose outcome was unknown.

    Only after making sure in GMO Sign that no envelope exists for the contract's document code
    (shown in the failed job's reason). Then replay the failed job.
    """
    from flows.contract_issuance import release_claim as release
    from kgbridge.bootstrap import redis_client
    from kgbridge.ledger import Ledger
    from mappings import load_mappings

    settings = _check_settings()
    contracts_app = load_mappings(settings.mapping_dir)[app_key]
    if not yes:
        click.confirm(f"Did you check in GMO Sign that no envelope exists for {app_key} #{record_id}?", abort=True)
    try:
        claim = release(Ledger(redis_client(settings)), contracts_app, record_id)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"released the claim taken {claim.at} ({claim.state})" if claim else "no claim was held")


@contracts.command("confirm-signed")
@click.argument("record_id")
@click.option("--reason", required=True, help="What was checked in GMO Sign (logged; no names or addresses).")
@click.option("--document", "document_ids", multiple=True,
              help="A document id as GMO Sign shows it; only when none was stored at send time.")
@click.option("--app", "app_key", default="contracts", show_default=True, help="Mapping key of the app.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def confirm_signed(ctx, record_id: str, reason: str, document_ids: tuple[str, ...], app_key: str, yes: bool) -> None:
    """Conclude RECORD_ID after a person saw its envelope completed in GMO Sign.

    For a contract left 署名依頼中 because its documents did not prove the signing (its comment
    says so). Downloads the envelope's documents, attaches and archives them, runs 締結.
    """
    from connectors.errors import Permanent
    from flows.signature_status import confirm_signed as confirm
    from kgbridge import bootstrap

    env = _env(ctx)
    env.settings  # noqa: B018 (settings and logging first: a bad environment exits 2 here)
    if not yes:
        click.confirm(f"Did you see the envelope of {app_key} #{record_id} completed in GMO Sign?", abort=True)
    try:
        outcome = confirm(bootstrap.current_context(), app_key, record_id, reason, list(document_ids))
    except Permanent as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(outcome)


@contracts.command("check-open")
@json_option
def check_open(as_json: bool) -> None:
    """Check contracts still awaiting signature once, now.

    Applies envelope states GMO Sign did not announce where its API can be asked, and flags
    contracts past their 署名期限 to the sales rep. The workers run the same check every
    KGBRIDGE_OPEN_ENVELOPE_CHECK_SECONDS; running it meanwhile is safe (a Redis lock lets one run).
    """
    from flows.signature_status import check_open_envelopes
    from kgbridge import bootstrap, logs

    settings = _check_settings()
    logs.configure(settings.log_level, settings.log_format)
    summary = check_open_envelopes(bootstrap.build_context(settings))
    _print(as_json, _counts(summary), summary)


def _counts(summary: str) -> dict:
    """``"open=3 moved=1"`` as ``{"open": 3, "moved": 1}``; a word alone (``already_running``) as its outcome."""
    pairs = [part.split("=", 1) for part in summary.split()]
    if not pairs or any(len(p) != 2 or not p[1].isascii() or not p[1].isdigit() for p in pairs):
        return {"outcome": summary}
    return {"outcome": "checked", **{k: int(v) for k, v in pairs}}


@main.group()
def gmosign() -> None:
    """GMO Sign: the callback registration (docs/gmosign-sources.md)."""


def _gmosign_client(ctx):
    from kgbridge import bootstrap

    env = _env(ctx)
    settings = env.settings
    if settings.gmosign_mode != "gateway":
        raise click.ClickException(
            "KGBRIDGE_GMOSIGN_MODE is native: GMO Sign documents callback registration for the gateway only "
            "(CreateHookEnvelope). Ask GMO Sign to register the URL, or use the gateway mode.")
    return bootstrap.build_gmosign(settings), settings


@gmosign.command("connect")
@click.option("--url", "public_url", required=True,
              help="The receiver's public base URL, e.g. https://kgbridge.example.co.jp (HTTPS).")
@click.option("--name", default="kgbridge", show_default=True, help="The connection title GMO Sign keeps.")
@click.pass_context
def gmosign_connect(ctx, public_url: str, name: str) -> None:
    """Register https://<host>/webhooks/gmosign/<token> for completed envelopes (CreateHookEnvelope).

    Prints the connection id GMO Sign answers (keep it for `kgbridge gmosign disconnect`). The
    token never appears in the output.
    """
    from connectors.gmosign import GmoSignError

    client, settings = _gmosign_client(ctx)
    tokens = settings.gmosign_webhook_tokens()
    if not tokens:
        raise click.ClickException("KGBRIDGE_GMOSIGN_WEBHOOK_TOKEN is not set")
    if not public_url.startswith("https://"):
        raise click.ClickException("--url must start with https:// (the callback carries the secret path token)")
    base = public_url.rstrip("/")
    try:
        hook = client.connect_callback(name, f"{base}/webhooks/gmosign/{tokens[0]}", "Completed")
    except GmoSignError as exc:
        raise click.ClickException(f"GMO Sign: {exc}") from None
    click.echo(f"registered {base}/webhooks/gmosign/*** for {hook.events or 'Completed'} envelopes; "
               f"connection id {hook.connect_id}")


@gmosign.command("disconnect")
@click.argument("connect_id")
@click.pass_context
def gmosign_disconnect(ctx, connect_id: str) -> None:
    """Remove a callback registration (DeleteHook), e.g. after rotating the GMO Sign token."""
    from connectors.gmosign import GmoSignError

    client, _settings = _gmosign_client(ctx)
    try:
        client.delete_callback(connect_id)
    except GmoSignError as exc:
        raise click.ClickException(f"GMO Sign: {exc}") from None
    click.echo(f"removed connection {connect_id}")


def _check_settings():
    """The settings, or (through ``_Group``) one message naming each bad variable and exit 2."""
    return load_settings()


# -- jobs -------------------------------------------------------------------------------------

@main.group()
def jobs() -> None:
    """See why flow jobs failed, replay them once the cause is fixed, purge old ones."""


@jobs.command("failed")
@click.option("--flow", help="Only jobs of this flow, e.g. order_registration.")
@click.option("--since", type=WHEN, help="Only jobs that last failed since: 30m, 6h, 30d or an ISO date/time (JST).")
@json_option
@click.pass_context
def jobs_failed(ctx, flow, since, as_json) -> None:
    """List failed jobs: flow, app, record, attempts, first and last failure, the reason.

    Exits 1 when any failed job is listed, so a monitor can run it.
    """
    from kgbridge.ops import failed_jobs

    env = _env(ctx)
    rows = failed_jobs.list_failed(env.queue, flow=flow, since=since)
    _print(as_json, {"count": len(rows), "failed": [r.as_json() for r in rows]}, failed_jobs.render_failed(rows))
    ctx.exit(EXIT_FOUND_WRONG if rows else 0)


@jobs.command("list")
@click.option("--app", "app", required=True, help="Mapping key (e.g. orders) or kintone app id.")
@click.option("--record", "record_id", required=True, help="The kintone record number.")
@click.option("--state", type=click.Choice(["finished", "retrying", "failed"]), help="Only runs that ended so.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100))
@json_option
@click.pass_context
def jobs_list(ctx, app, record_id, state, limit, as_json) -> None:
    """What ran on one record, when, and what it decided (newest first)."""
    from kgbridge.ops import run_history

    env = _env(ctx)
    key = _app_key(env.mappings, app)
    runs = run_history.list_runs(env.connection, key, record_id, state=state, limit=limit)
    _print(as_json, {"app": key, "record_id": record_id, "runs": [r.as_json() for r in runs]},
           run_history.render(key, record_id, runs))


@jobs.command("show")
@click.argument("job_id")
@json_option
@click.pass_context
def jobs_show(ctx, job_id, as_json) -> None:
    """Show one job: its payload, every attempt's error and the last traceback."""
    from kgbridge.ops import failed_jobs

    details = failed_jobs.show(_env(ctx).queue, job_id)
    if details is None:
        click.echo(f"no job {job_id} (expired, purged or mistyped); see kgbridge jobs failed", err=True)
        ctx.exit(EXIT_FOUND_WRONG)
    _print(as_json, details.as_json(), failed_jobs.render_details(details))


@jobs.command("replay")
@click.argument("job_ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Every failed job (of --flow, when given).")
@click.option("--flow", help="With --all: only jobs of this flow.")
@click.option("--dry-run", is_flag=True, help="Say what would be replayed; change nothing.")
@json_option
@click.pass_context
def jobs_replay(ctx, job_ids, all_, flow, dry_run, as_json) -> None:
    """Run failed jobs again with a fresh retry budget (same job id, same retry policy).

    Reports each job; one that cannot be replayed does not stop the others (exit 1).
    """
    from kgbridge.ops import failed_jobs

    if bool(job_ids) == all_:
        raise click.UsageError("give job ids or --all (not both)")
    if flow and not all_:
        raise click.UsageError("--flow goes with --all")
    env = _env(ctx)
    ids = failed_jobs.select_for_replay(env.queue, ids=list(job_ids) if job_ids else None, flow=flow)
    results = failed_jobs.replay(env.queue, env.settings, ids, dry_run=dry_run)
    data = {"dry_run": dry_run, "results": [r.__dict__ for r in results],
            "replayed": sum(r.ok for r in results), "problems": sum(not r.ok for r in results)}
    _print(as_json, data, failed_jobs.render_replay(results, dry_run))
    ctx.exit(EXIT_FOUND_WRONG if any(not r.ok for r in results) else 0)


@jobs.command("purge")
@click.option("--older-than", "older_than", type=WHEN, required=True,
              help="Delete failed jobs whose last failure is older than this: 30d, 12h, or an ISO date/time.")
@click.option("--flow", help="Only jobs of this flow.")
@click.option("--yes", is_flag=True, help="Do not ask before deleting.")
@json_option
@click.pass_context
def jobs_purge(ctx, older_than, flow, yes, as_json) -> None:
    """Delete old failed jobs (they cannot be replayed afterwards). Asks first unless --yes."""
    from kgbridge.ops import failed_jobs

    env = _env(ctx)
    rows = failed_jobs.select_for_purge(env.queue, older_than=older_than, flow=flow)
    if not rows:
        _print(as_json, {"purged": [], "count": 0}, "No failed jobs match: nothing deleted.")
        return
    if not yes:
        click.echo(failed_jobs.render_purge_preview(rows), err=True)
        click.confirm(f"Delete these {len(rows)} failed job(s)?", abort=True, err=True)
    deleted = failed_jobs.purge(env.queue, [r.id for r in rows])
    _print(as_json, {"purged": deleted, "count": len(deleted)}, f"Deleted {len(deleted)} failed job(s).")


# -- status -----------------------------------------------------------------------------------

@main.command()
@json_option
@click.pass_context
def status(ctx, as_json) -> None:
    """What the service is doing now: queues, inbox, workers, periodic tasks, recent failures.

    Exit code for monitors: 0 ok, 1 warning (failures in the last 24 h, events set aside, a
    periodic task failed or overdue, a stale heartbeat), 2 critical (Redis unreachable, no live
    worker or dispatcher).
    """
    from kgbridge.ops import status as st

    env = _env(ctx)
    report = st.gather(env.connection, env.settings, mappings=env.mappings)
    _print(as_json, report.as_json(), st.render(report))
    ctx.exit(report.level)


@main.command("worker-check")
@click.option("--any-host", is_flag=True, help="Accept a live worker on any host, not only this one.")
@click.pass_context
def worker_check(ctx, any_host) -> None:
    """Exit 0 when a worker of this host is alive (RQ heartbeat and dispatcher), else 1.

    For Docker's HEALTHCHECK: CMD ["kgbridge", "worker-check"].
    """
    from kgbridge.ops import worker_check as wc

    env = _env(ctx)
    try:
        alive, line = wc.check(env.connection, env.settings, None if any_host else wc.this_host())
    except redis.RedisError as exc:
        alive, line = False, f"cannot use Redis (KGBRIDGE_REDIS_URL): {type(exc).__name__}"
    click.echo(line, err=not alive)
    ctx.exit(0 if alive else EXIT_FOUND_WRONG)


# -- events -----------------------------------------------------------------------------------

@main.group()
def events() -> None:
    """Feed saved webhook bodies through the receiver's checks (for notifications that never arrived)."""


@events.command("replay")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--kind", help="The kind of body, when it cannot be recognised (e.g. kintone).")
@json_option
@click.pass_context
def events_replay(ctx, files, kind, as_json) -> None:
    """Validate, de-duplicate and route each saved body as the receiver would, and enqueue its jobs.

    A body already received is a duplicate and changes nothing. Exits 1 if any file was rejected.
    """
    from kgbridge.ops import events as ev

    if kind and kind not in ev.EVENT_KINDS:
        raise click.BadParameter(f"unknown kind {kind!r}; known: {', '.join(sorted(ev.EVENT_KINDS))}",
                                 param_hint="--kind")
    env = _env(ctx)
    intake = env.intake()
    results = [ev.replay_file(f, intake, kind=kind, max_bytes=env.settings.max_body_bytes) for f in files]
    _print(as_json, {"results": [r.as_json() for r in results]}, ev.render(results))
    ctx.exit(EXIT_FOUND_WRONG if any(not r.ok for r in results) else 0)


@events.command("set-aside")
@click.option("--requeue", is_flag=True, help="Put every set-aside event back in the inbox for the dispatcher.")
@json_option
@click.pass_context
def events_set_aside(ctx, requeue, as_json) -> None:
    """List the events the dispatcher could not route (e.g. an app no longer mapped); exits 1 if any.

    With --requeue, after fixing the cause, they go back to the inbox and are dispatched again.
    """
    from kgbridge.ops import set_aside

    env = _env(ctx)
    if requeue:
        moved = set_aside.requeue_set_aside(env.connection, env.settings)
        _print(as_json, {"requeued": moved}, f"{moved} event(s) put back in the inbox.")
        return
    rows = set_aside.list_set_aside(env.connection, env.settings)
    _print(as_json, {"set_aside": rows}, set_aside.render(rows))
    ctx.exit(EXIT_FOUND_WRONG if rows else 0)


# -- mapping ----------------------------------------------------------------------------------

@main.group()
def mapping() -> None:
    """Check the app mappings against the live kintone apps."""


@mapping.command("check")
@click.argument("app", required=False)
@json_option
@click.pass_context
def mapping_check(ctx, app, as_json) -> None:
    """Report every mapped field code, status or action missing from the app or of the wrong type.

    APP is a mapping key (e.g. orders) or a kintone app id; without it, every mapped app.
    Exits 1 when anything does not match.
    """
    from kgbridge.ops import mapping_check as mc

    env = _env(ctx)
    key = _app_key(env.mappings, app)
    reports = mc.check_all(env.kintone, env.mappings, key)
    problems = sum(len(r.problems) for r in reports)
    _print(as_json, {"apps": [r.as_json() for r in reports], "problems": problems}, mc.render(reports))
    ctx.exit(EXIT_FOUND_WRONG if problems else 0)


def _app_key(mappings, app: str | None) -> str | None:
    if app is None or app in mappings:
        return app
    by_id = mappings.by_app_id(app)
    if by_id is not None:
        return by_id.key
    known = ", ".join(f"{m.key} ({m.id})" for m in mappings)
    raise click.BadParameter(f"no mapping for {app!r}; known apps: {known}", param_hint="APP")


# -- quota ------------------------------------------------------------------------------------

@main.command()
@json_option
@click.pass_context
def quota(ctx, as_json) -> None:
    """Today's kintone API calls per app (Japan date) against the daily quota.

    Past KGBRIDGE_QUOTA_SLOWDOWN_SHARE on any app the non-urgent sweeps run slower; exits 1 then.
    """
    from kgbridge import quota as q
    from kgbridge.ops.output import table

    env = _env(ctx)
    data = q.status(env.connection, env.settings, env.mappings)
    rows = [[a["app"], a["app_id"], f"{a['calls']:,}", f"{a['quota']:,}", f"{a['share']:.1%}"] for a in data["apps"]]
    state = (f"non-urgent sweeps ({', '.join(data['non_urgent'])}) run every {data['slowdown_factor']}th slot: "
             f"an app is past {data['slowdown_share']:.0%} of its quota" if data["slowed"]
             else f"every sweep at its pace (slows past {data['slowdown_share']:.0%})")
    _print(as_json, data, f"{table(['APP', 'APP ID', 'CALLS TODAY', 'QUOTA', 'SHARE'], rows)}\n\n{data['day']} (JST): {state}.")
    if data["slowed"]:
        ctx.exit(EXIT_FOUND_WRONG)

# -- apps -------------------------------------------------------------------------------------

@main.group()
def apps() -> None:
    """Set up a company's kintone: the apps a mapping folder describes."""


@apps.command("create")
@click.option("--mapping-dir", "folder", required=True, type=click.Path(file_okay=False, exists=True),
              help="A copy of mappings/default (or your own): the ids of the new apps are written into it.")
@click.option("--base-url", envvar="KGBRIDGE_KINTONE_BASE_URL", required=True, help="e.g. https://example.cybozu.com")
@click.option("--login", required=True, help="A kintone user allowed to create apps (app management needs a password, "
                                             "not an API token).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input instead of asking.")
@click.option("--space", help="Create the apps in this kintone space (its id).")
@click.option("--public-url", default="https://<your host>", show_default=True,
              help="Where kintone reaches the receiver, for the webhook URL printed at the end.")
@json_option
@click.pass_context
def apps_create(ctx, folder, base_url, login, password_stdin, space, public_url, as_json) -> None:
    """Create and deploy every app of the mapping folder, with fields, options, lookups and process
    management, and write the new app ids into the mapping files.

    Safe to run again after a failure: what was already created is reused. kintone has no API for
    webhooks or API tokens: the command ends with what to set in kintone's screens.
    """
    from pathlib import Path

    from connectors.kintone.admin import LiveKintoneAdmin
    from kgbridge.ops import apps_create as ac
    from mappings import load_mappings

    root = ctx.find_root()
    admin = getattr(root.obj, "kintone_admin_", None) if root.obj is not None else None
    if admin is None:
        password = sys.stdin.readline().rstrip("\n") if password_stdin else click.prompt(
            f"kintone password of {login}", hide_input=True, err=True)
        admin = LiveKintoneAdmin(base_url, login, password)
    path = Path(folder)
    try:
        created = ac.create_apps(admin, load_mappings(path), path, space=space)
    except ac.AppsCreateError as exc:
        click.echo(f"apps create: {exc}", err=True)
        ctx.exit(EXIT_FOUND_WRONG)
    url = f"{public_url.rstrip('/')}/webhooks/kintone/<KGBRIDGE_WEBHOOK_TOKEN>"
    _print(as_json, {"apps": [c.as_json() for c in created], "webhook_url": url}, ac.render(created, url))


# -- reconcile --------------------------------------------------------------------------------

@main.command()
@click.option("--app", "app", help="Only this app (mapping key or kintone app id).")
@click.option("--since", type=WHEN, help="Look at records changed since: 30m, 6h, 3d or an ISO date/time (JST). "
                                         "Default: the last sweep's cursor.")
@json_option
@click.pass_context
def reconcile(ctx, app, since, as_json) -> None:
    """Find records in a trigger state whose webhook never arrived and enqueue their flow jobs.

    Safe while webhooks arrive (the same job ids de-duplicate). The workers also run this every
    KGBRIDGE_RECONCILE_INTERVAL_SECONDS. Exits 1 when an app could not be swept.
    """
    from kgbridge.ops import reconcile as rc

    env = _env(ctx)
    key = _app_key(env.mappings, app)
    reports = rc.sweep(settings=env.settings, mappings=env.mappings, kintone=env.kintone,
                       connection=env.connection, queue=env.queue, app_key=key, since=since)
    _print(as_json, {"apps": [r.as_json() for r in reports]}, rc.render(reports))
    ctx.exit(EXIT_FOUND_WRONG if any(not r.ok for r in reports) else 0)


# -- report (kgbridge/ops/retention.py) -------------------------------------------------------------

def _register_reports() -> None:
    from kgbridge.ops.retention import report

    main.add_command(report)


_register_reports()


if __name__ == "__main__":
    main()
