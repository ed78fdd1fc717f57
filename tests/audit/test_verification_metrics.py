"""The audit gauges on /metrics come from the stored verification runs, whichever process ran them."""

from __future__ import annotations

import pytest

from audit import services as audit
from audit.models import AuditVerification
from audit.tasks import verify_chains
from tests.chatpresets.observability import METRICS_TOKEN, scrape, value


@pytest.fixture
def metrics_on(settings) -> None:
    settings.METRICS_ENABLED = True
    settings.METRICS_TOKEN = METRICS_TOKEN


def test_a_verification_run_shows_as_intact_with_its_time(client, acme, alice, metrics_on) -> None:
    audit.record(org=acme, actor=alice, action="test.happened", target=acme)
    verify_chains()
    run = AuditVerification.objects.get()
    samples = scrape(client)
    assert value(samples, "chatpresets_audit_verify_ok") == 1
    assert value(samples, "chatpresets_audit_verify_timestamp_seconds") == pytest.approx(run.checked_at.timestamp())


def test_a_broken_run_stored_by_another_process_shows_at_the_next_scrape(client, db, metrics_on) -> None:
    run = AuditVerification.objects.create(ok=False, chains=1, events=3, breaks=[{"chain": "x", "kind": "edited"}])
    samples = scrape(client)
    assert value(samples, "chatpresets_audit_verify_ok") == 0
    assert value(samples, "chatpresets_audit_verify_timestamp_seconds") == pytest.approx(run.checked_at.timestamp())
