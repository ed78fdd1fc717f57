from __future__ import annotations

from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = "Conversations"

    def ready(self) -> None:
        # Celery's autodiscovery imports only `tasks` modules; the usage roll-up task lives in `usage`.
        from conversations import quota_ledger, usage  # noqa: F401
        from tenancy.metering import ledger

        # Metering sits below conversations and cannot read the usage ledger: hand it the reader.
        ledger.register_ledger_usage(quota_ledger.ledger_usage)
