"""What a phase of the bench wrote: table counters and sizes in PostgreSQL, keys and their memory in Redis."""

from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from typing import Any

import psycopg
import redis
from django.conf import settings
from django.db import connections
from psycopg import sql

# An idle backend sends its table counters at most once a second, and retries every 10 s when the
# first attempt came too soon (PostgreSQL 15's PGSTAT_IDLE_INTERVAL): wait that out.
STATS_SETTLE_SECONDS = 11.0
ID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE)
NUMBER = re.compile(r"\d+")


def connect() -> psycopg.Connection:
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"], autocommit=True
    )


def table_counters(conn: psycopg.Connection) -> dict[str, dict[str, int]]:
    """Rows inserted, updated and deleted per table since the database's statistics began."""
    connections.close_all()  # this process's own backend sends its counters as it exits
    time.sleep(STATS_SETTLE_SECONDS)
    conn.execute("SELECT pg_stat_clear_snapshot()")
    rows = conn.execute("SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables").fetchall()
    return {name: {"inserted": ins, "updated": upd, "deleted": dele} for name, ins, upd, dele in rows}


def counter_delta(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]], per: int) -> dict[str, Any]:
    """Rows per unit of work (turn, conversation, edit) per table, only for tables that changed."""
    delta = {}
    for table, counts in sorted(after.items()):
        changed = {kind: counts[kind] - before.get(table, {}).get(kind, 0) for kind in counts}
        if any(changed.values()):
            delta[table] = {kind: round(value / per, 3) for kind, value in changed.items()}
    return delta


def table_sizes(conn: psycopg.Connection, tables: list[str]) -> dict[str, dict[str, int]]:
    """Rows and bytes on disk per table: heap, indexes, TOAST (with its index) and the total."""
    sizes = {}
    for table in tables:
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
        heap, indexes, toast, total = conn.execute(
            "SELECT pg_relation_size(c.oid), pg_indexes_size(c.oid), "
            "coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0), pg_total_relation_size(c.oid) "
            "FROM pg_class c WHERE c.relname = %s AND c.relkind = 'r'",
            [table],
        ).fetchone()
        sizes[table] = {"rows": rows, "heap": heap, "indexes": indexes, "toast": toast, "total": total}
    return sizes


def bytes_per_row(before: dict[str, dict[str, int]], after: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
    """Bytes on disk added per row added, by part (tables that gained no rows are left out)."""
    result = {}
    for table, size in after.items():
        rows = size["rows"] - before[table]["rows"]
        if rows > 0:
            parts = ("heap", "indexes", "toast", "total")
            result[table] = {"rows_added": rows} | {p: round((size[p] - before[table][p]) / rows) for p in parts}
    return result


def vacuum_full(conn: psycopg.Connection, tables: list[str]) -> None:
    """Rewrite the tables without dead row versions: the size of the live data alone."""
    for table in tables:
        conn.execute(sql.SQL("VACUUM FULL ANALYZE {}").format(sql.Identifier(table)))


def density(sizes: dict[str, dict[str, int]]) -> dict[str, dict[str, Any]]:
    """Bytes per live row by part, for tables with rows."""
    parts = ("heap", "indexes", "toast", "total")
    return {
        table: {"rows": size["rows"]} | {p: round(size[p] / size["rows"]) for p in parts}
        for table, size in sizes.items()
        if size["rows"]
    }


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


def redis_keys(client: redis.Redis) -> set[bytes]:
    return set(client.scan_iter(count=1000))


def pattern(key: bytes) -> str:
    """A key with its ids and numbers replaced, so keys of the same kind group together."""
    return NUMBER.sub("<n>", ID.sub("<id>", key.decode(errors="replace")))


def key_report(client: redis.Redis, keys: set[bytes]) -> dict[str, dict[str, Any]]:
    """Per key pattern: how many, their type, bytes each (MEMORY USAGE) and the expiry they carry."""
    groups: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    for key in keys:
        memory = client.memory_usage(key, samples=0)
        if memory is None:  # expired between the scan and now
            continue
        groups[pattern(key)].append((memory, client.ttl(key), client.type(key).decode()))
    report = {}
    for name, entries in sorted(groups.items()):
        ttls = [ttl for _, ttl, _ in entries]
        report[name] = {
            "keys": len(entries),
            "type": Counter(kind for _, _, kind in entries).most_common(1)[0][0],
            "bytes_total": sum(memory for memory, _, _ in entries),
            "bytes_mean": round(sum(memory for memory, _, _ in entries) / len(entries)),
            "bytes_max": max(memory for memory, _, _ in entries),
            "persistent": sum(1 for ttl in ttls if ttl == -1),
            "ttl_max_seconds": max(ttls),
        }
    return report
