"""Change webhooks: organisation admins' endpoints, signed deliveries, retries, the delivery log.

models.py    WebhookEndpoint, WebhookDelivery
events.py    the event names an endpoint may subscribe to
signing.py   Standard Webhooks signatures (`sign`, `verify`) and endpoint secrets
targets.py   SSRF checks: a URL resolved once to an address that is safe to connect to
delivery.py  one attempt: POST to the pinned address, no redirects, then settle or back off
tasks.py     the delivery task and the periodic sweep that retries due deliveries
services.py  endpoint create/update/delete, resend, and `emit` (audited where they change things)
api.py       the REST routes under /api/v1/orgs/<org>/webhooks/

`emit(org=…, event=…, data=…)` is the one call other code makes: it records a delivery for each
subscribed endpoint inside the caller's transaction and sends them after commit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tenancy.models import Organization


def emit(*, org: Organization, event: str, data: dict[str, Any]) -> None:
    """Record a delivery of `event` for each active endpoint of `org` subscribed to it; they are
    sent after the caller's transaction commits (none if it rolls back)."""
    from presets.webhooks.services import emit as record_and_schedule  # models load after this package

    record_and_schedule(org=org, event=event, data=data)
