"""The append-only audit trail. Rows are written once and never changed or deleted.

Actor and organisation are kept as plain ids (no database constraint) so that deleting a
user or organisation never has to touch the trail; names are snapshotted at write time.

Each organisation's events (and the events with no organisation: the "platform" chain) form a
hash chain: `seq` counts 1, 2, 3… per chain, `prev_hash` is the previous event's `hash`, and
`hash` is SHA-256 over the event's canonical serialisation (audit/chain.py). AuditChainHead holds
each chain's last seq and hash (locked by every append), AuditSeal an HMAC-signed copy of a head,
AuditVerification the result of each verification run. The only deletion is the retention purge,
which cuts a prefix of a chain and moves the head's anchor past it (audit/retention.py).
"""

from __future__ import annotations

from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

GENESIS_HASH = "0" * 64  # prev_hash of a chain's first event
PLATFORM_CHAIN = "platform"  # the chain key of events with no organisation


def organisation_reference() -> models.ForeignKey:
    """An organisation id without a database constraint: deleting the organisation keeps its trail."""
    return models.ForeignKey(
        "tenancy.Organization",
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )


class AppendOnlyError(Exception):
    pass


class AuditEventQuerySet(models.QuerySet):
    def for_org(self, org: Any) -> AuditEventQuerySet:
        return self.filter(org=org)

    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("audit events are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events are append-only")


class AuditEvent(models.Model):
    # Set by the chain append under the head lock, so it never goes backwards along a chain.
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    org = organisation_reference()
    actor_user = models.ForeignKey(
        "tenancy.User", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    actor_api_key = models.ForeignKey(
        "tenancy.ApiKey", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    ip = models.GenericIPAddressField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    seq = models.PositiveBigIntegerField()
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["org", "-created_at"]),
            models.Index(fields=["action"]),
            models.Index(fields=["target_type", "target_id"]),
            # The trail's readers filter one organisation's events by action or actor, newest first.
            models.Index(fields=["org", "action", "-created_at"], name="audit_org_action_time"),
            models.Index(fields=["org", "actor_user", "-created_at"], name="audit_org_actor_time"),
        ]
        constraints = [
            # The backstop behind the head lock: two writers can never give out the same seq.
            models.UniqueConstraint(fields=["org", "seq"], condition=models.Q(org__isnull=False), name="audit_org_seq"),
            models.UniqueConstraint(fields=["seq"], condition=models.Q(org__isnull=True), name="audit_platform_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.action} {self.target_type}:{self.target_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events are append-only")


class AuditChainHead(models.Model):
    """The last event of one chain, and the cut point below which the retention purge removed events.

    Every append locks this row (SELECT … FOR UPDATE) in its own transaction, so appends to one
    chain are serialised and the chain cannot fork. `key` is the organisation id, or "platform".
    """

    key = models.CharField(max_length=64, primary_key=True)
    org = organisation_reference()
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)
    # Events with seq <= anchor_seq were purged; the first kept event links to anchor_hash.
    anchor_seq = models.PositiveBigIntegerField(default=0)
    anchor_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    # The organisation's own retention in days (0: keep forever); None: the operator's default.
    retention_days = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key}@{self.seq}"


class AuditSeal(models.Model):
    """A chain head signed with AUDIT_SIGNING_KEY (HMAC-SHA256): the chain must still reach it.

    The key lives outside the database, so someone who can rewrite tables cannot forge a seal.
    """

    chain = models.CharField(max_length=64)
    org = organisation_reference()
    seq = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)
    sealed_at = models.DateTimeField()
    key_fingerprint = models.CharField(max_length=16)
    signature = models.CharField(max_length=64)

    class Meta:
        indexes = [models.Index(fields=["chain", "-sealed_at"])]

    def __str__(self) -> str:
        return f"seal {self.chain}@{self.seq}"


class AuditVerification(models.Model):
    """One run of the verifier: whether every chain checked was intact, and the first breaks found."""

    checked_at = models.DateTimeField(default=timezone.now, db_index=True)
    ok = models.BooleanField()
    chains = models.PositiveIntegerField()
    events = models.PositiveBigIntegerField()
    # One entry per broken chain: {"chain", "kind", "seq", "event_id", "detail"}.
    breaks = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-checked_at", "-id"]

    def __str__(self) -> str:
        return f"{self.checked_at:%Y-%m-%d %H:%M:%S} {'intact' if self.ok else 'BROKEN'}"
