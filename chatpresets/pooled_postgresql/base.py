"""Django's PostgreSQL backend with its connection pool, failing fast while the database is unreachable.

A request waits up to DATABASE_POOL_TIMEOUT_SECONDS for a pooled connection, then answers 503. That
wait is right for a pool that is busy: a connection frees up within a request's time. With the
database gone it only holds a thread per request for the whole timeout (at 20 requests a second,
a hundred threads waiting) for the same 503. So when a wait ends with the pool's own attempts to
connect failing meanwhile, every request of the next DATABASE_UNREACHABLE_SECONDS is refused at once;
the pool goes on reconnecting in the background, and the first request after that window waits again.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.db.backends.postgresql import base as postgresql
from psycopg_pool import PoolTimeout

Database = postgresql.Database  # psycopg: Django wraps its errors, as for the base backend


def failed_connections(pool: Any) -> int:
    """How many times the pool has failed to open a connection so far."""
    return pool.get_stats().get("connections_errors", 0)


class Unreachable:
    def __init__(self) -> None:
        self.until = 0.0  # time.monotonic() before which connecting is refused at once

    def refuse_if_open(self) -> None:
        if time.monotonic() < self.until:
            raise Database.OperationalError("the database is unreachable: refused without waiting")

    def timed_out(self, pool: Any, failed_before: int) -> None:
        """A wait for a connection ran out: open if the pool failed to connect meanwhile (not merely busy)."""
        if failed_connections(pool) > failed_before:
            self.until = time.monotonic() + settings.DATABASE_UNREACHABLE_SECONDS


UNREACHABLE = Unreachable()


class DatabaseWrapper(postgresql.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if self.pool is None:
            return super().get_new_connection(conn_params)
        UNREACHABLE.refuse_if_open()
        failed_before = failed_connections(self.pool)
        try:
            return super().get_new_connection(conn_params)
        except PoolTimeout:
            UNREACHABLE.timed_out(self.pool, failed_before)
            raise
