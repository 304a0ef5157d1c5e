"""The composition root: builds settings, Redis, mappings and connectors once per process.

Nothing does I/O at import time. Web and worker processes call ``build_context`` at start;
jobs reach the same objects through ``current_context``.
"""

from __future__ import annotations

from datetime import UTC, datetime

import redis

from connectors.gmosign.interface import GmoSignClient
from connectors.kintone.interface import KintoneClient
from flows.business_calendar import BusinessCalendar, parse_business_hours, parse_company_holidays, parse_year_end
from flows.context import FlowContext, tokyo_now
from flows.signature_proof import load_trust_roots
from kgbridge.jobs import flow_enqueuer, many_enqueuer
from kgbridge.ledger import Ledger
from kgbridge.quota import CallCounter
from kgbridge.settings import ConnectorMode, Settings, load_settings
from mappings import Mappings, load_mappings

_context: FlowContext | None = None
_settings: Settings | None = None


def redis_client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_dsn(), socket_timeout=5, socket_connect_timeout=2,
                                health_check_interval=30)


def build_kintone(settings: Settings, mappings: Mappings, connection: redis.Redis | None = None) -> KintoneClient:
    """The kintone client; live, its requests are counted per app and day (kgbridge/quota.py) in Redis."""
    if settings.connector_mode is ConnectorMode.FAKE:
        from connectors.kintone.fake import FakeKintone

        return FakeKintone.from_mappings(mappings)
    from connectors.kintone.live import LiveKintoneClient

    tokens = {m.id: settings.tokens_for(m.key) for m in mappings if settings.tokens_for(m.key)}
    files = settings.kintone_file_app
    return LiveKintoneClient(
        settings.kintone_base_url,
        tokens,
        file_app=mappings[files].id if files in mappings and mappings[files].id in tokens else None,
        guest_space_id=settings.kintone_guest_space_id,
        timeout=settings.kintone_timeout_seconds,
        retry_budget=settings.kintone_retry_budget_seconds,
        on_request=CallCounter(connection) if connection is not None else None,
    )


def build_gstaff(settings: Settings):
    if settings.connector_mode is ConnectorMode.FAKE:
        from connectors.gstaff.fake import FakeGStaff

        return FakeGStaff.with_samples()
    from connectors.gstaff.live import LiveGStaffClient

    return LiveGStaffClient(
        settings.gstaff_base_url,
        settings.gstaff_api_key.get_secret_value() if settings.gstaff_api_key else "",
        timeout=settings.gstaff_timeout_seconds,
        retry_budget=settings.gstaff_retry_budget_seconds,
    )


def build_calendar(settings: Settings) -> BusinessCalendar:
    """Weekends and public holidays, plus the company's days off and hours from the settings."""
    dates, annual = parse_company_holidays(settings.company_holidays)
    morning, evening = parse_business_hours(settings.business_hours)
    return BusinessCalendar(company_holidays=dates, annual_holidays=annual,
                            year_end=parse_year_end(settings.year_end_break),
                            business_morning=morning, business_evening=evening)


def build_gmosign(settings: Settings) -> GmoSignClient:
    if settings.connector_mode is ConnectorMode.FAKE:
        from connectors.gmosign.fake import FakeGmoSign

        return FakeGmoSign()
    from connectors.gmosign.live import LiveGmoSignClient

    return LiveGmoSignClient(
        settings.gmosign_url(),
        settings.gmosign_customer_id,
        settings.gmosign_secret_key.get_secret_value() if settings.gmosign_secret_key else "",
        auth="basic" if settings.gmosign_mode == "gateway" else "token",
        token_path=settings.gmosign_token_path,
        timeout=settings.gmosign_timeout_seconds,
        retry_budget=settings.gmosign_retry_budget_seconds,
    )


def build_clock(settings: Settings):
    """The flows' clock: the real one, or one that started at KGBRIDGE_CLOCK_START (tests, drills)."""
    if settings.clock_start is None:
        return tokyo_now
    offset = settings.clock_start - datetime.now(UTC)
    return lambda: datetime.now(UTC) + offset


def build_context(settings: Settings | None = None, *, connection: redis.Redis | None = None,
                  kintone: KintoneClient | None = None) -> FlowContext:
    """Build (and remember for this process) everything a flow needs, and the settings."""
    global _context, _settings
    settings = settings or load_settings()
    _settings = settings
    mappings = load_mappings(settings.mapping_dir)
    connection = connection or redis_client(settings)
    _context = FlowContext(
        kintone=kintone or build_kintone(settings, mappings, connection),
        mappings=mappings,
        ledger=Ledger(connection),
        gstaff=build_gstaff(settings),
        calendar=build_calendar(settings),
        clock=build_clock(settings),
        enqueue=flow_enqueuer(connection, settings),
        enqueue_many=many_enqueuer(connection, settings),
        gmosign=build_gmosign(settings),
        signature_trust_roots=tuple(load_trust_roots(settings.gmosign_signature_trust_roots)),
    )
    return _context


def set_context(context: FlowContext | None, settings: Settings | None = None) -> None:
    global _context, _settings
    _context, _settings = context, settings


def current_context() -> FlowContext:
    return _context if _context is not None else build_context()


def current_settings() -> Settings:
    """The settings this process was built with (read from the environment when it was not)."""
    return _settings if _settings is not None else load_settings()
