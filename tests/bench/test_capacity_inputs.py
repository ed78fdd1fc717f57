"""The capacity bench's counting and arithmetic (bench/capacity/), without servers."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.capacity import probes, statement_counter


def test_a_statement_is_counted_under_its_verb_and_first_table_and_by_every_table_it_touches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(statement_counter, "_counts", Counter())
    statement_counter._record(
        'SELECT "presets_preset"."id" FROM "presets_preset" INNER JOIN "tenancy_user" ON (1 = 1) WHERE 1'
    )
    statement_counter._record('INSERT INTO "conversations_message" ("id") VALUES (%s), (%s)')
    statement_counter._record('UPDATE "audit_auditchainhead" SET "seq" = 2')
    assert statement_counter.snapshot() == Counter(
        {
            "statement SELECT presets_preset": 1,
            "touches SELECT presets_preset": 1,
            "touches SELECT tenancy_user": 1,
            "statement INSERT conversations_message": 1,
            "touches INSERT conversations_message": 1,
            "statement UPDATE audit_auditchainhead": 1,
            "touches UPDATE audit_auditchainhead": 1,
        }
    )


def test_rows_per_unit_leave_out_tables_the_phase_did_not_change() -> None:
    before = {
        "message": {"inserted": 10, "updated": 0, "deleted": 0},
        "user": {"inserted": 3, "updated": 0, "deleted": 0},
    }
    after = {
        "message": {"inserted": 50, "updated": 20, "deleted": 0},
        "user": {"inserted": 3, "updated": 0, "deleted": 0},
    }
    assert probes.counter_delta(before, after, 20) == {"message": {"inserted": 2.0, "updated": 1.0, "deleted": 0.0}}


def test_bytes_per_row_divide_the_growth_by_the_rows_added() -> None:
    parts = {"heap": 0, "indexes": 0, "toast": 0, "total": 0}
    before = {"message": {"rows": 0, **parts}, "empty": {"rows": 0, **parts}}
    after = {
        "message": {"rows": 4, "heap": 4000, "indexes": 800, "toast": 0, "total": 4800},
        "empty": {"rows": 0, **parts},
    }
    assert probes.bytes_per_row(before, after) == {
        "message": {"rows_added": 4, "heap": 1000, "indexes": 200, "toast": 0, "total": 1200}
    }


def test_key_patterns_hide_ids_and_numbers() -> None:
    key = b"quota:org:3f2b1c4e-1111-2222-3333-444455556666:user:17:tokens:day:2026-12-02"
    assert probes.pattern(key) == "quota:org:<id>:user:<n>:tokens:day:<n>-<n>-<n>"
    assert probes.pattern(b"answer-deltas:3f2b1c4e111122223333444455556666") == "answer-deltas:<id>"
