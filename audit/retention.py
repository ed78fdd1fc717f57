"""Retention: how long each organisation's trail is kept, and the purge that cuts older events.

AUDIT_RETENTION_DAYS is the operator's floor (0: keep forever, the default). An organisation may
keep its trail longer (more days, or 0 for forever) but never shorter than the floor: the floor is
what the operator promised auditors. The purge removes a chain's oldest events as one prefix (all
seqs up to the newest event older than the retention), moves the head's anchor to the last removed
event, and appends an `audit.purged` event recording the count, the seq range, the cut time and
the anchor hash, so the verifier starts from the anchor instead of reporting a deletion.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audit.chain import PURGE_ACTION, append, chain_events, locked_head
from audit.models import AuditChainHead, AuditEvent
from audit.services import record
from chatpresets.audit_sink import changes
from chatpresets.errors import DomainError
from tenancy.models import Organization


class RetentionBelowFloor(DomainError):
    code = "audit_retention_below_floor"
    message = "The audit trail cannot be kept for less than the service's minimum retention."


def effective_days(head: AuditChainHead) -> int:
    """Days a chain's events are kept (0: forever): the organisation's choice, else the operator's."""
    return settings.AUDIT_RETENTION_DAYS if head.retention_days is None else head.retention_days


# The longest retention an organisation may ask for (100 years): beyond it "forever" (0) says the
# same, and a larger value would overflow the purge's date arithmetic.
MAXIMUM_DAYS = 36500


def head_of(org: Organization) -> AuditChainHead:
    """The organisation's chain head, unlocked, for reading; unsaved (defaults) before its first event."""
    key = str(org.pk)
    return AuditChainHead.objects.filter(pk=key).first() or AuditChainHead(key=key, org=org)


def retention_of(*, org: Organization) -> dict[str, int | None]:
    """An organisation's retention as chosen (None: the operator's default), in force, and the floor."""
    head = head_of(org)
    floor = settings.AUDIT_RETENTION_DAYS
    return {"retention_days": head.retention_days, "effective_days": effective_days(head), "minimum_days": floor}


def retention_set(*, org: Organization, actor: Any, days: int | None) -> AuditChainHead:
    """Set an organisation's retention (None: the operator's default); never below the floor."""
    floor = settings.AUDIT_RETENTION_DAYS
    if days is not None and not 0 <= days <= MAXIMUM_DAYS:
        raise ValueError(f"retention days must be 0 to {MAXIMUM_DAYS}, or None")
    if days is not None and floor and (days != 0 and days < floor):
        raise RetentionBelowFloor(details={"minimum_days": floor, "retention_days": days})
    with transaction.atomic():
        head = locked_head(str(org.pk), org_id=org.pk)
        before, head.retention_days = head.retention_days, days
        head.save(update_fields=["retention_days"])
        diff = changes({"retention_days": before}, {"retention_days": days})
        record(org=org, actor=actor, action="audit.retention_changed", target=org, payload=diff)
    return head


def purge_expired(*, now: datetime | None = None) -> list[dict[str, Any]]:
    """Purge every chain past its retention; one summary per chain that lost events."""
    now = now or timezone.now()
    summaries = []
    for key in AuditChainHead.objects.order_by("key").values_list("key", flat=True):
        summary = purge_chain(key, now=now)
        if summary is not None:
            summaries.append(summary)
    return summaries


def purge_chain(key: str, *, now: datetime) -> dict[str, Any] | None:
    """Cut one chain's events older than its retention, in one transaction with the head locked."""
    with transaction.atomic():
        head = AuditChainHead.objects.select_for_update().get(pk=key)
        days = effective_days(head)
        if not days:
            return None
        cutoff = now - timedelta(days=days)
        kept_from = chain_events(key).filter(seq__gt=head.anchor_seq, created_at__lt=cutoff)
        last = kept_from.order_by("-seq").values_list("seq", "hash").first()
        if last is None:
            return None
        summary = {"from_seq": head.anchor_seq + 1, "to_seq": last[0], "anchor_hash": last[1]}
        head.anchor_seq, head.anchor_hash = last
        head.save(update_fields=["anchor_seq", "anchor_hash"])
        summary |= {"removed": delete_through(key, last[0]), "cut_before": cutoff.isoformat(), "retention_days": days}
        # Appended directly, not through record(): the payload is hashes and counts, and PII
        # scrubbing could mistake a hash's digits for a card number and break the cross-check.
        org = Organization(pk=head.org_id) if head.org_id else None  # the org may be gone; its id stays
        append(AuditEvent(org=org, actor_label="retention", action=PURGE_ACTION, payload=summary))
    return {"chain": key, **summary}


def delete_through(key: str, seq: int) -> int:
    """Delete a chain's events up to seq; the trigger allows it only under `audit.purge` and the anchor."""
    postgres = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute("SET LOCAL audit.purge = 'on'")
        # A plain DELETE built by the ORM (ids in the database's own form, e.g. UUIDs on SQLite);
        # the queryset's delete() refuses on purpose, so the purge is the one caller of this.
        doomed = chain_events(key).filter(seq__lte=seq)
        removed = doomed._raw_delete(doomed.db)
        if postgres:
            cursor.execute("SET LOCAL audit.purge = 'off'")
    return removed
