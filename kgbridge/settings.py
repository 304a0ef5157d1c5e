"""All settings, from ``KGBRIDGE_*`` environment variables, validated once at start.

Secrets are ``SecretStr``: they print as ``**********`` in reprs, logs and dumps, and are
unwrapped only where a request is made.
"""

from __future__ import annotations

import difflib
import json
import os
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import unquote

from pydantic import Field, IPvAnyNetwork, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings import SettingsError as _SourceError

from kgbridge import logs

IPNetwork = IPvAnyNetwork
# host + basePath of GMO's certified Power Platform connector (docs/gmosign-sources.md)
GMOSIGN_GATEWAY_URL = "https://api.gmo-exapi.net/gmosign"
DEFAULT_MAPPING_DIR = Path(__file__).resolve().parent.parent / "mappings" / "default"


class ConnectorMode(str, Enum):
    LIVE = "live"
    FAKE = "fake"


class SettingsError(Exception):
    """Raised at start when the environment is incomplete or wrong; names every bad value."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KGBRIDGE_", extra="ignore", frozen=True)

    # Where jobs and de-duplication state live. Secret: the URL may hold the Redis password
    # (redis://:PASSWORD@host:6379/0); read it with redis_dsn().
    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")
    # live: real kintone / GMO Sign / G-Staff over HTTP; fake: in-memory stand-ins.
    connector_mode: ConnectorMode = ConnectorMode.LIVE
    # Folder holding one TOML mapping per kintone app.
    mapping_dir: Path = DEFAULT_MAPPING_DIR

    # kintone
    kintone_base_url: str = ""
    kintone_guest_space_id: str | None = None
    # JSON object: mapping app key (e.g. "orders") -> API token, or a list of tokens: the app's own
    # token first, then only tokens of other apps its lookups read, each also given as that app's
    # own (kintone refuses two tokens of one app in one request, GAIA_DA03).
    kintone_api_tokens: dict[str, SecretStr | list[SecretStr]] = Field(default_factory=dict)
    # The app key whose own token file.json (file upload/download) carries: exactly one token.
    kintone_file_app: str = "contracts"
    kintone_timeout_seconds: float = Field(default=10.0, gt=0)
    kintone_retry_budget_seconds: float = Field(default=30.0, ge=0)

    # G-Staff: the company's service speaking docs/gstaff-openapi.yaml.
    gstaff_base_url: str = ""
    gstaff_api_key: SecretStr | None = None
    gstaff_timeout_seconds: float = Field(default=15.0, gt=0)
    gstaff_retry_budget_seconds: float = Field(default=30.0, ge=0)

    # The secret path segment kintone calls: /webhooks/kintone/<token>. A second token may be
    # set while rotating.
    webhook_token: SecretStr | None = None
    webhook_token_next: SecretStr | None = None
    max_body_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    # Seconds a client has to send one whole request to `kgbridge serve` and take its answer; a slow
    # or stalled client is cut off then, so it holds one thread at most that long (webhooks/serving.py).
    web_request_seconds: float = Field(default=10.0, gt=0, le=300)
    # How long a notification id is remembered (kintone may deliver twice; replays). At least an
    # hour: a shorter memory would let a late duplicate through.
    dedupe_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=3600)

    # GMO Sign (電子印鑑GMOサイン), docs/gmosign-sources.md. "gateway" (the default) is the documented
    # API: the gateway of GMO's certified connector, HTTP Basic with customer id and secret key.
    # "native" (api.gmosign.com with an access token from an unpublished token endpoint) must be
    # chosen explicitly and needs its base URL.
    gmosign_mode: Literal["gateway", "native"] = "gateway"
    gmosign_base_url: str = ""  # gateway: https://api.gmo-exapi.net/gmosign when empty
    gmosign_customer_id: str = ""
    gmosign_secret_key: SecretStr | None = None
    gmosign_token_path: str = "/customer/token"  # noqa: S105 (native mode only; a URL path, assumed)
    gmosign_timeout_seconds: float = Field(default=30.0, gt=0)
    gmosign_retry_budget_seconds: float = Field(default=30.0, ge=0)
    # The secret path segment GMO Sign calls: /webhooks/gmosign/<token>.
    gmosign_webhook_token: SecretStr | None = None
    # A PEM file of the CA certificates GMO Sign's document signatures must chain to. Unset: a
    # signed PDF proves completion by integrity, whole-file coverage and one valid signature per
    # signer only (flows/signature_proof.py, docs/gmosign-sources.md).
    gmosign_signature_trust_roots: Path | None = None
    # Where GMO Sign's callbacks may come from (comma-separated addresses or networks, e.g.
    # 203.0.113.0/28); empty: any source with the right path token. GMO Sign publishes no list.
    gmosign_callback_allowed_ips: Annotated[list[IPNetwork], NoDecode] = Field(default_factory=list)
    # Reverse proxies in front of the receiver whose X-Forwarded-For is believed (same format).
    trusted_proxies: Annotated[list[IPNetwork], NoDecode] = Field(default_factory=list)
    # How long a callback's envelope that no contract holds is remembered as unknown (then a new
    # callback for it costs one more lookup), and how often pending envelopes are looked up.
    gmosign_unknown_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    gmosign_lookup_seconds: int = Field(default=60, ge=0)

    # RQ
    queue_name: str = "kgbridge"
    # Comma-separated seconds, e.g. 10,60,300 (a JSON list works too).
    retry_intervals: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [10, 60, 300, 1800, 7200])
    job_timeout_seconds: int = Field(default=180, gt=0)
    result_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    failure_ttl_seconds: int = Field(default=30 * 24 * 3600, gt=0)
    # How a dead worker's job is found again (README "When a worker dies"). While a job runs,
    # its worker refreshes a heartbeat every worker_heartbeat_seconds; a job whose heartbeat is
    # older than worker_dead_after_seconds is abandoned, and the next maintenance pass (every
    # worker_maintenance_seconds, by any worker of the queue) puts it back on the queue.
    worker_heartbeat_seconds: int = Field(default=30, ge=1)
    worker_dead_after_seconds: int = Field(default=90, ge=2)
    worker_maintenance_seconds: int = Field(default=60, ge=1)

    # Periodic tasks (kgbridge/periodic.py): seconds between runs, once per interval however many
    # workers run; 0 turns a task off. The reconcile sweep finds records whose webhook never arrived.
    reconcile_interval_seconds: int = Field(default=300, ge=0)
    # Work found in bulk (a reconcile page, held orders released by a credit approval): from this many
    # records of one flow on, they are decided per page in one job with bulk kintone calls (flows/bulk.py).
    bulk_min_records: int = Field(default=20, ge=1)
    # kintone's API quota per app per day (kgbridge/quota.py): 10,000 on the Standard course, 100,000
    # on Wide. Past the share (0 < share ≤ 1), the non-urgent sweeps run every factor-th slot only.
    kintone_daily_quota: int = Field(default=10_000, ge=1)
    quota_slowdown_share: float = Field(default=0.6, gt=0, le=1)
    quota_slowdown_factor: int = Field(default=4, ge=1)

    # Monitoring (README "Metrics and health checks"). When set, the receiver's /metrics wants
    # "Authorization: Bearer <token>". A worker serves its metrics on worker_metrics_port (0: off)
    # at worker_metrics_bind (loopback unless a scraper elsewhere needs it).
    metrics_token: SecretStr | None = None
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    worker_metrics_bind: str = "127.0.0.1"

    # The web console (kgbridge console; README "The web console"): its one password (at least 12
    # characters), the key that signs its session cookie (random per process when unset: sessions
    # end with a restart), Secure cookies when it is reached over HTTPS, how long a login lasts.
    console_password: SecretStr | None = None
    console_secret_key: SecretStr | None = None
    console_cookie_secure: bool = False
    console_session_hours: int = Field(default=8, ge=1, le=24 * 7)

    log_level: str = "INFO"
    log_format: str = "json"  # json | console

    # The business calendar (deadlines, reminders): company days off on top of weekends and
    # Japanese public holidays. Comma-separated dates, ranges (a..b) and yearly MM-DD days.
    company_holidays: Annotated[list[str], NoDecode] = Field(default_factory=list)
    year_end_break: str = "12-29..01-03"  # inclusive; empty or "none" for no break
    business_hours: str = "09:00-18:00"  # reminders are posted only then, on business days
    # More periodic tasks (0: off, else at least 60): the deadline sweep (flows/deadlines.py), the
    # 稟議 delay sweep (flows/workflow.py sweep_delays) and the check of contracts awaiting signature
    # (flows/signature_status.py check_open_envelopes).
    deadline_sweep_seconds: int = Field(default=1800, ge=0)
    workflow_delay_sweep_seconds: int = Field(default=3600, ge=0)
    open_envelope_check_seconds: int = Field(default=3600, ge=0)
    # Quiet hours (flows/held_messages.py): how often comments held outside working time are
    # looked at; they go out at the first look in working time.
    held_message_seconds: int = Field(default=300, ge=0)
    # 延長率 and 終了率 (flows/retention.py keep_kpi): how often the previous month's figures are
    # measured and upserted into the KPI app. Daily by default (slots count from the epoch: 09:00 in
    # Tokyo); a run with nothing new writes nothing. Two kintone queries a run.
    retention_kpi_seconds: int = Field(default=24 * 3600, ge=0)
    # Tests and drills only: the flows' clock starts at this time (ISO 8601 with an offset, e.g.
    # 2026-12-01T10:00:00+09:00) when the process starts and runs on from there. Empty: the real clock.
    clock_start: datetime | None = None

    @field_validator("retry_intervals", mode="before")
    @classmethod
    def _parse_intervals(cls, value):
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("retry_intervals")
    @classmethod
    def _positive_intervals(cls, value: list[int]) -> list[int]:
        if not value or any(v < 0 for v in value):
            raise ValueError("give one or more non-negative numbers of seconds, e.g. 10,60,300")
        return value

    @field_validator("webhook_token", "webhook_token_next", "gmosign_webhook_token", "metrics_token",
                     "console_secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (it is the only proof a call is genuine)")
        return value

    @field_validator("gmosign_callback_allowed_ips", "trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value):
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("gmosign_signature_trust_roots")
    @classmethod
    def _readable_roots(cls, value: Path | None) -> Path | None:
        from flows.signature_proof import load_trust_roots

        load_trust_roots(value)  # a ValueError naming the file's problem
        return value

    @field_validator("console_password")
    @classmethod
    def _a_real_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 12:
            raise ValueError("must be at least 12 characters")
        return value

    @field_validator("company_holidays", mode="before")
    @classmethod
    def _split_holidays(cls, value):
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("company_holidays")
    @classmethod
    def _known_holidays(cls, value: list[str]) -> list[str]:
        from flows.business_calendar import parse_company_holidays

        parse_company_holidays(value)
        return value

    @field_validator("year_end_break")
    @classmethod
    def _known_year_end(cls, value: str) -> str:
        from flows.business_calendar import parse_year_end

        parse_year_end(value)
        return value

    @field_validator("business_hours")
    @classmethod
    def _known_hours(cls, value: str) -> str:
        from flows.business_calendar import parse_business_hours

        parse_business_hours(value)
        return value

    @field_validator("clock_start")
    @classmethod
    def _aware_clock(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("give a time with its offset, e.g. 2026-12-01T10:00:00+09:00")
        return value

    @field_validator("deadline_sweep_seconds", "workflow_delay_sweep_seconds", "open_envelope_check_seconds",
                     "held_message_seconds", "reconcile_interval_seconds", "gmosign_lookup_seconds",
                     "retention_kpi_seconds")
    @classmethod
    def _off_or_a_minute(cls, value: int) -> int:
        # Each run costs at least one kintone call per app it reads: every 60 s that is 1,440 of the
        # app's 10,000 calls a day; every 5 s it would be 17,280, more than the whole quota.
        if 0 < value < 60:
            raise ValueError("give 0 (off) or at least 60 seconds (each run costs kintone calls "
                             "from the app's daily quota of 10,000)")
        return value

    @field_validator("kintone_api_tokens")
    @classmethod
    def _one_token_per_app_in_a_header(cls, value: dict) -> dict:
        """Every token after an app's own must be another app's own: otherwise kintone may see
        two tokens of one app in one header (GAIA_DA03), and we cannot tell which app it serves."""
        def listed(v) -> list[str]:
            return [t.get_secret_value() for t in (v if isinstance(v, list) else [v])]
        own = {key: listed(v)[0] for key, v in value.items() if listed(v)}
        for key, v in value.items():
            others = {own[k] for k in own if k != key} - {own.get(key)}
            strays = [i for i, token in enumerate(listed(v)[1:], start=2) if token not in others]
            if strays:
                raise ValueError(
                    f"{key!r}: token no. {', '.join(map(str, strays))} is not another app's own token. "
                    "A request may carry one token per app (kintone GAIA_DA03): list the app's own token first, "
                    "then only tokens of apps its lookups read, each also given under that app's key")
        return value

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in ("json", "console"):
            raise ValueError("must be 'json' or 'console'")
        return value

    @model_validator(mode="after")
    def _live_needs_every_connector(self) -> "Settings":
        """In live mode, name every missing connection setting at once."""
        if not self.mapping_dir.is_dir():
            raise ValueError(f"KGBRIDGE_MAPPING_DIR {self.mapping_dir} is not a folder")
        if self.worker_dead_after_seconds <= self.worker_heartbeat_seconds:
            raise ValueError("KGBRIDGE_WORKER_DEAD_AFTER_SECONDS must be larger than KGBRIDGE_WORKER_HEARTBEAT_SECONDS")
        if self.connector_mode is not ConnectorMode.LIVE:
            return self
        problems = []
        if not self.kintone_base_url:
            problems.append("KGBRIDGE_KINTONE_BASE_URL is required in live mode")
        if not self.kintone_api_tokens:
            problems.append("KGBRIDGE_KINTONE_API_TOKENS is required in live mode")
        if not self.gstaff_base_url:
            problems.append("KGBRIDGE_GSTAFF_BASE_URL is required in live mode "
                            "(the G-Staff service of docs/gstaff-openapi.yaml)")
        elif not self.gstaff_base_url.startswith(("https://", "http://")):
            problems.append("KGBRIDGE_GSTAFF_BASE_URL must start with https://")
        if self.gstaff_api_key is None or not self.gstaff_api_key.get_secret_value().strip():
            problems.append("KGBRIDGE_GSTAFF_API_KEY is required in live mode")
        for name in ("gmosign_customer_id", "gmosign_secret_key", "gmosign_webhook_token"):
            if not getattr(self, name):
                problems.append(f"KGBRIDGE_{name.upper()} is required in live mode")
        if self.gmosign_mode == "gateway" and "api.gmosign.com" in self.gmosign_base_url:
            problems.append("KGBRIDGE_GMOSIGN_BASE_URL names the native API but KGBRIDGE_GMOSIGN_MODE is gateway "
                            "(HTTP Basic): set KGBRIDGE_GMOSIGN_MODE=native, or leave the URL empty for the gateway")
        if self.gmosign_mode == "native" and not self.gmosign_base_url:
            problems.append("KGBRIDGE_GMOSIGN_BASE_URL is required in live mode with KGBRIDGE_GMOSIGN_MODE=native "
                            "(the native API's address is not published; e.g. https://api.gmosign.com)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def redis_dsn(self) -> str:
        """The Redis URL, password included, for the client only (never log it)."""
        url = self.redis_url  # model_copy(update=...) may have put a plain str here
        return url.get_secret_value() if isinstance(url, SecretStr) else str(url)

    def secret_values(self) -> list[str]:
        """Every configured secret, as logs must never show it (kgbridge.logs redacts these)."""
        from urllib.parse import urlsplit

        values = [v.get_secret_value() for v in (self.webhook_token, self.webhook_token_next,
                                                  self.gmosign_webhook_token, self.gmosign_secret_key,
                                                  self.gstaff_api_key) if v is not None]
        for app_key in self.kintone_api_tokens:
            values += self.tokens_for(app_key)
        try:
            password = urlsplit(self.redis_dsn()).password
        except ValueError:
            password = None
        # As written in the URL (percent-encoded) and as the client sends it (decoded).
        return values + ([password, unquote(password)] if password else [])

    def gmosign_url(self) -> str:
        """The GMO Sign API base URL: the setting, else (gateway mode) the documented gateway."""
        if self.gmosign_base_url:
            return self.gmosign_base_url
        return GMOSIGN_GATEWAY_URL if self.gmosign_mode == "gateway" else ""

    def webhook_tokens(self) -> list[str]:
        return [t.get_secret_value() for t in (self.webhook_token, self.webhook_token_next) if t]

    def gmosign_webhook_tokens(self) -> list[str]:
        return [self.gmosign_webhook_token.get_secret_value()] if self.gmosign_webhook_token else []

    def tokens_for(self, app_key: str) -> list[str]:
        value = self.kintone_api_tokens.get(app_key)
        if value is None:
            return []
        values = value if isinstance(value, list) else [value]
        return [v.get_secret_value() for v in values]


# KGBRIDGE_* variables read by something other than Settings: the `kgbridge serve`/`console` options and
# the test suite's own. Any other KGBRIDGE_* name is a typo (a misspelt KGBRIDGE_WEBHOOK_TOKEN_NEXT
# would silently break a token rotation), so the start is refused.
OTHER_VARIABLES = frozenset({
    "KGBRIDGE_BIND", "KGBRIDGE_WEB_WORKERS", "KGBRIDGE_WEB_THREADS",
    "KGBRIDGE_CONSOLE_BIND",  # `kgbridge console --bind`
    "KGBRIDGE_TEST_REDIS_URL", "KGBRIDGE_TEST_KEEP_LOGS", "KGBRIDGE_TEST_FUZZ_SEED", "KGBRIDGE_TEST_FUZZ_BODIES",
})


def known_variables() -> frozenset[str]:
    return frozenset(f"KGBRIDGE_{name.upper()}" for name in Settings.model_fields) | OTHER_VARIABLES


def unknown_variables(environ=None) -> list[str]:
    """Every KGBRIDGE_* name in the environment that no part of kgbridge reads, with a suggestion."""
    environ = os.environ if environ is None else environ
    known = known_variables()
    lines = []
    for name in sorted(environ):
        if not name.upper().startswith("KGBRIDGE_") or name in known:
            continue
        close = difflib.get_close_matches(name.upper(), known, n=1, cutoff=0.75)
        lines.append(f"{name}: not a kgbridge setting" + (f" (did you mean {close[0]}?)" if close else ""))
    return lines


def load_settings(**overrides) -> Settings:
    """Read and validate the environment; raise SettingsError naming each bad value."""
    unknown = unknown_variables()
    if unknown:
        # The value is never echoed: it may be a secret.
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(unknown))
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = "_".join(str(p) for p in err["loc"]).upper()
            name = f"KGBRIDGE_{loc}" if loc else "settings"
            # Never echo the input: it may be a secret.
            lines.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None
    except _SourceError as exc:
        # e.g. a JSON-valued variable that is not JSON; the message names the variable only.
        raise SettingsError(f"invalid configuration:\n  {str(exc).split(':')[0]} (expected JSON)") from None
    logs.redact_secrets(settings.secret_values())  # from now on, in every log line of this process
    return settings


def describe(settings: Settings) -> str:
    """A one-line, secret-free summary for the start-up log."""
    return json.dumps(
        {
            "connector_mode": settings.connector_mode.value,
            "mapping_dir": str(settings.mapping_dir),
            "queue": settings.queue_name,
            "kintone_apps_with_tokens": sorted(settings.kintone_api_tokens),
        },
        ensure_ascii=False,
    )
