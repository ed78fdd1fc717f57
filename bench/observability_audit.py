"""The audit half of bench/observability_overhead.py: what `audit.services.record` costs per event
against a plain insert of the very same row, both committed one event per transaction as a request
would, in alternating batches so drift falls on both."""

from __future__ import annotations

import time
from typing import Any

from django.db import connection, transaction
from psycopg.types.json import Jsonb

from audit.models import AuditEvent
from audit.services import record
from bench import overhead_stats
from bench.side_by_side.seed import Tenant
from chatpresets import request_context
from presets.models import Preset
from tenancy.models import Organization, User

PLAIN_TABLE = "bench_audit_plain"
PAYLOAD = {"changes": {"name": ["Billing helper", "Billing assistant"], "temperature": [0.2, 0.4]}}


def make_plain_table() -> list[str]:
    """A fresh table like the audit table: same columns, defaults, identity and non-unique indexes.

    No triggers (the append-only guard and whatever record() relies on) and no unique indexes, so the
    same row can go in many times. Returns the columns a copied row fills (all but the id)."""
    audit_table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {PLAIN_TABLE}")
        cursor.execute(
            f"CREATE TABLE {PLAIN_TABLE} (LIKE {audit_table} INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING INDEXES)"
        )
        cursor.execute(
            "SELECT indexrelid::regclass::text FROM pg_index "
            "WHERE indrelid = %s::regclass AND indisunique AND NOT indisprimary",
            [PLAIN_TABLE],
        )
        for (index,) in cursor.fetchall():
            cursor.execute(f"DROP INDEX {index}")
        columns = [column.name for column in connection.introspection.get_table_description(cursor, audit_table)]
    return [name for name in columns if name != "id"]


def row_of(event_id: int, columns: list[str]) -> list[Any]:
    """The stored values of one recorded event, ready to insert elsewhere (JSON values wrapped)."""
    with connection.cursor() as cursor:
        listed = ", ".join(columns)
        query = f"SELECT {listed} FROM {AuditEvent._meta.db_table} WHERE id = %s"  # noqa: S608 (the table's own columns)
        cursor.execute(query, [event_id])
        values = cursor.fetchone()
    return [Jsonb(value) if isinstance(value, dict | list) else value for value in values]


def timed_records(*, org: Organization, actor: User, target: Preset, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        with transaction.atomic():
            record(org=org, actor=actor, action="preset.updated", target=target, payload=PAYLOAD)
        times.append((time.perf_counter() - started) * 1000)
    return times


def timed_inserts(*, columns: list[str], row: list[Any], count: int) -> list[float]:
    placeholders = ", ".join(["%s"] * len(columns))
    statement = f"INSERT INTO {PLAIN_TABLE} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608 (introspected columns)
    times = []
    for _ in range(count):
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, row)
        times.append((time.perf_counter() - started) * 1000)
    return times


def append_cost(tenant: Tenant, *, rounds: int, batch: int) -> dict[str, Any]:
    """Alternate a batch of record() calls and a batch of plain inserts, the first of each pair rotating."""
    org = Organization.objects.get(pk=tenant.org_id)
    actor = User.objects.get(username=tenant.slug)
    target = Preset.objects.for_org(org).first()
    # As inside a request: the record carries a request id, the client address and the API key
    # (set for the rest of this bench process, which runs nothing after this section).
    request_context.begin(request_context.RequestContext("bench", client_ip="127.0.0.1", api_key_id=tenant.key_id))
    columns = make_plain_table()
    with transaction.atomic():
        template = record(org=org, actor=actor, action="preset.updated", target=target, payload=PAYLOAD)
    row = row_of(template.pk, columns)
    record_ms: list[float] = []
    plain_ms: list[float] = []
    for index in range(rounds):
        pair = [
            lambda: record_ms.extend(timed_records(org=org, actor=actor, target=target, count=batch)),
            lambda: plain_ms.extend(timed_inserts(columns=columns, row=row, count=batch)),
        ]
        for step in pair[index % 2 :] + pair[: index % 2]:
            step()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {PLAIN_TABLE}")
    return overhead_stats.audit_summary(record_ms, plain_ms)
