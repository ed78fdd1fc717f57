"""Liveness (/healthz) and readiness (/readyz: database, cache, channel layer; not while draining on SIGTERM)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from chatpresets import shutdown

logger = logging.getLogger(__name__)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def check_cache() -> None:
    probe = uuid.uuid4().hex
    cache.set("readyz:probe", probe, timeout=10)
    if cache.get("readyz:probe") != probe:
        raise RuntimeError("cache did not return the value just written")


def check_channel_layer() -> None:
    async_to_sync(_round_trip_channel_layer)()


async def _round_trip_channel_layer() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    timeout = settings.READINESS_TIMEOUT_SECONDS
    channel = await asyncio.wait_for(layer.new_channel("readyz."), timeout)
    await asyncio.wait_for(layer.send(channel, {"type": "readyz.probe"}), timeout)
    message = await asyncio.wait_for(layer.receive(channel), timeout)
    if message.get("type") != "readyz.probe":
        raise RuntimeError("channel layer returned a different message")


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "channel_layer": check_channel_layer,
}


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    results: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # a readiness probe reports every failure instead of raising
            logger.warning("readiness check %s failed: %s", name, exc)
            results[name] = f"error: {type(exc).__name__}"
    failing = sorted(name for name, result in results.items() if result != "ok")
    body = {"status": "unavailable" if failing else "ready", "checks": results, "failing": failing}
    if shutdown.draining():  # SIGTERM: the load balancer should send new work elsewhere
        body["status"] = "draining"
        return JsonResponse(body, status=503)
    return JsonResponse(body, status=503 if failing else 200)
