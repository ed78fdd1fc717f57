"""The Celery app. Without CELERY_BROKER_URL tasks run eagerly in-process."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_init

from chatpresets.observability import celery_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpresets.settings")

app = Celery("chatpresets")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
celery_signals.connect()  # task metrics, in workers and for eager tasks in the web process


@worker_init.connect
def load_token_encodings(**kwargs: Any) -> None:
    """Before the pool forks, so every worker process starts with the encodings loaded."""
    from chatpresets.llm.tokens import load_catalogue_encodings

    load_catalogue_encodings()


@worker_process_init.connect
def start_observability(**kwargs: Any) -> None:
    """In each pool process (after the fork: an exporter's thread does not survive one)."""
    from chatpresets.observability import multiprocess, tracing

    tracing.configure()
    multiprocess.register_exit_hook()
