"""The first use of an API key each day, on the audit trail (`api_key.used_today`).

Every path that resolves a key (DRF, the send endpoint, /v1, the websocket handshake) goes through
`tenancy.authentication.authenticate_key`, which calls `note_use` once the key is accepted. The cost
on each request is one cache `add` on (key id, UTC date); only the request that wins it writes the
event, so processes sharing Redis record one event per key per day. With the local-memory cache each
process records its own first use. When the cache is down (or its breaker is open) nothing is
recorded: writing an event on every request instead would flood the trail during an outage.
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


def note_use(api_key: ApiKey) -> None:
    """Record the key's first accepted use of the current UTC day; later uses that day cost one cache op."""
    if not BREAKER.available():
        return
    today = timezone.now().date().isoformat()
    try:
        first = cache.add(f"api-key-used:{api_key.pk}:{today}", 1, timeout=MARKER_SECONDS)
    except CACHE_ERRORS as error:
        BREAKER.failed(error, what="the API key's daily use record")
        return
    if not first:
        return
    try:
        with transaction.atomic():
            audit.record(
                org=api_key.org, actor=api_key.user, action=USED_TODAY, target=api_key, payload={"date": today}
            )
    except DatabaseError as error:  # the call goes on; losing this marker's event beats refusing the key
        logger.warning("could not record %s for key %s: %s", USED_TODAY, api_key.pk, error)
