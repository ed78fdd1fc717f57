"""The stored results of verification runs: what the metrics and operators read."""

from __future__ import annotations

from audit.models import AuditVerification
from audit.verify import ChainReport
from chatpresets.observability import metrics


def record_run(reports: list[ChainReport]) -> AuditVerification:
    """Store one run: intact only if every chain checked was intact."""
    run = AuditVerification.objects.create(
        ok=all(report.ok for report in reports),
        chains=len(reports),
        events=sum(report.events for report in reports),
        breaks=[report.broken.as_dict(report.chain) for report in reports if report.broken],
    )
    metrics.record_audit_verification(intact=run.ok, at=run.checked_at.timestamp())
    return run


def last_verification() -> AuditVerification | None:
    """The newest run (ok, checked_at, chains, events, breaks), or None if none ran yet."""
    return AuditVerification.objects.order_by("-checked_at", "-id").first()


def publish_last_verification() -> None:
    """The newest stored run as the metrics' audit gauges (run before each scrape); nothing before a first run."""
    run = last_verification()
    if run is not None:
        metrics.record_audit_verification(intact=run.ok, at=run.checked_at.timestamp())
