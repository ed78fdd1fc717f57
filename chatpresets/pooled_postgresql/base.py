"""Django's PostgreSQL backend with its connection pool, failing fast while the database is unreachable.

A request waits up to DATABASE_POOL_TIMEOUT_SECONDS for a pooled connection, then answers 503. That
wait is right for a pool that is busy: a connection frees up within a request's time. With the
database gone it only holds a thread per request for the whole timeout (at 20 requests a second,
a hundred threads waiting) for the same 503. So when a wait ends with the pool's own attempts to
connect failing meanwhile, every request of the next DATABASE_UNREACHABLE_SECONDS is refused at once;
the pool goes on reconnecting in the background, and the first request after that window waits again.
Late in an outage the pool's reconnection back-off leaves a minute or more between its attempts, so
a wait may see none fail: then one connection of the pool's own parameters, opened outside the pool,
tells an unreachable database from a busy pool.
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


PROBE_TIMEOUT_SECONDS = 2  # libpq's least connect_timeout
_probing = threading.Lock()


def connects(pool: Any) -> bool:
    """Whether a connection with the pool's parameters opens now, outside the pool. One request of the
    process asks at a time; the others take the database as reachable meanwhile."""
    if not _probing.acquire(blocking=False):
        return True
    try:
        conninfo = pool.conninfo() if callable(pool.conninfo) else pool.conninfo
        kwargs = pool.kwargs() if callable(pool.kwargs) else dict(pool.kwargs or {})
        with Database.connect(conninfo, **{**kwargs, "connect_timeout": PROBE_TIMEOUT_SECONDS}):
            return True
    except Database.Error:
        return False
    finally:
        _probing.release()


class Unreachable(Breaker):
    def __init__(self) -> None:
        super().__init__(seconds=lambda: settings.DATABASE_UNREACHABLE_SECONDS)

    def refuse_if_open(self) -> None:
        if not self.available():
            raise Database.OperationalError("the database is unreachable: refused without waiting")

    def timed_out(self, pool: Any, failed_before: int) -> None:
        """A wait for a connection ran out: open if the pool failed to connect meanwhile, or if no
        connection opens now (not merely busy)."""
        if failed_connections(pool) > failed_before or not connects(pool):
            self.failed()


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
