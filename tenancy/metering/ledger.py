"""The usage ledger as metering sees it: sums that rebuild quota counters a store lost.

The ledger rows (UsageRecord) belong to conversations, an app above tenancy, so metering never
reads them itself: conversations registers the reader when its app is ready
(`conversations/apps.py` → `conversations/quota_ledger.py`). Without a reader a lost counter
cannot be rebuilt, and admitting calls against a wiped counter would overspend, so that is an error.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ImproperlyConfigured

from tenancy.metering.quota_types import QuotaLimit, Rebuild

_reader: Rebuild | None = None


def register_ledger_usage(reader: Rebuild) -> None:
    """Install the function that sums the ledger for each limit (tokens, or cost in micro-units)."""
    global _reader  # one reader per process, set once at startup
    _reader = reader


def ledger_usage(limits: Sequence[QuotaLimit]) -> Sequence[int]:
    """What each limit's subject used in its period by the ledger, through the registered reader."""
    if _reader is None:
        raise ImproperlyConfigured("no usage ledger reader is registered (the conversations app is not ready)")
    return _reader(limits)
