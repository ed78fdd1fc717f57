"""Celery tasks for webhook deliveries: one attempt, and the sweep that makes retries happen.

Retries are driven by the sweep in every topology (a Celery worker with beat, or the web process's
inline scheduler): a countdown task would run at once under eager Celery, and a lost task would
lose the retry. A first attempt is sent after commit; the sweep catches it too if that was lost.
"""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from chatpresets.background import dispatch
from chatpresets.queue_limits import QueueFull
from presets.webhooks import delivery
from presets.webhooks.models import DeliveryStatus, WebhookDelivery

SWEEP_BATCH = 200


@shared_task
def deliver(*, delivery_id: str, org_id: str, now: str | None = None) -> str | None:
    """Attempt one delivery if it is due (`now`, ISO 8601, for the sweep's clock)."""
    at = parse_datetime(now) if now else None
    return delivery.attempt(delivery_id=delivery_id, org_id=org_id, now=at)


@shared_task
def sweep_due_deliveries(now: datetime | None = None) -> int:
    """Dispatch every pending delivery whose attempt is due, oldest due first; returns how many."""
    now = now or timezone.now()
    due = list(
        WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", "org_id")[:SWEEP_BATCH]
    )
    for sent, (delivery_id, org_id) in enumerate(due):
        try:
            dispatch(deliver, delivery_id=str(delivery_id), org_id=str(org_id), now=now.isoformat())
        except QueueFull:  # the rest stay due for a later sweep
            return sent
    return len(due)
