from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from audit import checks, services, verification  # noqa: F401 (checks registers the deployment check)
        from chatpresets import audit_sink
        from chatpresets.observability import metrics

        # The layers below audit (tenancy) record through the sink: give it the writer.
        audit_sink.register(services.record)
        metrics.before_scrape(verification.publish_last_verification)
