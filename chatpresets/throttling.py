"""DRF throttles whose rates are read from settings at request time, so they can be tuned live."""

from __future__ import annotations

from django.conf import settings
from rest_framework import throttling


class UserRateThrottle(throttling.UserRateThrottle):
    def get_rate(self) -> str:
        return settings.API_THROTTLE_USER_RATE


class AnonRateThrottle(throttling.AnonRateThrottle):
    def get_rate(self) -> str:
        return settings.API_THROTTLE_ANON_RATE
