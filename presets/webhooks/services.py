"""Writes for webhooks: endpoints (organisation admins), resends, and `emit`.

Endpoint changes and resends are audited in their transaction. The audit payload names the URL's
host only: receivers such as chat incoming-webhooks carry their secret in the path or query.
Deliveries are not audited one by one; their log is the WebhookDelivery table.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit import services as audit
from chatpresets.background import enqueue_if_room
from chatpresets.errors import InvalidInput, TooLarge
from presets.webhooks import signing, targets, tasks
from presets.webhooks.events import EVENTS
from presets.webhooks.models import WebhookDelivery, WebhookEndpoint
from tenancy.models import Organization, User

EDITABLE = ("url", "description", "events", "is_active")


def _host(url: str) -> str:
    return urlsplit(url).hostname or ""


def _check_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENTS))
    if unknown or not events:
        raise InvalidInput("Choose one or more known events.", details={"field": "events", "unknown": unknown})
    return sorted(set(events))


@transaction.atomic
def endpoint_create(
    *, org: Organization, actor: User, url: str, events: list[str], description: str = ""
) -> WebhookEndpoint:
    """The URL must pass the SSRF rules now (and again at every attempt); the new secret is on the
    returned endpoint, for the caller to show once."""
    targets.resolve(url)
    _refuse_past_the_cap(org)
    endpoint = WebhookEndpoint.objects.create(
        org=org,
        url=url,
        description=description,
        events=_check_events(events),
        secret=signing.new_secret(),
        created_by=actor,
    )
    audit.record(
        org=org,
        actor=actor,
        action="webhook.created",
        target=endpoint,
        payload={"host": _host(url), "events": endpoint.events},
    )
    return endpoint


def _refuse_past_the_cap(org: Organization) -> None:
    """Each event fans out to every endpoint: their number is bounded (counted under the organisation's
    row lock, so two concurrent creates cannot both take the last place)."""
    Organization.objects.select_for_update().filter(pk=org.pk).first()
    count, cap = WebhookEndpoint.objects.for_org(org).count(), settings.WEBHOOK_MAX_ENDPOINTS
    if count >= cap:
        raise TooLarge(
            f"An organisation has at most {cap} webhook endpoints (WEBHOOK_MAX_ENDPOINTS); delete one first.",
            details={"field": "url", "limit": "WEBHOOK_MAX_ENDPOINTS", "limit_value": cap, "size": count + 1},
        )


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, actor: User, **changes: Any) -> WebhookEndpoint:
    """Change the URL, description, events or active flag; a new URL passes the SSRF rules first."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if "url" in changes:
        targets.resolve(changes["url"])
    if "events" in changes:
        changes["events"] = _check_events(changes["events"])
    changed = {name: value for name, value in changes.items() if name in EDITABLE and getattr(endpoint, name) != value}
    for name, value in changed.items():
        setattr(endpoint, name, value)
    if not changed:  # nothing to record
        return endpoint
    endpoint.save()
    if "url" in changed:
        changed["url"] = _host(changed["url"])
    audit.record(org=endpoint.org, actor=actor, action="webhook.updated", target=endpoint, payload=changed)
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint, actor: User) -> None:
    """Deleting an endpoint deletes its delivery log with it."""
    audit.record(
        org=endpoint.org,
        actor=actor,
        action="webhook.deleted",
        target=endpoint,
        payload={"host": _host(endpoint.url), "events": endpoint.events},
    )
    endpoint.delete()


def _new_delivery(
    endpoint: WebhookEndpoint, *, event: str, payload: dict[str, Any], message_id: str
) -> WebhookDelivery:
    return WebhookDelivery(
        org_id=endpoint.org_id,
        endpoint=endpoint,
        message_id=message_id,
        event=event,
        payload=payload,
        next_attempt_at=timezone.now(),
    )


def _schedule(deliveries: list[WebhookDelivery]) -> None:
    for delivery in deliveries:  # with the webhooks queue full, the delivery waits, due, for the sweep
        enqueue_if_room(tasks.deliver, delivery_id=str(delivery.pk), org_id=str(delivery.org_id))


@transaction.atomic
def delivery_resend(*, delivery: WebhookDelivery, actor: User) -> WebhookDelivery:
    """A new delivery of the same message (same `webhook-id`, so receivers can drop a duplicate),
    with attempts of its own; the original stays in the log as it was."""
    resent = _new_delivery(
        delivery.endpoint, event=delivery.event, payload=delivery.payload, message_id=delivery.message_id
    )
    resent.save()
    audit.record(
        org=delivery.org,
        actor=actor,
        action="webhook.delivery_resent",
        target=delivery.endpoint,
        payload={"delivery": str(delivery.pk), "resent_as": str(resent.pk), "event": delivery.event},
    )
    _schedule([resent])
    return resent


def emit(*, org: Organization, event: str, data: dict[str, Any]) -> None:
    """Record one delivery per active subscribed endpoint in the caller's transaction; send after commit."""
    if event not in EVENTS:
        raise ValueError(f"Unknown webhook event {event!r}; add it to presets/webhooks/events.py")
    # Filtered here rather than by a JSON `contains` lookup, which the embedded SQLite run lacks;
    # an organisation has at most WEBHOOK_MAX_ENDPOINTS endpoints.
    active = WebhookEndpoint.objects.for_org(org).filter(is_active=True)
    endpoints = [endpoint for endpoint in active if event in endpoint.events]
    message_id = f"msg_{uuid.uuid4().hex}"
    payload = {"type": event, "timestamp": timezone.now().isoformat(), "data": data}
    deliveries = [
        _new_delivery(endpoint, event=event, payload=payload, message_id=message_id) for endpoint in endpoints
    ]
    WebhookDelivery.objects.bulk_create(deliveries)
    _schedule(deliveries)
