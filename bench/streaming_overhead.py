"""Benchmark: time to first token through the service vs straight from the model, in the same run.

Run from the project root:

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatpresets_bench \
        REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/streaming_overhead.py

It starts the fake model (`manage.py fake_llm`, 20 ms to first token) and the service (daphne)
on loopback, then alternates requests: one streamed straight from the fake model with the
official openai client, one through the service (POST …/messages/ with "stream": true, API key,
the whole path: auth, membership, conversation lock, user message commit, context planning,
gateway) until the first `delta` event. It prints p50/p95 of both, the added milliseconds and the
ratio of the medians.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpresets.settings")
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
import openai  # noqa: E402

from bench.database import ensure_database  # noqa: E402
from bench.fake_model import start_fake_model  # noqa: E402
from conversations.models import Conversation  # noqa: E402
from tenancy import services as tenancy_services  # noqa: E402
from tenancy.models import Membership, Organization, Role, User  # noqa: E402
from tests.server import daphne, free_port  # noqa: E402

REQUESTS = 100
MODEL_TTFT = 0.02


def seed() -> tuple[str, str]:
    org, _ = Organization.objects.get_or_create(slug="stream-bench", defaults={"name": "Stream bench"})
    user, _ = User.objects.get_or_create(username="stream-bench")
    Membership.objects.get_or_create(org=org, user=user, defaults={"role": Role.MEMBER})
    conversation = Conversation.objects.create(org=org, user=user, title="bench")
    _, key = tenancy_services.api_key_create(org=org, actor=user, name="bench", scopes=["chat"], expires_at=None)
    return f"/api/v1/orgs/stream-bench/conversations/{conversation.pk}/messages/", key


def direct_ttft(client: openai.OpenAI) -> float:
    started = time.perf_counter()
    stream = client.chat.completions.create(model="fake", messages=[{"role": "user", "content": "hi"}], stream=True)
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            elapsed = time.perf_counter() - started
            stream.close()
            return elapsed * 1000
    raise RuntimeError("no token")


def service_ttft(http: httpx.Client, path: str, key: str) -> float:
    started = time.perf_counter()
    body = {"content": "hi", "stream": True}
    first = None
    with http.stream("POST", path, json=body, headers={"Authorization": f"Bearer {key}"}) as response:
        for line in response.iter_lines():  # read to the end so the next turn may start
            if first is None and line.startswith("data: ") and json.loads(line[6:])["type"] == "delta":
                first = (time.perf_counter() - started) * 1000
    if first is None:
        raise RuntimeError("no delta")
    return first


def summary(label: str, values: list[float]) -> float:
    p50, p95 = statistics.median(values), statistics.quantiles(values, n=20)[18]
    print(f"{label:>16}: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms")
    return p50


def main() -> int:
    ensure_database()
    path, key = seed()
    model_port = free_port()
    fake = start_fake_model(model_port, ttft=MODEL_TTFT)
    catalogue = [
        {
            "name": "fake",
            "base_url": f"http://127.0.0.1:{model_port}/v1",
            "encoding": "o200k_base",
            "context_window": 8192,
            "max_output": 64,
        }
    ]
    env = {
        "MODEL_CATALOGUE": json.dumps(catalogue),
        "DEFAULT_MODEL": "fake",
        "DEBUG": "false",
        "API_THROTTLE_USER_RATE": "1000000/min",
        "LOG_LEVEL": "WARNING",
    }
    try:
        with daphne(env) as base, httpx.Client(base_url=base, timeout=30) as http:
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{model_port}/v1", api_key="x", max_retries=0)
            for _ in range(10):
                direct_ttft(client)
                service_ttft(http, path, key)
            direct, via = [], []
            for _ in range(REQUESTS):
                direct.append(direct_ttft(client))
                via.append(service_ttft(http, path, key))
    finally:
        fake.terminate()
    direct_p50, via_p50 = summary("model directly", direct), summary("through service", via)
    print(f"{'added':>16}: {via_p50 - direct_p50:6.1f} ms at p50   ratio {via_p50 / direct_p50:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
