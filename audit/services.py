"""record(): the one way every feature writes to the audit trail."""

from __future__ import annotations

from typing import Any

from django.db import models

from audit.chain import append, stored_payload
from audit.models import AuditEvent
from chatpresets import request_context
from chatpresets.audit_sink import changes as changes  # one diff rule for every layer
from chatpresets.llm.pii.redact import scrub


def record(
    *,
    org: models.Model | None,
    actor: models.Model | None,
    action: str,
    target: models.Model | None = None,
    payload: dict[str, Any] | None = None,
) -> AuditEvent:
    """Write one event; call it inside the transaction of the change it describes.

    IP address, request id and the API key in use come from the current request, if any. The
    event is appended to its organisation's hash chain, whose head stays locked until the
    caller's transaction ends: keep transactions that audit short.
    """
    context = request_context.current()
    event = AuditEvent(
        org=org,
        actor_user=actor if actor is not None and actor.pk else None,
        actor_label=getattr(actor, "username", "") or "",
        actor_api_key_id=context.api_key_id if context else None,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        payload=stored_payload(scrubbed(payload or {})),
        ip=context.client_ip if context else None,
        request_id=context.request_id if context else "",
    )
    return append(event)


def scrubbed(value: Any) -> Any:
    """The payload with personal data in every string replaced by `<TYPE>`: the trail is kept for
    years and read by auditors, so it records that something changed, never a user's PII."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: scrubbed(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrubbed(item) for item in value]
    return value
