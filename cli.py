"""``kgbridge``: run and operate the service.

    kgbridge embedded            the whole service in one process with fakes (try it out)
    kgbridge serve               the webhook receiver under gunicorn
    kgbridge worker              an RQ worker with the scheduler
    kgbridge contracts check-open   the scheduled check of contracts awaiting signature
    kgbridge contracts release-claim RECORD   allow a re-send after a person checked GMO Sign
"""

from __future__ import annotations

import os
import sys

import click

from kgbridge.settings import SettingsError, load_settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Operate kgbridge: the kintone ↔ GMO Sign ↔ G-Staff middleware."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
def embedded(host: str, port: int) -> None:
    """Run receiver and worker in one process on fakes, with sample data (no Redis needed)."""
    from kgbridge import embedded as emb

    emb.run(host, port)


# Sync gunicorn workers of `kgbridge serve`. kintone sends at most 60 notifications a minute per
# domain and one worker answers hundreds a second (docs/benchmarks.md); two keep one free while the
# other answers, and keep receiver + worker under the 150 MB memory target.
DEFAULT_WEB_WORKERS = 2


def gunicorn_args(bind: str, workers: int, app: str = "webhooks:create_app()") -> list[str]:
    """The gunicorn command line of `kgbridge serve` (the benchmarks and tests run the same).

    ``--preload``: the master builds the app once and the workers share its memory (about 25 MB
    less for two workers; the app opens no connection before a request). A bad setting stops the
    master at once instead of every worker in turn. New code needs a restart, not a HUP.
    """
    return ["gunicorn", "--bind", bind, "--workers", str(workers), "--access-logfile", "-",
            "--timeout", "30", "--no-control-socket", "--preload", app]


@main.command()
@click.option("--bind", default="127.0.0.1:8000", show_default=True, envvar="KGBRIDGE_BIND")
@click.option("--workers", default=DEFAULT_WEB_WORKERS, show_default=True, type=int, envvar="KGBRIDGE_WEB_WORKERS")
def serve(bind: str, workers: int) -> None:
    """Run the webhook receiver under gunicorn (settings from KGBRIDGE_* variables)."""
    _check_settings()
    args = gunicorn_args(bind, workers)
    os.execvp(args[0], args)


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker with the scheduler (settings from KGBRIDGE_* variables)."""
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


@contracts.command("check-open")
def check_open() -> None:
    """Check contracts still awaiting signature once (schedule it, e.g. hourly from cron).

    Applies envelope states GMO Sign did not announce where its API can be asked, and flags
    contracts past their 署名期限 to the sales rep. Safe to run from several hosts: one runs.
    """
    from flows.signature_status import check_open_envelopes
    from kgbridge import bootstrap, logs

    settings = _check_settings()
    logs.configure(settings.log_level, settings.log_format)
    click.echo(check_open_envelopes(bootstrap.build_context(settings)))


def _check_settings():
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":
    main()
