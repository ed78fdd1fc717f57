"""record(): the one way every feature writes to the audit trail."""

from __future__ import annotations

from typing import Any

from django.db import models

from audit.models import AuditEvent
from chatpresets import request_context


def record(
    *,
    org: models.Model | None,
    actor: models.Model | None,
    action: str,
    target: models.Model | None = None,
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one event; call it inside the transaction of the change it describes.

    IP address, request id and the API key in use come from the current request, if any.
    """
    context = request_context.current()
    return AuditEvent.objects.create(
        org=org,
        actor_user=actor if actor is not None and actor.pk else None,
        actor_label=getattr(actor, "username", "") or "",
        actor_api_key_id=context.api_key_id if context else None,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        payload=payload or {},
        ip=context.client_ip if context else None,
        request_id=context.request_id if context else "",
    )


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The fields whose values differ, as {"field": {"before": old, "after": new}}."""
    return {
        field: {"before": before.get(field), "after": value}
        for field, value in after.items()
        if before.get(field) != value
    }
