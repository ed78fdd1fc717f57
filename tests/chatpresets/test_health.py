"""Liveness and readiness against a real server process and real (or missing) services."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import pytest

from tests.server import daphne

CLOSED_PORT = "1"  # nothing listens on port 1 on loopback
REAL_DATABASE = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=15) as response:  # noqa: S310 (loopback)
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_ready_when_postgres_and_redis_answer() -> None:
    with daphne({"DATABASE_URL": REAL_DATABASE}) as base:
        status, body = get(f"{base}/readyz")
    assert status == 200
    assert body == {
        "status": "ready",
        "checks": dict.fromkeys(["database", "cache", "channel_layer"], "ok"),
        "failing": [],
    }


def test_not_ready_when_postgres_is_unreachable() -> None:
    with daphne({"DATABASE_URL": f"postgres://postgres@127.0.0.1:{CLOSED_PORT}/postgres"}) as base:
        assert get(f"{base}/healthz") == (200, {"status": "ok"})
        status, body = get(f"{base}/readyz")
    assert status == 503
    assert body["failing"] == ["database"]
    assert body["checks"]["database"].startswith("error: ")


def test_not_ready_when_redis_is_unreachable() -> None:
    env = {"DATABASE_URL": REAL_DATABASE, "REDIS_URL": f"redis://127.0.0.1:{CLOSED_PORT}/0"}
    with daphne(env) as base:
        status, body = get(f"{base}/readyz")
    assert status == 503
    assert body["failing"] == ["cache", "channel_layer"]


@pytest.mark.django_db
def test_readyz_in_process_reports_each_check(client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "cache": "ok", "channel_layer": "ok"}
