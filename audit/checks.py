"""Deployment check: production should seal the audit chains, which needs a signing key."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def signing_key_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Without AUDIT_SIGNING_KEY no seal is written, so a cut tail of the trail goes unnoticed."""
    if settings.AUDIT_SIGNING_KEY:
        return []
    return [
        checks.Warning(
            "AUDIT_SIGNING_KEY is not set: the audit chain heads are never sealed, so cutting the "
            "end of the trail cannot be detected.",
            hint="Set AUDIT_SIGNING_KEY or AUDIT_SIGNING_KEY_FILE to a secret kept outside the database.",
            id="audit.W001",
        )
    ]
