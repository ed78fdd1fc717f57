"""The Celery app. Without CELERY_BROKER_URL tasks run eagerly in-process."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpresets.settings")

app = Celery("chatpresets")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def load_token_encodings(**kwargs: Any) -> None:
    """Before the pool forks, so every worker process starts with the encodings loaded."""
    from chatpresets.llm.tokens import load_catalogue_encodings

    load_catalogue_encodings()
