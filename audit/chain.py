"""The hash chain: how an event is serialised and hashed, and how it is appended to its chain.

Canonical serialisation: JSON with sorted keys, no whitespace, UTF-8, of the event's org id, seq,
created_at (ISO 8601 in UTC with microseconds), actor user id, actor label, API key id, action,
target type and id, payload, client address, request id and prev_hash. Ids are strings (or null).
The payload is hashed exactly as the database returns it (see `stored_payload`), so a row read
back hashes to the value computed when it was written.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from audit.models import PLATFORM_CHAIN, AuditChainHead, AuditEvent

# The columns the hash covers, in the order the verifier reads them (values_list).
HASHED_COLUMNS = (
    "org_id",
    "seq",
    "created_at",
    "actor_user_id",
    "actor_label",
    "actor_api_key_id",
    "action",
    "target_type",
    "target_id",
    "payload",
    "ip",
    "request_id",
    "prev_hash",
)
PURGE_ACTION = "audit.purged"  # the event the retention purge appends when it cuts a chain
SEQ_PLACEHOLDER = '"\\u0000seq"'  # can never be produced by an integer; marks where seq goes


def chain_key(org_id: Any) -> str:
    """The chain an organisation's events belong to: its id, or "platform" for no organisation."""
    return str(org_id) if org_id is not None else PLATFORM_CHAIN


def chain_events(key: str) -> Any:
    """The events of one chain (a queryset): an organisation's, or those with no organisation."""
    return (
        AuditEvent.objects.filter(org__isnull=True) if key == PLATFORM_CHAIN else AuditEvent.objects.filter(org_id=key)
    )


def stored_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload as JSON gives it back (dates and decimals as strings): what is stored is what is hashed."""
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def canonical(values: tuple[Any, ...], *, seq: str | None = None) -> str:
    """The canonical JSON of one event's HASHED_COLUMNS values; `seq` replaces the seq's text if given."""
    fields = dict(zip(HASHED_COLUMNS, values, strict=True))
    created_at: datetime = fields["created_at"]
    fields["created_at"] = created_at.astimezone(UTC).isoformat(timespec="microseconds")
    for name in ("org_id", "actor_user_id", "actor_api_key_id"):
        fields[name] = None if fields[name] is None else str(fields[name])
    if seq is not None:
        fields["seq"] = "\x00seq"
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text if seq is None else text.replace(SEQ_PLACEHOLDER, seq, 1)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def event_hash(values: tuple[Any, ...]) -> str:
    """SHA-256 (hex) of the canonical serialisation of HASHED_COLUMNS values."""
    return digest(canonical(values))


def hashed_values(event: AuditEvent) -> tuple[Any, ...]:
    return tuple(getattr(event, column) for column in HASHED_COLUMNS)


def append(event: AuditEvent) -> AuditEvent:
    """Give an unsaved event the next seq of its chain, link and hash it, and insert it.

    The chain head is locked for the rest of the caller's transaction: appends to one chain are
    serialised, so two writers never take the same seq or link to the same predecessor.
    """
    key = chain_key(event.org_id)
    with transaction.atomic(savepoint=False):
        head = locked_head(key, org_id=event.org_id)
        event.seq, event.prev_hash = head.seq + 1, head.hash
        event.created_at = timezone.now()  # taken under the lock: times never go backwards in a chain
        event.ip = AuditEvent._meta.get_field("ip").get_prep_value(event.ip)
        event.hash = event_hash(hashed_values(event))
        event.save(force_insert=True)
        AuditChainHead.objects.filter(pk=key).update(seq=event.seq, hash=event.hash)
    return event


def locked_head(key: str, *, org_id: Any) -> AuditChainHead:
    """The chain's head row, locked FOR UPDATE; created (race-free) on the chain's first event."""
    head = AuditChainHead.objects.select_for_update().filter(pk=key).first()
    if head is None:
        AuditChainHead.objects.bulk_create([AuditChainHead(key=key, org_id=org_id)], ignore_conflicts=True)
        head = AuditChainHead.objects.select_for_update().get(pk=key)
    return head
