"""The first use of an API key each day, on the audit trail (`api_key.used_today`).

Every path that resolves a key (DRF, the send endpoint, /v1, the websocket handshake) goes through
`tenancy.authentication.authenticate_key`, which calls `note_use` once the key is accepted. The cost
of a key's first request of the day in a process is one cache `add` on (key id, UTC date); only the
request that wins it writes the event, so processes sharing Redis record one event per key per day.
After that the process remembers the day is marked, and the key's other requests cost nothing.
With the local-memory cache each process records its own first use. When the cache is down (or its
breaker is open) nothing is recorded: writing an event on every request instead would flood the
trail during an outage.
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.db import DatabaseError, transaction
from django.utils import timezone

from chatpresets import audit_sink as audit
from chatpresets.cache_outage import BREAKER, CACHE_ERRORS
from tenancy.models import ApiKey

logger = logging.getLogger(__name__)

USED_TODAY = "api_key.used_today"
# Longer than a day, so the marker outlives the date it names whatever the time of its first use.
MARKER_SECONDS = 26 * 3600
MAX_REMEMBERED = 100_000  # keys whose day this process knows is marked; past it, it starts again

_marked: set[tuple[object, str]] = set()


def note_use(api_key: ApiKey) -> None:
    """Record the key's first accepted use of the current UTC day; later uses that day cost one cache op."""
    today = timezone.now().date().isoformat()
    if (api_key.pk, today) in _marked or not BREAKER.available():
        return
    try:
        first = cache.add(f"api-key-used:{api_key.pk}:{today}", 1, timeout=MARKER_SECONDS)
    except CACHE_ERRORS as error:
        BREAKER.failed(error, what="the API key's daily use record")
        return
    if len(_marked) >= MAX_REMEMBERED:
        _marked.clear()
    _marked.add((api_key.pk, today))
    if not first:
        return
    try:
        with transaction.atomic():
            audit.record(
                org=api_key.org, actor=api_key.user, action=USED_TODAY, target=api_key, payload={"date": today}
            )
    except DatabaseError as error:  # the call goes on; losing this marker's event beats refusing the key
        logger.warning("could not record %s for key %s: %s", USED_TODAY, api_key.pk, error)


def forget_local() -> None:
    """Forget which days this process knows are marked (tests; the markers in the cache stay)."""
    _marked.clear()
