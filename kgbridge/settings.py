"""All settings, from ``KGBRIDGE_*`` environment variables, validated once at start.

Secrets are ``SecretStr``: they print as ``**********`` in reprs, logs and dumps, and are
unwrapped only where a request is made.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MAPPING_DIR = Path(__file__).resolve().parent.parent / "mappings" / "default"


class ConnectorMode(str, Enum):
    LIVE = "live"
    FAKE = "fake"


class SettingsError(Exception):
    """Raised at start when the environment is incomplete or wrong; names every bad value."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KGBRIDGE_", extra="ignore", frozen=True)

    # Where jobs and de-duplication state live.
    redis_url: str = "redis://127.0.0.1:6379/0"
    # live: real kintone / GMO Sign / G-Staff over HTTP; fake: in-memory stand-ins.
    connector_mode: ConnectorMode = ConnectorMode.LIVE
    # Folder holding one TOML mapping per kintone app.
    mapping_dir: Path = DEFAULT_MAPPING_DIR

    # kintone
    kintone_base_url: str = ""
    kintone_guest_space_id: str | None = None
    # JSON object: mapping app key (e.g. "orders") -> API token, or a list of tokens.
    kintone_api_tokens: dict[str, SecretStr | list[SecretStr]] = Field(default_factory=dict)
    kintone_timeout_seconds: float = 10.0
    kintone_retry_budget_seconds: float = 30.0

    # The secret path segment kintone calls: /webhooks/kintone/<token>. A second token may be
    # set while rotating.
    webhook_token: SecretStr | None = None
    webhook_token_next: SecretStr | None = None
    max_body_bytes: int = 2 * 1024 * 1024
    # How long a notification id is remembered (kintone may deliver twice; replays).
    dedupe_ttl_seconds: int = 7 * 24 * 3600

    # RQ
    queue_name: str = "kgbridge"
    retry_intervals: list[int] = Field(default_factory=lambda: [10, 60, 300, 1800, 7200])
    job_timeout_seconds: int = 180
    result_ttl_seconds: int = 24 * 3600
    failure_ttl_seconds: int = 30 * 24 * 3600

    # How often the worker sweeps kintone for records whose webhook never arrived (0: never).
    reconcile_interval_seconds: int = Field(default=300, ge=0)

    log_level: str = "INFO"
    log_format: str = "json"  # json | console

    @field_validator("retry_intervals", mode="before")
    @classmethod
    def _parse_intervals(cls, value):
        if isinstance(value, str) and not value.strip().startswith("["):
            return [int(part) for part in value.split(",") if part.strip()]
        return value

    @field_validator("retry_intervals")
    @classmethod
    def _positive_intervals(cls, value: list[int]) -> list[int]:
        if not value or any(v < 0 for v in value):
            raise ValueError("give one or more non-negative numbers of seconds, e.g. 10,60,300")
        return value

    @field_validator("webhook_token", "webhook_token_next")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (it is the only proof a call is kintone's)")
        return value

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in ("json", "console"):
            raise ValueError("must be 'json' or 'console'")
        return value

    @model_validator(mode="after")
    def _live_needs_kintone(self) -> "Settings":
        if self.connector_mode is ConnectorMode.LIVE:
            problems = []
            if not self.kintone_base_url:
                problems.append("KGBRIDGE_KINTONE_BASE_URL is required in live mode")
            if not self.kintone_api_tokens:
                problems.append("KGBRIDGE_KINTONE_API_TOKENS is required in live mode")
            if problems:
                raise ValueError("; ".join(problems))
        if not self.mapping_dir.is_dir():
            raise ValueError(f"KGBRIDGE_MAPPING_DIR {self.mapping_dir} is not a folder")
        return self

    def webhook_tokens(self) -> list[str]:
        return [t.get_secret_value() for t in (self.webhook_token, self.webhook_token_next) if t]

    def tokens_for(self, app_key: str) -> list[str]:
        value = self.kintone_api_tokens.get(app_key)
        if value is None:
            return []
        values = value if isinstance(value, list) else [value]
        return [v.get_secret_value() for v in values]


def load_settings(**overrides) -> Settings:
    """Read and validate the environment; raise SettingsError naming each bad value."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = "_".join(str(p) for p in err["loc"]).upper()
            name = f"KGBRIDGE_{loc}" if loc else "settings"
            # Never echo the input: it may be a secret.
            lines.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from None


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
