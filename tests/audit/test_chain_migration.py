"""Events written before the chain existed are chained in (created_at, id) order by the migration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from audit.models import GENESIS_HASH, AuditChainHead, AuditEvent
from audit.verify import verify

BEFORE_CHAIN = [("audit", "0004_chain_fields")]
LATEST = [("audit", "0006_chain_constraints")]


def migrate(target: list[tuple[str, str]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(target)
    return executor


@pytest.mark.django_db(transaction=True)
def test_existing_events_are_chained_per_organisation_in_time_order(acme, globex) -> None:
    executor = migrate(BEFORE_CHAIN)
    try:
        old_event = executor.loader.project_state(BEFORE_CHAIN).apps.get_model("audit", "AuditEvent")
        now = timezone.now()
        # Written out of id order on purpose: the chain follows created_at, then id.
        late = old_event.objects.create(org_id=acme.pk, action="old.late", created_at=now, payload={"n": 2})
        early = old_event.objects.create(org_id=acme.pk, action="old.early", created_at=now - timedelta(hours=1))
        other = old_event.objects.create(org_id=globex.pk, action="old.other", created_at=now)
        platform = old_event.objects.create(org_id=None, action="old.platform", created_at=now)
    finally:
        migrate(LATEST)

    chained = {event.pk: event for event in AuditEvent.objects.all()}
    assert (chained[early.pk].seq, chained[early.pk].prev_hash) == (1, GENESIS_HASH)
    assert (chained[late.pk].seq, chained[late.pk].prev_hash) == (2, chained[early.pk].hash)
    assert chained[other.pk].seq == chained[platform.pk].seq == 1
    assert AuditChainHead.objects.get(pk=str(acme.pk)).hash == chained[late.pk].hash
    reports = verify()
    assert [report.ok for report in reports] == [True, True, True]
    assert sum(report.events for report in reports) == 4
