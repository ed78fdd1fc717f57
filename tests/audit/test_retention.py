"""Retention: the purge cuts old events as a chain prefix, records the cut, and the chain still verifies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit import services as audit
from audit.models import AuditChainHead, AuditEvent
from audit.retention import MAXIMUM_DAYS, RetentionBelowFloor, purge_expired, retention_set
from audit.tasks import purge_expired_events
from audit.verify import verify_chain


@pytest.fixture
def aged_trail(acme, alice, settings) -> tuple[list[AuditEvent], object]:
    """Five events, then a moment `cut`, then three more: a purge at cut + 30 days removes the five."""
    settings.AUDIT_RETENTION_DAYS = 30
    old = [audit.record(org=acme, actor=alice, action="test.old", payload={"n": n}) for n in range(5)]
    cut = timezone.now()
    for n in range(3):
        audit.record(org=acme, actor=alice, action="test.new", payload={"n": n})
    return old, cut + timedelta(days=30)


def test_purge_removes_old_events_records_the_cut_and_verifies(aged_trail, acme) -> None:
    old, purge_time = aged_trail
    [summary] = purge_expired(now=purge_time)
    assert (summary["chain"], summary["removed"], summary["from_seq"], summary["to_seq"]) == (str(acme.pk), 5, 1, 5)
    assert summary["anchor_hash"] == old[-1].hash
    assert not AuditEvent.objects.filter(action="test.old").exists()
    purged = AuditEvent.objects.get(action="audit.purged")
    assert purged.seq == 9
    assert purged.payload["to_seq"] == 5
    assert purged.payload["anchor_hash"] == old[-1].hash
    head = AuditChainHead.objects.get(pk=str(acme.pk))
    assert (head.anchor_seq, head.anchor_hash, head.seq) == (5, old[-1].hash, 9)
    report = verify_chain(str(acme.pk))
    assert report.ok, report.broken
    assert report.events == 4


def test_purge_twice_removes_nothing_more(aged_trail) -> None:
    _, purge_time = aged_trail
    assert len(purge_expired(now=purge_time)) == 1
    assert purge_expired(now=purge_time) == []


def test_task_reports_what_it_removed(aged_trail, acme, settings) -> None:
    settings.AUDIT_RETENTION_DAYS = 36500  # nothing is a century old yet
    assert purge_expired_events() == ""
    settings.AUDIT_RETENTION_DAYS = 30
    assert AuditEvent.objects.count() == 8


def test_keep_forever_by_default(acme, alice, settings) -> None:
    settings.AUDIT_RETENTION_DAYS = 0
    audit.record(org=acme, actor=alice, action="test.old")
    assert purge_expired(now=timezone.now() + timedelta(days=10000)) == []


def test_organisation_may_keep_longer_but_not_shorter_than_the_floor(aged_trail, acme, alice) -> None:
    _, purge_time = aged_trail
    with pytest.raises(RetentionBelowFloor):
        retention_set(org=acme, actor=alice, days=7)
    retention_set(org=acme, actor=alice, days=90)
    assert purge_expired(now=purge_time) == []
    event = AuditEvent.objects.get(action="audit.retention_changed")
    assert event.payload == {"retention_days": {"before": None, "after": 90}}
    retention_set(org=acme, actor=alice, days=0)  # forever
    assert purge_expired(now=purge_time + timedelta(days=10000)) == []


@pytest.mark.parametrize("days", [-1, MAXIMUM_DAYS + 1])
def test_a_retention_outside_what_the_purge_can_count_is_refused_before_any_write(days, acme, alice) -> None:
    with pytest.raises(ValueError, match="retention days"):
        retention_set(org=acme, actor=alice, days=days)
    assert not AuditEvent.objects.filter(action="audit.retention_changed").exists()


def test_a_cut_further_than_the_purge_recorded_is_reported(aged_trail, acme) -> None:
    _, purge_time = aged_trail
    purge_expired(now=purge_time)
    sixth = AuditEvent.objects.get(org=acme, seq=6)
    with transaction.atomic(), connection.cursor() as cursor:  # event 6 removed and the anchor moved past it
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [sixth.pk])
        cursor.execute("UPDATE audit_auditchainhead SET anchor_seq = 6, anchor_hash = %s", [sixth.hash])
        broken = verify_chain(str(acme.pk)).broken
        transaction.set_rollback(True)
    assert broken is not None
    assert (broken.kind, broken.seq) == ("cut_point", 6)


@pytest.mark.parametrize("above_anchor", [False, True])
def test_database_refuses_delete_outside_the_purge(aged_trail, acme, above_anchor) -> None:
    _, purge_time = aged_trail
    purge_expired(now=purge_time)
    # The purge switch alone does not open the rows the purge did not cut.
    switch = "SET LOCAL audit.purge = 'on'" if above_anchor else "SELECT 1"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(switch)
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cursor.execute("DELETE FROM audit_auditevent WHERE org_id = %s", [acme.pk])
    assert AuditEvent.objects.count() == 4
