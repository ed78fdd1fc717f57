"""The verifier names each kind of tampering at the right event, wherever in the chain it happens.

One chain of 300 events is written through record(); each case tampers with it at 100 random
positions, each inside a savepoint with the append-only trigger switched off (as a database
superuser could), verifies, and rolls back.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, transaction

from audit import services as audit
from audit.chain import event_hash, hashed_values
from audit.models import GENESIS_HASH, AuditEvent
from audit.seals import seal_heads
from audit.verify import Break, verify_chain

LENGTH = 300
POSITIONS = 100
EDITS = [
    "action = 'member.removed'",
    "payload = '{\"n\": -1}'",
    "created_at = created_at + interval '1 second'",
    "ip = '198.51.100.7'",
    "actor_label = 'mallory'",
    "target_id = 'other'",
    "request_id = 'req-forged'",
]


@pytest.fixture
def chain(acme, alice) -> list[AuditEvent]:
    return [
        audit.record(org=acme, actor=alice, action=f"test.step{n % 5}", target=acme, payload={"n": n})
        for n in range(1, LENGTH + 1)
    ]


def positions(low: int, high: int, seed: int) -> list[int]:
    return sorted(
        random.Random(seed).sample(  # noqa: S311 (reproducible positions, not secrets)
            range(low, high + 1), POSITIONS
        )
    )


def first_break_after(acme: Any, tamper: Callable[[Any], None]) -> Break | None:
    """Tamper in a savepoint with triggers off, verify the chain, and roll the tampering back."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        tamper(cursor)
        broken = verify_chain(str(acme.pk)).broken
        transaction.set_rollback(True)
    return broken


def event_at(chain: list[AuditEvent], seq: int) -> AuditEvent:
    return chain[seq - 1]


def forged_copy(chain: list[AuditEvent], seq: int) -> AuditEvent:
    """A valid-looking event at seq: linked to the event before it and hashed correctly."""
    prev_hash = event_at(chain, seq - 1).hash if seq > 1 else GENESIS_HASH
    original = event_at(chain, seq)
    forged = AuditEvent(
        org_id=original.org_id,
        created_at=original.created_at,
        actor_label="mallory",
        action="member.role_changed",
        payload={"role": {"before": "member", "after": "owner"}},
        seq=seq,
        prev_hash=prev_hash,
    )
    forged.hash = event_hash(hashed_values(forged))
    return forged


def test_untouched_chain_verifies(acme, chain) -> None:
    report = verify_chain(str(acme.pk))
    assert (report.ok, report.events, report.head_seq) == (True, LENGTH, LENGTH)


def test_edited_field_is_found_at_the_edited_event(acme, chain) -> None:
    for index, seq in enumerate(positions(1, LENGTH, seed=1)):
        edit = EDITS[index % len(EDITS)]

        def tamper(cursor: Any, seq: int = seq, edit: str = edit) -> None:
            sql = f"UPDATE audit_auditevent SET {edit} WHERE org_id = %s AND seq = %s"  # noqa: S608 (fixed edits)
            cursor.execute(sql, [acme.pk, seq])

        assert first_break_after(acme, tamper) == Break(
            "edited", seq, event_at(chain, seq).pk, f"event seq {seq} no longer matches its hash: a field was edited"
        ), edit


def test_deleted_event_is_named_by_its_seq(acme, chain) -> None:
    # Deleting the last event is a cut tail (the head still names it): see the tail-cut test.
    for seq in positions(1, LENGTH - 1, seed=2):

        def tamper(cursor: Any, seq: int = seq) -> None:
            cursor.execute("DELETE FROM audit_auditevent WHERE org_id = %s AND seq = %s", [acme.pk, seq])

        broken = first_break_after(acme, tamper)
        assert broken is not None
        assert (broken.kind, broken.seq, broken.event_id) == ("deleted", seq, event_at(chain, seq + 1).pk)


def test_reordered_events_are_found_at_the_moved_event(acme, chain) -> None:
    for seq in positions(1, LENGTH - 1, seed=3):

        def swap(cursor: Any, seq: int = seq) -> None:
            for old, new in [(seq, 10**9), (seq + 1, seq), (10**9, seq + 1)]:
                sql = "UPDATE audit_auditevent SET seq = %s WHERE org_id = %s AND seq = %s"
                cursor.execute(sql, [new, acme.pk, old])

        broken = first_break_after(acme, swap)
        assert broken is not None
        assert (broken.kind, broken.seq, broken.event_id) == ("reordered", seq, event_at(chain, seq + 1).pk)
        assert f"written as seq {seq + 1}" in broken.detail


def test_inserted_event_with_a_taken_seq_is_found_as_forged(acme, chain) -> None:
    for seq in positions(1, LENGTH, seed=4):
        forged = forged_copy(chain, seq)

        def insert(cursor: Any, forged: AuditEvent = forged) -> None:
            cursor.execute("DROP INDEX audit_org_seq")  # the forger drops the uniqueness backstop too
            forged.save(force_insert=True)

        broken = first_break_after(acme, insert)
        assert broken is not None
        assert (broken.kind, broken.seq, broken.event_id) == ("forged", seq, forged.pk)


def test_replaced_event_with_a_recomputed_hash_is_found_as_forged(acme, chain) -> None:
    for seq in positions(1, LENGTH, seed=5):
        forged = forged_copy(chain, seq)

        def replace(cursor: Any, seq: int = seq, forged: AuditEvent = forged) -> None:
            cursor.execute("DELETE FROM audit_auditevent WHERE org_id = %s AND seq = %s", [acme.pk, seq])
            forged.save(force_insert=True)

        broken = first_break_after(acme, replace)
        assert broken is not None
        assert (broken.kind, broken.seq, broken.event_id) == ("forged", seq, forged.pk)


def test_cut_tail_with_a_rewound_head_is_found_by_the_seal(acme, chain, settings) -> None:
    settings.AUDIT_SIGNING_KEY = "test-signing-key"
    assert [seal.seq for seal in seal_heads()] == [LENGTH]
    for seq in positions(1, LENGTH, seed=6):
        new_head = event_at(chain, seq - 1).hash if seq > 1 else GENESIS_HASH

        def cut(cursor: Any, seq: int = seq, new_head: str = new_head) -> None:
            cursor.execute("DELETE FROM audit_auditevent WHERE org_id = %s AND seq >= %s", [acme.pk, seq])
            cursor.execute("UPDATE audit_auditchainhead SET seq = %s, hash = %s", [seq - 1, new_head])

        broken = first_break_after(acme, cut)
        assert broken is not None
        assert (broken.kind, broken.seq) == ("tail_cut", seq)
        assert f"sealed at seq {LENGTH}" in broken.detail


def test_cut_tail_without_a_seal_is_found_by_the_head(acme, chain) -> None:
    def cut(cursor: Any) -> None:
        cursor.execute("DELETE FROM audit_auditevent WHERE org_id = %s AND seq > 250", [acme.pk])

    broken = first_break_after(acme, cut)
    assert broken is not None
    assert (broken.kind, broken.seq) == ("tail_cut", 251)


def test_event_appended_beyond_the_head_is_found_as_forged(acme, chain) -> None:
    forged = forged_copy(chain, LENGTH)
    forged.seq, forged.prev_hash = LENGTH + 1, event_at(chain, LENGTH).hash
    forged.hash = event_hash(hashed_values(forged))
    broken = first_break_after(acme, lambda cursor: forged.save(force_insert=True))
    assert broken is not None
    assert (broken.kind, broken.seq, broken.event_id) == ("forged", LENGTH + 1, forged.pk)
