"""Guessing protection for API keys: failed key checks are counted per client address.

After `API_KEY_FAILURE_LIMIT` failures from one address within `API_KEY_LOCKOUT_MINUTES`, every
key check from that address is refused with 429 `too_many_failed_attempts` for as long again,
a correct key included: otherwise the lockout would still tell a guesser
which guess was right. The counters live in the cache (Redis when `REDIS_URL` is set), so every
process shares them. If the cache does not answer, the guard steps aside: refusing every key
because Redis blinked would be an outage of its own.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework import exceptions, status

from chatpresets import audit_sink as audit
from chatpresets.cache_outage import BREAKER, CACHE_ERRORS
from chatpresets.errors import DomainError

logger = logging.getLogger(__name__)


class TooManyFailedAttempts(DomainError, exceptions.APIException):
    """An APIException too, so DRF's authentication step lets it through as a refusal."""

    code = "too_many_failed_attempts"
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    message = "Too many failed API key attempts from this address; wait before trying again."

    def __init__(self, *, retry_after_seconds: float) -> None:
        self.retry_after_seconds = max(1, int(retry_after_seconds + 0.999))
        super().__init__(details={"retry_after": self.retry_after_seconds})


def _window_seconds() -> int:
    return max(1, int(settings.API_KEY_LOCKOUT_MINUTES * 60))


def _failures_key(address: str) -> str:
    return f"api-key-failures:{address}"


def _lockout_key(address: str) -> str:
    return f"api-key-lockout:{address}"


def ensure_not_locked_out(address: str | None) -> None:
    """Raise TooManyFailedAttempts while this address is locked out."""
    if address is None or not BREAKER.available():
        return
    try:
        until = cache.get(_lockout_key(address))
    except CACHE_ERRORS as error:
        BREAKER.failed(error, what="the API key guard")
        return
    if until is not None and until > time.time():
        raise TooManyFailedAttempts(retry_after_seconds=until - time.time())


def record_failure(address: str | None) -> None:
    """Count one failed key check; the one that reaches the limit locks the address and is audited."""
    if address is None or not BREAKER.available():
        return
    key = _failures_key(address)
    try:
        cache.add(key, 0, timeout=_window_seconds())
        try:
            failures = cache.incr(key)
        except ValueError:  # the window ended between add and incr
            failures = 1
            cache.set(key, failures, timeout=_window_seconds())
        if failures < settings.API_KEY_FAILURE_LIMIT:
            return
        lockout = _window_seconds()
        if cache.add(_lockout_key(address), time.time() + lockout, timeout=lockout):
            audit.record(
                org=None,
                actor=None,
                action="auth.api_key_locked_out",
                payload={"ip": address, "failures": failures, "lockout_seconds": lockout},
            )
            logger.warning("API key checks from %s locked out for %ss after %s failures", address, lockout, failures)
    except CACHE_ERRORS as error:
        BREAKER.failed(error, what="the API key guard")
