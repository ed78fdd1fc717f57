"""Seals and the audit_verify command: signed heads, a cut tail after a seal, a wrong or missing key."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from audit import services as audit
from audit.models import AuditSeal
from audit.seals import seal_heads
from audit.tasks import seal_chain_heads, verify_chains
from audit.verification import last_verification
from audit.verify import verify_chain, verify_since_seal
from chatpresets.scheduler import from_beat_schedule


@pytest.fixture
def events(acme, alice) -> list:
    return [audit.record(org=acme, actor=alice, action="test.happened", payload={"n": n}) for n in range(5)]


def run_verify(*args: str) -> str:
    out = StringIO()
    call_command("audit_verify", *args, stdout=out)
    return out.getvalue()


def test_seal_option_signs_each_intact_head_and_verify_checks_it(events, acme, settings) -> None:
    settings.AUDIT_SIGNING_KEY = "key-one"
    output = run_verify("--seal")
    assert f"acme ({acme.pk}): intact, 5 events to seq 5" in output
    assert "sealed 1 chain head(s)" in output
    seal = AuditSeal.objects.get(chain=str(acme.pk))
    assert (seal.seq, seal.hash) == (5, events[-1].hash)
    assert "sealed at seq 5, signature valid" in run_verify("--org", "acme")


def test_seal_task_writes_a_seal_only_when_the_head_moved(events, acme, alice, settings) -> None:
    settings.AUDIT_SIGNING_KEY = "key-one"
    assert seal_chain_heads() == "sealed 1 chain head(s)"
    assert seal_chain_heads() == ""
    audit.record(org=acme, actor=alice, action="test.more")
    assert seal_chain_heads() == "sealed 1 chain head(s)"
    assert list(AuditSeal.objects.order_by("id").values_list("seq", flat=True)) == [5, 6]


def test_tail_cut_after_a_seal_is_reported_and_exits_non_zero(events, acme, settings) -> None:
    settings.AUDIT_SIGNING_KEY = "key-one"
    run_verify("--seal")
    with transaction.atomic(), connection.cursor() as cursor:  # a superuser cuts two events, rewinds the head
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM audit_auditevent WHERE org_id = %s AND seq > 3", [acme.pk])
        cursor.execute("UPDATE audit_auditchainhead SET seq = 3, hash = %s", [events[2].hash])
    with pytest.raises(CommandError, match="1 of 1 chain") as raised:
        run_verify()
    assert raised.value.returncode == 1
    run = last_verification()
    assert run is not None
    assert not run.ok
    assert run.breaks[0]["kind"] == "tail_cut"
    assert run.breaks[0]["seq"] == 4


def test_seal_signed_with_another_key_fails_verification(events, acme, settings) -> None:
    settings.AUDIT_SIGNING_KEY = "key-one"
    run_verify("--seal")
    settings.AUDIT_SIGNING_KEY = "key-two"
    broken = verify_chain(str(acme.pk)).broken
    assert broken is not None
    assert broken.kind == "seal"
    assert "does not verify with the configured key" in broken.detail


def test_forged_seal_signature_fails_verification(events, acme, settings) -> None:
    settings.AUDIT_SIGNING_KEY = "key-one"
    run_verify("--seal")
    seal = AuditSeal.objects.get()
    AuditSeal.objects.filter(pk=seal.pk).update(seq=4, hash=events[3].hash)  # moved back without the key
    broken = verify_chain(str(acme.pk)).broken
    assert broken is not None
    assert broken.kind == "seal"


def test_without_a_key_sealing_is_refused_and_verify_says_seals_are_unchecked(events, settings) -> None:
    settings.AUDIT_SIGNING_KEY = "key-one"
    run_verify("--seal")
    settings.AUDIT_SIGNING_KEY = ""
    with pytest.raises(CommandError, match="AUDIT_SIGNING_KEY"):
        run_verify("--seal")
    assert "signature not checked: AUDIT_SIGNING_KEY is not set" in run_verify()
    assert seal_chain_heads() == ""


def test_broken_chain_is_never_sealed(events, acme, settings) -> None:
    settings.AUDIT_SIGNING_KEY = "key-one"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE audit_auditevent SET action = 'x' WHERE org_id = %s AND seq = 2", [acme.pk])
    with pytest.raises(CommandError):
        run_verify("--seal")
    assert not AuditSeal.objects.exists()


def test_the_periodic_seal_checks_the_events_since_the_last_seal_and_leaves_a_broken_chain_unsealed(
    events, acme, alice, settings
) -> None:
    settings.AUDIT_SIGNING_KEY = "key-one"
    assert seal_chain_heads() == "sealed 1 chain head(s)"
    more = [audit.record(org=acme, actor=alice, action="test.more", payload={"n": n}) for n in range(3)]
    with transaction.atomic(), connection.cursor() as cursor:  # an event after the seal is edited
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE audit_auditevent SET action = 'x' WHERE id = %s", [more[1].pk])
    broken = verify_since_seal(str(acme.pk)).broken
    assert broken is not None
    assert (broken.kind, broken.seq) == ("edited", 7)
    assert seal_chain_heads() == ""  # it would vouch for the edit
    assert list(AuditSeal.objects.values_list("seq", flat=True)) == [5]


def test_the_periodic_seal_walks_only_the_events_after_the_last_seal(events, acme, alice, settings) -> None:
    settings.AUDIT_SIGNING_KEY = "key-one"
    seal_chain_heads()
    audit.record(org=acme, actor=alice, action="test.more")
    report = verify_since_seal(str(acme.pk))
    assert (report.ok, report.events, report.head_seq) == (True, 1, 6)
    assert seal_chain_heads() == "sealed 1 chain head(s)"


def test_unknown_org_slug_is_an_error(db) -> None:
    with pytest.raises(CommandError, match="no organisation"):
        run_verify("--org", "nope")


def test_verification_task_stores_its_result(events) -> None:
    assert verify_chains() == "intact: 1 chain(s), 5 events"
    run = last_verification()
    assert run is not None
    assert (run.ok, run.chains, run.events, run.breaks) == (True, 1, 5, [])


def test_audit_tasks_are_in_the_beat_schedule(settings) -> None:
    tasks = {periodic.task.name for periodic in from_beat_schedule(settings.CELERY_BEAT_SCHEDULE)}
    assert {"audit.tasks.seal_chain_heads", "audit.tasks.verify_chains", "audit.tasks.purge_expired_events"} <= tasks


def test_a_verified_head_is_sealed_as_verified_not_as_it_is_now(events, acme, settings) -> None:
    settings.AUDIT_SIGNING_KEY = "key-one"
    [seal] = seal_heads(verified={str(acme.pk): (3, events[2].hash)})
    assert (seal.seq, seal.hash) == (3, events[2].hash)
    assert verify_chain(str(acme.pk)).ok
