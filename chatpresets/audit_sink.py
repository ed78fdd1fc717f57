"""The audit trail as the layers below audit see it: `record(...)` forwards to audit's writer.

tenancy (services, key and login guards, admin, soft limits) records audit events but sits below
the audit app, so it calls this sink; `audit/apps.py` registers `audit.services.record` as the
writer when the app is ready. The call is synchronous and forwards at once, so the event is written
in the caller's transaction exactly as a direct call would write it. Without a writer nothing could
be audited, so recording then is an error rather than a silent loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import models

Writer = Callable[..., Any]

_writer: Writer | None = None


def register(writer: Writer) -> None:
    """Install the function that writes one audit event (keyword arguments as `record` takes)."""
    global _writer  # one writer per process, set once at startup
    _writer = writer


def record(
    *,
    org: models.Model | None,
    actor: models.Model | None,
    action: str,
    target: models.Model | None = None,
    payload: dict[str, Any] | None = None,
) -> Any:
    """Write one event through the registered writer; call it inside the transaction of the change."""
    if _writer is None:
        raise ImproperlyConfigured("no audit writer is registered (the audit app is not ready)")
    return _writer(org=org, actor=actor, action=action, target=target, payload=payload)


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The fields whose values differ, as {"field": {"before": old, "after": new}}."""
    return {
        field: {"before": before.get(field), "after": value}
        for field, value in after.items()
        if before.get(field) != value
    }
