"""Retry policy shared by the live HTTP clients (kintone now, GMO Sign and G-Staff later).

A few quick attempts inside one job run, bounded by an attempt count *and* a time budget.
Longer outages are left to the job-level retry, so the two layers do not multiply
(reliability.md §3). Which errors may be retried is the client's decision (``is_retryable``),
because only the client knows whether a failed POST may already have had its effect.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
import tenacity
from urllib3.exceptions import NewConnectionError

from connectors.errors import RetryLater
from kgbridge.logs import get_logger

log = get_logger(__name__)

# An hour covers a maintenance window; a larger hint is more likely a bug than a plan.
# Inside a job the retry budget bounds the wait anyway.
MAX_RETRY_AFTER = 3600.0


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date).

    Returns None when the header is missing or unreadable, and never a negative number.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # HTTP-dates are always GMT
            when = when.replace(tzinfo=UTC)
        now = now or datetime.now(UTC)
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def never_sent(cause: BaseException | None) -> bool:
    """True when requests failed while connecting, before any byte of the request left.

    Only then may a non-idempotent POST be repeated without asking the server what happened.
    """
    if isinstance(cause, requests.ConnectTimeout):
        return True
    if isinstance(cause, requests.ConnectionError) and cause.args:
        # requests wraps connect failures (refused, DNS) as MaxRetryError with a
        # NewConnectionError reason; a reset or close mid-request arrives as ProtocolError
        # instead and stays ambiguous.
        return isinstance(getattr(cause.args[0], "reason", None), NewConnectionError)
    return False


def _is_retry_later(exc: BaseException) -> bool:
    return isinstance(exc, RetryLater)


def make_retrying(
    budget_seconds: float,
    max_attempts: int,
    sleep: Callable[[float], None] = time.sleep,
    is_retryable: Callable[[BaseException], bool] = _is_retry_later,
) -> tenacity.Retrying:
    """A ``tenacity.Retrying`` that re-raises the last error once attempts or budget run out.

    The wait is the larger of the server's hint (the exception's ``retry_after``) and a jittered
    exponential backoff (0.5 s, 1 s, 2 s … capped at 8 s).
    """
    backoff = tenacity.wait_exponential_jitter(multiplier=0.5, max=8, jitter=0.5)

    def wait(retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        hinted = getattr(exc, "retry_after", None) or 0.0
        wanted = max(hinted, backoff(retry_state))
        remaining = budget_seconds - (retry_state.seconds_since_start or 0.0)
        # Never sleep past the budget. A wait that reaches it makes stop_before_delay end the
        # loop at once, rather than waking up early for a call the server told us to hold.
        return max(0.0, min(wanted, remaining))

    def log_retry(retry_state: tenacity.RetryCallState) -> None:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        log.warning(
            "http retry",
            attempt=retry_state.attempt_number,
            seconds=round(retry_state.upcoming_sleep, 2),
            error=f"{type(exc).__name__}: {exc}",
        )

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(max_attempts) | tenacity.stop_before_delay(budget_seconds),
        wait=wait,
        retry=tenacity.retry_if_exception(is_retryable),
        sleep=sleep,
        before_sleep=log_retry,
        reraise=True,
    )
