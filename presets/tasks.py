"""Periodic preset maintenance (scheduled by CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from presets.services.lifecycle import preset_purge_expired


@shared_task
def purge_expired_trash() -> int:
    return preset_purge_expired()


# Registered with the worker here: Celery's autodiscovery reads each app's `tasks` module only.
from presets.webhooks.tasks import deliver, sweep_due_deliveries  # noqa: E402, F401
