"""Django's PostgreSQL backend with its connection pool, failing fast while the database is unreachable.

A request waits up to DATABASE_POOL_TIMEOUT_SECONDS for a pooled connection, then answers 503. That
wait is right for a pool that is busy: a connection frees up within a request's time. With the
database gone it only holds a thread per request for the whole timeout (at 20 requests a second,
a hundred threads waiting) for the same 503. So when a wait ends with the database unreachable,
every request of the next DATABASE_UNREACHABLE_SECONDS is refused at once; the pool goes on
reconnecting in the background, and the first request after that window waits again.

A wait ended with the database unreachable when the pool's own attempts to connect failed meanwhile,
or when this process held fewer connections than the pool's maximum: a busy pool has them all in
use. The second covers the late part of an outage, when the pool's reconnection back-off leaves a
minute or more between attempts and a wait may see none fail. Nothing here opens a connection of its
own: the process never holds more than its pool's maximum.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.db.backends.postgresql import base as postgresql
from psycopg_pool import PoolTimeout

from chatpresets.breaker import Breaker

Database = postgresql.Database  # psycopg: Django wraps its errors, as for the base backend


def failed_connections(pool: Any) -> int:
    """How many times the pool has failed to open a connection so far."""
    return pool.get_stats().get("connections_errors", 0)


class Held:
    """The connections of each pool this process's threads hold (psycopg_pool counts connections being
    opened with those in use, so its own figures cannot tell a busy pool from one that cannot connect)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[int, int] = {}

    def taken(self, pool: Any) -> None:
        with self._lock:
            self._counts[id(pool)] = self._counts.get(id(pool), 0) + 1

    def returned(self, pool: Any) -> None:
        with self._lock:
            self._counts[id(pool)] = max(0, self._counts.get(id(pool), 0) - 1)

    def __call__(self, pool: Any) -> int:
        return self._counts.get(id(pool), 0)


HELD = Held()


class Unreachable(Breaker):
    def __init__(self) -> None:
        super().__init__(seconds=lambda: settings.DATABASE_UNREACHABLE_SECONDS)

    def refuse_if_open(self) -> None:
        if not self.available():
            raise Database.OperationalError("the database is unreachable: refused without waiting")

    def timed_out(self, pool: Any, failed_before: int) -> None:
        """A wait for a connection ran out: open unless the pool was merely busy (module docstring)."""
        if failed_connections(pool) > failed_before or HELD(pool) < pool.max_size:
            self.failed()


UNREACHABLE = Unreachable()


class DatabaseWrapper(postgresql.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if self.pool is None:
            return super().get_new_connection(conn_params)
        UNREACHABLE.refuse_if_open()
        pool = self.pool
        failed_before = failed_connections(pool)
        try:
            connection = super().get_new_connection(conn_params)
        except PoolTimeout:
            UNREACHABLE.timed_out(pool, failed_before)
            raise
        HELD.taken(pool)
        return connection

    def _close(self) -> None:
        # The pool the connection came from (tests may swap the pool in between), before it is returned.
        pool = getattr(self.connection, "_pool", None) if self.pool is not None else None
        try:
            super()._close()
        finally:
            if pool is not None:
                HELD.returned(pool)
