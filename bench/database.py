"""Create and migrate the benchmark database named by DATABASE_URL, if it is not there yet."""

from __future__ import annotations

import psycopg
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from psycopg import sql


def ensure_database() -> None:
    db = settings.DATABASES["default"]
    if connection.vendor != "postgresql":
        raise SystemExit("Benchmarks run on PostgreSQL: set DATABASE_URL=postgres://…")
    conninfo = {"host": db["HOST"], "port": db["PORT"] or 5432, "user": db["USER"], "dbname": "postgres"}
    with psycopg.connect(**conninfo, autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
    call_command("migrate", verbosity=0)
