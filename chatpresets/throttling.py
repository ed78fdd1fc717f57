"""DRF throttles whose rates are read from settings at request time, so they can be tuned live.

They count in the cache; when it does not answer they fail open (the request goes through,
unthrottled, and a warning is logged once per outage interval), like the guardrails' rate limits.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import throttling

from chatpresets.cache_outage import BREAKER, CACHE_ERRORS


class FailOpenThrottle(throttling.SimpleRateThrottle):
    def allow_request(self, request: Any, view: Any) -> bool:
        if not BREAKER.available():
            return True
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS as error:
            BREAKER.failed(error, what="API throttling")
            return True


class UserRateThrottle(FailOpenThrottle, throttling.UserRateThrottle):
    def get_rate(self) -> str:
        return settings.API_THROTTLE_USER_RATE


class AnonRateThrottle(FailOpenThrottle, throttling.AnonRateThrottle):
    def get_rate(self) -> str:
        return settings.API_THROTTLE_ANON_RATE
