"""The pooled PostgreSQL backend refuses at once for DATABASE_UNREACHABLE_SECONDS once a wait for a
connection ended with the database unreachable, and never for a pool that is merely busy."""

from __future__ import annotations

import time

import pytest
from django.db import connection
from psycopg_pool import ConnectionPool, PoolTimeout

from chatpresets.pooled_postgresql import base
from tests.server import free_port


@pytest.fixture
def unreachable() -> base.Unreachable:
    return base.Unreachable()  # this test's own, not the process's


def pool_on(port: int, **options: object) -> ConnectionPool:
    db = connection.settings_dict
    conninfo = f"host=127.0.0.1 port={port} user={db['USER']} dbname={db['NAME']} connect_timeout=2"
    return ConnectionPool(conninfo, **{"min_size": 1, "max_size": 1, "timeout": 0.5, "open": True, **options})


def test_a_wait_that_ends_with_failed_connections_refuses_at_once_for_a_while(unreachable, settings) -> None:
    settings.DATABASE_UNREACHABLE_SECONDS = 0.5
    with pool_on(free_port()) as pool:  # nothing listens there: every connection attempt is refused
        failed_before = base.failed_connections(pool)
        with pytest.raises(PoolTimeout):
            pool.getconn()
        unreachable.timed_out(pool, failed_before)
    started = time.monotonic()
    with pytest.raises(base.Database.OperationalError, match="unreachable"):
        unreachable.refuse_if_open()
    assert time.monotonic() - started < 0.05
    time.sleep(0.6)
    unreachable.refuse_if_open()  # the window has passed: the next request tries again


def test_a_wait_between_the_pools_reconnection_attempts_still_finds_the_database_unreachable(
    unreachable, settings
) -> None:
    """Late in an outage the pool's back-off leaves minutes between attempts, and a wait may see none fail:
    holding none of the pool's connections, the process was not waiting on a busy pool."""
    settings.DATABASE_UNREACHABLE_SECONDS = 60
    with pool_on(free_port(), timeout=0.3) as pool:
        deadline = time.monotonic() + 5
        while base.failed_connections(pool) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        failed_before = base.failed_connections(pool)  # the next attempt comes about a second later
        with pytest.raises(PoolTimeout):
            pool.getconn()
        assert base.failed_connections(pool) == failed_before  # no attempt failed during this wait
        unreachable.timed_out(pool, failed_before)
    with pytest.raises(base.Database.OperationalError, match="unreachable"):
        unreachable.refuse_if_open()


@pytest.mark.django_db
def test_a_pool_that_is_only_busy_keeps_requests_waiting(unreachable, settings) -> None:
    settings.DATABASE_UNREACHABLE_SECONDS = 60
    with pool_on(connection.settings_dict["PORT"] or 5432) as pool:
        pool.wait()
        held = pool.getconn()  # the one connection, in use by a request
        base.HELD.taken(pool)
        try:
            failed_before = base.failed_connections(pool)
            with pytest.raises(PoolTimeout):
                pool.getconn()
            unreachable.timed_out(pool, failed_before)
        finally:
            pool.putconn(held)
            base.HELD.returned(pool)
    unreachable.refuse_if_open()  # not opened: a busy pool frees up within a request's time


@pytest.mark.django_db(transaction=True)
def test_the_backend_counts_the_connections_its_threads_hold() -> None:
    pool = connection.pool
    if pool is None:
        pytest.skip("the test database runs without the pool")
    connection.close()
    before = base.HELD(pool)
    connection.ensure_connection()
    assert base.HELD(pool) == before + 1
    connection.close()
    assert base.HELD(pool) == before
