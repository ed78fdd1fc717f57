from __future__ import annotations

from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Conversations"

    def ready(self) -> None:
        # Celery's autodiscovery imports only `tasks` modules; the usage roll-up task lives in `usage`.
        from conversations import usage  # noqa: F401
